"""The order in which upstream MIDAS generates reflections (private).

Upstream ``GetHKLList`` asks the sginfo library for the symmetry operations of a space group,
walks an asymmetric unit of Miller indices and writes, for every representative, the list of its
symmetry equivalents ("Eq list") followed by each one's Friedel mate. The row order of
``hkls.csv`` is this generation order, stably sorted by d-spacing. Downstream programs identify
theoretical spots by the hkl row index, so reproducing that order keeps our files interchangeable
with upstream's.

This module re-derives the order from gemmi's symmetry operations with our own code. The rules
(restated from reading upstream's sginfo; the operations themselves come from gemmi):

1. Operation list. Take the coset representatives of the space group modulo centring (gemmi
   ``sym_ops``), rotation parts only. If the group contains the inversion at the origin, keep only
   the proper rotations (sginfo keeps the inversion implicit); otherwise keep every rotation part.
2. Sort them by a key derived from each rotation's order and axis as sginfo tabulates them: the
   identity first, then by |order| descending (proper before improper), then by the axis
   direction (more zero components first, then smaller largest component, then a weighted
   component sum, then signed components), then the rotation sense, and finally move each
   operation's powers right behind it.
3. For each representative (h, k, l) in the loop h = hmin..10, k = kmin..10, l = lmin..10 that is
   not systematically absent and not "suppressed" (an equivalent or Friedel mate already appeared
   earlier in the loop), the Eq list is (h, k, l) followed by R^T·(h, k, l) for each operation in
   list order that is not yet in the list up to sign; each member is written as −hkl then +hkl.
4. Duplicates are dropped keeping the first occurrence.

Validated against upstream's own hkls.csv for Fm-3m (three data sets, MIDAS v11) and R-3c (ruby,
MIDAS 2015): identical row order.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas.errors import ParamError

# sginfo's table of crystallographic rotations: (order, axis, direction code, matrix acting on
# fractional column vectors). Restated as data; each entry is a standard rotation.
_ROTATION_TABLE: tuple[tuple[int, tuple[int, int, int], str, tuple[tuple[int, int, int], ...]], ...] = (
    (1, (0, 0, 0), ".", ((1, 0, 0), (0, 1, 0), (0, 0, 1))),
    (2, (0, 0, 1), "=", ((-1, 0, 0), (0, -1, 0), (0, 0, 1))),
    (2, (1, 0, 0), "=", ((1, -1, 0), (0, -1, 0), (0, 0, -1))),
    (2, (0, 1, 0), "=", ((-1, 0, 0), (-1, 1, 0), (0, 0, -1))),
    (2, (1, 1, 0), '"', ((0, 1, 0), (1, 0, 0), (0, 0, -1))),
    (2, (1, -1, 0), "'", ((0, -1, 0), (-1, 0, 0), (0, 0, -1))),
    (2, (2, 1, 0), "|", ((1, 0, 0), (1, -1, 0), (0, 0, -1))),
    (2, (1, 2, 0), "\\", ((-1, 1, 0), (0, 1, 0), (0, 0, -1))),
    (3, (0, 0, 1), "=", ((0, -1, 0), (1, -1, 0), (0, 0, 1))),
    (3, (1, 1, 1), "*", ((0, 0, 1), (1, 0, 0), (0, 1, 0))),
    (4, (0, 0, 1), "=", ((0, -1, 0), (1, 0, 0), (0, 0, 1))),
    (6, (0, 0, 1), "=", ((1, -1, 0), (1, 0, 0), (0, 0, 1))),
)
# Basis changes used to reach the other table axes: 3-fold about [111] (z -> x -> y) and 4-fold
# about z (for the body diagonals).
_C3_111 = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], dtype=np.int64)
_C4_001 = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]], dtype=np.int64)

_MAX_INDEX_UPSTREAM = 10


@dataclass(frozen=True, slots=True)
class _RotationInfo:
    order: int  # signed: negative for improper operations
    axis: tuple[int, int, int]
    inverse: int  # 0 when the rotation has the table's sense about `axis`, 1 otherwise


def _rotation_order(r: NDArray[np.int64]) -> int:
    det = round(float(np.linalg.det(r)))
    tr = int(np.trace(r))
    if det == 1:
        table = {-1: 2, 0: 3, 1: 4, 2: 6, 3: 1}
    elif det == -1:
        table = {-3: -1, -2: -6, -1: -4, 0: -3, 1: -2}
    else:
        table = {}
    if tr not in table:
        raise ParamError(f"not a crystallographic rotation matrix: {r.tolist()}")
    return table[tr]


def _rotation_info(r: NDArray[np.int64]) -> _RotationInfo:
    order = _rotation_order(r)
    proper = r if order > 0 else -r
    abs_order = abs(order)
    for t_order, t_axis, t_code, t_mat in _ROTATION_TABLE:
        if t_order != abs_order:
            continue
        if t_code == ".":
            n_basis, basis = 1, None
        elif t_code == "*":
            n_basis, basis = 4, _C4_001
        else:
            n_basis, basis = 3, _C3_111
        mat = np.array(t_mat, dtype=np.int64)
        for i_basis in range(n_basis):
            if i_basis and basis is not None:
                mat = basis @ mat @ basis.T  # basis matrices are orthogonal integer matrices
            for inverse in range(2 if abs_order > 2 else 1):
                cand = mat if inverse == 0 else np.rint(np.linalg.inv(mat)).astype(np.int64)
                if np.array_equal(cand, proper):
                    axis = np.array(t_axis, dtype=np.int64)
                    for _ in range(i_basis):
                        assert basis is not None
                        axis = basis @ axis
                    return _RotationInfo(order, (int(axis[0]), int(axis[1]), int(axis[2])), inverse)
    raise ParamError(f"rotation {r.tolist()} is not in the crystallographic rotation table")


def _sort_key(r: NDArray[np.int64]) -> tuple[int, ...]:
    info = _rotation_info(r)
    o, e = info.order, info.axis
    ao = abs(o)
    n_zero = sum(1 for x in e if x == 0)
    largest = max(abs(x) for x in e)
    weighted = 100 * abs(e[2]) + 10 * abs(e[0]) + abs(e[1])
    return (
        0 if ao == 1 else 1,
        0 if o == 1 else 1,
        -ao if ao != 1 else 0,
        -o if ao != 1 else 0,
        -n_zero,
        largest,
        weighted if n_zero < 2 else -weighted,
        -e[0],
        -e[1],
        -e[2],
        info.inverse,
    )


def _space_group_ops(space_group: int) -> Any:  # gemmi.GroupOps
    import gemmi

    if not isinstance(space_group, (int, np.integer)) or isinstance(space_group, bool):
        raise ParamError(f"space_group = {space_group!r}: expected an integer 1..230")
    if not 1 <= int(space_group) <= 230:
        raise ParamError(f"space_group = {space_group}: expected an ITA number 1..230")
    return gemmi.find_spacegroup_by_number(int(space_group)).operations()


@lru_cache(maxsize=256)
def upstream_operation_list(space_group: int) -> tuple[tuple[tuple[int, ...], ...], ...]:
    """Rotation parts of the space group in upstream's (sginfo's) list order, identity first.

    Returns a tuple of 3×3 integer matrices (as nested tuples) acting on fractional coordinates.
    """
    ops = _space_group_ops(space_group)
    centring = [np.array(c, dtype=np.int64) for c in ops.cen_ops]
    rots: list[NDArray[np.int64]] = []
    inversion_at_origin = False
    for op in ops.sym_ops:
        r = np.array(op.rot, dtype=np.int64) // 24
        t = np.array(op.tran, dtype=np.int64)
        if np.array_equal(r, -np.eye(3, dtype=np.int64)) and any(np.all((t - c) % 24 == 0) for c in centring):
            inversion_at_origin = True
        rots.append(r)
    if inversion_at_origin:
        rots = [r for r in rots if round(float(np.linalg.det(r))) == 1]
    rots.sort(key=_sort_key)
    # Move the powers of each operation right behind it (only those not yet placed).
    out = list(rots)
    i = 0
    while i < len(out):
        r = out[i]
        i += 1
        o = _rotation_order(r)
        if o < 0 and o % 2:
            o *= 2
        power = r
        for _ in range(1, abs(o) - 1):
            power = r @ power
            for j in range(i, len(out)):
                if np.array_equal(out[j], power):
                    out.insert(i, out.pop(j))
                    i += 1
                    break
    return tuple(tuple(tuple(int(x) for x in row) for row in r) for r in out)


def _crystal_system(space_group: int) -> str:
    n = int(space_group)
    if n <= 2:
        return "triclinic"
    if n <= 15:
        return "monoclinic"
    if n <= 74:
        return "orthorhombic"
    if n <= 142:
        return "tetragonal"
    if n <= 167:
        return "trigonal"
    if n <= 194:
        return "hexagonal"
    return "cubic"


def _loop_minimum(space_group: int, max_index: int) -> tuple[int, int, int]:
    """Lower loop bounds (h, k, l) of upstream's representative loop (sginfo SetListMin_hkl)."""
    system = _crystal_system(space_group)
    if system == "triclinic":
        return (0, -max_index, -max_index)
    if system == "monoclinic":  # the number-only setting is always unique axis b
        return (0, 0, -max_index)
    return (0, 0, 0)  # number-only trigonal settings use hexagonal axes


def _eq_lists(op_t: NDArray[np.int64], reps: NDArray[np.int64]) -> list[list[tuple[int, int, int]]]:
    """Equivalents of each representative up to sign, in operation-list order (op_t: transposes)."""
    images = np.einsum("mij,kj->kmi", op_t, reps).tolist()  # (K, M, 3): R^T hkl for every op
    out = []
    for imgs in images:
        first = tuple(imgs[0])
        eq = [first]
        seen = {first, (-first[0], -first[1], -first[2])}
        for v in imgs[1:]:
            t = (v[0], v[1], v[2])
            if t not in seen:
                eq.append(t)
                seen.add(t)
                seen.add((-t[0], -t[1], -t[2]))
        out.append(eq)
    return out


def _suppressed(op_t: NDArray[np.int64], lo: tuple[int, int, int], hi: int, grid: NDArray[np.int64]) -> NDArray[np.bool_]:
    """For each hkl of ``grid`` (G, 3): True when an equivalent or Friedel mate of it comes
    earlier in upstream's h, k, l loop (sginfo IsSuppressed_hkl)."""
    h, k, l = grid[:, 0], grid[:, 1], grid[:, 2]

    def inside(hm: NDArray[np.int64], km: NDArray[np.int64], lm: NDArray[np.int64]) -> NDArray[np.bool_]:
        return (lo[0] <= hm) & (hm <= h) & (lo[1] <= km) & (km <= hi) & (lo[2] <= lm) & (lm <= hi)

    # Friedel mate first (its own rule in sginfo).
    out = inside(-h, -k, -l) & ((-h < h) | (-k < k) | ((k == 0) & (-l < l)))
    for r_t in op_t[1:]:
        img = grid @ r_t.T  # rows: R^T hkl
        for sign in (1, -1):
            hm, km, lm = sign * img[:, 0], sign * img[:, 1], sign * img[:, 2]
            earlier = (hm < h) | ((hm == h) & ((km < k) | ((km == k) & (lm < l))))
            out |= inside(hm, km, lm) & earlier
    return np.asarray(out, dtype=np.bool_)


@lru_cache(maxsize=64)
def generation_order(space_group: int, max_index: tuple[int, int, int], *, complete: bool = True) -> NDArray[np.int32]:
    """All reflections in upstream's generation order, (N, 3) int32.

    Parameters
    ----------
    space_group : int
        ITA number 1..230 (standard setting as upstream picks it from the number).
    max_index : (3,) int
        Largest |h|, |k|, |l| the caller needs (from the d-spacing cut).
    complete : bool
        Upstream's loop stops representatives at index 10 and, for the Laue classes -3 and -31m
        (space groups 143-148, 149, 151, 153, 157, 159, 162, 163), its asymmetric unit misses half
        of the reflections. With ``complete`` (default) every reflection within ``max_index`` that
        is not systematically absent is present: upstream's rows come first in upstream's order,
        the rest follows (representatives in h, k, l loop order from -max to +max). Without it the
        list is exactly upstream's.
    """
    ops = _space_group_ops(space_group)
    op_list = upstream_operation_list(space_group)
    op_t = np.array([np.array(r, dtype=np.int64).T for r in op_list], dtype=np.int64)
    top = _MAX_INDEX_UPSTREAM
    lo = _loop_minimum(space_group, top)
    grid = np.stack(
        np.meshgrid(np.arange(lo[0], top + 1), np.arange(lo[1], top + 1), np.arange(lo[2], top + 1), indexing="ij"),
        axis=-1,
    ).reshape(-1, 3)
    grid = grid[np.any(grid != 0, axis=1)]
    absent = np.asarray(ops.systematic_absences(np.ascontiguousarray(grid, dtype=np.int32)), dtype=bool)
    rows: list[tuple[int, int, int]] = []
    seen: set[tuple[int, int, int]] = set()

    def emit(eq: list[tuple[int, int, int]]) -> None:
        for e in eq:
            for m in ((-e[0], -e[1], -e[2]), e):
                if m not in seen:
                    seen.add(m)
                    rows.append(m)

    skip = absent | _suppressed(op_t, lo, top, grid.astype(np.int64))
    for eq in _eq_lists(op_t, grid[~skip].astype(np.int64)):
        emit(eq)
    if complete:
        mh, mk, ml = (int(x) for x in max_index)
        full = np.stack(
            np.meshgrid(np.arange(-mh, mh + 1), np.arange(-mk, mk + 1), np.arange(-ml, ml + 1), indexing="ij"),
            axis=-1,
        ).reshape(-1, 3)
        full = full[np.any(full != 0, axis=1)]
        full_absent = np.asarray(ops.systematic_absences(np.ascontiguousarray(full, dtype=np.int32)), dtype=bool)
        for g in full[~full_absent].tolist():
            t = (g[0], g[1], g[2])
            if t not in seen:
                emit(_eq_lists(op_t, np.array([t], dtype=np.int64))[0])
    out = np.array(rows, dtype=np.int32).reshape(-1, 3)
    out.setflags(write=False)  # cached: callers must not modify it
    return out
