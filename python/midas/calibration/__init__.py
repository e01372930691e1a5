"""Automatic detector calibration from one powder calibrant image (upstream ``AutoCalibrateZarr``).

:func:`calibrate_image` runs the whole chain on a mean frame: median-filter background and ring
threshold (:mod:`~midas.calibration.background`), beam centre from ring normals
(:mod:`~midas.calibration.beam_center`), ring radii and the distance from their ratios
(:mod:`~midas.calibration.rings`), then the EM loop — ring positions per η bin on the exact
pixel-splitting cake (:mod:`~midas.calibration.cake`, :mod:`~midas.calibration.peaks`) and least
squares on the pseudo-strain ``1 − R_corr/(Lsd·tan 2θ)`` (:mod:`~midas.calibration.refine`).
:mod:`~midas.calibration.outputs` writes ``refined_MIDAS_params.txt``, the ring table, the HDF5
of intermediate data and the plots; ``midas calibrate`` / ``AutoCalibrateZarr`` is the CLI.
Conventions (beam centre, pseudo-strain): ``docs/conventions.md``.
"""

from __future__ import annotations

from midas.calibration.autocal import (
    CalibrationResult,
    CalibrationSettings,
    RingStats,
    calibrate_image,
)
from midas.calibration.calibrants import CALIBRANTS, Calibrant, get_calibrant
from midas.calibration.refine import DEFAULT_FIT, pseudo_strain, refine_geometry

__all__ = [
    "CALIBRANTS",
    "DEFAULT_FIT",
    "Calibrant",
    "CalibrationResult",
    "CalibrationSettings",
    "RingStats",
    "calibrate_image",
    "get_calibrant",
    "pseudo_strain",
    "refine_geometry",
]
