"""NF reconstruction outputs in upstream's formats, plus ``nf_consolidated.h5``.

* MicFileBinary: (N, 11) float64 rows, one per grid point, all zero where nothing was found;
  ``<MicFileBinary>.AllMatches``: (N, 7 + 4·SaveNSolutions) float64 rows.
* Text ``.mic`` (upstream ParseMic): ``%TriEdgeSize``, ``%NumPhases``, ``%GlobalPosition`` and the
  column header, then one ``%f\\t``-separated row of the 11 values plus ``PhaseNr`` per point with
  Confidence ≠ 0. Euler angles are Bunge ZXZ in RADIANS (upstream_facts.md §3.13).
* ``.map`` (upstream ParseMic): [xSize, ySize, minX, minY] then 7 planes of xSize·ySize on a 1 µm
  grid: Confidence, Eul1, Eul2, Eul3, OrientationRowNr, PhaseNr, distance to the voxel centre;
  −15 where no voxel is within edge + 5 µm.
* ``nf_consolidated.h5``: voxels, their orientations and confidences, the map and metadata.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas.errors import FormatError, ParamError
from midas.io._atomic import atomic_output
from midas.nf.fit import MIC_COLUMNS

__all__ = [
    "MIC_TEXT_HEADER",
    "mic_map",
    "read_all_matches",
    "read_map",
    "read_mic_binary",
    "read_mic_text",
    "write_all_matches",
    "write_consolidated_h5",
    "write_map",
    "write_mic_binary",
    "write_mic_text",
]

MIC_TEXT_HEADER = "%" + "\t".join(MIC_COLUMNS) + "\tPhaseNr"


def _rows(mic: ArrayLike, width: int, name: str) -> NDArray[np.float64]:
    a = np.ascontiguousarray(mic, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != width:
        raise ParamError(f"{name} of shape {a.shape}: expected (N, {width})")
    return a


def write_mic_binary(path: str | os.PathLike[str], mic: ArrayLike) -> Path:
    """Write MicFileBinary rows ((N, 11) float64, little-endian)."""
    a = _rows(mic, 11, "mic")
    out = Path(path)
    with atomic_output(out) as tmp:
        a.astype("<f8").tofile(tmp)
    return out


def read_mic_binary(path: str | os.PathLike[str]) -> NDArray[np.float64]:
    """Read MicFileBinary rows; a file shorter than a whole row count raises FormatError."""
    p = Path(path)
    if not p.is_file():
        raise FormatError(f"{p}: MicFileBinary not found")
    a = np.fromfile(p, dtype="<f8")
    if a.size % 11:
        raise FormatError(f"{p}: {a.size} values is not a whole number of 11-value MicFileBinary rows")
    return a.reshape(-1, 11)


def write_all_matches(path: str | os.PathLike[str], all_matches: ArrayLike) -> Path:
    """Write ``.AllMatches`` rows ((N, 7 + 4·SaveNSolutions) float64)."""
    a = np.ascontiguousarray(all_matches, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] < 11 or (a.shape[1] - 7) % 4:
        raise ParamError(f"all_matches of shape {a.shape}: expected (N, 7 + 4·SaveNSolutions)")
    out = Path(path)
    with atomic_output(out) as tmp:
        a.astype("<f8").tofile(tmp)
    return out


def read_all_matches(path: str | os.PathLike[str], save_n: int) -> NDArray[np.float64]:
    """Read ``.AllMatches`` rows of 7 + 4·save_n values."""
    p = Path(path)
    width = 7 + 4 * int(save_n)
    if not p.is_file():
        raise FormatError(f"{p}: .AllMatches file not found")
    a = np.fromfile(p, dtype="<f8")
    if a.size % width:
        raise FormatError(f"{p}: {a.size} values is not a whole number of {width}-value rows (SaveNSolutions {save_n})")
    return a.reshape(-1, width)


def write_mic_text(path: str | os.PathLike[str], mic: ArrayLike, *, num_phases: int = 1, phase_nr: int = 1,
                   global_position_um: float = 0.0) -> Path:
    """Write a text ``.mic`` exactly as upstream ParseMic does.

    Parameters
    ----------
    path : path
        Output file.
    mic : (N, 11) float64
        MicFileBinary rows; rows with Confidence 0 are skipped.
    num_phases, phase_nr : int
        ``NumPhases`` (header) and ``PhaseNr`` (last column).
    global_position_um : float
        ``GlobalPosition`` (header).
    """
    a = _rows(mic, 11, "mic")
    edge = a[0, 5] if a.shape[0] else 0.0
    lines = [f"%TriEdgeSize {edge:f}", f"%NumPhases {int(num_phases)}", f"%GlobalPosition {float(global_position_um):f}",
             MIC_TEXT_HEADER]
    suffix = f"{int(phase_nr)}"
    for row in a[a[:, 10] != 0].tolist():
        lines.append("".join(f"{v:f}\t" for v in row) + suffix)
    out = Path(path)
    with atomic_output(out) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return out


def read_mic_text(path: str | os.PathLike[str]) -> NDArray[np.float64]:
    """Read a text ``.mic``: (M, 12) float64 (the 11 MicFileBinary values and PhaseNr).

    Raises
    ------
    FormatError
        When a data line does not have 12 numbers.
    """
    p = Path(path)
    try:
        lines = p.read_text().splitlines()
    except OSError as exc:
        raise FormatError(f"{p}: cannot read the .mic file: {exc}") from exc
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("%"):
            continue
        parts = line.split()
        if len(parts) < 11:
            raise FormatError(f"{p}:{n}: {len(parts)} values, expected 12 (.mic row)")
        try:
            rows.append([float(v) for v in parts[:12]] + ([] if len(parts) >= 12 else [1.0]))
        except ValueError as exc:
            raise FormatError(f"{p}:{n}: {exc}") from exc
    return np.array(rows, dtype=np.float64).reshape(-1, 12)


def mic_map(mic: ArrayLike, *, phase_nr: int = 1) -> tuple[NDArray[np.float64], tuple[float, float]]:
    """Rasterise voxels on a 1 µm grid as upstream ParseMic's ``.map``.

    Each cell (x, y) = (trunc(X) + j, trunc(Y) + k), |j|, |k| ≤ trunc(edge + 5), of every voxel with
    Confidence ≠ 0 takes the nearest voxel centre (ties: the first row). Bounds are the voxel
    extent ± (edge + 25) µm, edge = the TriEdgeSize of row 0.

    Returns
    -------
    planes : (7, ySize, xSize) float64
        Confidence, Eul1, Eul2, Eul3, OrientationRowNr, PhaseNr, distance (µm); −15 where empty.
    origin : (minX, minY)
        Lower bounds of the map (µm).
    """
    a = _rows(mic, 11, "mic")
    good = np.flatnonzero(a[:, 10] != 0)
    edge = float(a[0, 5]) if a.shape[0] else 0.0
    if good.size == 0:
        raise ParamError("mic has no voxel with non-zero confidence: nothing to map")
    x, y = a[good, 3], a[good, 4]
    min_x, max_x = x.min() - (edge + 25), x.max() + (edge + 25)
    min_y, max_y = y.min() - (edge + 25), y.max() + (edge + 25)
    nx = int(math.ceil(max_x) - math.floor(min_x) + 1)
    ny = int(math.ceil(max_y) - math.floor(min_y) + 1)
    reach = int(-(edge + 5))  # C: long long j = -(edge + 5) truncates towards zero
    offs = np.arange(reach, -reach + 1)
    jx2, ky2 = np.meshgrid(offs, offs, indexing="ij")
    jx, ky = jx2.ravel(), ky2.ravel()
    ix, iy = np.trunc(x).astype(np.int64), np.trunc(y).astype(np.int64)
    cx = ix[:, None] + jx[None, :]
    cy = iy[:, None] + ky[None, :]
    pos_x = np.trunc(-min_x + cx).astype(np.int64)
    pos_y = np.trunc(-min_y + cy).astype(np.int64)
    cell = (pos_y * nx + pos_x).ravel()
    dx, dy = x[:, None] - cx, y[:, None] - cy
    dist = np.sqrt(dx * dx + dy * dy).ravel()  # upstream CalcNorm2
    voxel = np.repeat(np.arange(good.size), offs.size * offs.size)
    order = np.lexsort((voxel, dist, cell))
    cell_s = cell[order]
    first = np.ones(cell_s.size, dtype=bool)
    first[1:] = cell_s[1:] != cell_s[:-1]
    win_cell, win_vox, win_dist = cell_s[first], voxel[order][first], dist[order][first]
    planes = np.full((7, ny * nx), -15.0)
    rows = a[good[win_vox]]
    for k, col in enumerate((10, 7, 8, 9, 0)):
        planes[k, win_cell] = rows[:, col]
    planes[5, win_cell] = float(phase_nr)
    planes[6, win_cell] = win_dist
    return planes.reshape(7, ny, nx), (float(min_x), float(min_y))


def write_map(path: str | os.PathLike[str], mic: ArrayLike, *, phase_nr: int = 1) -> Path:
    """Write the ``.map`` file of :func:`mic_map` (4 header doubles, then the 7 planes)."""
    planes, (min_x, min_y) = mic_map(mic, phase_nr=phase_nr)
    header = np.array([planes.shape[2], planes.shape[1], min_x, min_y], dtype="<f8")
    out = Path(path)
    with atomic_output(out) as tmp, open(tmp, "wb") as f:
        header.tofile(f)
        planes.astype("<f8").tofile(f)
    return out


def read_map(path: str | os.PathLike[str]) -> tuple[NDArray[np.float64], tuple[float, float]]:
    """Read a ``.map``: (planes (7, ySize, xSize), (minX, minY))."""
    p = Path(path)
    a = np.fromfile(p, dtype="<f8")
    if a.size < 4:
        raise FormatError(f"{p}: too short for a .map file")
    nx, ny = int(a[0]), int(a[1])
    if a.size != 4 + 7 * nx * ny:
        raise FormatError(f"{p}: {a.size} values, expected 4 + 7·{nx}·{ny} for the header's size")
    return a[4:].reshape(7, ny, nx), (float(a[2]), float(a[3]))


def write_consolidated_h5(path: str | os.PathLike[str], mic: ArrayLike, *, all_matches: ArrayLike | None = None,
                          orient_mats: ArrayLike | None = None, ipf_rgb: ArrayLike | None = None,
                          metadata: Mapping[str, Any] | None = None, phase_nr: int = 1) -> Path:
    """Write ``nf_consolidated.h5`` for the voxels with Confidence ≠ 0.

    Layout::

        voxels/position            (M, 2) float64  X, Y of the triangle centre (µm, sample frame)
        voxels/euler_angles        (M, 3) float64  Bunge ZXZ (rad)
        voxels/orientation_matrix  (M, 3, 3)       crystal → sample (when given)
        voxels/confidence          (M,)            fraction of the footprint confirmed
        voxels/orientation_row_nr  (M,) int64      seed row of the best solution
        voxels/n_winners           (M,) int64      seeds passing the screening
        voxels/edge_um, up_down, fit_time_s, grid_row (M,)
        voxels/ipf_rgb             (M, 3) float32  IPF-Z colours (when given)
        voxels/all_matches         (M, 7+4n)       .AllMatches rows (when given)
        maps/orientation           (ySize, xSize, 7) the .map planes; maps/extent = (minX, minY)
        metadata                   attributes: every key of ``metadata`` (JSON-encoded if not scalar)
    """
    import h5py

    a = _rows(mic, 11, "mic")
    good = np.flatnonzero(a[:, 10] != 0)
    rows = a[good]
    out = Path(path)
    with atomic_output(out) as tmp, h5py.File(tmp, "w") as f:
        v = f.create_group("voxels")
        v["position"] = rows[:, 3:5]
        v["euler_angles"] = rows[:, 7:10]
        v["confidence"] = rows[:, 10]
        v["orientation_row_nr"] = rows[:, 0].astype(np.int64)
        v["n_winners"] = rows[:, 1].astype(np.int64)
        v["fit_time_s"] = rows[:, 2]
        v["edge_um"] = rows[:, 5]
        v["up_down"] = rows[:, 6].astype(np.int8)
        v["grid_row"] = good.astype(np.int64)
        for name, arr, dt in (("orientation_matrix", orient_mats, np.float64), ("ipf_rgb", ipf_rgb, np.float32),
                              ("all_matches", all_matches, np.float64)):
            if arr is not None:
                arr_np = np.asarray(arr, dtype=dt)
                v[name] = arr_np[good] if arr_np.shape[0] == a.shape[0] else arr_np
        if good.size:
            planes, origin = mic_map(a, phase_nr=phase_nr)
            m = f.create_group("maps")
            m["orientation"] = np.moveaxis(planes, 0, -1)
            m["extent"] = np.array(origin)
            m.attrs["planes"] = "Confidence, Eul1, Eul2, Eul3, OrientationRowNr, PhaseNr, distance_um"
        md = f.create_group("metadata")
        for k, val in (metadata or {}).items():
            md.attrs[k] = val if isinstance(val, (int, float, str, np.number)) else json.dumps(val, default=str)
    return out
