"""Detector geometry: the one place where pixel, lab and ω coordinates are converted.

Every frame, sign and unit used here is defined in ``docs/conventions.md``.

Submodules
----------
midas.geometry.ff               far-field detector: pixel ↔ ideal (R, η, 2θ, y, z) with tilts/distortion
midas.geometry.nf               near-field projection (its own tilt convention, several distances)
midas.geometry.omega            frame ↔ ω labelling, wrapping, rolling-readout timing, wedge
midas.geometry.image_transform  ImTransOpt: frame pixel coordinates ↔ raw file pixel coordinates
"""

from __future__ import annotations

from midas.geometry import image_transform, nf, omega
from midas.geometry.ff import (
    FFDetector,
    IdealCoords,
    ideal_jacobian,
    ideal_to_pixel,
    pixel_grid_to_ideal,
    pixel_to_ideal,
)
from midas.geometry.nf import NFDetector

__all__ = [
    "FFDetector",
    "IdealCoords",
    "NFDetector",
    "ideal_jacobian",
    "ideal_to_pixel",
    "image_transform",
    "nf",
    "omega",
    "pixel_grid_to_ideal",
    "pixel_to_ideal",
]
