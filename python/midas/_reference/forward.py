"""NumPy twins of the FF forward kernels (``midas::ff::predict_ff_spots`` and the renderers).

Written independently of the C++ code: ω from upstream's quadratic in cos ω, η from the arccos
form, the displacement as an explicit line-plane intersection, the wedge by bracketing roots on a grid,
and frames with ``np.add.at``. Slow; for tests only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import brentq  # type: ignore[import-untyped]

_OUT_KEYS = ("grain_index", "hkl_row", "omega_solution", "solution_nr", "ring_nr", "omega_deg", "omega_raw_deg",
             "eta_deg", "tth_deg", "y0_um", "z0_um", "y_um", "z_um")


def _omegas(g: NDArray[np.float64], v: float) -> list[float]:
    """Upstream's solution of -gx cos ω + gy sin ω = v: roots of the quadratic in cos ω, larger first."""
    x, y, _ = g
    if np.hypot(x, y) < v or np.hypot(x, y) == 0.0:
        return []
    if y == 0.0:
        c = -v / x
        w = float(np.arccos(np.clip(c, -1.0, 1.0)))
        return [w, -w]
    a = 1.0 + x * x / (y * y)
    b = 2.0 * v * x / (y * y)
    c0 = v * v / (y * y) - 1.0
    disc = max(b * b - 4.0 * a * c0, 0.0)
    out = []
    for c in ((-b + np.sqrt(disc)) / (2 * a), (-b - np.sqrt(disc)) / (2 * a)):
        wa = float(np.arccos(np.clip(c, -1.0, 1.0)))
        ra = abs(-x * np.cos(wa) + y * np.sin(wa) - v)
        rb = abs(-x * np.cos(-wa) + y * np.sin(-wa) - v)
        out.append(wa if ra < rb else -wa)
    if abs(y) < 1e-4 and out[0] < out[1]:
        out.reverse()
    return out


def _eta(y: float, z: float) -> float:
    r = np.hypot(y, z)
    if r == 0.0:
        return 0.0
    e = float(np.arccos(np.clip(z / r, -1.0, 1.0)))
    return -e if y > 0 else e


def _wedge_delta(eta: float, theta: float, wedge: float) -> float:
    if wedge == 0.0:
        return 0.0
    g = np.array([-np.sin(theta), -np.cos(theta) * np.sin(eta), np.cos(theta) * np.cos(eta)])
    ry = np.array([[np.cos(wedge), 0, np.sin(wedge)], [0, 1, 0], [-np.sin(wedge), 0, np.cos(wedge)]])
    gx, gy, _ = ry @ g

    def f(w: float) -> float:
        return float(gx * np.cos(w) - gy * np.sin(w) + np.sin(theta))

    grid = np.linspace(-np.pi, np.pi, 4097)
    vals = gx * np.cos(grid) - gy * np.sin(grid) + np.sin(theta)
    roots = [brentq(f, grid[i], grid[i + 1], xtol=1e-15, rtol=1e-15)
             for i in np.nonzero(np.sign(vals[:-1]) != np.sign(vals[1:]))[0]]
    return float(min(roots, key=abs)) if roots else 0.0


def _exact_wedge(gs: NDArray[np.float64], sin_theta: float, w0: float, wedge: float) -> tuple[float, float] | None:
    """ω nearest ω0 where Ry(-W)·Rz(ω)·g meets the Bragg condition, and its η; None if there is none."""
    ry = np.array([[np.cos(wedge), 0, -np.sin(wedge)], [0, 1, 0], [np.sin(wedge), 0, np.cos(wedge)]])
    target = -np.linalg.norm(gs) * sin_theta

    def lab(w: float) -> NDArray[np.float64]:
        rz = np.array([[np.cos(w), -np.sin(w), 0], [np.sin(w), np.cos(w), 0], [0, 0, 1]])
        return np.asarray(ry @ rz @ gs, dtype=np.float64)

    grid = w0 + np.linspace(-np.pi, np.pi, 8193)
    vals = ry[0, 0] * (np.cos(grid) * gs[0] - np.sin(grid) * gs[1]) + ry[0, 2] * gs[2] - target
    roots = [brentq(lambda w: lab(w)[0] - target, grid[i], grid[i + 1], xtol=1e-15, rtol=1e-15)
             for i in np.nonzero(np.sign(vals[:-1]) != np.sign(vals[1:]))[0]]
    if not roots:
        return None
    w1 = float(min(roots, key=lambda w: abs(w - w0)))
    g1 = lab(w1)
    return float(np.arctan2(np.sin(w1), np.cos(w1))), _eta(g1[1], g1[2])


def _displace(form: str, p: NDArray[np.float64], lsd: float, y0: float, z0: float) -> tuple[float, float]:
    if form == "parallel":
        d = np.array([lsd, y0, z0])  # the ray leaves P along the ideal direction
        t = (lsd - p[0]) / d[0]
        q = p + t * d
        return float(q[1]), float(q[2])
    # upstream simulator: the intercept at x = 0 of the line from P toward (lsd, y0, z0), added to (y0, z0)
    d = np.array([lsd, y0, z0]) - p
    t = -p[0] / d[0]
    q = p + t * d
    return float(y0 + q[1]), float(z0 + q[2])


def predict_ff_spots(orient: Any, pos_um: Any, b_matrix: Any, hkl: Any, ring_nr: Any, row_id: Any, *,
                     wavelength_A: float, lsd_um: float, min_eta_deg: float = 0.0, wedge_deg: float = 0.0,
                     wedge_model: str = "upstream", displacement: str = "toward_point", omega_windows_deg: Any = None,
                     boxes_um: Any = None) -> dict[str, NDArray[Any]]:
    """Twin of ``midas._core.ff_predict_spots``: same inputs and the same dict of (S,) arrays."""
    orient = np.asarray(orient, dtype=np.float64)
    pos_um = np.asarray(pos_um, dtype=np.float64)
    b_matrix = np.asarray(b_matrix, dtype=np.float64)
    hkl = np.asarray(hkl, dtype=np.float64)
    windows = np.zeros((0, 2)) if omega_windows_deg is None else np.asarray(omega_windows_deg, dtype=np.float64)
    boxes = np.zeros((0, 4)) if boxes_um is None else np.asarray(boxes_um, dtype=np.float64)
    rows: list[tuple[Any, ...]] = []
    for gi in range(orient.shape[0]):
        nr = 0
        for h in range(hkl.shape[0]):
            gc = b_matrix[gi] @ hkl[h]
            s = wavelength_A * np.linalg.norm(gc) / 2
            if not 0 < s < 1:
                continue
            theta = float(np.arcsin(s))
            gs = orient[gi] @ gc
            for k, w in enumerate(_omegas(gs, float(np.linalg.norm(gs) * s))):
                nr += 1
                rz = np.array([[np.cos(w), -np.sin(w), 0], [np.sin(w), np.cos(w), 0], [0, 0, 1]])
                gl = rz @ gs
                eta = _eta(gl[1], gl[2])
                w_obs = w
                if wedge_deg != 0.0 and wedge_model == "exact":
                    seen = _exact_wedge(gs, float(s), w, float(np.radians(wedge_deg)))
                    if seen is None:
                        continue
                    w_obs, eta = seen
                elif wedge_deg != 0.0:
                    w_obs = w - _wedge_delta(eta, theta, np.radians(wedge_deg))
                    w_obs = float(np.arctan2(np.sin(w_obs), np.cos(w_obs)))
                eta_deg = np.degrees(eta)
                if abs(eta_deg) < min_eta_deg or 180 - abs(eta_deg) < min_eta_deg:
                    continue
                r = lsd_um * np.tan(2 * theta)
                y0, z0 = -r * np.sin(eta), r * np.cos(eta)
                wd = np.degrees(w_obs)
                if len(windows) and not any(
                        lo < wd < hi and bx[0] < y0 < bx[1] and bx[2] < z0 < bx[3]
                        for (lo, hi), bx in zip(windows, boxes)):
                    continue
                ro = np.array([[np.cos(w_obs), -np.sin(w_obs), 0], [np.sin(w_obs), np.cos(w_obs), 0], [0, 0, 1]])
                y, z = _displace(displacement, ro @ pos_um[gi], lsd_um, y0, z0)
                rows.append((gi, int(row_id[h]), k, nr - 1, int(ring_nr[h]), wd, np.degrees(w), eta_deg,
                             np.degrees(2 * theta), y0, z0, y, z))
    cols: list[Any] = list(zip(*rows)) if rows else [() for _ in _OUT_KEYS]
    out: dict[str, NDArray[Any]] = {}
    for key, col in zip(_OUT_KEYS, cols):
        out[key] = np.asarray(col, dtype=np.int32 if key in _OUT_KEYS[:5] else np.float64)
    return out


def render_frames_f64(frame_offsets: Any, y_px: Any, z_px: Any, amplitude: Any, *, n_y: int, n_z: int,
                      sigma_px: float, first_frame: int, n_out: int) -> NDArray[np.float64]:
    """Twin of ``midas._core.ff_render_frames_f64``: (n_out, n_z, n_y) float64 sums."""
    frame_offsets = np.asarray(frame_offsets)
    out = np.zeros((n_out, n_z, n_y))
    half = int(np.ceil(4 * sigma_px))
    for i in range(n_out):
        f = first_frame + i
        for k in range(int(frame_offsets[f]), int(frame_offsets[f + 1])):
            yc, zc, amp = float(y_px[k]), float(z_px[k]), float(amplitude[k])
            ys = np.arange(round(yc) - half, round(yc) + half + 1)
            zs = np.arange(round(zc) - half, round(zc) + half + 1)
            ys = ys[(ys >= 0) & (ys < n_y)]
            zs = zs[(zs >= 0) & (zs < n_z)]
            wy = np.exp(-((ys - yc) ** 2) / (2 * sigma_px**2))
            wz = np.exp(-((zs - zc) ** 2) / (2 * sigma_px**2))
            zz, yy = np.meshgrid(zs, ys, indexing="ij")
            np.add.at(out[i], (zz.ravel(), yy.ravel()), (np.outer(wz, wy) * amp).ravel())
    return out


def render_frames_i32(frame_offsets: Any, y_px: Any, z_px: Any, amplitude: Any, *, n_y: int, n_z: int,
                      sigma_px: float, first_frame: int, n_out: int, out_max: float,
                      peak_max: float) -> NDArray[np.int32]:
    """Twin of ``midas._core.ff_render_frames_i32`` without noise: trunc(sum·out_max/peak_max), the peak exact."""
    f = render_frames_f64(frame_offsets, y_px, z_px, amplitude, n_y=n_y, n_z=n_z, sigma_px=sigma_px,
                          first_frame=first_frame, n_out=n_out)
    scaled = np.where(f >= peak_max, out_max, f * out_max / peak_max)
    return np.asarray(np.trunc(np.clip(scaled, 0, 2**31 - 1)), dtype=np.int32)
