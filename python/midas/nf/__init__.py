"""Near-field HEDM: from NF detector images to an orientation map (upstream ``nf_MIDAS.py``).

Modules:

* :mod:`midas.nf.experiment` — :class:`NFExperiment` (detector distances, ω scan, spot filters) and
  :class:`Reflections`;
* :mod:`midas.nf.grid` — the hexagonal reconstruction grid (``grid.txt``) and its filters;
* :mod:`midas.nf.seeds` — seed orientations (seed file, FF grains, fundamental-zone sampling);
* :mod:`midas.nf.spots` — predicted spots of the seeds (``DiffractionSpots.bin``, ``Key.bin``,
  ``OrientMat.bin``);
* :mod:`midas.nf.spots_info` — the observation bitmask ``SpotsInfo.bin``;
* :mod:`midas.nf.images` — image processing (streaming median, filters) into the bitmask;
* :mod:`midas.nf.fit` — orientation fitting and geometry refinement;
* :mod:`midas.nf.mic` — ``.mic`` (binary and text), ``.map``, ``nf_consolidated.h5``;
* :mod:`midas.nf.plots` — confidence and IPF orientation maps;
* :mod:`midas.nf.simulate` — forward simulation of a ``.mic`` (``midas simulate nf``);
* :mod:`midas.nf.pipeline` — the staged workflow behind ``midas nf`` / ``nf_MIDAS``.

Conventions: ``docs/conventions.md`` ("NF detector", "NF-HEDM").
"""

from __future__ import annotations

from midas.nf.experiment import NFExperiment, Reflections
from midas.nf.fit import (
    FitResult,
    FitSettings,
    GeometryRefinement,
    fit_orientations,
    refine_geometry,
)
from midas.nf.grid import make_hex_grid, read_grid, write_grid
from midas.nf.pipeline import PipelineOptions, run_nf
from midas.nf.seeds import SeedOrientations
from midas.nf.spots import SeedSpots, compute_seed_spots
from midas.nf.spots_info import SpotsInfo

__all__ = [
    "FitResult",
    "FitSettings",
    "GeometryRefinement",
    "NFExperiment",
    "PipelineOptions",
    "Reflections",
    "SeedOrientations",
    "SeedSpots",
    "SpotsInfo",
    "compute_seed_spots",
    "fit_orientations",
    "make_hex_grid",
    "read_grid",
    "refine_geometry",
    "run_nf",
    "write_grid",
]
