"""PNG plots of an NF reconstruction: confidence map and inverse-pole-figure (IPF) orientation map.

IPF colours (cubic Laue group m-3m): the sample direction d (default z) is expressed in the
crystal frame, c = Uᵀ·d, and brought into the standard stereographic triangle
[001]–[101]–[111] by the 48 operations of m-3m: take |c| and sort so that c1 ≤ c2 ≤ c3. The colour
is (R, G, B) = (c3 − c2, c2 − c1, c1), scaled so that its largest component is 1: [001] red,
[101] green, [111] blue, with the usual blends in between. Other Laue groups are not supported by
this colour key; :func:`orientation_colors` falls back to the Euler angles mapped to RGB
(φ1/2π, Φ/π, φ2/2π) for them and says so in the returned label.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas.errors import ParamError
from midas.io._atomic import atomic_output

__all__ = ["ipf_colors_cubic", "orientation_colors", "plot_confidence_map", "plot_orientation_map"]

#: Space groups of the cubic Laue class m-3m, whose IPF key ipf_colors_cubic implements.
_M3M = range(207, 231)


def ipf_colors_cubic(orient_mats: ArrayLike, direction: ArrayLike = (0.0, 0.0, 1.0)) -> NDArray[np.float64]:
    """IPF colours of cubic orientations for a sample direction (see the module text).

    Parameters
    ----------
    orient_mats : (N, 3, 3) float64
        Orientation matrices, crystal → sample.
    direction : (3,) float64
        Sample direction (normalised here).

    Returns
    -------
    (N, 3) float64
        RGB in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> ipf_colors_cubic(np.eye(3)[None]).round(3).tolist()
    [[1.0, 0.0, 0.0]]
    """
    om = np.asarray(orient_mats, dtype=np.float64).reshape(-1, 3, 3)
    d = np.asarray(direction, dtype=np.float64).reshape(3)
    n = np.linalg.norm(d)
    if not n > 0:
        raise ParamError("IPF direction must be a non-zero vector")
    c = np.einsum("nji,j->ni", om, d / n)  # Uᵀ·d
    c = np.sort(np.abs(c), axis=1)
    rgb = np.stack([c[:, 2] - c[:, 1], c[:, 1] - c[:, 0], c[:, 0]], axis=1)
    return rgb / np.maximum(rgb.max(axis=1, keepdims=True), 1e-12)


def orientation_colors(orient_mats: ArrayLike, euler_rad: ArrayLike, space_group: int) -> tuple[NDArray[np.float64], str]:
    """Colours for an orientation map: IPF-Z for cubic m-3m, Euler RGB otherwise.

    Returns
    -------
    rgb : (N, 3) float64
    label : str
        What the colours mean.
    """
    if int(space_group) in _M3M:
        return ipf_colors_cubic(orient_mats), "IPF colour of sample z (cubic m-3m key)"
    e = np.asarray(euler_rad, dtype=np.float64).reshape(-1, 3)
    rgb = np.stack([np.mod(e[:, 0], 2 * np.pi) / (2 * np.pi), e[:, 1] / np.pi, np.mod(e[:, 2], 2 * np.pi) / (2 * np.pi)], 1)
    return np.clip(rgb, 0.0, 1.0), "Euler angles as RGB (phi1/2pi, Phi/pi, phi2/2pi): no IPF key for this Laue group"


def _triangles(mic: NDArray[np.float64]) -> NDArray[np.float64]:
    """(M, 3, 2) triangle corners of mic rows (X, Y, edge, UpDown)."""
    x, y, edge, ud = mic[:, 3], mic[:, 4], mic[:, 5], mic[:, 6]
    h = edge * np.sqrt(3.0) / 2.0
    apex = np.where(ud < 0, -2.0 / 3.0, 2.0 / 3.0) * h
    base = np.where(ud < 0, 1.0 / 3.0, -1.0 / 3.0) * h
    return np.stack([np.stack([x, y + apex], 1), np.stack([x - edge / 2, y + base], 1),
                     np.stack([x + edge / 2, y + base], 1)], 1)


def _save(fig: object, path: str | os.PathLike[str]) -> Path:
    out = Path(path)
    with atomic_output(out) as tmp:
        fig.savefig(tmp, format="png", dpi=150, bbox_inches="tight")  # type: ignore[attr-defined]
    return out


def _setup_axes(ax: object, mic: NDArray[np.float64], title: str) -> None:
    ax.set_aspect("equal")  # type: ignore[attr-defined]
    pad = float(mic[:, 5].max()) if mic.size else 1.0
    ax.set_xlim(mic[:, 3].min() - pad, mic[:, 3].max() + pad)  # type: ignore[attr-defined]
    ax.set_ylim(mic[:, 4].min() - pad, mic[:, 4].max() + pad)  # type: ignore[attr-defined]
    ax.set_xlabel("X (µm)")  # type: ignore[attr-defined]
    ax.set_ylabel("Y (µm)")  # type: ignore[attr-defined]
    ax.set_title(title)  # type: ignore[attr-defined]


def plot_confidence_map(path: str | os.PathLike[str], mic: ArrayLike, *, title: str = "NF confidence") -> Path:
    """PNG of the voxel triangles coloured by confidence (rows with confidence 0 left blank)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    a = np.asarray(mic, dtype=np.float64).reshape(-1, 11)
    a = a[a[:, 10] != 0]
    if a.shape[0] == 0:
        raise ParamError("no voxel with non-zero confidence to plot")
    fig, ax = plt.subplots(figsize=(6, 5))
    pc = PolyCollection(list(_triangles(a)), array=a[:, 10], cmap="viridis", edgecolors="none")
    pc.set_clim(0.0, 1.0)
    ax.add_collection(pc)
    fig.colorbar(pc, ax=ax, label="confidence")
    _setup_axes(ax, a, title)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def plot_orientation_map(path: str | os.PathLike[str], mic: ArrayLike, rgb: ArrayLike, *, label: str,
                         min_confidence: float = 0.0, title: str = "NF orientation map") -> Path:
    """PNG of the voxel triangles coloured by ``rgb`` (one colour per mic row).

    Rows with confidence 0 or below ``min_confidence`` are left blank.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    a = np.asarray(mic, dtype=np.float64).reshape(-1, 11)
    c = np.asarray(rgb, dtype=np.float64).reshape(-1, 3)
    if c.shape[0] != a.shape[0]:
        raise ParamError(f"{c.shape[0]} colours for {a.shape[0]} mic rows")
    keep = (a[:, 10] != 0) & (a[:, 10] >= min_confidence)
    if not keep.any():
        raise ParamError("no voxel to plot (all confidences 0 or below min_confidence)")
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.add_collection(PolyCollection(list(_triangles(a[keep])), facecolors=np.clip(c[keep], 0, 1), edgecolors="none"))
    _setup_axes(ax, a[keep], f"{title}\n{label}")
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)
