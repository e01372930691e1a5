"""Helpers of the geometry tests: random realistic detectors and twin arguments."""

from __future__ import annotations

import numpy as np
from midas.geometry import FFDetector

PHASES = (3, 6, 8, 10, 12, 14)


def random_detector(
    rng: np.random.Generator, *, max_tilt_deg: float = 2.0, parallax: bool = False
) -> FFDetector:
    """A 2048² detector with random tilts up to max_tilt_deg, all 15 distortion terms at realistic
    magnitudes (1e-4..1e-3), random phases, and an off-centre beam."""
    p = np.zeros(15)
    for k in range(15):
        if k in PHASES:
            p[k] = rng.uniform(-180.0, 180.0)
        else:
            p[k] = rng.choice([-1.0, 1.0]) * 10.0 ** rng.uniform(-4.0, -3.0)
    return FFDetector(
        lsd_um=rng.uniform(0.6e6, 1.5e6),
        bc_px=(rng.uniform(900.0, 1150.0), rng.uniform(900.0, 1150.0)),
        pixel_size_um=(200.0, rng.choice([200.0, 180.0])),
        tx_deg=rng.uniform(-max_tilt_deg, max_tilt_deg),
        ty_deg=rng.uniform(-max_tilt_deg, max_tilt_deg),
        tz_deg=rng.uniform(-max_tilt_deg, max_tilt_deg),
        distortion=tuple(p),
        rho_d_um=rng.uniform(2.0e5, 3.0e5),
        n_pixels=(2048, 2048),
        parallax_um=rng.uniform(0.0, 300.0) if parallax else 0.0,
    )


def twin_args(det: FFDetector) -> dict:
    """Keyword arguments of the NumPy twin for a detector."""
    return {
        "lsd_um": det.lsd_um,
        "bc_px": det.bc_px,
        "px_um": det.pixel_size_um,
        "tilts_deg": (det.tx_deg, det.ty_deg, det.tz_deg),
        "p": np.array(det.distortion),
        "rho_d_um": det.rho_d_um,
        "parallax_um": det.parallax_um,
    }
