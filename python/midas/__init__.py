"""midas: fast High-Energy Diffraction Microscopy.

Far-field and near-field HEDM, detector calibration and radial integration with a C++/OpenMP
core (``midas._core``) and optional CUDA kernels (``midas._cuda``). Reads and writes the file
formats of APS MIDAS (parameter files, ``.MIDAS.zip``, ``hkls.csv``, ``Grains.csv``, ``.mic``...).

Entry points: ``import midas``, the ``midas <verb>`` command line, and console scripts named
after the upstream drivers. Frames, signs and units are defined once in ``docs/conventions.md``.
"""

from __future__ import annotations

import logging

from midas.errors import (
    CapacityError,
    ConvergenceError,
    FormatError,
    GeometryError,
    MidasError,
    ParamError,
)

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "__version__",
    "MidasError",
    "ParamError",
    "FormatError",
    "GeometryError",
    "ConvergenceError",
    "CapacityError",
]
