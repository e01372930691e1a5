"""Synthetic far-field spot lists: random grains through the forward model.

Used by the tests, the benchmarks and the built-in example: random orientations (uniform on
SO(3)), positions uniform in the cylinder r ≤ Rsample, |z| ≤ Hbeam/2, lattices strained by a
random symmetric tensor, then :func:`midas.forward.predict_spots` and optional Gaussian noise on
the spot positions and ω.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas.errors import ParamError
from midas.ff.spots import ObservedSpots

__all__ = ["SYNTHETIC_AU_PARAMS", "random_grains", "strained_lattices", "synthetic_spots"]

#: Parameters of the synthetic benchmark scenes: the detector, scan and matching settings of
#: upstream's ff_au250 example (Au, 2048² px of 200 µm at 1 m, 1440 frames), with grains within
#: 200 µm of the axis (as in the ImageD11 runs of ../shared/docs/peers.md).
SYNTHETIC_AU_PARAMS = """\
LatticeConstant 4.08 4.08 4.08 90 90 90
SpaceGroup 225
Wavelength 0.22291
NrPixels 2048
px 200
Lsd 1000000
BC 1022 1022
RhoD 204800
OmegaStart 180
OmegaEnd -180
OmegaStep -0.25
OmegaRange -180 180
BoxSize -1000000 1000000 -1000000 1000000
MinEta 6
RingThresh 1 10
RingThresh 2 10
RingThresh 3 10
RingThresh 4 10
RingThresh 5 10
Rsample 200
Hbeam 400
OverAllRingToIndex 2
MinOmeSpotIDsToIndex -90
MaxOmeSpotIDsToIndex 90
UseFriedelPairs 1
Completeness 0.8
MinNrSpots 3
StepSizeOrient 0.2
StepSizePos 100
MarginRadial 500
MarginEta 500
MarginOme 0.5
MarginRadius 500
MargABC 4.8
MargABG 4.8
BeamThickness 200
"""


def strained_lattices(lattice: Any, strain_sample: NDArray[np.float64], orient_mat: NDArray[np.float64]
                      ) -> NDArray[np.float64]:
    """Lattice parameters of reference cells deformed by small strains.

    Parameters
    ----------
    lattice : (6,) float
        Reference a, b, c (Å), α, β, γ (deg).
    strain_sample : (N, 3, 3) float64
        Symmetric strain tensors in the sample frame (dimensionless).
    orient_mat : (N, 3, 3) float64
        Orientations (crystal → sample).

    Returns
    -------
    (N, 6) float64
        Lattice parameters of (I + ε_crystal)·A_ref with ε_crystal = Uᵀ ε U (Fable–Beaudoin's
        convention, :mod:`midas.ff.strain`, inverts this to first order).
    """
    from midas.crystal import Lattice

    ref = Lattice.from_tuple(lattice)
    a_ref = ref.direct_matrix()  # columns a, b, c
    eps_c = np.einsum("nji,njk,nkl->nil", orient_mat, strain_sample, orient_mat)
    out = np.empty((len(strain_sample), 6))
    for i, e in enumerate(eps_c):
        a = (np.eye(3) + e) @ a_ref
        lengths = np.linalg.norm(a, axis=0)
        unit = a / lengths
        cosines = [float(unit[:, p] @ unit[:, q]) for p, q in ((1, 2), (0, 2), (0, 1))]
        out[i] = (*lengths, *np.degrees(np.arccos(cosines)))
    return out


def random_grains(n: int, *, lattice: Any, rsample_um: float, hbeam_um: float, strain_rms: float = 5e-4,
                  seed: int = 0) -> Any:
    """Random grains as a :class:`midas.io.grains_csv.GrainsTable`.

    Parameters
    ----------
    n : int
        Number of grains.
    lattice : (6,) float
        Reference lattice (Å, deg).
    rsample_um, hbeam_um : float
        Positions uniform in r ≤ rsample_um, |z| ≤ hbeam_um/2 (sample frame, µm).
    strain_rms : float
        RMS of the strain components (sample frame, dimensionless; 0 for unstrained grains).
    seed : int
        Random seed.
    """
    from midas.crystal import quat_to_matrix
    from midas.io.grains_csv import GrainsTable

    if n < 0:
        raise ParamError(f"n = {n}, expected >= 0")
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    om = quat_to_matrix(q)
    r = rsample_um * np.sqrt(rng.uniform(size=n))
    phi = rng.uniform(0, 2 * np.pi, size=n)
    pos = np.column_stack([r * np.cos(phi), r * np.sin(phi), rng.uniform(-hbeam_um / 2, hbeam_um / 2, size=n)])
    e = rng.normal(scale=strain_rms, size=(n, 3, 3))
    e = 0.5 * (e + np.swapaxes(e, 1, 2))
    lat = strained_lattices(lattice, e, om)
    return GrainsTable.from_arrays(om, pos, lat, confidence=np.ones(n))


def synthetic_spots(grains: Any, hkls: Any, detector: Any, scan: Any, *, wavelength_A: float, rings: Any = None,
                    displacement: str = "parallel", noise_yz_um: float = 0.0, noise_ome_deg: float = 0.0,
                    seed: int = 0, n_threads: int | None = None) -> tuple[ObservedSpots, Any]:
    """Observed spots of ``grains`` as FitSetup would report them, with optional Gaussian noise.

    Parameters
    ----------
    grains : GrainsTable
    hkls : midas.crystal.HklTable
    detector : midas.geometry.FFDetector
    scan : midas.forward.FFScan
        Its windows select the spots (use the analysis windows, or ``scan.for_simulation()``).
    wavelength_A : float
    rings : sequence of int, optional
        Rings predicted (default all).
    displacement : {"parallel", "toward_point"}
        Grain-position displacement model of the forward model.
    noise_yz_um, noise_ome_deg : float
        Standard deviations of the noise added to y, z (µm) and ω (deg).
    seed : int
    n_threads : int, optional

    Returns
    -------
    spots : ObservedSpots
        Sorted by ring then ω, SpotID = row + 1.
    table : midas.forward.SpotTable
        The predicted spots (before noise), in the same order as ``spots``.
    """
    from midas.forward import predict_spots

    table = predict_spots(grains, hkls, detector, scan, wavelength_A=wavelength_A, rings=rings,
                          displacement=displacement, n_threads=n_threads)
    order = np.lexsort((table.omega_raw_deg, table.ring_nr))
    table = table.select(order)
    rng = np.random.default_rng(seed)
    n = len(table)
    y = table.y_um + (rng.normal(scale=noise_yz_um, size=n) if noise_yz_um > 0 else 0.0)
    z = table.z_um + (rng.normal(scale=noise_yz_um, size=n) if noise_yz_um > 0 else 0.0)
    w = table.omega_raw_deg + (rng.normal(scale=noise_ome_deg, size=n) if noise_ome_deg > 0 else 0.0)
    w = np.mod(w + 180.0, 360.0) - 180.0
    spots = ObservedSpots.from_arrays(y_um=y, z_um=z, omega_deg=w, ring_nr=table.ring_nr, lsd_um=detector.lsd_um,
                                      y_px=table.y_px, z_px=table.z_px, omega_raw_deg=table.omega_deg)
    return spots, table
