"""Seed orientations of the NF orientation search.

Three sources, as in upstream ``nf_MIDAS.py``:

* a ``SeedOrientations`` file: CSV rows ``q0,q1,q2,q3[,a,b,c,α,β,γ,GrainID]`` (unit quaternion
  (w, x, y, z) of the orientation matrix crystal → sample; upstream_facts.md §3.13);
* an FF ``Grains.csv`` (``-ffSeedOrientations 1``, ``GrainsFile``): every non-``%`` line gives
  GrainID, the 9 orientation-matrix values and (columns 14–19) the lattice
  (upstream GenSeedOrientationsFF2NFHEDM);
* neither: a uniform sampling of the Laue group's fundamental zone (replaces upstream's
  downloadable master tables), see :func:`fundamental_zone_orientations`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas.crystal.orientation import matrix_to_quat, quat_to_matrix
from midas.errors import FormatError, ParamError
from midas.io._atomic import atomic_output

__all__ = [
    "SeedOrientations",
    "fundamental_zone_orientations",
    "fundamental_zone_spacing_deg",
    "read_seed_orientations",
    "seeds_from_grains",
    "super_fibonacci_quaternions",
    "write_seed_orientations",
]

log = logging.getLogger(__name__)

#: ψ of the super-Fibonacci spiral: the real root of ψ⁴ = ψ + 4 (Alexa 2022).
_PSI = 1.533751168755204288118041
_PHI = math.sqrt(2.0)


@dataclass(frozen=True, slots=True)
class SeedOrientations:
    """Seed orientations with the lattice and id of the grain they come from.

    Attributes
    ----------
    orient_mats : (S, 3, 3) float64
        Orientation matrices, crystal → sample.
    lattice : (S, 6) float64
        a, b, c (Å), α, β, γ (deg) per seed (NaN when unknown).
    grain_id : (S,) int64
        Grain id per seed (0 .. S−1 for sampled seeds).
    """

    orient_mats: NDArray[np.float64]
    lattice: NDArray[np.float64]
    grain_id: NDArray[np.int64]

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        om = np.ascontiguousarray(self.orient_mats, dtype=np.float64).reshape(-1, 3, 3)
        set_(self, "orient_mats", om)
        set_(self, "lattice", np.ascontiguousarray(self.lattice, dtype=np.float64).reshape(-1, 6))
        set_(self, "grain_id", np.ascontiguousarray(self.grain_id, dtype=np.int64).reshape(-1))
        if not (self.lattice.shape[0] == self.grain_id.shape[0] == om.shape[0]):
            raise ParamError("SeedOrientations: orient_mats, lattice and grain_id must have one row per seed")

    def __len__(self) -> int:
        return int(self.orient_mats.shape[0])


def read_seed_orientations(path: str | os.PathLike[str]) -> SeedOrientations:
    """Read a ``SeedOrientations`` file (comma-separated, 4 or 11 values per line).

    Raises
    ------
    FormatError
        When the file is missing, a line has another number of values or a non-number, or a
        quaternion is not of unit length (within 1e-3).
    """
    p = Path(path)
    try:
        lines = p.read_text().splitlines()
    except OSError as exc:
        raise FormatError(f"{p}: cannot read the seed orientation file: {exc}") from exc
    quats: list[np.ndarray] = []
    lats: list[list[float]] = []
    ids: list[int] = []
    for n, line in enumerate(lines, 1):
        s = line.strip()
        if not s or s.startswith(("%", "#")):
            continue
        parts = [t for t in s.replace(",", " ").split()]
        try:
            vals = [float(t) for t in parts]
        except ValueError as exc:
            raise FormatError(f"{p}:{n}: {exc}; expected q0,q1,q2,q3[,a,b,c,alpha,beta,gamma,GrainID]") from exc
        if len(vals) not in (4, 10, 11):
            raise FormatError(f"{p}:{n}: {len(vals)} values; expected 4 (quaternion) or 11 "
                              "(quaternion, lattice, GrainID)")
        q = np.array(vals[:4])
        if abs(np.linalg.norm(q) - 1.0) > 1e-3:
            raise FormatError(f"{p}:{n}: quaternion {vals[:4]} has length {np.linalg.norm(q):.6f}, expected 1")
        quats.append(q / np.linalg.norm(q))
        lats.append(vals[4:10] if len(vals) >= 10 else [np.nan] * 6)
        ids.append(int(vals[10]) if len(vals) == 11 else len(ids))
    if not quats:
        raise FormatError(f"{p}: no seed orientation found")
    return SeedOrientations(quat_to_matrix(np.array(quats)), np.array(lats), np.array(ids))


def write_seed_orientations(path: str | os.PathLike[str], seeds: SeedOrientations) -> Path:
    """Write a ``SeedOrientations`` file in upstream's format (``%f`` values, comma-separated).

    Rows with unknown lattice (NaN) are written with the 4 quaternion values only.
    """
    q = matrix_to_quat(seeds.orient_mats)
    out = Path(path)
    lines = []
    for qi, lat, gid in zip(q.tolist(), seeds.lattice.tolist(), seeds.grain_id.tolist()):
        vals = qi if any(math.isnan(v) for v in lat) else qi + lat
        text = ",".join(f"{v:f}" for v in vals)
        lines.append(text + ("" if len(vals) == 4 else f",{int(gid)}"))
    with atomic_output(out) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return out


def seeds_from_grains(path: str | os.PathLike[str]) -> SeedOrientations:
    """Seeds from an FF grains file (``Grains.csv``): GrainID, O11..O33, 3 values, lattice.

    Lines starting with ``%`` are skipped; values are whitespace separated (upstream
    GenSeedOrientationsFF2NFHEDM).

    Raises
    ------
    FormatError
        When a line has fewer than 19 values or a non-number.
    """
    p = Path(path)
    try:
        lines = p.read_text().splitlines()
    except OSError as exc:
        raise FormatError(f"{p}: cannot read the grains file: {exc}") from exc
    oms, lats, ids = [], [], []
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("%"):
            continue
        parts = line.split()
        if len(parts) < 19:
            raise FormatError(f"{p}:{n}: {len(parts)} values; a grains line needs at least 19 "
                              "(GrainID, 9 orientation-matrix values, X Y Z, 6 lattice values)")
        try:
            gid = int(float(parts[0]))
            om = [float(v) for v in parts[1:10]]
            lat = [float(v) for v in parts[13:19]]
        except ValueError as exc:
            raise FormatError(f"{p}:{n}: {exc}") from exc
        oms.append(om)
        lats.append(lat)
        ids.append(gid)
    if not oms:
        raise FormatError(f"{p}: no grain found")
    # Round-trip through the quaternion as upstream does, so seeds equal upstream's OrientMat.bin.
    q = np.round(matrix_to_quat(np.array(oms).reshape(-1, 3, 3)), 6)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return SeedOrientations(quat_to_matrix(q), np.array(lats), np.array(ids))


def super_fibonacci_quaternions(n: int) -> NDArray[np.float64]:
    """n unit quaternions spread uniformly over S³ (super-Fibonacci spiral, Alexa, CVPR 2022).

    q_i = (r sin α, r cos α, R sin β, R cos β) with s = i + ½, r = √(s/n), R = √(1 − s/n),
    α = 2πs/√2, β = 2πs/ψ, ψ⁴ = ψ + 4. Returned as (w, x, y, z) with w ≥ 0.
    """
    if n <= 0:
        raise ParamError(f"super_fibonacci_quaternions: n = {n}, expected > 0")
    return _spiral_slice(n, 0, n)


def fundamental_zone_spacing_deg(orient_tol_deg: float) -> float:
    """Seed spacing used for a given ``OrientTol``: OrientTol/√2.

    For OrientTol = 2° this gives about 2.2·10⁵ cubic seeds, the density of upstream's cubic master
    table (243129 rows), so every orientation lies well within the ±OrientTol Nelder–Mead box of
    some seed.
    """
    if not (orient_tol_deg > 0):
        raise ParamError(f"OrientTol = {orient_tol_deg}, expected > 0 deg")
    return float(orient_tol_deg) / math.sqrt(2.0)


def _quat_mul(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def _cache_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("MIDAS_CACHE_DIR")
    if env:
        return Path(env) / "nf_seeds"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "midas" / "nf_seeds"


def fundamental_zone_orientations(symmetry: ArrayLike, spacing_deg: float, *,
                                  cache_dir: str | os.PathLike[str] | None = None,
                                  use_cache: bool = True) -> NDArray[np.float64]:
    """Orientations sampled uniformly over the fundamental zone of a Laue group.

    Parameters
    ----------
    symmetry : (M, 3, 3) float64
        Proper rotations of the Laue group in the crystal frame
        (:func:`midas.crystal.symmetry.laue_rotations`).
    spacing_deg : float
        Typical distance between neighbouring seeds (deg); see :func:`fundamental_zone_spacing_deg`.
    cache_dir : path, optional
        Where the sampled orientations are cached (default ``$MIDAS_CACHE_DIR/nf_seeds`` or
        ``~/.cache/midas/nf_seeds``). The cache key is the spacing and a hash of the operators.
    use_cache : bool, default True
        Read and write the cache.

    Returns
    -------
    (S, 3, 3) float64
        Orientation matrices, S ≈ 8π²/(M·δ³) for δ = spacing in rad.

    Notes
    -----
    Method: n = ceil(8π²/δ³) quaternions of the super-Fibonacci spiral cover SO(3) (volume 8π² in
    the rotation-angle metric) uniformly at spacing δ; a sample is kept when it is its own
    fundamental-zone representative, i.e. when no symmetry-equivalent q ⊗ s (s in the Laue group)
    has a smaller rotation angle (|w| strictly larger). Keeping, rather than folding, preserves the
    spiral's uniformity and spacing inside the zone.
    """
    sym = np.asarray(symmetry, dtype=np.float64).reshape(-1, 3, 3)
    delta = math.radians(float(spacing_deg))
    if not (delta > 0):
        raise ParamError(f"fundamental zone spacing = {spacing_deg} deg, expected > 0")
    n_full = math.ceil(8.0 * math.pi ** 2 / delta ** 3)
    key = hashlib.sha1(np.round(sym, 6).tobytes()).hexdigest()[:12]
    cache = _cache_dir(cache_dir) / f"fz_{key}_M{sym.shape[0]}_n{n_full}.npy"
    if use_cache and cache.is_file():
        q = np.load(cache)
        log.info("fundamental-zone seeds: %d orientations from cache %s", q.shape[0], cache)
        return quat_to_matrix(q)
    sym_q = matrix_to_quat(sym)
    kept = []
    chunk = 200_000
    for start in range(0, n_full, chunk):
        q = _spiral_slice(n_full, start, min(n_full, start + chunk))
        w_self = np.abs(q[:, 0])
        w_best = np.max(np.abs(_quat_mul(q[:, None, :], sym_q[None, :, :])[..., 0]), axis=1)
        kept.append(q[w_self >= w_best - 1e-12])
    q = np.concatenate(kept)
    log.info("fundamental-zone seeds: %d of %d spiral samples (spacing %.3f deg, %d operators)",
             q.shape[0], n_full, spacing_deg, sym.shape[0])
    if use_cache:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(cache) as tmp, open(tmp, "wb") as f:
                np.save(f, q)
        except (OSError, FormatError) as exc:
            log.warning("could not write the seed cache %s: %s", cache, exc)
    return quat_to_matrix(q)


def _spiral_slice(n: int, start: int, stop: int) -> NDArray[np.float64]:
    """Rows start..stop−1 of super_fibonacci_quaternions(n) without building all n."""
    s = np.arange(start, stop, dtype=np.float64) + 0.5
    r = np.sqrt(s / n)
    big = np.sqrt(1.0 - s / n)
    a = 2.0 * np.pi * s / _PHI
    b = 2.0 * np.pi * s / _PSI
    q = np.stack([r * np.sin(a), r * np.cos(a), big * np.sin(b), big * np.cos(b)], axis=1)
    q[q[:, 0] < 0] *= -1.0
    return q
