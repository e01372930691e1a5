"""NumPy twins of the geometry kernels (``cpp/include/midas/geometry/*.hpp``).

Written from the formulas in ``docs/conventions.md`` / ``upstream_facts.md`` §2.3, §2.5, §2.8,
independently of the C++ code: explicit rotation matrices, the distortion polynomial written
term by term in degrees as upstream writes it, a finite-difference Newton inverse, and root
bracketing for the wedge.
Slow and obvious on purpose; only the tests and benchmarks use them.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import brentq

F64 = NDArray[np.float64]


# ---------------------------------------------------------------------------------------------
# rotations


def rot_x(t: float) -> F64:
    c, s = np.cos(t), np.sin(t)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(t: float) -> F64:
    c, s = np.cos(t), np.sin(t)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(t: float) -> F64:
    c, s = np.cos(t), np.sin(t)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def calc_eta_deg(y: F64, z: F64) -> F64:
    """η in degrees, atan2(−y, z) moved into (−180, 180] (upstream ``dg_calc_eta_angle``); 0 at the origin."""
    y = np.asarray(y, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    eta = np.degrees(np.arctan2(-y, z))
    eta = np.where(eta <= -180.0, 180.0, eta)
    return np.where((y == 0) & (z == 0), 0.0, eta)


# ---------------------------------------------------------------------------------------------
# far field


def ff_tilt_matrix(tx_deg: float, ty_deg: float, tz_deg: float) -> F64:
    return (
        rot_x(np.radians(tx_deg))
        @ rot_y(np.radians(ty_deg))
        @ rot_z(np.radians(tz_deg))
    )


def ff_distortion(p: F64, rho: F64, eta_deg: F64) -> F64:
    """Upstream's D(ρ, η): every angle in degrees, η' = 90 − η."""
    e = 90.0 - eta_deg

    def cosd(a: F64) -> F64:
        return np.cos(np.radians(a))

    return (
        1.0
        + p[0] * rho**2 * cosd(2 * e + p[6])
        + p[1] * rho**4 * cosd(4 * e + p[3])
        + p[2] * rho**2
        + p[4] * rho**6
        + p[5] * rho**4
        + p[7] * rho**4 * cosd(e + p[8])
        + p[9] * rho**3 * cosd(3 * e + p[10])
        + p[11] * rho**5 * cosd(5 * e + p[12])
        + p[13] * rho**6 * cosd(6 * e + p[14])
    )


def ff_pixel_to_ideal(
    lsd_um: float,
    bc_px: tuple[float, float],
    px_um: tuple[float, float],
    tilts_deg: tuple[float, float, float],
    p: F64,
    rho_d_um: float,
    y_px: F64,
    z_px: F64,
    parallax_um: float = 0.0,
) -> dict[str, F64]:
    """Pixel → ideal, literally §2.3: returns r_um, eta_deg, tth_deg, y_um, z_um."""
    p = np.asarray(p, dtype=np.float64)
    t = ff_tilt_matrix(*tilts_deg)
    yc = -(np.asarray(y_px, dtype=np.float64) - bc_px[0]) * px_um[0]
    zc = (np.asarray(z_px, dtype=np.float64) - bc_px[1]) * px_um[1]
    abc = np.stack([np.zeros_like(yc), yc, zc], axis=-1)  # (..., 3)
    abc_pr = abc @ t.T
    x = lsd_um + abc_pr[..., 0]
    r = (lsd_um / x) * np.sqrt(abc_pr[..., 1] ** 2 + abc_pr[..., 2] ** 2)
    eta = calc_eta_deg(abc_pr[..., 1], abc_pr[..., 2])
    r_corr = r * ff_distortion(p, r / rho_d_um, eta)
    if parallax_um:
        r_corr = r_corr + parallax_um * np.sin(np.arctan(r / lsd_um))
    return {
        "r_um": r_corr,
        "eta_deg": eta,
        "tth_deg": np.degrees(np.arctan(r_corr / lsd_um)),
        "y_um": -r_corr * np.sin(np.radians(eta)),
        "z_um": r_corr * np.cos(np.radians(eta)),
    }


def ff_panel_of(bounds: F64, y_px: F64, z_px: F64) -> NDArray[np.int64]:
    """Panel of the nearest pixel by a plain search over the (n, 4) inclusive bounds; −1 in gaps."""
    yr = np.floor(np.asarray(y_px, dtype=np.float64) + 0.5)
    zr = np.floor(np.asarray(z_px, dtype=np.float64) + 0.5)
    out = np.full(yr.shape, -1, dtype=np.int64)
    for k, (y0, y1, z0, z1) in enumerate(np.asarray(bounds)):
        inside = (yr >= y0) & (yr <= y1) & (zr >= z0) & (zr <= z1) & (out < 0)
        out[inside] = k
    return out


def ff_pixel_to_ideal_panels(
    lsd_um: float,
    bc_px: tuple[float, float],
    px_um: tuple[float, float],
    tilts_deg: tuple[float, float, float],
    p: F64,
    rho_d_um: float,
    bounds: F64,
    shifts: F64,
    y_px: F64,
    z_px: F64,
    panel: NDArray[np.int64] | None = None,
) -> dict[str, F64]:
    """Pixel → ideal with per-panel corrections, literally upstream §2.3 step 6.

    Per point: the panel (``panel`` or the nearest pixel's), then rotate by dθ about the panel
    centre and shift by (dY, dZ); project with Lsd + dLsd and rescale R by Lsd/(Lsd + dLsd); add
    dP2 to p2. ``shifts`` columns: dY px, dZ px, dθ deg, dLsd µm, dP2.
    """
    y = np.atleast_1d(np.asarray(y_px, dtype=np.float64)).copy()
    z = np.atleast_1d(np.asarray(z_px, dtype=np.float64)).copy()
    k = ff_panel_of(bounds, y, z) if panel is None else np.atleast_1d(panel)
    out = {name: np.empty(y.shape) for name in ("r_um", "eta_deg", "tth_deg", "y_um", "z_um")}
    for i in range(y.size):
        lsd_eff, pp = lsd_um, np.array(p, dtype=np.float64)
        yy, zz = y[i], z[i]
        if k[i] >= 0:
            y0, y1, z0, z1 = bounds[k[i]]
            cy, cz = 0.5 * (y0 + y1), 0.5 * (z0 + z1)
            d_y, d_z, d_th, d_lsd, d_p2 = shifts[k[i]]
            c, s_ = np.cos(np.radians(d_th)), np.sin(np.radians(d_th))
            yy, zz = cy + c * (yy - cy) - s_ * (zz - cz) + d_y, cz + s_ * (yy - cy) + c * (zz - cz) + d_z
            lsd_eff = lsd_um + d_lsd
            pp[2] += d_p2
        # steps 1-3 at Lsd + dLsd, then R rescaled to the plane at Lsd (the distortion uses that R)
        t = ff_tilt_matrix(*tilts_deg)
        abc = t @ np.array([0.0, -(yy - bc_px[0]) * px_um[0], (zz - bc_px[1]) * px_um[1]])
        r = lsd_eff * np.hypot(abc[1], abc[2]) / (lsd_eff + abc[0]) * lsd_um / lsd_eff
        eta = float(calc_eta_deg(abc[1], abc[2]))
        rc = r * ff_distortion(pp, r / rho_d_um, eta)
        out["r_um"][i], out["eta_deg"][i] = rc, eta
        out["tth_deg"][i] = np.degrees(np.arctan(rc / lsd_um))
        out["y_um"][i], out["z_um"][i] = -rc * np.sin(np.radians(eta)), rc * np.cos(np.radians(eta))
    return out


def ff_ideal_to_pixel(
    lsd_um: float,
    bc_px: tuple[float, float],
    px_um: tuple[float, float],
    tilts_deg: tuple[float, float, float],
    p: F64,
    rho_d_um: float,
    y_um: F64,
    z_um: F64,
    parallax_um: float = 0.0,
    iterations: int = 40,
) -> tuple[F64, F64]:
    """Inverse by Newton with a central-difference Jacobian (h = 1e-3 px), vectorised."""

    def fwd(yy: F64, zz: F64) -> tuple[F64, F64]:
        o = ff_pixel_to_ideal(
            lsd_um, bc_px, px_um, tilts_deg, p, rho_d_um, yy, zz, parallax_um
        )
        return o["y_um"], o["z_um"]

    y_t = np.asarray(y_um, dtype=np.float64)
    z_t = np.asarray(z_um, dtype=np.float64)
    yy = bc_px[0] - y_t / px_um[0]
    zz = bc_px[1] + z_t / px_um[1]
    h = 1e-3
    for _ in range(iterations):
        fy, fz = fwd(yy, zz)
        ry, rz = y_t - fy, z_t - fz
        a_y, b_y = fwd(yy + h, zz)
        a_m, b_m = fwd(yy - h, zz)
        c_y, d_y = fwd(yy, zz + h)
        c_m, d_m = fwd(yy, zz - h)
        j00 = (a_y - a_m) / (2 * h)
        j10 = (b_y - b_m) / (2 * h)
        j01 = (c_y - c_m) / (2 * h)
        j11 = (d_y - d_m) / (2 * h)
        det = j00 * j11 - j01 * j10
        yy = yy + (j11 * ry - j01 * rz) / det
        zz = zz + (-j10 * ry + j00 * rz) / det
    return yy, zz


# ---------------------------------------------------------------------------------------------
# near field


def nf_tilt_matrix(tx_deg: float, ty_deg: float, tz_deg: float) -> F64:
    """T_NF = Rz(tz)·Ry(ty)·Rx(tx) (reverse order of the FF matrix)."""
    return (
        rot_z(np.radians(tz_deg))
        @ rot_y(np.radians(ty_deg))
        @ rot_x(np.radians(tx_deg))
    )


def nf_project(
    lsd_um: float,
    bc_px: tuple[float, float],
    px_um: float,
    tilts_deg: tuple[float, float, float],
    y_um: F64,
    z_um: F64,
) -> tuple[F64, F64]:
    """§2.8: line from P0 = T·(−Lsd,0,0) through P1 = T·(0,y,z), cut with x = 0; Y = ybc + y/px."""
    t = nf_tilt_matrix(*tilts_deg)
    p0 = t @ np.array([-lsd_um, 0.0, 0.0])
    y = np.asarray(y_um, dtype=np.float64)
    z = np.asarray(z_um, dtype=np.float64)
    p1 = np.stack([np.zeros_like(y), y, z], axis=-1) @ t.T
    d = p1 - p0
    lam = -p0[0] / d[..., 0]
    out = p0 + lam[..., None] * d
    return out[..., 1] / px_um + bc_px[0], out[..., 2] / px_um + bc_px[1]


def nf_displace(
    x_um: F64,
    y_um: F64,
    z_um: F64,
    omega_deg: F64,
    y0_um: F64,
    z0_um: F64,
    lsd_ref_um: float,
    lsd_out_um: float,
) -> tuple[F64, F64]:
    """Ray parallel to (Lsd_ref, y0, z0) from the rotated point, evaluated at x = Lsd_out."""
    w = np.radians(omega_deg)
    pos = np.stack([x_um, y_um, z_um], axis=-1)
    rot = np.stack(
        [
            np.stack([np.cos(w), -np.sin(w), np.zeros_like(w)], -1),
            np.stack([np.sin(w), np.cos(w), np.zeros_like(w)], -1),
            np.stack([np.zeros_like(w), np.zeros_like(w), np.ones_like(w)], -1),
        ],
        -2,
    )
    q = np.einsum("...ij,...j->...i", rot, pos)
    direction = np.stack([np.full_like(q[..., 0], lsd_ref_um), y0_um, z0_um], axis=-1)
    s = (lsd_out_um - q[..., 0]) / direction[..., 0]
    return q[..., 1] + s * direction[..., 1], q[..., 2] + s * direction[..., 2]


# ---------------------------------------------------------------------------------------------
# omega


def frame_to_omega_deg(k: F64, start: float, step: float, centre: bool = True) -> F64:
    return start + (np.asarray(k, dtype=np.float64) + (0.5 if centre else 0.0)) * step


def wrap_deg(a: F64) -> F64:
    """Into (−180, 180]."""
    r = 180.0 - np.mod(180.0 - np.asarray(a, dtype=np.float64), 360.0)
    return r


def timing_correct_deg(
    omega: F64, z_px: F64, n_z: int, step: float, t_int: float, t_gap: float
) -> F64:
    frac = t_gap / (t_gap + t_int)
    return wrap_deg(
        omega - frac * step * (1.0 - np.abs(2.0 * np.asarray(z_px) - n_z) / n_z)
    )


def g_lab_unit(eta_deg: float, tth_deg: float) -> F64:
    """Unit scattering vector of a beam along +x diffracted to (2θ, η)."""
    d = np.array(
        [
            np.cos(np.radians(tth_deg)),
            -np.sin(np.radians(tth_deg)) * np.sin(np.radians(eta_deg)),
            np.sin(np.radians(tth_deg)) * np.cos(np.radians(eta_deg)),
        ]
    )
    g = d - np.array([1.0, 0.0, 0.0])
    return g / np.linalg.norm(g)


def _x_after_rotation(m: F64, g: F64, w: F64) -> F64:
    """x-component of m·Rz(w)·g for an array of angles w (vectorised over w)."""
    c, s = np.cos(w), np.sin(w)
    u = np.stack([g[0] * c - g[1] * s, g[0] * s + g[1] * c, np.full_like(w, g[2])])
    return m[0] @ u


def _nearest_root(m: F64, g: F64, target: float, centre: float) -> float | None:
    """Root of (m·Rz(w)·g)_x = target nearest to `centre`: scan one period, refine with brentq."""
    grid = centre + np.linspace(-np.pi, np.pi, 7201)
    vals = _x_after_rotation(m, g, grid) - target

    def f(w: float) -> float:
        return float(_x_after_rotation(m, g, np.array([w]))[0] - target)

    roots = [grid[i] for i in np.nonzero(vals[:-1] == 0)[0]]
    for i in np.nonzero(vals[:-1] * vals[1:] < 0)[0]:
        roots.append(brentq(f, grid[i], grid[i + 1], xtol=1e-15, rtol=1e-15))
    if not roots:
        return None
    roots_a = np.array(roots)
    return float(roots_a[np.argmin(np.abs(roots_a - centre))])


def wedge_apply_deg(
    eta0: float, tth: float, omega0: float, wedge: float
) -> tuple[float, float] | None:
    """Physical model G_lab = Ry(−W)·Rz(ω)·g: the ω (nearest ω0) and η with the wedge."""
    g = rot_z(np.radians(-omega0)) @ g_lab_unit(eta0, tth)  # sample frame
    m = rot_y(np.radians(-wedge))
    w = _nearest_root(m, g, -np.sin(np.radians(tth / 2)), np.radians(omega0))
    if w is None:
        return None
    lab = m @ rot_z(w) @ g
    return float(wrap_deg(np.degrees(w))), float(calc_eta_deg(lab[1], lab[2]))


def wedge_correct_deg(
    eta1: float, tth: float, omega1: float, wedge: float
) -> tuple[float, float] | None:
    """Inverse: observed (η, ω) with the wedge → (ω, η) of the same g without wedge."""
    lab = g_lab_unit(eta1, tth)
    g = np.linalg.solve(rot_y(np.radians(-wedge)) @ rot_z(np.radians(omega1)), lab)
    w = _nearest_root(np.eye(3), g, -np.sin(np.radians(tth / 2)), np.radians(omega1))
    if w is None:
        return None
    v = rot_z(w) @ g
    return float(wrap_deg(np.degrees(w))), float(calc_eta_deg(v[1], v[2]))
