"""Grain strain tensors: Fable–Beaudoin (from the fitted lattice) and Kenesei (per-spot d-spacings).

Definitions (upstream_facts.md §2.9, ``CalcStrains.c`` / ``ProcessGrains.c`` restated):

* Fable–Beaudoin: A(a, b, c, α, β, γ) = [[a sinβ sinγ′, 0, 0], [−a sinβ cosγ′, b sinα, 0],
  [a cosβ, b cosα, c]] with cosγ′ = (cosα cosβ − cosγ)/(sinα sinβ); F = A_fit·A_ref⁻¹;
  ε_crystal = ½(F + Fᵀ) − I; ε_sample = U·ε_crystal·Uᵀ.
* Kenesei: for every spot assigned to the grain, the unit scattering vector ĝ (sample frame,
  from the observed spot corrected for the grain position) and the strain along it,
  b = (d_obs − d0_ring)/d0_ring, satisfy ĝᵀ·ε·ĝ = b; ε (sample frame, symmetric) is the linear
  least-squares solution over the spots (upstream minimises the same sum with Nelder–Mead and
  bounds ±0.01 per component; the linear solution is its exact minimiser when inside them).
  RMSErrorStrain = √(SSR/n); the per-spot residual is SpotMatrix's StrainError.

Strains are dimensionless here; Grains.csv stores them ×1e6. Positive = tensile.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas.errors import ParamError

__all__ = ["fable_beaudoin_matrix", "fable_beaudoin_strain", "kenesei_strain", "kenesei_strains", "observed_g",
           "segment_sums"]


def fable_beaudoin_matrix(lattice: Any) -> NDArray[np.float64]:
    """The Fable–Beaudoin direct-basis matrix A of lattices (upstream ``CalcStrains`` layout).

    Parameters
    ----------
    lattice : (..., 6) float64
        a, b, c (Å), α, β, γ (deg).

    Returns
    -------
    (..., 3, 3) float64
    """
    lat = np.asarray(lattice, dtype=np.float64)
    if lat.shape[-1] != 6:
        raise ParamError(f"lattice has shape {lat.shape}, expected (..., 6)")
    a, b, c = lat[..., 0], lat[..., 1], lat[..., 2]
    al, be, ga = (np.radians(lat[..., k]) for k in (3, 4, 5))
    cgp = (np.cos(al) * np.cos(be) - np.cos(ga)) / (np.sin(al) * np.sin(be))
    sgp = np.sqrt(np.clip(1.0 - cgp**2, 0.0, None))
    out = np.zeros(lat.shape[:-1] + (3, 3))
    out[..., 0, 0] = a * np.sin(be) * sgp
    out[..., 1, 0] = -a * np.sin(be) * cgp
    out[..., 1, 1] = b * np.sin(al)
    out[..., 2, 0] = a * np.cos(be)
    out[..., 2, 1] = b * np.cos(al)
    out[..., 2, 2] = c
    return out


def fable_beaudoin_strain(lattice: Any, reference: Any, orient_mat: Any) -> NDArray[np.float64]:
    """Fable–Beaudoin strain of grains in the sample frame.

    Parameters
    ----------
    lattice : (N, 6) float64
        Fitted lattices.
    reference : (6,) float64
        Unstrained lattice.
    orient_mat : (N, 3, 3) float64
        Orientations (crystal → sample).

    Returns
    -------
    (N, 3, 3) float64
        Symmetric strain tensors (dimensionless), sample frame.
    """
    f = fable_beaudoin_matrix(lattice) @ np.linalg.inv(fable_beaudoin_matrix(reference))
    eps = 0.5 * (f + np.swapaxes(f, -1, -2)) - np.eye(3)
    u = np.asarray(orient_mat, dtype=np.float64)
    return u @ eps @ np.swapaxes(u, -1, -2)


def observed_g(y_um: Any, z_um: Any, omega_deg: Any, pos_um: Any, lsd_um: float
               ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Unit scattering vectors (sample frame) and 2θ of observed spots seen from a grain position.

    The diffracted ray runs from P = Rz(ω)·pos to (Lsd, y, z): k̂ = unit(Lsd − Px, y − Py, z − Pz),
    ĝ_lab = unit(k̂ − x̂), ĝ = Rz(−ω)·ĝ_lab, 2θ = angle(k̂, x̂).

    Parameters
    ----------
    y_um, z_um, omega_deg : (S,) float64
        Observed spots (ideal plane at Lsd, µm; ω in degrees).
    pos_um : (3,) or (S, 3) float64
        Grain position, sample frame.
    lsd_um : float

    Returns
    -------
    g_unit : (S, 3) float64
    tth_rad : (S,) float64
    """
    w = np.radians(np.asarray(omega_deg, dtype=np.float64))
    c, s = np.cos(w), np.sin(w)
    p = np.broadcast_to(np.asarray(pos_um, dtype=np.float64), (len(w), 3))
    px, py, pz = p[:, 0] * c - p[:, 1] * s, p[:, 0] * s + p[:, 1] * c, p[:, 2]
    k = np.column_stack([lsd_um - px, np.asarray(y_um) - py, np.asarray(z_um) - pz])
    k /= np.linalg.norm(k, axis=1, keepdims=True)
    tth = np.arccos(np.clip(k[:, 0], -1.0, 1.0))
    gl = k - np.array([1.0, 0.0, 0.0])
    gl /= np.maximum(np.linalg.norm(gl, axis=1, keepdims=True), 1e-300)
    g = np.column_stack([gl[:, 0] * c + gl[:, 1] * s, -gl[:, 0] * s + gl[:, 1] * c, gl[:, 2]])
    return g, tth


def segment_sums(x: Any, offsets: Any) -> NDArray[np.float64]:
    """Sums of consecutive row segments: ``out[i] = x[offsets[i]:offsets[i+1]].sum(axis=0)``.

    Parameters
    ----------
    x : (S, ...) float64
    offsets : (G + 1,) int
        Non-decreasing, ``offsets[0] == 0`` and ``offsets[-1] == S`` (empty segments sum to 0).

    Returns
    -------
    (G, ...) float64
    """
    arr = np.asarray(x, dtype=np.float64)
    off = np.asarray(offsets, dtype=np.int64)
    out = np.zeros((len(off) - 1, *arr.shape[1:]))
    full = np.diff(off) > 0
    if np.any(full):
        # a non-empty segment runs to the start of the next non-empty one
        out[full] = np.add.reduceat(arr, off[:-1][full], axis=0)
    return out


def kenesei_strains(g_unit: Any, tth_rad: Any, d0_A: Any, wavelength_A: float, offsets: Any
                    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Kenesei strains of many grains at once (linear least squares per grain).

    Parameters
    ----------
    g_unit : (S, 3) float64
        Unit scattering vectors of all spots, sample frame, grain after grain.
    tth_rad, d0_A : (S,) float64
        Observed 2θ and the unstrained d-spacing of each spot's ring.
    wavelength_A : float
    offsets : (G + 1,) int
        Spots of grain i are ``offsets[i]:offsets[i+1]``.

    Returns
    -------
    strain : (G, 3, 3) float64
        Sample frame (zeros for grains with fewer than 6 spots).
    rms : (G,) float64
        √(SSR/n) per grain.
    residual : (S,) float64
        Per-spot a·ε − b (SpotMatrix StrainError).
    """
    g = np.asarray(g_unit, dtype=np.float64).reshape(-1, 3)
    d_obs = wavelength_A / (2.0 * np.sin(0.5 * np.asarray(tth_rad, dtype=np.float64)))
    d0 = np.asarray(d0_A, dtype=np.float64)
    b = (d_obs - d0) / d0
    a = np.column_stack([g[:, 0] ** 2, g[:, 1] ** 2, g[:, 2] ** 2, 2 * g[:, 0] * g[:, 1], 2 * g[:, 0] * g[:, 2],
                         2 * g[:, 1] * g[:, 2]])
    off = np.asarray(offsets, dtype=np.int64)
    counts = np.diff(off)
    n_g = len(counts)
    group = np.repeat(np.arange(n_g), counts)
    m = segment_sums(a[:, :, None] * a[:, None, :], off)
    v = segment_sums(a * b[:, None], off)
    ok = counts >= 6
    x = np.zeros((n_g, 6))
    if np.any(ok):
        x[ok] = np.linalg.solve(m[ok], v[ok][..., None])[..., 0]
    resid = np.einsum("si,si->s", a, x[group]) - b if len(b) else np.zeros(0)
    resid[~ok[group]] = 0.0
    ssr = segment_sums(resid**2, off)
    rms = np.sqrt(ssr / np.maximum(counts, 1))
    e = np.zeros((n_g, 3, 3))
    e[:, 0, 0], e[:, 1, 1], e[:, 2, 2] = x[:, 0], x[:, 1], x[:, 2]
    e[:, 0, 1] = e[:, 1, 0] = x[:, 3]
    e[:, 0, 2] = e[:, 2, 0] = x[:, 4]
    e[:, 1, 2] = e[:, 2, 1] = x[:, 5]
    return e, rms, resid


def kenesei_strain(g_unit: Any, tth_rad: Any, d0_A: Any, wavelength_A: float
                   ) -> tuple[NDArray[np.float64], float, NDArray[np.float64]]:
    """Kenesei strain of one grain from its spots (:func:`kenesei_strains` for one grain).

    Parameters
    ----------
    g_unit : (S, 3) float64
        Unit scattering vectors of the grain's spots, sample frame.
    tth_rad : (S,) float64
        Observed 2θ of each spot.
    d0_A : (S,) float64
        Unstrained d-spacing of each spot's ring.
    wavelength_A : float

    Returns
    -------
    strain : (3, 3) float64
        Sample frame, dimensionless (zeros when fewer than 6 spots).
    rms : float
        √(SSR/S).
    residual : (S,) float64
        Per-spot (a·ε − b): SpotMatrix's StrainError.
    """
    n = len(np.asarray(tth_rad))
    e, rms, resid = kenesei_strains(g_unit, tth_rad, d0_A, wavelength_A, [0, n])
    return e[0], float(rms[0]), resid
