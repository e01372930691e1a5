"""Helpers of the NF tests: the upstream Au example (shared data) and a small synthetic setup."""

from __future__ import annotations

import functools

import numpy as np
from conftest import SHARED, shared_path


def nf_au() -> dict:
    """The upstream NF Au example (cached); skips the calling test when ../shared/data is absent."""
    shared_path("upstream_sim", "nf_au")
    return _nf_au()


@functools.lru_cache(maxsize=1)
def _nf_au() -> dict:
    """The upstream NF Au example: parameters, experiment, reflections, observed SpotsInfo (from the
    sparse .npz), grid, seeds from grs.csv."""
    from midas.nf.experiment import NFExperiment, Reflections
    from midas.nf.grid import make_hex_grid
    from midas.nf.seeds import seeds_from_grains
    from midas.nf.spots import compute_seed_spots
    from midas.nf.spots_info import SpotsInfo
    from midas.params import read_params

    d = shared_path("upstream_sim", "nf_au")
    p = read_params(d / "ps_au.txt")
    exp = NFExperiment.from_params(p)
    refl = Reflections.from_params(p)
    seeds = seeds_from_grains(d / "grs.csv")
    return {
        "dir": d,
        "params": p,
        "experiment": exp,
        "reflections": refl,
        "grid": make_hex_grid(50.0, 2.5, 1.0),
        "seeds": seeds,
        "seed_spots": compute_seed_spots(exp, refl, seeds.orient_mats),
        "spots_info": SpotsInfo.from_sparse_npz(d / "SpotsInfo_sparse.npz", exp.layout),
        "score_tool": SHARED / "tools" / "hedm_score.py",
    }


def small_experiment():
    """A small two-distance NF experiment (160 x 144 px of 5 µm) used with random inputs."""
    from midas.geometry.nf import NFDetector
    from midas.nf.experiment import NFExperiment

    det = NFDetector(lsd_um=(3000.0, 3900.0), bc_px=((81.3, 12.4), (80.6, 15.9)), tx_deg=0.4, ty_deg=-0.3,
                     tz_deg=0.25, pixel_size_um=5.0, n_pixels=(160, 144))
    return NFExperiment(det, omega_start_deg=180.0, omega_step_deg=-2.0, n_frames=180,
                        omega_ranges_deg=((-180.0, 0.0), (0.0, 180.0)),
                        box_um=((-380.0, 380.0, 30.0, 640.0), (-380.0, 350.0, 25.0, 600.0)), min_eta_deg=6.0)


def au_reflections():
    """Au reflections for λ = 0.172979 Å up to 900 µm at 3000 µm."""
    from midas.crystal import Lattice, hkl_table
    from midas.nf.experiment import Reflections

    t = hkl_table(225, Lattice(4.08, 4.08, 4.08, 90, 90, 90), 0.172979, 3900.0, 900.0)
    return Reflections(t.hkl, t.ring_nr, t.g_crystal, t.theta_deg)


def twin_experiment(exp) -> dict:
    """The dict form the NumPy twin (midas._reference.nf) takes."""
    d = exp.detector
    return {"lsd_um": list(d.lsd_um), "bc_px": [tuple(b) for b in d.bc_px], "tilts_deg": (d.tx_deg, d.ty_deg, d.tz_deg),
            "px_um": d.pixel_size_um, "n_y": d.n_pixels[0], "n_z": d.n_pixels[1],
            "omega_start_deg": exp.omega_start_deg, "omega_step_deg": exp.omega_step_deg, "n_frames": exp.n_frames,
            "omega_ranges_deg": list(exp.omega_ranges_deg), "box_um": list(exp.box_um), "min_eta_deg": exp.min_eta_deg}


def random_rotations(rng, n: int) -> np.ndarray:
    from midas.crystal.orientation import quat_to_matrix

    q = rng.normal(size=(n, 4))
    return quat_to_matrix(q / np.linalg.norm(q, axis=1, keepdims=True))
