"""Write-then-rename, so that no reader ever sees a half-written output file."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from midas.errors import FormatError

__all__ = ["atomic_output", "discard", "temp_path_for"]


def temp_path_for(target: str | Path) -> Path:
    """Create an empty temporary file next to ``target`` (same folder, so rename is atomic).

    Raises
    ------
    FormatError
        When the target folder does not exist or is not writable.
    """
    t = Path(target)
    folder = t.parent if str(t.parent) else Path(".")
    if not folder.is_dir():
        raise FormatError(f"{t}: output folder {folder} does not exist")
    for _ in range(100):
        tmp = folder / f".{t.name}.{secrets.token_hex(6)}.part"
        try:
            # open(..., "xb") creates the file with the user's umask permissions (mkstemp would
            # give 0600, and the renamed output would not be readable by the group).
            with open(tmp, "xb"):
                pass
        except FileExistsError:
            continue
        except OSError as exc:
            raise FormatError(f"{t}: cannot create a file in {folder}: {exc}") from exc
        return tmp
    raise FormatError(f"{t}: cannot find a free temporary file name in {folder}")


def discard(tmp: Path) -> None:
    """Remove a temporary file if it exists (never raises)."""
    with contextlib.suppress(OSError):
        tmp.unlink()


@contextlib.contextmanager
def atomic_output(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` on success.

    On any exception (KeyboardInterrupt included) the temporary file is removed and the target is
    left untouched.
    """
    tmp = temp_path_for(target)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        discard(tmp)
        raise


def write_bytes_atomic(target: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``target`` through a temporary file and a rename.

    An existing target keeps its permission bits; a new one gets the user's umask permissions.

    Raises
    ------
    FormatError
        When the output folder is missing or not writable (no temporary file is left behind).
    """
    t = Path(target)
    try:
        mode: int | None = t.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    with atomic_output(t) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
    return t
