"""Score FF grains against a known truth (the definitions of ../shared/tools/hedm_score.py).

Grains are paired by optimal assignment (Hungarian) among pairs closer than ``max_miso_deg``
(misorientation with the Laue group's rotations) and ``max_dist_um``, with cost
miso/max_miso + dist/max_dist. Strain errors compare Fable–Beaudoin tensors in the sample frame
recomputed from each grain's lattice and orientation with one reference lattice, so truth files
without strain columns still score.

One addition: ``misorientation_lattice_deg`` compares the rotation parts R of the lattice
deformation (polar decomposition of F = U·A(lattice)·A_ref⁻¹ in the sample frame). For a
strained crystal the matrix U of the U·B(a, b, c, α, β, γ) convention depends on which crystal
axis is called a — the 24 relabelings of a cubic cell give U's that differ by up to about the
strain (≈ 0.05° at 500 µε), and the spots cannot tell them apart; R does not depend on it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["lattice_rotation", "score_grains"]


def _stats(x: NDArray[np.float64]) -> dict[str, float] | None:
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return None
    return {"median": float(np.median(x)), "p95": float(np.percentile(x, 95)), "max": float(x.max()),
            "mean": float(x.mean())}


def _nearest_rotation(m: NDArray[np.float64]) -> NDArray[np.float64]:
    u, _, vt = np.linalg.svd(m)
    r = u @ vt
    bad = np.linalg.det(r) < 0
    if bad.any():
        u[bad, :, -1] *= -1
        r = u @ vt
    return np.asarray(r, dtype=np.float64)


def lattice_rotation(orient_mat: Any, lattice: Any, reference: Any) -> NDArray[np.float64]:
    """Rotation part R of the deformation F = U·A(lattice)·A_ref⁻¹ (polar decomposition F = R·P).

    Parameters
    ----------
    orient_mat : (N, 3, 3) float64
    lattice : (N, 6) float64
    reference : (6,) float64

    Returns
    -------
    (N, 3, 3) float64
        Orientation matrices that do not depend on the labelling of the crystal axes.
    """
    from midas.ff.strain import fable_beaudoin_matrix

    u = _nearest_rotation(np.asarray(orient_mat, dtype=np.float64))
    f = u @ fable_beaudoin_matrix(lattice) @ np.linalg.inv(fable_beaudoin_matrix(reference))
    return _nearest_rotation(f)


def score_grains(truth: Any, result: Any, *, space_group: int, lattice: Any, ref_lattice: Any = None,
                 max_miso_deg: float = 1.0, max_dist_um: float = 100.0) -> dict[str, Any]:
    """Match result grains to truth grains and summarise the errors.

    Parameters
    ----------
    truth, result : GrainsTable
        (``orient_mat``, ``pos_um``, ``lattice``).
    space_group : int
        For the Laue group.
    lattice : (6,) float
        Cell that fixes the symmetry frame (the truth header's lattice).
    ref_lattice : (6,) float, optional
        Reference for the strains (default ``lattice``).
    max_miso_deg, max_dist_um : float
        Pairing limits.

    Returns
    -------
    dict
        ``n_truth``, ``n_result``, ``matched``, ``missed``, ``spurious``,
        ``misorientation_deg``, ``misorientation_lattice_deg``, ``position_error_um`` (median,
        p95, max, mean), ``strain_error_rms_microstrain``, ``truth_strain_rms_microstrain``,
        ``pairs`` (list of (truth row, result row)).
    """
    from scipy.optimize import linear_sum_assignment

    from midas.crystal import Lattice
    from midas.crystal.symmetry import misorientation, misorientation_matrix
    from midas.ff.strain import fable_beaudoin_strain

    lat = Lattice.from_tuple(lattice)
    ref = np.asarray(lattice if ref_lattice is None else ref_lattice, dtype=np.float64)
    out: dict[str, Any] = {"n_truth": len(truth), "n_result": len(result), "space_group": int(space_group)}
    if len(truth) == 0 or len(result) == 0:
        out.update(matched=0, missed=len(truth), spurious=len(result), pairs=[])
        return out
    om_t = _nearest_rotation(np.asarray(truth.orient_mat, dtype=np.float64))
    om_r = _nearest_rotation(np.asarray(result.orient_mat, dtype=np.float64))
    miso = np.degrees(misorientation_matrix(om_t, om_r, space_group, lattice=lat))
    dist = np.linalg.norm(np.asarray(truth.pos_um)[:, None, :] - np.asarray(result.pos_um)[None, :, :], axis=-1)
    ok = (miso < max_miso_deg) & (dist < max_dist_um)
    cost = np.where(ok, miso / max_miso_deg + dist / max_dist_um, 1e6)
    ti, ri = linear_sum_assignment(cost)
    keep = ok[ti, ri]
    ti, ri = ti[keep], ri[keep]
    out.update(matched=len(ti), missed=int(len(truth) - len(ti)), spurious=int(len(result) - len(ri)))
    out["misorientation_deg"] = _stats(miso[ti, ri])
    out["position_error_um"] = _stats(dist[ti, ri])
    rt = lattice_rotation(om_t[ti], np.asarray(truth.lattice)[ti], ref)
    rr = lattice_rotation(om_r[ri], np.asarray(result.lattice)[ri], ref)
    out["misorientation_lattice_deg"] = _stats(np.degrees(misorientation(rt, rr, space_group, lattice=lat)))
    et = fable_beaudoin_strain(np.asarray(truth.lattice)[ti], ref, om_t[ti])
    er = fable_beaudoin_strain(np.asarray(result.lattice)[ri], ref, om_r[ri])
    out["strain_error_rms_microstrain"] = float(np.sqrt(np.mean((er - et) ** 2)) * 1e6) if len(ti) else None
    out["truth_strain_rms_microstrain"] = float(np.sqrt(np.mean(et**2)) * 1e6) if len(ti) else None
    out["pairs"] = [(int(a), int(b)) for a, b in zip(ti, ri)]
    return out
