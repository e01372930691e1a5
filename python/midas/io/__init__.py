"""Reading and writing the file formats of HEDM: detector frames, ``.MIDAS.zip`` and tables.

Modules (import the one you need; nothing heavy is imported by ``import midas.io``):

- :mod:`midas.io.frames` -- :func:`~midas.io.frames.open_frames` and the lazy
  :class:`~midas.io.frames.FrameSeries` every reader below returns
- :mod:`midas.io.ge`, :mod:`midas.io.tiff`, :mod:`midas.io.hdf5`, :mod:`midas.io.fabio_frames`,
  :mod:`midas.io.hexrd_npz`, :mod:`midas.io.nf_bin` -- one reader per detector format
- :mod:`midas.io.corrections` -- dark, flood, mask and ImTransOpt, defined once
- :mod:`midas.io.midas_zip` -- the ``.MIDAS.zip`` archive (reader and streaming writer)
- :mod:`midas.io.midas_zip_params` -- parameter file keys <-> archive nodes

The most used names are re-exported lazily: ``midas.io.open_frames``,
``midas.io.open_midas_zip`` and ``midas.io.MidasZipWriter``.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "open_frames": "midas.io.frames",
    "FrameSeries": "midas.io.frames",
    "open_midas_zip": "midas.io.midas_zip",
    "MidasZip": "midas.io.midas_zip",
    "MidasZipWriter": "midas.io.midas_zip",
}

__all__ = ["FrameSeries", "MidasZip", "MidasZipWriter", "open_frames", "open_midas_zip"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'midas.io' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
