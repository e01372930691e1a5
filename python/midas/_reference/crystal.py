"""NumPy twins of the crystallography kernels (slow, written independently of the fast path).

* :func:`misorientation` works on rotation matrices and traces (the C++ kernel uses quaternions).
* :func:`b_matrix` builds B from the reciprocal metric tensor by a Cholesky factorisation (the
  library evaluates upstream's closed form).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def b_matrix(a: float, b: float, c: float, alpha_deg: float, beta_deg: float, gamma_deg: float) -> NDArray[np.float64]:
    """Upper-triangular B with positive diagonal and Bᵀ B = G* (reciprocal metric), 1/Å."""
    ca, cb, cg = np.cos(np.radians([alpha_deg, beta_deg, gamma_deg]))
    g = np.array([[a * a, a * b * cg, a * c * cb], [a * b * cg, b * b, b * c * ca], [a * c * cb, b * c * ca, c * c]])
    g_star = np.linalg.inv(g)
    lower = np.linalg.cholesky(g_star)  # lower @ lower.T = G*
    return lower.T  # (lower.T).T @ lower.T = G*, upper triangular, positive diagonal


def _angle_axis_from_matrix(r: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    vee = np.stack([r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] - r[..., 0, 1]], -1)
    s = 0.5 * np.linalg.norm(vee, axis=-1)
    c = 0.5 * (np.trace(r, axis1=-2, axis2=-1) - 1.0)
    angle = np.arctan2(s, c)
    n = np.linalg.norm(vee, axis=-1, keepdims=True)
    axis = np.where(n > 0, vee / np.where(n > 0, n, 1.0), np.array([1.0, 0.0, 0.0]))
    return angle, axis


def misorientation(
    om_a: NDArray[np.float64], om_b: NDArray[np.float64], sym: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Element-wise misorientation via matrices.

    ``om_a``, ``om_b``: (N, 3, 3) (or one of them (1, 3, 3)); ``sym``: (M, 3, 3) proper rotations.
    Returns (angle_rad (N,), axis (N, 3)): the smallest angle over S of ``om_aᵀ om_b S`` (largest
    trace) and that rotation's axis in the crystal frame of a.
    """
    a = np.asarray(om_a, dtype=np.float64).reshape(-1, 3, 3)
    b = np.asarray(om_b, dtype=np.float64).reshape(-1, 3, 3)
    s = np.asarray(sym, dtype=np.float64).reshape(-1, 3, 3)
    n = max(len(a), len(b))
    a = np.broadcast_to(a, (n, 3, 3))
    b = np.broadcast_to(b, (n, 3, 3))
    m = np.einsum("nji,njk->nik", a, b)  # aᵀ b
    ms = np.einsum("nij,sjk->nsik", m, s)  # (N, M, 3, 3)
    tr = np.trace(ms, axis1=-2, axis2=-1)
    best = np.argmax(tr, axis=1)
    r = ms[np.arange(n), best]
    return _angle_axis_from_matrix(r)


def misorientation_all_pairs(
    om_a: NDArray[np.float64], om_b: NDArray[np.float64], sym: NDArray[np.float64]
) -> NDArray[np.float64]:
    """(N_a, N_b) angles by looping over rows of ``om_a``."""
    a = np.asarray(om_a, dtype=np.float64).reshape(-1, 3, 3)
    b = np.asarray(om_b, dtype=np.float64).reshape(-1, 3, 3)
    return np.stack([misorientation(a[i : i + 1], b, sym)[0] for i in range(len(a))])
