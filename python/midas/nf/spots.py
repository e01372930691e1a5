"""Predicted diffraction spots of the seed orientations (upstream MakeDiffrSpots).

For every seed orientation the NF forward model lists its spots (y0, z0, ω): ideal positions on
the plane at ``Lsd[0]`` (µm) and ω (deg), after the pole, ω-window and box filters
(``midas/nf/experiment.hpp``; upstream_facts.md §2.7, §2.8). Files, in upstream's layouts
(§3.13): ``DiffractionSpots.bin`` (T × 3 float64), ``Key.bin`` (S × 2 int32: count, offset),
``OrientMat.bin`` (S × 9 float64).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas._native import core
from midas.errors import FormatError, ParamError
from midas.io._atomic import atomic_output
from midas.nf.experiment import NFExperiment, Reflections

__all__ = ["SEED_SPOT_FILES", "SeedSpots", "compute_seed_spots", "read_seed_spots", "write_seed_spots"]

#: File names of the seed spot tables, as upstream.
SEED_SPOT_FILES = ("DiffractionSpots.bin", "Key.bin", "OrientMat.bin")


@dataclass(frozen=True, slots=True)
class SeedSpots:
    """Seed orientations and their predicted spots.

    Attributes
    ----------
    orient_mats : (S, 3, 3) float64
        Orientation matrices, crystal → sample.
    spots : (T, 3) float64
        (y0_um, z0_um, omega_deg) of every spot, seed after seed.
    key : (S, 2) int32
        (number of spots, offset of the first one in ``spots``) per seed.
    """

    orient_mats: NDArray[np.float64]
    spots: NDArray[np.float64]
    key: NDArray[np.int32]

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "orient_mats", np.ascontiguousarray(self.orient_mats, dtype=np.float64).reshape(-1, 3, 3))
        set_(self, "spots", np.ascontiguousarray(self.spots, dtype=np.float64).reshape(-1, 3))
        set_(self, "key", np.ascontiguousarray(self.key, dtype=np.int32).reshape(-1, 2))
        if self.key.shape[0] != self.orient_mats.shape[0]:
            raise ParamError(f"SeedSpots: {self.orient_mats.shape[0]} orientations but {self.key.shape[0]} Key rows")
        ends = self.key[:, 0].astype(np.int64) + self.key[:, 1]
        if self.key.size and (self.key.min() < 0 or ends.max() > self.spots.shape[0]):
            raise ParamError("SeedSpots: Key rows point outside the spot table")

    def __len__(self) -> int:
        return int(self.orient_mats.shape[0])

    def spots_of(self, seed: int) -> NDArray[np.float64]:
        """(n, 3) spots of one seed."""
        n, off = (int(v) for v in self.key[seed])
        return self.spots[off:off + n]


def compute_seed_spots(experiment: NFExperiment, reflections: Reflections, orient_mats: ArrayLike) -> SeedSpots:
    """Spots of every orientation (OpenMP over orientations; independent of the thread count).

    Parameters
    ----------
    experiment : NFExperiment
        Detector, scan and spot filters.
    reflections : Reflections
        Reflections to predict.
    orient_mats : (S, 3, 3) float64
        Orientation matrices, crystal → sample.

    Returns
    -------
    SeedSpots

    Examples
    --------
    >>> import numpy as np
    >>> from midas.geometry.nf import NFDetector
    >>> from midas.nf.experiment import NFExperiment, Reflections
    >>> det = NFDetector(lsd_um=(8000.0,), bc_px=((1000.0, 20.0),), pixel_size_um=1.5)
    >>> exp = NFExperiment(det, 180.0, -0.25, 1440, ((-180.0, 180.0),), ((-1200.0, 1200.0, 100.0, 2500.0),), 6.0)
    >>> g = np.array([[0.245, 0.245, 0.245]]); refl = Reflections(np.array([[1, 1, 1]]), [1], g, [2.1041859])
    >>> s = compute_seed_spots(exp, refl, np.eye(3)[None])
    >>> s.key.tolist()
    [[2, 0]]
    """
    om = np.ascontiguousarray(orient_mats, dtype=np.float64)
    if om.ndim != 3 or om.shape[1:] != (3, 3):
        raise ParamError(f"orient_mats of shape {om.shape}: expected (S, 3, 3)")
    spots, key = core().nf_compute_spots(experiment._core(), reflections._core(), om)
    return SeedSpots(om, spots, key)


def write_seed_spots(folder: str | os.PathLike[str], seeds: SeedSpots) -> list[Path]:
    """Write ``DiffractionSpots.bin``, ``Key.bin`` and ``OrientMat.bin`` into ``folder``."""
    d = Path(folder)
    arrays = (seeds.spots.astype("<f8"), seeds.key.astype("<i4"), seeds.orient_mats.reshape(-1, 9).astype("<f8"))
    out = []
    for name, arr in zip(SEED_SPOT_FILES, arrays):
        with atomic_output(d / name) as tmp:
            arr.tofile(tmp)
        out.append(d / name)
    return out


def read_seed_spots(folder: str | os.PathLike[str]) -> SeedSpots:
    """Read the three seed spot tables from ``folder``.

    Raises
    ------
    FormatError
        When a file is missing, has a size that is not a whole number of rows, or the tables
        disagree.
    """
    d = Path(folder)
    arrays = []
    for name, dtype, width in zip(SEED_SPOT_FILES, ("<f8", "<i4", "<f8"), (3, 2, 9)):
        p = d / name
        if not p.is_file():
            raise FormatError(f"{p}: missing (run the NF preprocessing stage first)")
        a = np.fromfile(p, dtype=dtype)
        if a.size % width:
            raise FormatError(f"{p}: {a.size} values is not a whole number of {width}-value rows")
        arrays.append(a.reshape(-1, width))
    spots, key, om = arrays
    try:
        return SeedSpots(om.reshape(-1, 3, 3), spots, key)
    except ParamError as exc:
        raise FormatError(f"{d}: inconsistent seed spot tables: {exc}") from exc
