"""Image preparation for calibration: frame averaging, bad pixels, background, ring threshold.

The background is a large median filter, as in upstream's AutoCalibrateZarr (which uses diplib's
``MedianFilter``). To keep it fast on 2048² frames the median runs on a block-median image
(blocks of a few pixels) and is interpolated back bilinearly; rings are a few pixels wide and
cover far less than half of any filter window, so they do not lift the median.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas.errors import ParamError
from midas.io import corrections

__all__ = [
    "PreparedImage",
    "average_frames",
    "bad_pixels",
    "estimate_background",
    "prepare_image",
    "ring_threshold",
    "robust_sigma",
]

log = logging.getLogger(__name__)


def average_frames(frames: Any, *, dark: ArrayLike | None = None) -> NDArray[np.float64]:
    """Mean of the frames of a series, minus the dark.

    Parameters
    ----------
    frames : FrameSeries or (n, n_z, n_y) or (n_z, n_y) array
        Frames as stored (a :class:`midas.io.frames.FrameSeries` is read one frame at a time).
    dark : (n_z, n_y) array, optional
        Mean dark frame (counts), subtracted from the mean.

    Returns
    -------
    (n_z, n_y) float64
        Counts per frame.

    Raises
    ------
    ParamError
        No frame, a frame that is not 2-D, or a dark of another shape.
    """
    if hasattr(frames, "iter_frames"):
        acc: NDArray[np.float64] | None = None
        n = 0
        for fr in frames.iter_frames():
            acc = np.array(fr, dtype=np.float64) if acc is None else acc + fr
            n += 1
        if acc is None:
            raise ParamError("the data file holds no frame")
        mean = acc / n
    else:
        arr = np.asarray(frames)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3 or arr.shape[0] == 0:
            raise ParamError(f"frames must be (n, n_z, n_y) with n >= 1, got shape {arr.shape}")
        mean = arr.mean(axis=0, dtype=np.float64)
    if dark is not None:
        d = np.asarray(dark, dtype=np.float64)
        if d.shape != mean.shape:
            raise ParamError(f"dark shape {d.shape} differs from the frame shape {mean.shape}")
        mean = mean - d
    return np.asarray(mean, dtype=np.float64)


def bad_pixels(image: ArrayLike, *, mask: ArrayLike | None = None, gap_values: Iterable[float] = (),
               negative_is_bad: bool = True) -> NDArray[np.bool_]:
    """Pixels that carry no data: the mask (1 = bad), sentinel values and (by default) values < 0.

    Parameters
    ----------
    image : (n_z, n_y) array
        Frame or mean frame as stored (before dark subtraction, so that sentinels survive).
    mask : (n_z, n_y) array, optional
        Upstream mask: 1 / True = bad.
    gap_values : iterable of float
        ``GapIntensity`` / ``BadPxIntensity`` sentinels.
    negative_is_bad : bool
        Treat negative counts as gaps (Pilatus/Eiger write −1/−2 there).

    Returns
    -------
    (n_z, n_y) bool
        True where the pixel is bad.

    Raises
    ------
    ParamError
        A mask of another shape.
    """
    img = np.asarray(image)
    bad = ~np.isfinite(img) if img.dtype.kind == "f" else np.zeros(img.shape, dtype=bool)
    if negative_is_bad:
        bad |= img < 0
    for v in gap_values:
        bad |= img == v
    if mask is not None:
        m = corrections.bad_pixel_mask(mask)
        if m.shape != img.shape:
            raise ParamError(f"mask shape {m.shape} differs from the frame shape {img.shape}")
        bad |= m
    return bad


def robust_sigma(values: ArrayLike) -> float:
    """1.4826 × median absolute deviation of the finite values (a Gaussian σ); 0 when empty."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(v - np.median(v))))


def estimate_background(image: ArrayLike, bad: ArrayLike, *, size_px: float = 101.0) -> NDArray[np.float64]:
    """Smooth background under the rings: a median filter of about ``size_px`` pixels.

    Parameters
    ----------
    image : (n_z, n_y) float
        Dark-subtracted mean frame.
    bad : (n_z, n_y) bool
        Pixels without data; they are left out of every median.
    size_px : float
        Filter width in pixels (default 101). Must be well above the ring widths and below the
        scale of background changes.

    Returns
    -------
    (n_z, n_y) float64
        Background estimate, defined everywhere (also under bad pixels).

    Raises
    ------
    ParamError
        ``size_px`` below 9, shapes that differ, or an image without any good pixel.

    Notes
    -----
    The image is reduced to medians over blocks of ``b = ceil(size_px / 13)`` pixels (bad pixels
    excluded; blocks without data take their nearest block's value), median-filtered over 13 × 13
    blocks, and interpolated back to every pixel bilinearly.
    """
    from scipy import ndimage

    img = np.asarray(image, dtype=np.float64)
    badm = np.asarray(bad, dtype=bool)
    if img.ndim != 2 or badm.shape != img.shape:
        raise ParamError(f"image {img.shape} and bad-pixel mask {badm.shape} must be equal 2-D arrays")
    if not (size_px >= 9):
        raise ParamError(f"background filter size {size_px} px: expected at least 9 px")
    if badm.all():
        raise ParamError("every pixel is bad: no data to model a background")
    n_blocks_filter = 13
    b = max(1, math.ceil(size_px / n_blocks_filter))
    nz, ny = img.shape
    pz, py = (-nz) % b, (-ny) % b
    work = np.where(badm, np.nan, img)
    work = np.pad(work, ((0, pz), (0, py)), constant_values=np.nan)
    tiles = work.reshape(work.shape[0] // b, b, work.shape[1] // b, b).transpose(0, 2, 1, 3)
    blocks = np.sort(tiles.reshape(tiles.shape[0], tiles.shape[1], b * b), axis=2)  # NaN (bad pixels) sort last
    n_good = np.count_nonzero(~np.isnan(blocks), axis=2)
    empty = n_good == 0
    lo = np.take_along_axis(blocks, np.maximum((n_good - 1) // 2, 0)[..., None], axis=2)[..., 0]
    hi = np.take_along_axis(blocks, (n_good // 2)[..., None], axis=2)[..., 0]
    small = np.where(empty, 0.0, 0.5 * (lo + hi))
    if empty.any():
        _, (iz, iy) = ndimage.distance_transform_edt(empty, return_indices=True)
        small = small[iz, iy]
    small = ndimage.median_filter(small, size=min(n_blocks_filter, *small.shape), mode="nearest")
    # bilinear interpolation from block centres back to pixel centres
    cz = (np.arange(nz) + 0.5) / b - 0.5
    cy = (np.arange(ny) + 0.5) / b - 0.5
    z0 = np.clip(np.floor(cz).astype(int), 0, small.shape[0] - 1)
    y0 = np.clip(np.floor(cy).astype(int), 0, small.shape[1] - 1)
    z1 = np.minimum(z0 + 1, small.shape[0] - 1)
    y1 = np.minimum(y0 + 1, small.shape[1] - 1)
    fz = np.clip(cz - z0, 0.0, 1.0)[:, None]
    fy = np.clip(cy - y0, 0.0, 1.0)[None, :]
    top = small[z0][:, y0] * (1 - fy) + small[z0][:, y1] * fy
    bottom = small[z1][:, y0] * (1 - fy) + small[z1][:, y1] * fy
    return np.asarray(top * (1 - fz) + bottom * fz, dtype=np.float64)


def ring_threshold(net: ArrayLike, bad: ArrayLike, *, threshold: float | None = None,
                   n_sigma: float = 5.0) -> tuple[NDArray[np.bool_], float]:
    """Pixels of the rings: background-subtracted intensity above a threshold.

    Parameters
    ----------
    net : (n_z, n_y) float
        Image minus background.
    bad : (n_z, n_y) bool
        Pixels without data (never selected).
    threshold : float, optional
        Threshold in counts (``-Threshold``); ``None`` or ≤ 0: automatic, ``n_sigma`` robust
        standard deviations of ``net`` over the good pixels.
    n_sigma : float
        Automatic threshold in units of the robust σ (default 5).

    Returns
    -------
    ring_mask : (n_z, n_y) bool
    threshold : float
        The threshold used (counts).
    """
    v = np.asarray(net, dtype=np.float64)
    badm = np.asarray(bad, dtype=bool)
    if threshold is None or threshold <= 0:
        good = v[~badm]
        sample = good[:: max(1, good.size // 400_000)]
        threshold = max(n_sigma * robust_sigma(sample), 1e-12)
        log.info("automatic ring threshold: %.4g counts (%g robust sigma)", threshold, n_sigma)
    return (v > threshold) & ~badm, float(threshold)


@dataclass(frozen=True, slots=True)
class PreparedImage:
    """A calibrant image ready for ring finding.

    Attributes
    ----------
    image : (n_z, n_y) float64
        Dark-subtracted mean frame in the calibration frame (after ImTransOpt); bad pixels 0.
    bad : (n_z, n_y) bool
        Pixels without data.
    background : (n_z, n_y) float64
        Median-filter background.
    net : (n_z, n_y) float64
        ``image − background``, 0 on bad pixels.
    ring_mask : (n_z, n_y) bool
        Thresholded ring pixels.
    threshold : float
        Threshold used, counts above background.
    noise_sigma : float
        Robust σ of ``net`` over good pixels, counts.
    """

    image: NDArray[np.float64]
    bad: NDArray[np.bool_]
    background: NDArray[np.float64]
    net: NDArray[np.float64]
    ring_mask: NDArray[np.bool_]
    threshold: float
    noise_sigma: float


def prepare_image(image: ArrayLike, bad: ArrayLike, *, threshold: float | None = None,
                  background_size_px: float = 101.0) -> PreparedImage:
    """Background, net image and ring pixels of a mean frame.

    Parameters
    ----------
    image : (n_z, n_y) float
        Dark-subtracted mean frame (calibration frame, after ImTransOpt).
    bad : (n_z, n_y) bool
        Pixels without data.
    threshold : float, optional
        Ring threshold in counts above background (``-Threshold``); automatic when None or ≤ 0.
    background_size_px : float
        Median filter width (default 101 px).

    Returns
    -------
    PreparedImage

    Raises
    ------
    ParamError
        As :func:`estimate_background`.
    """
    img = np.asarray(image, dtype=np.float64)
    badm = np.asarray(bad, dtype=bool)
    img = np.where(badm, 0.0, img)
    bg = estimate_background(img, badm, size_px=background_size_px)
    net = np.where(badm, 0.0, img - bg)
    good = net[~badm]
    sigma = robust_sigma(good[:: max(1, good.size // 400_000)])
    ring_mask, thr = ring_threshold(net, badm, threshold=threshold)
    return PreparedImage(image=img, bad=badm, background=bg, net=net, ring_mask=ring_mask, threshold=thr,
                         noise_sigma=sigma)
