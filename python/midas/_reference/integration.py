"""Slow NumPy twins of the radial-integration kernels (``cpp/include/midas/integration/``).

The compiled overlap area uses ``A = D(r1) − D(r0)`` with ``D`` a sum of per-edge
triangle ∩ disk areas after an explicit wedge clip. This twin uses a different route, Green's
theorem on the boundary of P ∩ S: ``A = ½∮ (y dz − z dy)``. The polygon's edges contribute
``½·cross(a, b)`` for every sub-segment inside the sector S (found by splitting each edge at its
circle and ray crossings and testing the mid-points), the sector's radial sides contribute
nothing (``x × dx = 0`` along a ray through the origin), and its arcs contribute ``½ r²`` times
the angle of the arc that lies inside the polygon (found by splitting the arc at its crossings
with the polygon and testing the mid-points).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]


def _eta_deg(y: float, z: float) -> float:
    return math.degrees(math.atan2(-y, z))


def _in_wedge(eta: float, e0: float, e1: float) -> bool:
    if e1 - e0 >= 360.0:
        return True
    d = (eta - e0) % 360.0
    return d <= (e1 - e0)


def _in_sector(y: float, z: float, r0: float, r1: float, e0: float, e1: float) -> bool:
    r = math.hypot(y, z)
    return r0 <= r <= r1 and _in_wedge(_eta_deg(y, z), e0, e1)


def _point_in_polygon(y: float, z: float, poly: F64) -> bool:
    inside = False
    n = len(poly)
    for i in range(n):
        ay, az = poly[i]
        by, bz = poly[(i + 1) % n]
        if (az > z) != (bz > z):
            yc = ay + (z - az) * (by - ay) / (bz - az)
            if yc > y:
                inside = not inside
    return inside


def _circle_params(a: F64, b: F64, r: float) -> list[float]:
    d = b - a
    dd = float(d @ d)
    if dd == 0.0:
        return []
    ad = float(a @ d)
    disc = ad * ad - dd * (float(a @ a) - r * r)
    if disc < 0:
        return []
    s = math.sqrt(disc)
    return [(-ad - s) / dd, (-ad + s) / dd]


def _ray_params(a: F64, b: F64, eta_deg: float) -> list[float]:
    u = np.array([-math.sin(math.radians(eta_deg)), math.cos(math.radians(eta_deg))])
    ca = a[0] * u[1] - a[1] * u[0]
    cb = b[0] * u[1] - b[1] * u[0]
    if ca == cb:
        return []
    return [ca / (ca - cb)]


def polygon_sector_area(poly: F64, r0: float, r1: float, eta0_deg: float, eta1_deg: float) -> float:
    """Area of a simple polygon inside the annular sector (Green's theorem on the boundary).

    Positive for a polygon in increasing-η order (cross(a, b) = a.y·b.z − a.z·b.y > 0).
    """
    p = np.asarray(poly, dtype=np.float64)
    n = len(p)
    signed = 0.5 * sum(p[i, 0] * p[(i + 1) % n, 1] - p[i, 1] * p[(i + 1) % n, 0] for i in range(n))
    sign = 1.0 if signed >= 0 else -1.0
    total = 0.0
    # polygon edges inside the sector
    for i in range(n):
        a, b = p[i], p[(i + 1) % n]
        ts = [0.0, 1.0]
        for r in (r0, r1):
            if r > 0:
                ts += _circle_params(a, b, r)
        if eta1_deg - eta0_deg < 360.0:
            ts += _ray_params(a, b, eta0_deg) + _ray_params(a, b, eta1_deg)
        ts = sorted(t for t in ts if 0.0 <= t <= 1.0)
        for t0, t1 in zip(ts[:-1], ts[1:]):
            if t1 - t0 <= 0:
                continue
            m = a + 0.5 * (t0 + t1) * (b - a)
            if _in_sector(m[0], m[1], r0, r1, eta0_deg, eta1_deg):
                pa = a + t0 * (b - a)
                pb = a + t1 * (b - a)
                total += 0.5 * (pa[0] * pb[1] - pa[1] * pb[0])
    # arcs of the sector inside the polygon
    for r, s in ((r1, 1.0), (r0, -1.0)):
        if r <= 0:
            continue
        phis = [eta0_deg, eta1_deg]
        for i in range(n):
            a, b = p[i], p[(i + 1) % n]
            for t in _circle_params(a, b, r):
                if 0.0 <= t <= 1.0:
                    q = a + t * (b - a)
                    phi = _eta_deg(q[0], q[1])
                    # unwrap into [eta0, eta0 + 360)
                    phis.append(eta0_deg + (phi - eta0_deg) % 360.0)
        phis = sorted(f for f in phis if eta0_deg <= f <= eta1_deg)
        inside = 0.0
        for f0, f1 in zip(phis[:-1], phis[1:]):
            if f1 - f0 <= 0:
                continue
            fm = math.radians(0.5 * (f0 + f1))
            if _point_in_polygon(-r * math.sin(fm), r * math.cos(fm), p):
                inside += math.radians(f1 - f0)
        total += s * sign * 0.5 * r * r * inside
    return total


def detector_map_dense(corner_y_px: F64, corner_z_px: F64, r_edges_px: F64, eta_min_deg: float,
                       eta_bin_size_deg: float, n_eta: int) -> tuple[F64, F64]:
    """Dense fractions (n_bins, n_pixels) and footprint areas (n_pixels,) of every pixel.

    Transformed pixel order (Z·n_y + Y), no mask, no quantisation, no corrections.
    """
    cy = np.asarray(corner_y_px, dtype=np.float64)
    cz = np.asarray(corner_z_px, dtype=np.float64)
    n_z, n_y = cy.shape[0] - 1, cy.shape[1] - 1
    n_r = len(r_edges_px) - 1
    frac = np.zeros((n_r * n_eta, n_y * n_z))
    areas = np.zeros(n_y * n_z)
    for z in range(n_z):
        for y in range(n_y):
            quad = np.array([[cy[z, y], cz[z, y]], [cy[z, y + 1], cz[z, y + 1]],
                             [cy[z + 1, y + 1], cz[z + 1, y + 1]], [cy[z + 1, y], cz[z + 1, y]]])
            a_full = polygon_sector_area(quad, 0.0, 1e12, -180.0, 180.0)
            sign = 1.0 if a_full >= 0 else -1.0
            areas[z * n_y + y] = abs(a_full)
            rr = np.hypot(quad[:, 0], quad[:, 1])
            for i in range(n_r):
                if r_edges_px[i] > rr.max() + 1e-9:
                    continue
                for j in range(n_eta):
                    e0 = eta_min_deg + j * eta_bin_size_deg
                    a = sign * polygon_sector_area(quad, r_edges_px[i], r_edges_px[i + 1], e0, e0 + eta_bin_size_deg)
                    if a > 0:
                        frac[i * n_eta + j, z * n_y + y] = a / abs(a_full)
    return frac, areas


def intensity_correction(y_px: F64, z_px: F64, lsd_px: float, solid_angle: bool, polarization: bool,
                         polarization_fraction: float) -> F64:
    """cos³2θ · (1 − P sin²2θ cos²η) with trigonometric functions, as upstream writes them."""
    r = np.hypot(y_px, z_px)
    tth = np.arctan(r / lsd_px)
    eta = np.arctan2(-y_px, z_px)
    c = np.ones_like(r)
    if solid_angle:
        c = c * np.cos(tth) ** 3
    if polarization:
        c = c * (1.0 - polarization_fraction * np.sin(tth) ** 2 * np.cos(eta) ** 2)
    return c


def lineout_from_cake(cake: F64, area: F64) -> F64:
    """Area-weighted mean over η of the finite bins with area > 0 (NaN where none)."""
    cake = np.asarray(cake, dtype=np.float64)
    ok = (area > 0)[None] & np.isfinite(cake)
    w = np.where(ok, area[None], 0.0)
    num = np.where(ok, cake, 0.0) * w
    den = w.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num.sum(axis=2) / den, np.nan)
