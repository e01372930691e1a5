"""Entry point of the ``midas`` command: discovers verb modules and dispatches."""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

import midas
from midas.errors import MidasError

_NOT_VERBS = {"main", "common"}


def _verb_modules() -> list[str]:
    import midas.cli as pkg

    return sorted(
        m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_") and m.name not in _NOT_VERBS
    )


def build_parser() -> argparse.ArgumentParser:
    """The full ``midas`` parser with one subparser per discovered verb."""
    parser = argparse.ArgumentParser(
        prog="midas",
        description="Fast HEDM: FF/NF reconstruction, calibration, integration. Compatible with APS MIDAS files.",
    )
    parser.add_argument("--version", action="version", version=f"midas {midas.__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="verb", metavar="<verb>")
    for name in _verb_modules():
        mod = importlib.import_module(f"midas.cli.{name}")
        mod.configure_parser(sub)
    return parser


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("midas").setLevel(min(level, logging.INFO))


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``midas`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    A :class:`midas.errors.MidasError` (or an OSError about a file the user named) is printed as
    one clear line and gives exit status 2.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    if not args.verb:
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except MidasError as exc:
        print(f"midas {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file the user named is missing or unreadable
        print(f"midas {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"midas {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
