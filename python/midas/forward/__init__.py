"""Forward models: predicted diffraction spots and simulated detector frames.

- :mod:`midas.forward.ff` -- far-field spot prediction (:func:`predict_spots`, :class:`FFScan`,
  :class:`SpotTable`)
- :mod:`midas.forward.simulate` -- far-field frame simulation into a ``.MIDAS.zip``
  (:func:`simulate_ff`, :class:`SpotShape`)

Conventions (frames, signs, ω labels): ``docs/conventions.md`` ("FF forward model").
"""

from __future__ import annotations

from midas.forward.ff import (
    FFScan,
    SpotTable,
    orthonormalize_orientations,
    predict_spots,
)
from midas.forward.simulate import SimulationResult, SpotShape, simulate_ff

__all__ = [
    "FFScan",
    "SimulationResult",
    "SpotShape",
    "SpotTable",
    "orthonormalize_orientations",
    "predict_spots",
    "simulate_ff",
]
