"""Slow NumPy twins of the NF kernels (``cpp/include/midas/nf/*``), written from upstream's
description (upstream_facts.md §2.7, §2.8, §3.13, §4.8) with upstream's own formulation: ω from
the quadratic in cos ω, η from acos, spot positions from η. The tests compare the compiled kernels
with these on random inputs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas._reference.geometry import nf_displace, nf_project

F64 = NDArray[np.float64]


def bit_index(layout: tuple[int, int, int, int], layer: int, frame: int, y: int, z: int) -> int:
    """k = ((layer·n_frames + frame)·n_y + y)·n_z + z."""
    _, nf, ny, nz = layout
    return ((layer * nf + frame) * ny + y) * nz + z


def test_bit(words: NDArray[np.uint32], k: int) -> bool:
    return bool((int(words[k >> 5]) >> (k & 31)) & 1)


def _omega_solutions(x: float, y: float, v: float) -> list[float]:
    """ω (deg) solving −x cos ω + y sin ω = v, upstream CalcOmega's quadratic in cos ω."""
    out: list[float] = []
    if abs(y) < 1e-4:
        if x != 0:
            c = -v / x
            if abs(c) <= 1:
                w = math.degrees(math.acos(c))
                out += [w, -w]
        return out
    a = 1 + x * x / (y * y)
    b = 2 * v * x / (y * y)
    c0 = v * v / (y * y) - 1
    disc = b * b - 4 * a * c0
    if disc < 0:
        return out
    for cw in ((-b + math.sqrt(disc)) / (2 * a), (-b - math.sqrt(disc)) / (2 * a)):
        if abs(cw) > 1:
            continue
        wa = math.acos(cw)
        da = abs(-x * math.cos(wa) + y * math.sin(wa) - v)
        db = abs(-x * math.cos(-wa) + y * math.sin(-wa) - v)
        out.append(math.degrees(wa if da < db else -wa))
    return out


def compute_spots(exp: dict[str, Any], g_crystal: F64, theta_deg: F64, u: F64) -> F64:
    """(T, 3) spots (y0, z0, ω) of orientation u (CalcDiffractionSpots).

    ``exp`` keys: lsd_um (list), min_eta_deg, omega_ranges_deg (list of pairs), box_um (list of
    4-tuples).
    """
    lsd0 = exp["lsd_um"][0]
    rows = []
    for g, th in zip(np.asarray(g_crystal), np.asarray(theta_deg)):
        gv = u @ g
        v = math.sin(math.radians(th)) * float(np.linalg.norm(g))
        radius = lsd0 * math.tan(math.radians(2 * th))
        for w in _omega_solutions(gv[0], gv[1], v):
            c, s = math.cos(math.radians(w)), math.sin(math.radians(w))
            gy, gz = s * gv[0] + c * gv[1], gv[2]
            eta = math.degrees(math.acos(gz / math.hypot(gy, gz)))
            if gy > 0:
                eta = -eta
            if abs(eta) < exp["min_eta_deg"] or 180 - abs(eta) < exp["min_eta_deg"]:
                continue
            y0 = -math.sin(math.radians(eta)) * radius
            z0 = math.cos(math.radians(eta)) * radius
            keep = any(lo < w < hi and b[0] < y0 < b[1] and b[2] < z0 < b[3]
                       for (lo, hi), b in zip(exp["omega_ranges_deg"], exp["box_um"]))
            if keep:
                rows.append((y0, z0, w))
    return np.array(rows, dtype=np.float64).reshape(-1, 3)


def raster_triangle(off: F64) -> F64:
    """Pixel offsets of a triangle (upstream CalcPixels2): rounded vertices, bounding box, edge test
    (counter-clockwise) or squared distance < 0.9801 to an edge line."""
    v = np.array([[float(round_half_away(p)) for p in row] for row in np.asarray(off)])
    lo, hi = v.min(axis=0).astype(int), v.max(axis=0).astype(int)
    out = []

    def orient(a: F64, b: F64, px: float, py: float) -> float:
        return (b[0] - a[0]) * (py - a[1]) - (b[1] - a[1]) * (px - a[0])

    def near(a: F64, b: F64, px: float, py: float) -> bool:
        den = (a[1] - b[1]) ** 2 + (b[0] - a[0]) ** 2
        return den > 0 and orient(a, b, px, py) ** 2 / den < 0.9801

    for py in range(lo[1], hi[1] + 1):
        for px in range(lo[0], hi[0] + 1):
            inside = orient(v[1], v[2], px, py) >= 0 and orient(v[2], v[0], px, py) >= 0 and orient(v[0], v[1], px, py) >= 0
            if inside or near(v[1], v[2], px, py) or near(v[2], v[0], px, py) or near(v[0], v[1], px, py):
                out.append((px, py))
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def round_half_away(x: float) -> int:
    """C round(): halves away from zero."""
    return math.floor(abs(x) + 0.5) * (1 if x >= 0 else -1)


def footprint(exp: dict[str, Any], tri: F64, spot: F64, check_vertices: bool) -> tuple[int, F64, F64] | None:
    """(frame, offsets (K, 2), centres (n_layers, 2)) of one spot of a triangle, or None when dropped."""
    y0, z0, w = spot
    frame = math.floor((w - exp["omega_start_deg"]) / exp["omega_step_deg"])
    if frame < 0 or frame >= exp["n_frames"]:
        return None
    lsd = exp["lsd_um"]
    bc = exp["bc_px"]
    tilts = exp["tilts_deg"]
    px = exp["px_um"]
    ny, nz = exp["n_y"], exp["n_z"]
    xs, ys = np.asarray(tri[:3]), np.asarray(tri[3:6])
    dy, dz = nf_displace(xs, ys, np.zeros(3), np.full(3, w), np.full(3, y0), np.full(3, z0), lsd[0], lsd[0])
    vy, vz = nf_project(lsd[0], bc[0], px, tilts, dy, dz)
    if check_vertices and (np.any(vy > ny) or np.any(vy < 0) or np.any(vz > nz) or np.any(vz < 0)):
        return None
    cy, cz = nf_project(lsd[0], bc[0], px, tilts, np.array([y0]), np.array([z0]))
    off = np.stack([vy - cy[0], vz - cz[0]], axis=1)
    if 2 * tri[6] > px:
        pix = raster_triangle(off)
    else:
        pix = np.array([[round_half_away(off[:, 0].sum() / 3), round_half_away(off[:, 1].sum() / 3)]])
    centres = np.array([[math.floor((cy[0] - bc[0][0]) * (lsd[k] / lsd[0]) + bc[k][0]),
                         math.floor((cz[0] - bc[0][1]) * (lsd[k] / lsd[0]) + bc[k][1])] for k in range(len(lsd))])
    return frame, pix, centres


def _pixels(exp: dict[str, Any], g: F64, theta: F64, tri: F64, u: F64, check_vertices: bool):
    """Yield (frame, [(y, z) per layer]) for every footprint pixel of one voxel."""
    for spot in compute_spots(exp, g, theta, u):
        fp = footprint(exp, tri, spot, check_vertices)
        if fp is None:
            continue
        frame, pix, centres = fp
        for oy, oz in pix:
            yield frame, [(int(c[0] + oy), int(c[1] + oz)) for c in centres]


def overlap_counts(exp: dict[str, Any], g: F64, theta: F64, tri: F64, u: F64, words: NDArray[np.uint32],
                   layout: tuple[int, int, int, int]) -> tuple[int, int]:
    """(overlap, total) footprint pixels of one voxel (CalcFracOverlap)."""
    overlap = total = 0
    for frame, coords in _pixels(exp, g, theta, tri, u, True):
        if any(y < 0 or y >= exp["n_y"] or z < 0 or z >= exp["n_z"] for y, z in coords):
            continue
        total += 1
        overlap += all(test_bit(words, bit_index(layout, k, frame, y, z)) for k, (y, z) in enumerate(coords))
    return overlap, total


def simulate_hits(exp: dict[str, Any], g: F64, theta: F64, tri: F64, u: F64) -> list[tuple[int, int, int, int]]:
    """(layer, frame, y, z) hits of one voxel (SimulateDiffractionImage): layers in order until one is off."""
    hits = []
    for frame, coords in _pixels(exp, g, theta, tri, u, False):
        for k, (y, z) in enumerate(coords):
            if y < 0 or y >= exp["n_y"] or z < 0 or z >= exp["n_z"]:
                break
            hits.append((k, frame, y, z))
    return hits


def temporal_median(frames: NDArray[Any]) -> NDArray[Any]:
    """Lower median along axis 0: element (n−1)/2 of the sorted values (upstream quick-select)."""
    n = frames.shape[0]
    return np.partition(frames, (n - 1) // 2, axis=0)[(n - 1) // 2]


def median_filter(img: NDArray[Any], radius: int) -> NDArray[Any]:
    """(2r+1)² median, pixels within r of the border copied."""
    out = img.copy()
    if radius == 0:
        return out
    r = radius
    for i in range(r, img.shape[0] - r):
        for j in range(r, img.shape[1] - r):
            win = np.sort(img[i - r:i + r + 1, j - r:j + r + 1].ravel())
            out[i, j] = win[win.size // 2]
    return out


def log_blob_mask(img: NDArray[Any], radius: int, sigma: float) -> NDArray[np.uint8]:
    """Pixels > 0 with a negative LoG response at (radius, σ) or (4, 1); zero near the border."""
    mask = np.zeros(img.shape, dtype=np.uint8)
    for r, s in ((radius, sigma), (4, 1.0)):
        yy, xx = np.mgrid[-r:r + 1, -r:r + 1].astype(np.float64)
        r2 = xx * xx + yy * yy
        k = -(1 / (math.pi * s ** 4)) * (1 - r2 / (2 * s * s)) * np.exp(-r2 / (2 * s * s))
        for i in range(r, img.shape[0] - r):
            for j in range(r, img.shape[1] - r):
                if img[i, j] == 0:
                    continue
                if float((k * img[i - r:i + r + 1, j - r:j + r + 1]).sum()) < 0:
                    mask[i, j] = 1
    return mask


def reduce_frame(raw: NDArray[Any], median: NDArray[Any], blanket: int, median_radius: int, do_log: bool,
                 log_radius: int, log_sigma: float) -> NDArray[np.int64]:
    """(N, 2) (Y, Z) spot pixels of one frame: Y = n_y−1−column, Z = n_z−1−row, in row-major order."""
    v = raw.astype(np.int64) - median.astype(np.int64) - blanket
    sub = np.clip(v, 0, None).astype(np.uint16)
    filt = median_filter(sub, median_radius)
    spot = log_blob_mask(filt, log_radius, log_sigma).astype(bool) if do_log else filt != 0
    rows, cols = np.nonzero(spot)
    return np.stack([raw.shape[1] - 1 - cols, raw.shape[0] - 1 - rows], axis=1)
