"""NumPy/SciPy twins of the FF peak-search kernels (``cpp/include/midas/ff/*.hpp``).

Slow and written for clarity: dense images, ``scipy.ndimage.label`` for the components,
``scipy.optimize.least_squares`` (trust-region reflective, finite-difference Jacobian) for the
pseudo-Voigt fit. The tests compare the compiled kernels against these on random inputs.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, optimize

N_PS_COLUMNS = 29
_EIGHT = np.ones((3, 3), dtype=bool)


def label_components(linear_index: NDArray[np.int64], n_y: int, n_z: int) -> NDArray[np.int32]:
    """Region of each listed pixel (8-connectivity), regions numbered by first pixel in row-major order."""
    img = np.zeros(n_z * n_y, dtype=bool)
    img[linear_index] = True
    labels, _ = ndimage.label(img.reshape(n_z, n_y), structure=_EIGHT)
    lab = labels.ravel()[linear_index]
    # Renumber by first appearance in row-major order (scipy already does; make it explicit).
    _, first = np.unique(lab, return_index=True)
    order = np.argsort(first)
    remap = np.empty(order.size, dtype=np.int32)
    remap[order] = np.arange(order.size, dtype=np.int32)
    uniq = np.unique(lab)
    return remap[np.searchsorted(uniq, lab)].astype(np.int32)


def regional_maxima(y: NDArray[np.integer], z: NDArray[np.integer], value: NDArray[np.floating]) -> NDArray[np.int64]:
    """Positions of the pixels of one region with no strictly larger 8-neighbour in the region."""
    y0, z0 = int(y.min()), int(z.min())
    img = np.full((int(z.max()) - z0 + 3, int(y.max()) - y0 + 3), -np.inf)
    img[z - z0 + 1, y - y0 + 1] = value
    ring = _EIGHT.copy()
    ring[1, 1] = False
    neigh = ndimage.maximum_filter(img, footprint=ring, mode="constant", cval=-np.inf)
    return np.flatnonzero(value >= neigh[z - z0 + 1, y - y0 + 1])


def pv_model(params: NDArray[np.float64], r_px: NDArray[np.float64],
             eta_deg: NDArray[np.float64]) -> NDArray[np.float64]:
    """bg + Σ Imax·[μ·L + (1−μ)·G] (upstream_facts §4.1); params = bg, then 8 per peak."""
    p = np.asarray(params, dtype=np.float64)
    out = np.full(np.shape(r_px), p[0], dtype=np.float64)
    for q in p[1:].reshape(-1, 8):
        imax, r0, e0, mu, sgr, slr, sge, sle = q
        dr2 = (r_px - r0) ** 2
        de2 = (eta_deg - e0) ** 2
        lor = 1.0 / ((1.0 + dr2 / slr**2) * (1.0 + de2 / sle**2))
        gau = np.exp(-0.5 * (dr2 / sgr**2 + de2 / sge**2))
        out += imax * (mu * lor + (1.0 - mu) * gau)
    return out


def pv_jacobian_fd(params: NDArray[np.float64], r_px: NDArray[np.float64], eta_deg: NDArray[np.float64],
                   rel_step: float = 1e-6) -> NDArray[np.float64]:
    """Central finite-difference Jacobian of :func:`pv_model`, (N, m)."""
    p = np.asarray(params, dtype=np.float64)
    jac = np.empty((np.size(r_px), p.size))
    for i in range(p.size):
        h = rel_step * max(abs(p[i]), 1.0)
        hi, lo = p.copy(), p.copy()
        hi[i] += h
        lo[i] -= h
        jac[:, i] = (pv_model(hi, r_px, eta_deg) - pv_model(lo, r_px, eta_deg)) / (2 * h)
    return jac


def fit_pseudo_voigt(r_px: NDArray[np.float64], eta_deg: NDArray[np.float64], value: NDArray[np.float64],
                     start: NDArray[np.float64], lower: NDArray[np.float64],
                     upper: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    """Bounded least squares of the pseudo-Voigt sum with SciPy's TRF; returns (params, Σr²)."""
    x0 = np.clip(start, lower, upper)
    res = optimize.least_squares(lambda p: pv_model(p, r_px, eta_deg) - value, x0, bounds=(lower, upper),
                                 method="trf", x_scale="jac", xtol=1e-10, ftol=1e-10, gtol=1e-10, max_nfev=300)
    return res.x, float(2.0 * res.cost)


def _polar(y: NDArray[np.float64], z: NDArray[np.float64], bc_y: float, bc_z: float,
           eta_ref: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    dy, dz = y - bc_y, z - bc_z
    r = np.hypot(dy, dz)
    d = np.degrees(np.arctan2(dy, dz)) - eta_ref
    d = np.remainder(d + 180.0, 360.0) - 180.0
    return r, eta_ref + d


def _wrap(e: float) -> float:
    w = float(np.remainder(e + 180.0, 360.0) - 180.0)
    return 180.0 if w == -180.0 else w


def analyse_region(y: NDArray[np.float64], z: NDArray[np.float64], value: NDArray[np.float64],
                   maxima: NDArray[np.int64], threshold: float, mask_touched: bool, bc_y: float, bc_z: float,
                   do_peak_fit: bool = True) -> NDArray[np.float64]:
    """Twin of ``midas::ff::analyse_region``: (n_peaks, 29) rows with SpotIDs from 1."""
    y = np.asarray(y, float)
    z = np.asarray(z, float)
    v = np.asarray(value, float)
    maxima = np.asarray(maxima, dtype=np.int64)
    b = int(maxima[np.argmax(v[maxima])])
    eta_ref = float(np.degrees(np.arctan2(y[b] - bc_y, z[b] - bc_z)))
    r, eta = _polar(y, z, bc_y, bc_z, eta_ref)
    raw_sum = float(v.sum())
    if not do_peak_fit:
        rr = float((v * r).sum() / raw_sum)
        ee = float((v * eta).sum() / raw_sum)
        row = np.zeros(N_PS_COLUMNS)
        row[[0, 1, 5, 6, 7, 10, 11, 12, 13, 14, 17, 26, 27]] = [
            1, raw_sum, v[b], rr, _wrap(ee), v.size, v.size, 1, y[b], z[b], v[b], raw_sum, float(mask_touched)]
        row[3] = bc_y + rr * np.sin(np.radians(ee))
        row[4] = bc_z + rr * np.cos(np.radians(ee))
        row[15], row[16] = y[b] - row[3], z[b] - row[4]
        return row[None, :]
    npk = maxima.size
    d2 = (y[:, None] - y[maxima][None, :]) ** 2 + (z[:, None] - z[maxima][None, :]) ** 2
    owner = np.argmin(d2, axis=1)
    max_rw = max(0.1, (r.max() - r.min()) / 2 + 1)
    max_ew = max(0.1, (eta.max() - eta.min()) / 2 + np.degrees(np.arctan(2 / max(r.max() + r.min(), 1e-9))))
    bg0 = threshold / 2
    x0, lo, hi = [bg0], [0.0], [threshold]
    for j, k in enumerate(maxima):
        sel = (owner == j) & (v - bg0 > 0)
        w = v[sel] - bg0
        d_eta = float(np.degrees(np.arctan(1 / max(r[k], 1e-9))))
        sr = np.sqrt((w * (r[sel] - r[k]) ** 2).sum() / w.sum()) if w.sum() > 0 else 1.0
        se = np.sqrt((w * (eta[sel] - eta[k]) ** 2).sum() / w.sum()) if w.sum() > 0 else d_eta
        sr = float(np.clip(max(sr, 0.25), 0.01, 2 * max_rw))
        se = float(np.clip(max(se, 0.25 * d_eta), 0.005, 2 * max_ew))
        x0 += [v[k], r[k], eta[k], 0.5, sr, sr, se, se]
        lo += [v[k] / 2, r[k] - 1, eta[k] - d_eta, 0.0, 0.01, 0.01, 0.005, 0.005]
        hi += [5 * v[k], r[k] + 1, eta[k] + d_eta, 1.0, 2 * max_rw, 2 * max_rw, 2 * max_ew, 2 * max_ew]
    p, cost = fit_pseudo_voigt(r, eta, v, np.array(x0), np.array(lo), np.array(hi))
    bg = p[0]
    rows = np.zeros((npk, N_PS_COLUMNS))
    for j, k in enumerate(maxima):
        q = p[1 + 8 * j: 9 + 8 * j]
        pk = pv_model(np.concatenate([[0.0], q]), r, eta)
        above = pk > bg
        row = rows[j]
        row[0] = j + 1
        row[1] = pk.sum() + bg * above.sum()
        row[3] = bc_y + q[1] * np.sin(np.radians(q[2]))
        row[4] = bc_z + q[1] * np.cos(np.radians(q[2]))
        row[5], row[6], row[7] = q[0], q[1], _wrap(q[2])
        row[8], row[9] = max(q[4], q[5]), max(q[6], q[7])
        row[10], row[11], row[12] = above.sum(), v.size, npk
        row[13], row[14] = y[k], z[k]
        row[15], row[16] = y[k] - row[3], z[k] - row[4]
        row[17] = v[k]
        row[19] = row[28] = np.sqrt(cost)
        row[20] = bg
        row[21:25] = q[4:8]
        row[25] = q[3]
        row[26] = raw_sum if npk == 1 else v[owner == j].sum()
        row[27] = float(mask_touched)
    return rows


def find_peaks_frame(frame: NDArray[np.floating], threshold: NDArray[np.floating], dark: NDArray[np.floating] | None,
                     masked: NDArray[np.bool_] | None, *, bc_y: float, bc_z: float, saturation: float = np.inf,
                     min_nr_px: int = 1, max_nr_px: int = 10000, max_n_peaks: int = 400,
                     do_peak_fit: bool = True, grow: bool = False,
                     bad_values: tuple[float, ...] = ()) -> list[NDArray[np.float64]]:
    """Twin of ``midas::ff::find_peaks_frame`` on a dense, already transformed (n_z, n_y) frame.

    ``threshold`` is +inf outside the ring bands; ``masked`` marks masked pixels. With ``grow``,
    regions extend outside the bands into pixels reaching the band threshold (the twin requires a
    single threshold value over all bands). Returns one (n, 29) array per analysed region, in
    region order.
    """
    raw = np.asarray(frame, dtype=np.float64)
    v = raw - (0.0 if dark is None else dark)
    mask_img = np.zeros(raw.shape, bool) if masked is None else masked.astype(bool)
    bad = np.isin(raw, np.asarray(bad_values, dtype=np.float64)) if bad_values else np.zeros(raw.shape, bool)
    band = np.isfinite(threshold) & ~mask_img
    keep = band & ~bad & (v >= threshold) & (v > 0)
    if grow:
        levels = np.unique(threshold[band])
        assert levels.size <= 1, "the twin grows regions only for one threshold value"
        if levels.size:
            wide = ~mask_img & ~bad & (band | ~np.isfinite(threshold)) & (v >= levels[0]) & (v > 0)
            lab, _ = ndimage.label(wide, structure=_EIGHT)
            keep = wide & np.isin(lab, np.unique(lab[keep]))
    labels, n = ndimage.label(keep, structure=_EIGHT)
    out = []
    considered = band | (~np.isfinite(threshold) if grow else np.zeros(raw.shape, bool))
    touched_img = ndimage.binary_dilation(mask_img | (bad & considered), structure=_EIGHT)
    thr_fill = np.where(np.isfinite(threshold), threshold, np.nanmin(np.where(band, threshold, np.nan))
                        if band.any() else np.inf)
    for lab in range(1, n + 1):  # scipy numbers regions by first pixel in row-major order
        zz, yy = np.nonzero(labels == lab)
        size = zz.size
        if size <= min_nr_px or size >= max_nr_px:
            continue
        if np.any(raw[zz, yy] > saturation):
            continue
        vals = v[zz, yy]
        mx = regional_maxima(yy, zz, vals)
        if mx.size > max_n_peaks:
            keep_idx = np.argsort(-vals[mx], kind="stable")[:max_n_peaks]
            mx = np.sort(mx[keep_idx])
        thr = float(thr_fill[zz, yy].min())
        out.append(analyse_region(yy.astype(float), zz.astype(float), vals, mx, thr, bool(touched_img[zz, yy].any()),
                                  bc_y, bc_z, do_peak_fit))
    return out


def render_frame(shape: tuple[int, int], peaks: NDArray[np.float64], bc_y: float, bc_z: float,
                 bg: float = 0.0) -> NDArray[np.float64]:
    """A synthetic ``(n_z, n_y)`` frame: ``bg`` + pseudo-Voigt peaks evaluated at pixel centres.

    ``peaks`` is ``(P, 8)``: Imax, R (px), η (deg), μ, σGR, σLR, σGη, σLη around (bc_y, bc_z)
    (η = atan2(Y − bc_y, Z − bc_z)). Pixels are not integrated; values are floats.
    """
    zz, yy = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    r = np.hypot(yy - bc_y, zz - bc_z)
    out = np.full(shape, float(bg))
    for q in np.atleast_2d(peaks):
        eta = q[2] + np.remainder(np.degrees(np.arctan2(yy - bc_y, zz - bc_z)) - q[2] + 180.0, 360.0) - 180.0
        out += pv_model(np.concatenate([[0.0], q]), r, eta)
    return out


def peak_centre_px(peak: NDArray[np.float64], bc_y: float, bc_z: float) -> tuple[float, float]:
    """(Y, Z) pixel position of a peak given as (Imax, R, η, ...) around the beam centre."""
    return bc_y + peak[1] * np.sin(np.radians(peak[2])), bc_z + peak[1] * np.cos(np.radians(peak[2]))


def bit_unshuffle_block(shuffled: bytes, typesize: int) -> NDArray[np.uint8]:
    """Undo Blosc's bit shuffle of one block (twin of ``midas/ff/bitshuffle.hpp``).

    The elements are stored as ``typesize·8`` bit planes (plane ``8j + k`` = bit ``k`` of byte ``j``
    of every element, least significant bit first). c-blosc 1 shuffles only blocks whose length is
    a multiple of ``8·typesize`` bytes; any other block is stored unchanged.
    """
    data = np.frombuffer(shuffled, dtype=np.uint8)
    n8 = data.size // typesize if data.size % (8 * typesize) == 0 else 0
    done = n8 * typesize
    out = data.copy()
    if n8:
        bits = np.unpackbits(data[:done].reshape(typesize * 8, n8 // 8), axis=1, bitorder="little")  # (planes, n8)
        per_byte = bits.reshape(typesize, 8, n8)  # [byte j, bit k, element]
        elem_bytes = np.packbits(per_byte.transpose(2, 0, 1), axis=2, bitorder="little")[..., 0]  # (n8, typesize)
        out[:done] = elem_bytes.reshape(-1)
    return out
