"""The NF reconstruction grid: a hexagon of alternating up/down triangles (``grid.txt``).

Upstream MakeHexGrid (upstream_facts.md §4.9, §3.13): a hexagon of inscribed radius ``Rsample``
is cut into equilateral triangles of side ``GridSize``; each grid point is one triangle whose
voxel is drawn with side ``EdgeLength`` (default ``GridSize``). A row of ``grid.txt`` is
``y1 y2 xs ys gs``: the centre (xs, ys) in µm, gs = EdgeLength/2, and (y1, y2) the distances from
the centre to the apex and to the base, which say whether the triangle points down (y1 > y2,
``UpDown`` −1) or up. The rows are generated exactly in upstream's order with upstream's floating
point operations, so ``write_grid`` reproduces upstream's file byte for byte.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas.errors import FormatError, ParamError
from midas.io._atomic import atomic_output

__all__ = [
    "filter_grid_mask",
    "filter_grid_tomo",
    "grid_triangles",
    "grid_up_down",
    "make_hex_grid",
    "read_grid",
    "write_grid",
]


def make_hex_grid(rsample_um: float, grid_size_um: float, edge_length_um: float | None = None) -> NDArray[np.float64]:
    """Triangles of the hexagonal NF grid, in upstream's row order.

    Parameters
    ----------
    rsample_um : float
        Inscribed radius of the hexagon (µm), ``Rsample``.
    grid_size_um : float
        Side of the grid triangles (µm), ``GridSize``.
    edge_length_um : float, optional
        Side of the triangle drawn for each voxel (µm), ``EdgeLength``; default ``grid_size_um``.

    Returns
    -------
    (N, 5) float64
        Rows ``(y1, y2, xs, ys, gs)``, N = Σ_{i=1..n} 2·(2·(2n − i) + 1) with n = ceil(2R/√3/GridSize).

    Raises
    ------
    ParamError
        When a size is not finite and > 0.

    Examples
    --------
    >>> g = make_hex_grid(50.0, 2.5, 1.0)
    >>> g.shape, [round(float(v), 6) for v in g[0]]
    ((3456, 5), [0.57735, 0.288675, -28.75, -50.518149, 0.5])
    """
    for name, v in (("Rsample", rsample_um), ("GridSize", grid_size_um)):
        if not (math.isfinite(float(v)) and float(v) > 0):
            raise ParamError(f"NF grid: {name} = {v} µm, expected a finite value > 0")
    edge = float(grid_size_um) if edge_length_um is None or float(edge_length_um) == 0 else float(edge_length_um)
    if not (math.isfinite(edge) and edge > 0):
        raise ParamError(f"NF grid: EdgeLength = {edge_length_um} µm, expected a finite value > 0")
    gsz = float(grid_size_um)
    a_large = (2.0 * float(rsample_um)) / math.sqrt(3.0)
    height = (math.sqrt(3.0) * gsz) / 2.0
    n_hex = math.ceil(a_large / gsz)
    a_last = gsz * n_hex
    small, big = height * (1.0 / 3.0), height * (2.0 / 3.0)
    xt1 = edge * math.sqrt(3.0) / 6.0
    xt2 = edge * math.sqrt(3.0) * 2.0 / 6.0
    rows: list[tuple[float, float, float, float, float]] = []
    for i in range(-n_hex, n_hex + 1):
        if i == 0:
            continue
        ynext = big if i < 0 else small
        n_row = 2 * (2 * n_hex - abs(i)) + 1
        ythis = height * i
        xstart = -a_last + (abs(i) * gsz * 0.5)
        if i < 0:
            xstart += gsz * 0.5  # rows below the centre line start half a side further right
        for j in range(n_row):
            y1, y2 = (xt2, xt1) if ynext == big else (xt1, xt2)
            rows.append((y1, y2, xstart + (gsz * j) / 2.0, ythis - (ynext * i) / abs(i), edge / 2.0))
            ynext = small if ynext == big else big
    return np.array(rows, dtype=np.float64).reshape(-1, 5)


def filter_grid_mask(grid: ArrayLike, mask_um: tuple[float, float, float, float]) -> NDArray[np.float64]:
    """Keep the grid points whose centre lies inside ``GridMask`` (bounds included, as upstream).

    Parameters
    ----------
    grid : (N, 5) float64
        Grid rows.
    mask_um : (x_min, x_max, y_min, y_max)
        ``GridMask`` (µm): bounds on xs (column 2) and ys (column 3).

    Returns
    -------
    (M, 5) float64
        The kept rows, in order.
    """
    g = _as_grid(grid)
    lo_x, hi_x, lo_y, hi_y = (float(v) for v in mask_um)
    keep = (g[:, 2] >= lo_x) & (g[:, 2] <= hi_x) & (g[:, 3] >= lo_y) & (g[:, 3] <= hi_y)
    return g[keep]


def filter_grid_tomo(grid: ArrayLike, tomo_image: str | os.PathLike[str] | ArrayLike,
                     tomo_pixel_size_um: float) -> NDArray[np.float64]:
    """Keep the grid points that fall on a non-zero pixel of a square tomography mask.

    Parameters
    ----------
    grid : (N, 5) float64
        Grid rows.
    tomo_image : path or (n, n) array
        ``TomoImage``: a raw file of n² uint8 values (upstream filterGridfromTomo), or the image.
        Row 0 is the top (largest y).
    tomo_pixel_size_um : float
        ``TomoPixelSize`` (µm); the image is centred on the rotation axis.

    Returns
    -------
    (M, 5) float64
        The kept rows, in order.

    Raises
    ------
    FormatError
        When the file size is not a perfect square.
    ParamError
        When the pixel size is not > 0.

    Notes
    -----
    Column = trunc(x/px + n/2), row from the top = n − 1 − trunc(y/px + n/2). Upstream indexes row
    n − trunc(y/px + n/2), one row off (and past the end for the bottom row); midas uses the row
    that contains the point.
    """
    g = _as_grid(grid)
    px = float(tomo_pixel_size_um)
    if not (math.isfinite(px) and px > 0):
        raise ParamError(f"TomoPixelSize = {tomo_pixel_size_um}, expected > 0 µm")
    if isinstance(tomo_image, (str, os.PathLike)):
        raw = np.fromfile(tomo_image, dtype=np.uint8)
        n = math.isqrt(raw.size)
        if n * n != raw.size or n == 0:
            raise FormatError(f"{tomo_image}: {raw.size} bytes is not a square uint8 image (TomoImage)")
        img = raw.reshape(n, n)
    else:
        img = np.asarray(tomo_image)
        if img.ndim != 2 or img.shape[0] != img.shape[1]:
            raise ParamError(f"tomo image of shape {img.shape}: expected a square 2-D image")
        n = img.shape[0]
    col = np.trunc(g[:, 2] / px + n / 2.0).astype(np.int64)
    row_up = np.trunc(g[:, 3] / px + n / 2.0).astype(np.int64)
    inside = (col >= 0) & (row_up >= 0) & (col < n) & (row_up < n)
    keep = np.zeros(g.shape[0], dtype=bool)
    keep[inside] = img[n - 1 - row_up[inside], col[inside]] != 0
    return g[keep]


def _as_grid(grid: ArrayLike) -> NDArray[np.float64]:
    g = np.ascontiguousarray(grid, dtype=np.float64)
    if g.ndim != 2 or g.shape[1] != 5:
        raise ParamError(f"NF grid of shape {g.shape}: expected (N, 5) rows (y1 y2 xs ys gs)")
    return g


def write_grid(path: str | os.PathLike[str], grid: ArrayLike) -> Path:
    """Write ``grid.txt``: the row count, then ``%f %f %f %f %f`` rows (upstream's format).

    The file is written to a temporary name and renamed on success.
    """
    g = _as_grid(grid)
    out = Path(path)
    text = f"{g.shape[0]}\n" + "".join(" ".join(f"{v:f}" for v in r) + "\n" for r in g.tolist())
    with atomic_output(out) as tmp:
        tmp.write_text(text)
    return out


def read_grid(path: str | os.PathLike[str]) -> NDArray[np.float64]:
    """Read ``grid.txt`` (count line, then 5 numbers per row).

    Raises
    ------
    FormatError
        When the file is missing, malformed, or holds a different number of rows than declared.
    """
    p = Path(path)
    try:
        lines = p.read_text().splitlines()
    except OSError as exc:
        raise FormatError(f"{p}: cannot read the NF grid file: {exc}") from exc
    if not lines:
        raise FormatError(f"{p}: empty NF grid file")
    try:
        n = int(lines[0].split()[0])
        rows = [[float(v) for v in line.split()[:5]] for line in lines[1:] if line.strip()]
    except (ValueError, IndexError) as exc:
        raise FormatError(f"{p}: malformed NF grid file ({exc}); expected a count line and rows "
                          "'y1 y2 xs ys gs'") from exc
    if len(rows) != n or any(len(r) != 5 for r in rows):
        raise FormatError(f"{p}: header says {n} grid points but {len(rows)} rows of 5 values follow")
    return np.array(rows, dtype=np.float64).reshape(-1, 5)


def grid_up_down(grid: ArrayLike) -> NDArray[np.int32]:
    """UpDown of each grid row: −1 when y1 > y2 (apex below the centre), else +1."""
    g = _as_grid(grid)
    return np.where(g[:, 0] > g[:, 1], -1, 1).astype(np.int32)


def grid_triangles(grid: ArrayLike) -> NDArray[np.float64]:
    """Triangle vertices of grid rows, (N, 7) = (x0, x1, x2, y0, y1, y2, half_edge) µm.

    UD = −1: (xs, ys−y1), (xs−gs, ys+y2), (xs+gs, ys+y2); UD = +1: (xs, ys+y2), (xs∓gs, ys−y1).
    """
    g = _as_grid(grid)
    y1, y2, xs, ys, gs = g.T
    down = y1 > y2
    apex_y = np.where(down, ys - y1, ys + y2)
    base_y = np.where(down, ys + y2, ys - y1)
    return np.stack([xs, xs - gs, xs + gs, apex_y, base_y, base_y, gs], axis=1)
