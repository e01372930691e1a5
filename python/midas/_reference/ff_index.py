"""Slow NumPy twins of the FF indexing and refinement kernels, for tests only.

* :func:`spot_model` — one spot's (y, z, ω, η, 2θ) from G, position and ω, computed the forward
  model's way (η, R = Lsd·tan 2θ), and its Jacobian by central differences along the Bragg
  solution (the C++ kernel derives it analytically).
* :func:`count_matches` — predicted spots of a grain and how many have an observed spot within
  upstream's tolerances, with exact (not linearised) radial and η tests.
* :func:`refine_lsq` — the refinement's weighted least-squares problem for fixed spot pairs,
  solved with scipy.optimize.least_squares (Levenberg–Marquardt, numerical Jacobian).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["bragg_omegas", "count_matches", "lattice_from_b", "refine_lsq", "spot_jacobian", "spot_model"]


def bragg_omegas(g: NDArray[np.float64], wavelength_A: float) -> NDArray[np.float64]:
    """Both ω (rad) solving −Gx cos ω + Gy sin ω = λ|G|²/2, or an empty array."""
    gx, gy = g[0], g[1]
    v = wavelength_A * float(g @ g) / 2
    rho = np.hypot(gx, gy)
    if rho == 0 or v > rho:
        return np.zeros(0)
    psi = np.arctan2(gy, -gx)
    d = np.arccos(v / rho)
    return np.remainder(np.array([psi + d, psi - d]) + np.pi, 2 * np.pi) - np.pi


def spot_model(g: Any, pos_um: Any, omega_rad: float, wavelength_A: float, lsd_um: float,
               displacement: str = "parallel") -> NDArray[np.float64]:
    """(y µm, z µm, ω deg, η deg, 2θ deg) of scattering vector g (sample frame) at ω."""
    g = np.asarray(g, dtype=np.float64)
    c, s = np.cos(omega_rad), np.sin(omega_rad)
    rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    gl = rz @ g
    eta = np.arctan2(-gl[1], gl[2])
    tth = 2 * np.arcsin(wavelength_A * np.linalg.norm(g) / 2)
    r = lsd_um * np.tan(tth)
    y0, z0 = -r * np.sin(eta), r * np.cos(eta)
    p = rz @ np.asarray(pos_um, dtype=np.float64)
    if displacement == "parallel":
        y = y0 + p[1] - p[0] * y0 / lsd_um
        z = z0 + p[2] - p[0] * z0 / lsd_um
    else:
        q = lsd_um - p[0]
        y = y0 + p[1] - p[0] * (y0 - p[1]) / q
        z = z0 + p[2] - p[0] * (z0 - p[2]) / q
    return np.array([y, z, np.degrees(omega_rad), np.degrees(eta), np.degrees(tth)])


def _closest(g: NDArray[np.float64], wavelength_A: float, omega_ref_rad: float) -> float:
    sols = bragg_omegas(g, wavelength_A)
    d = np.abs(np.remainder(sols - omega_ref_rad + np.pi, 2 * np.pi) - np.pi)
    return float(sols[int(np.argmin(d))])


def spot_jacobian(g: Any, pos_um: Any, omega_rad: float, wavelength_A: float, lsd_um: float,
                  displacement: str = "parallel", h: float = 1e-7) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """∂(y, z, ω_deg)/∂G and ∂(y, z, ω_deg)/∂pos by central differences, following the Bragg
    solution nearest ω as G changes. Returns two (3, 3) arrays."""
    g = np.asarray(g, dtype=np.float64)
    pos = np.asarray(pos_um, dtype=np.float64)

    def f(gg: NDArray[np.float64], pp: NDArray[np.float64]) -> NDArray[np.float64]:
        w = _closest(gg, wavelength_A, omega_rad)
        return spot_model(gg, pp, w, wavelength_A, lsd_um, displacement)[:3]

    dg = np.zeros((3, 3))
    dp = np.zeros((3, 3))
    scale = np.linalg.norm(g)
    for k in range(3):
        e = np.zeros(3)
        e[k] = h * scale
        dg[:, k] = (f(g + e, pos) - f(g - e, pos)) / (2 * e[k])
        e = np.zeros(3)
        e[k] = 1e-3
        dp[:, k] = (f(g, pos + e) - f(g, pos - e)) / 2e-3
    return dg, dp


def lattice_from_b(b: Any) -> NDArray[np.float64]:
    """a, b, c (Å), α, β, γ (deg) of a reciprocal basis B (columns a*, b*, c*)."""
    g = np.linalg.inv(np.asarray(b, dtype=np.float64).T @ np.asarray(b, dtype=np.float64))
    a, bb, c = np.sqrt(np.diag(g))
    return np.array([a, bb, c, np.degrees(np.arccos(g[1, 2] / (bb * c))), np.degrees(np.arccos(g[0, 2] / (a * c))),
                     np.degrees(np.arccos(g[0, 1] / (a * bb)))])


def count_matches(spots: Any, orient_mat: Any, pos_um: Any, hkl: Any, ring_nr: Any, ring_radius_um: Any,
                  b_matrix: Any, *, wavelength_A: float, lsd_um: float, margin_eta_um: float, margin_ome_deg: float,
                  margin_radial_um: float, step_orient_deg: float, min_eta_deg: float) -> tuple[int, int]:
    """(n_expected, n_matched) of a grain with upstream's tolerances (full ω range, no box).

    A predicted spot matches when an observed spot of its ring has |Δω| < MarginOme +
    ½StepSizeOrient/|sin η|, |Δη| < atan(MarginEta/R) + ½StepSizeOrient and |Δradius| <
    MarginRadial (radius = distance of the spot from the beam centre).
    """
    u = np.asarray(orient_mat, dtype=np.float64)
    b = np.asarray(b_matrix, dtype=np.float64)
    n_exp = n_mat = 0
    for row, ring in zip(np.asarray(hkl, dtype=np.float64), np.asarray(ring_nr)):
        g = u @ b @ row
        for w in bragg_omegas(g, wavelength_A):
            y, z, wd, eta, _ = spot_model(g, pos_um, w, wavelength_A, lsd_um)
            ideal_eta = eta
            if abs(np.sin(np.radians(ideal_eta))) < np.sin(np.radians(min_eta_deg)):
                continue
            n_exp += 1
            radius = ring_radius_um[int(ring)]
            sel = spots.ring_nr == ring
            dw = np.abs(np.remainder(spots.omega_deg[sel] - wd + 180, 360) - 180)
            ome_tol = margin_ome_deg + 0.5 * step_orient_deg / abs(np.sin(np.radians(ideal_eta)))
            eta_p = np.degrees(np.arctan2(-y, z))
            de = np.abs(np.remainder(spots.eta_deg[sel] - eta_p + 180, 360) - 180)
            eta_tol = np.degrees(np.arctan(margin_eta_um / radius)) + 0.5 * step_orient_deg
            dr = np.abs(np.hypot(spots.y_um[sel], spots.z_um[sel]) - np.hypot(y, z))
            if np.any((dw < ome_tol) & (de < eta_tol) & (dr < margin_radial_um)):
                n_mat += 1
    return n_exp, n_mat


def refine_lsq(spots: Any, pairs_obs: Any, pairs_hkl: Any, orient_mat: Any, pos_um: Any, b_matrix: Any, *,
               wavelength_A: float, lsd_um: float, sigma_yz_um: float, sigma_ome_deg: float,
               displacement: str = "parallel") -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Weighted least squares of the spot residuals for fixed (observed spot, hkl) pairs.

    Parameters: position (3), rotation vector applied as Rot(w)·U (3) and the six
    upper-triangular entries of B. Returns (orientation (3, 3), position (3,), B (3, 3)).
    """
    from scipy.optimize import least_squares
    from scipy.spatial.transform import Rotation

    u0 = np.asarray(orient_mat, dtype=np.float64)
    b0 = np.asarray(b_matrix, dtype=np.float64)
    iu = np.triu_indices(3)
    hk = np.asarray(pairs_hkl, dtype=np.float64)
    rows = np.asarray(pairs_obs)

    def unpack(x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        u = Rotation.from_rotvec(x[3:6]).as_matrix() @ u0
        b = np.zeros((3, 3))
        b[iu] = b0[iu] + x[6:12]
        return u, x[:3] + np.asarray(pos_um, dtype=np.float64), b

    def fun(x: NDArray[np.float64]) -> NDArray[np.float64]:
        u, p, b = unpack(x)
        out = []
        for j, h in zip(rows, hk):
            g = u @ b @ h
            w = _closest(g, wavelength_A, np.radians(spots.omega_deg[j]))
            y, z, wd, _, _ = spot_model(g, p, w, wavelength_A, lsd_um, displacement)
            dw = np.remainder(wd - spots.omega_deg[j] + 180, 360) - 180
            out += [(y - spots.y_um[j]) / sigma_yz_um, (z - spots.z_um[j]) / sigma_yz_um, dw / sigma_ome_deg]
        return np.asarray(out)

    x0 = np.zeros(12)
    scale = np.concatenate([np.full(3, 1.0), np.full(3, 1e-4), np.full(6, 1e-4)])
    res = least_squares(fun, x0, method="lm", x_scale=scale, xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=20000)
    return unpack(res.x)
