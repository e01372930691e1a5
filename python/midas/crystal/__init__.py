"""Crystallography: unit cells, reflection lists, orientations and symmetry.

* :class:`Lattice` — unit cell, B matrix (1/Å, no 2π), d-spacings.
* :func:`hkl_table` — the reflection list of ``hkls.csv`` in upstream's row order.
* :mod:`midas.crystal.orientation` — orientation matrix / Euler / quaternion / axis-angle /
  Rodrigues conversions (batched).
* :mod:`midas.crystal.symmetry` — Laue-group rotations from gemmi; batched misorientation.

Frames, signs and units: ``docs/conventions.md``.
"""

from __future__ import annotations

from midas.crystal.hkl import (
    HklTable,
    d_spacing_cut_A,
    hkl_table,
    hkl_table_from_params,
)
from midas.crystal.lattice import Lattice
from midas.crystal.orientation import (
    euler_to_matrix,
    matrix_to_euler,
    matrix_to_quat,
    quat_to_matrix,
)

__all__ = [
    "HklTable",
    "Lattice",
    "d_spacing_cut_A",
    "euler_to_matrix",
    "hkl_table",
    "hkl_table_from_params",
    "matrix_to_euler",
    "matrix_to_quat",
    "quat_to_matrix",
]
