"""Crystal symmetry as rotations in the crystal Cartesian frame, and misorientation.

The proper rotations of a space group's Laue group are derived from gemmi's symmetry operations
(no hand-written tables) and expressed in the Cartesian frame of the B matrix
(:meth:`midas.crystal.Lattice.b_matrix`). Misorientation between orientation matrices is computed
by the C++ kernel (``cpp/include/midas/crystal/misorientation.hpp``) over batches.

See ``docs/conventions.md`` ("Symmetry" and "Misorientation").
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas._native import core
from midas.crystal._generation import upstream_operation_list
from midas.crystal.lattice import Lattice
from midas.crystal.orientation import matrix_to_quat
from midas.errors import GeometryError, ParamError

__all__ = [
    "laue_group_order",
    "laue_quaternions",
    "laue_rotations",
    "misorientation",
    "misorientation_matrix",
    "symmetry_quaternions",
]

#: Number of proper rotations of the Laue group by space-group range (upstream's table).
_LAUE_ORDER_RANGES = (
    (1, 2, 1),
    (3, 15, 2),
    (16, 74, 4),
    (75, 88, 4),
    (89, 142, 8),
    (143, 148, 3),
    (149, 167, 6),
    (168, 176, 6),
    (177, 194, 12),
    (195, 206, 12),
    (207, 230, 24),
)

_ORTHO_TOL = 1e-6


def _check_sg(space_group: Any) -> int:
    if isinstance(space_group, bool) or not isinstance(space_group, (int, np.integer)):
        raise ParamError(f"space_group = {space_group!r}: expected an integer 1..230")
    n = int(space_group)
    if not 1 <= n <= 230:
        raise ParamError(f"space_group = {n}: expected an ITA number 1..230")
    return n


def laue_group_order(space_group: int) -> int:
    """Number of proper rotations in the Laue group of ``space_group`` (1, 2, 3, 4, 6, 8, 12 or 24)."""
    n = _check_sg(space_group)
    for lo, hi, order in _LAUE_ORDER_RANGES:
        if lo <= n <= hi:
            return order
    raise AssertionError(n)  # pragma: no cover


def _close(a: float, b: float) -> bool:
    return abs(a - b) < 1e-6


def _setting_ops(n: int, lattice: Lattice | None) -> Any:  # gemmi.GroupOps
    """gemmi operations of space group n in the setting that matches ``lattice``.

    Monoclinic groups: unique axis b unless the lattice has α ≠ 90° (axis a) or γ ≠ 90° (axis c),
    upstream's rule. Rhombohedral groups: hexagonal axes unless the lattice is rhombohedral
    (a = b = c, α = β = γ ≠ 90°).
    """
    import gemmi

    if lattice is not None and 3 <= n <= 15:
        al, be, ga = lattice.alpha_deg, lattice.beta_deg, lattice.gamma_deg
        axis = "b"
        if not _close(al, 90.0) and _close(be, 90.0) and _close(ga, 90.0):
            axis = "a"
        elif not _close(ga, 90.0) and _close(al, 90.0) and _close(be, 90.0):
            axis = "c"
        if axis != "b":
            for sg in gemmi.spacegroup_table():
                if sg.number == n and sg.qualifier in (axis, axis + "1"):
                    return sg.operations()
    if lattice is not None and n in (146, 148, 155, 160, 161, 166, 167):
        rhombo = (
            _close(lattice.a_A, lattice.b_A)
            and _close(lattice.b_A, lattice.c_A)
            and _close(lattice.alpha_deg, lattice.beta_deg)
            and _close(lattice.beta_deg, lattice.gamma_deg)
            and not _close(lattice.alpha_deg, 90.0)
        )
        if rhombo:
            for sg in gemmi.spacegroup_table():
                if sg.number == n and sg.ext == "R":
                    return sg.operations()
    return gemmi.find_spacegroup_by_number(n).operations()


def _reference_lattice(n: int) -> Lattice:
    """A cell of the right crystal family, used when the caller gives none."""
    if n <= 2:
        return Lattice(1.0, 1.1, 1.2, 80.0, 85.0, 95.0)
    if n <= 15:
        return Lattice(1.0, 1.1, 1.2, 90.0, 100.0, 90.0)
    if n <= 74:
        return Lattice(1.0, 1.1, 1.2, 90.0, 90.0, 90.0)
    if n <= 142:
        return Lattice(1.0, 1.0, 1.2, 90.0, 90.0, 90.0)
    if n <= 194:
        return Lattice(1.0, 1.0, 1.6, 90.0, 90.0, 120.0)
    return Lattice(1.0, 1.0, 1.0, 90.0, 90.0, 90.0)


@lru_cache(maxsize=512)
def _laue_rotations_cached(n: int, lattice: Lattice | None) -> NDArray[np.float64]:
    ops = _setting_ops(n, lattice)
    # Proper parts of the point-group rotations, in upstream's list order where possible.
    order_ref = {tuple(np.array(r).ravel()): i for i, r in enumerate(upstream_operation_list(n))}
    frac: list[NDArray[np.int64]] = []
    for op in ops.sym_ops:
        r = np.array(op.rot, dtype=np.int64) // 24
        if round(float(np.linalg.det(r))) < 0:
            r = -r
        if not any(np.array_equal(r, f) for f in frac):
            frac.append(r)
    frac.sort(key=lambda r: order_ref.get(tuple(r.ravel()), len(order_ref)))
    lat = lattice if lattice is not None else _reference_lattice(n)
    a = lat.direct_matrix()
    a_inv = np.linalg.inv(a)
    rots = np.array([a @ r @ a_inv for r in frac], dtype=np.float64)
    err = np.abs(rots @ rots.transpose(0, 2, 1) - np.eye(3)).max()
    if err > _ORTHO_TOL:
        raise GeometryError(
            f"lattice {lat.to_tuple()} does not have the symmetry of space group {n}: its rotations are "
            f"not orthogonal in the crystal frame (error {err:.2g}); check LatticeConstant and SpaceGroup"
        )
    # Snap rounding noise: entries are 0, ±1/2, ±√3/2 or ±1 in these frames.
    rots = np.where(np.abs(rots) < 1e-15, 0.0, rots)
    rots.setflags(write=False)
    return rots


def laue_rotations(space_group: int, lattice: Lattice | None = None) -> NDArray[np.float64]:
    """Proper rotations of the Laue group, in the crystal Cartesian frame.

    Parameters
    ----------
    space_group : int
        ITA number 1..230.
    lattice : Lattice, optional
        Cell that fixes the Cartesian frame (the frame of its B matrix) and, for monoclinic and
        rhombohedral groups, the setting (unique axis from the angle that is not 90°; rhombohedral
        axes when a = b = c and α = β = γ ≠ 90°). Default: a generic cell of the right family in the
        standard setting (the rotations do not depend on the cell's lengths).

    Returns
    -------
    (M, 3, 3) float64, read-only
        ``S_cart = A · S_frac · A⁻¹`` with A the direct basis (:meth:`Lattice.direct_matrix`),
        identity first. Each S is orthogonal with det +1 and permutes the scattering vectors
        ``B @ hkl`` of the crystal. M = :func:`laue_group_order`.

    Raises
    ------
    ParamError
        For a space group outside 1..230.
    GeometryError
        When ``lattice`` does not have the group's symmetry (e.g. a ≠ b for a tetragonal group).

    Notes
    -----
    gemmi's ``Op.rot`` acts on fractional coordinates (x' = R·x + t), so the Cartesian operator
    is ``A R A⁻¹``; a reflection hkl maps to ``R⁻ᵀ hkl``.
    """
    n = _check_sg(space_group)
    if lattice is not None and not isinstance(lattice, Lattice):
        raise ParamError(f"lattice must be a midas.crystal.Lattice or None, got {type(lattice).__name__}")
    return _laue_rotations_cached(n, lattice)


def laue_quaternions(space_group: int, lattice: Lattice | None = None) -> NDArray[np.float64]:
    """:func:`laue_rotations` as unit quaternions (M, 4) (w, x, y, z), w ≥ 0."""
    return matrix_to_quat(laue_rotations(space_group, lattice))


def symmetry_quaternions(symmetry: Any, lattice: Lattice | None = None) -> NDArray[np.float64]:
    """Normalise a symmetry argument to (M, 4) quaternions.

    ``symmetry`` may be a space-group number, an (M, 3, 3) array of rotation matrices, or an
    (M, 4) array of quaternions.

    Raises
    ------
    ParamError
        When the argument is none of these or a matrix is not a rotation.
    """
    if isinstance(symmetry, (int, np.integer)) and not isinstance(symmetry, bool):
        return laue_quaternions(int(symmetry), lattice)
    s = np.asarray(symmetry, dtype=np.float64)
    if s.ndim == 3 and s.shape[1:] == (3, 3):
        err = np.abs(s @ s.transpose(0, 2, 1) - np.eye(3)).max() if len(s) else 0.0
        if err > _ORTHO_TOL or (len(s) and np.any(np.linalg.det(s) < 0)):
            raise ParamError(f"symmetry rotations must be proper orthogonal matrices (error {err:.2g})")
        return matrix_to_quat(s)
    if s.ndim == 2 and s.shape[1] == 4:
        n = np.linalg.norm(s, axis=1)
        if np.any(np.abs(n - 1.0) > 1e-6):
            raise ParamError("symmetry quaternions must have unit norm")
        return np.asarray(s / n[:, None], dtype=np.float64)
    raise ParamError(
        f"symmetry of shape {s.shape}: expected a space-group number, (M, 3, 3) rotations or (M, 4) quaternions"
    )


def _as_matrices(name: str, om: ArrayLike) -> NDArray[np.float64]:
    m = np.asarray(om, dtype=np.float64)
    if m.shape == (3, 3):
        m = m[None]
    if m.ndim != 3 or m.shape[1:] != (3, 3):
        raise ParamError(f"{name} has shape {m.shape}, expected (3, 3) or (N, 3, 3)")
    return np.ascontiguousarray(m)


def misorientation(
    om_a: ArrayLike,
    om_b: ArrayLike,
    symmetry: Any = 1,
    *,
    lattice: Lattice | None = None,
    return_axis: bool = False,
) -> Any:
    """Smallest rotation angle between orientations, accounting for crystal symmetry.

    Parameters
    ----------
    om_a, om_b : (N, 3, 3) or (3, 3) float64
        Orientation matrices (crystal → sample). A single matrix on one side is compared with
        every matrix on the other (one-to-many); otherwise pairs are taken element-wise.
    symmetry : int or (M, 3, 3) or (M, 4)
        Space-group number (its Laue rotations, :func:`laue_rotations`), or the rotations /
        quaternions themselves. Default 1: no symmetry.
    lattice : Lattice, optional
        Passed to :func:`laue_rotations` when ``symmetry`` is a number.
    return_axis : bool
        Also return the misorientation axis.

    Returns
    -------
    angle_rad : (N,) float64, or float when both inputs are single (3, 3) matrices
        ``min over S of angle(om_aᵀ · om_b · S)`` in [0, π].
    axis : (N, 3) or (3,) float64, only with ``return_axis``
        Unit axis of the minimising rotation in the crystal frame of ``om_a`` ((1, 0, 0) for a
        zero angle).

    Raises
    ------
    ParamError
        For mismatched batch sizes or an invalid symmetry argument.

    Notes
    -----
    Computed with quaternions: ``d = conj(q_a) ⊗ q_b``, the best symmetry maximises
    ``|(d ⊗ s).w|`` and the angle is ``2·atan2(|v|, |w|)`` (accurate also for tiny angles).
    Symmetry on one side suffices: ``angle(S₁ᵀ X S₂) = angle(X S₂ S₁ᵀ)``.
    """
    single = np.ndim(om_a) == 2 and np.ndim(om_b) == 2
    a = _as_matrices("om_a", om_a)
    b = _as_matrices("om_b", om_b)
    if a.shape[0] != b.shape[0] and a.shape[0] != 1 and b.shape[0] != 1:
        raise ParamError(f"om_a has {a.shape[0]} orientations and om_b {b.shape[0]}: expected equal counts or one")
    sym = np.ascontiguousarray(symmetry_quaternions(symmetry, lattice))
    angle, axis = core().misorientation_pairs(a, b, sym, bool(return_axis))
    if single:
        return (float(angle[0]), axis[0]) if return_axis else float(angle[0])
    return (angle, axis) if return_axis else angle


def misorientation_matrix(
    om_a: ArrayLike, om_b: ArrayLike, symmetry: Any = 1, *, lattice: Lattice | None = None
) -> NDArray[np.float64]:
    """Misorientation angle of every orientation in ``om_a`` with every one in ``om_b``.

    Parameters
    ----------
    om_a : (N, 3, 3) or (3, 3) float64
    om_b : (K, 3, 3) or (3, 3) float64
    symmetry, lattice
        As :func:`misorientation`.

    Returns
    -------
    (N, K) float64
        Angles in radians.

    Raises
    ------
    ParamError
        For bad shapes or symmetry.
    """
    a = _as_matrices("om_a", om_a)
    b = _as_matrices("om_b", om_b)
    sym = np.ascontiguousarray(symmetry_quaternions(symmetry, lattice))
    return np.asarray(core().misorientation_all_pairs(a, b, sym), dtype=np.float64)
