"""The one exception hierarchy of midas.

Every error midas raises on purpose is a :class:`MidasError`. The C++ core throws the
matching C++ types (``cpp/include/midas/core/error.hpp``), which ``bindings/module.cpp``
translates into these classes in one place.

Classes
-------
MidasError        base class of everything below
ParamError        a parameter file, key or value is wrong (names file, line, key, value)
FormatError       a data file is malformed, truncated or of the wrong kind (names the path)
GeometryError     a geometric quantity has no solution or is out of range
ConvergenceError  an iterative fit or solver did not converge
CapacityError     a fixed-size resource (GPU memory, index width) was exceeded
"""

from __future__ import annotations

__all__ = [
    "MidasError",
    "ParamError",
    "FormatError",
    "GeometryError",
    "ConvergenceError",
    "CapacityError",
    "ParamWarning",
]


class MidasError(Exception):
    """Base class of every error raised by midas."""


class ParamError(MidasError, ValueError):
    """A parameter file, key or value is invalid.

    The message names the file, the line number, the key and the offending value, and says what
    was expected.
    """


class FormatError(MidasError, OSError):
    """A data file is malformed, truncated, or not of the expected format.

    The message names the path (and the dataset or member inside it) and what is wrong.
    """


class GeometryError(MidasError, ValueError):
    """A geometric computation has no solution or received an out-of-range input."""


class ConvergenceError(MidasError, RuntimeError):
    """An iterative solver stopped without meeting its tolerance."""


class CapacityError(MidasError, RuntimeError):
    """A fixed-capacity resource was exceeded (GPU shared memory, 32-bit index range, ...)."""


class ParamWarning(UserWarning):
    """A parameter file has something suspicious but usable (unknown key, repeated key...)."""
