"""Access to the compiled extensions with clear errors when they are missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from midas.errors import MidasError


def core() -> ModuleType:
    """Return ``midas._core``.

    Raises
    ------
    MidasError
        When the extension was not built (a source checkout without a build), with the command
        that builds it.
    """
    try:
        return importlib.import_module("midas._core")
    except ImportError as exc:  # pragma: no cover - only in broken installs
        raise MidasError(
            "midas._core (the compiled C++ kernels) is not importable: "
            f"{exc}. Install the package with `pip install .` from the repository root "
            "(it needs g++, OpenMP and `apt-get install libnlopt-cxx-dev`)."
        ) from exc


def cuda() -> ModuleType | None:
    """Return ``midas._cuda`` when it was built, else None (the CUDA kernels are optional)."""
    try:
        return importlib.import_module("midas._cuda")
    except ImportError:
        return None
