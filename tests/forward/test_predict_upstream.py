"""Spot prediction against upstream MIDAS's own simulator output (shared/data/upstream_sim)."""

from __future__ import annotations

import gzip
import logging
import shutil

import numpy as np
import pytest
from conftest import shared_path
from midas.crystal import hkl_table_from_params
from midas.forward.ff import FFScan, predict_spots
from midas.geometry import FFDetector
from midas.io.grains_csv import read_grains_csv
from midas.io.hkls_csv import read_hkls_csv
from midas.io.spot_matrix import read_spot_matrix
from midas.params import read_params

log = logging.getLogger(__name__)


def _predict(folder, **kw):
    p = read_params(folder / "Parameters.txt")
    grains = read_grains_csv(folder / p.get("InFileName"))
    det = FFDetector.from_params(p)
    spots = predict_spots(grains, hkl_table_from_params(p), det, FFScan.from_params(p).for_simulation(),
                          wavelength_A=p.get("Wavelength"), rings=[r for r, _ in p.get("RingThresh")],
                          orthonormalize="upstream", **kw)
    return p, det, spots


def _upstream_spots(folder, tmp_path):
    if (folder / "SpotMatrixGen.csv").exists():
        return read_spot_matrix(folder / "SpotMatrixGen.csv")
    with gzip.open(folder / "SpotMatrixGen.csv.gz") as f, open(tmp_path / "SpotMatrixGen.csv", "wb") as o:
        shutil.copyfileobj(f, o)
    return read_spot_matrix(tmp_path / "SpotMatrixGen.csv")


def _match(spots, up):
    """Pair our spots with upstream's rows by (GrainID, SpotID) = (grain_index + 1, solution_nr)."""
    ours = {(int(g) + 1, int(s)): i for i, (g, s) in enumerate(zip(spots.grain_index, spots.solution_nr))}
    theirs = {(int(g), int(s)): j for j, (g, s) in enumerate(zip(up.grain_id, up.spot_id))}
    both = sorted(set(ours) & set(theirs))
    i = np.array([ours[k] for k in both])
    j = np.array([theirs[k] for k in both])
    return i, j, sorted(set(ours) - set(theirs)), sorted(set(theirs) - set(ours))


def test_ff_au250_reproduces_every_upstream_spot(tmp_path):
    folder = shared_path("upstream_sim", "ff_au250")
    _p, _det, spots = _predict(folder)
    up = _upstream_spots(folder, tmp_path)
    assert len(up) == 28887
    i, j, ours_only, theirs_only = _match(spots, up)
    # every upstream row is reproduced ...
    assert theirs_only == []
    np.testing.assert_array_equal(spots.ring_nr[i], up.ring_nr[j])
    np.testing.assert_array_equal(spots.frame[i], up.frame[j])
    dw = np.abs(spots.omega_deg[i] - up.omega_deg[j])
    dpx = np.hypot(spots.y_px[i] - up.y_px[j], spots.z_px[i] - up.z_px[j])
    deta = np.abs(spots.eta_deg[i] - up.eta_deg[j])
    log.info("ff_au250: %d matched; dω max %.2g median %.2g deg; dpx max %.2g median %.2g", len(i), dw.max(),
             np.median(dw), dpx.max(), np.median(dpx))
    assert dw.max() < 0.02 and dpx.max() < 0.05
    assert dw.max() < 1e-6 and dpx.max() < 1e-5 and deta.max() < 1e-6  # in fact to print precision
    np.testing.assert_allclose(np.hypot(spots.y_um[i], spots.z_um[i]), up.ring_rad_um[j], atol=2e-6)
    # ... and we predict one more: grain 151's solution 102 (ω -6.596°, pixel (1427.98, 158.30), in the
    # middle of the detector). Upstream's frames do not have it either; nothing in upstream's published
    # simulator source drops it (its displacement-map cell and neighbours are set), so we keep it.
    assert ours_only == [(151, 102)]


def test_ff_au250_parallel_displacement_differs_at_second_order(tmp_path):
    folder = shared_path("upstream_sim", "ff_au250")
    _, _, spots = _predict(folder, displacement="parallel")
    up = _upstream_spots(folder, tmp_path)
    i, j, _, _ = _match(spots, up)
    dpx = np.hypot(spots.y_px[i] - up.y_px[j], spots.z_px[i] - up.z_px[j])
    assert 1e-3 < dpx.max() < 0.02  # the indexer's form is not the simulator's, by ≤ 0.015 px here


def test_ff_au250_needs_upstreams_orientation_cleanup(tmp_path):
    folder = shared_path("upstream_sim", "ff_au250")
    p = read_params(folder / "Parameters.txt")
    grains = read_grains_csv(folder / p.get("InFileName"))
    spots = predict_spots(grains, hkl_table_from_params(p), FFDetector.from_params(p),
                          FFScan.from_params(p).for_simulation(), wavelength_A=p.get("Wavelength"),
                          orthonormalize="polar")
    up = _upstream_spots(folder, tmp_path)
    i, j, _, _ = _match(spots, up)
    dw = np.abs(spots.omega_deg[i] - up.omega_deg[j])
    assert dw.max() > 5e-3  # the nearest rotation is not what upstream simulated (grain 38: 0.0135°)


def test_ff_cu_tilted_detector_positions_within_0p01_px():
    folder = shared_path("upstream_sim", "ff_cu_tilted")
    _p, det, spots = _predict(folder)
    up = read_spot_matrix(folder / "SpotMatrixGen.csv")
    assert len(up) == 864
    i, j, ours_only, theirs_only = _match(spots, up)
    assert theirs_only == []
    dpx = np.hypot(spots.y_px[i] - up.y_px[j], spots.z_px[i] - up.z_px[j])
    log.info("ff_cu_tilted: dpx max %.4f median %.4f px", dpx.max(), np.median(dpx))
    assert dpx.max() < 0.01  # upstream's own lookup error is 0.0035 px max
    assert np.abs(spots.omega_deg[i] - up.omega_deg[j]).max() < 1e-6
    np.testing.assert_allclose(np.hypot(spots.y_um[i], spots.z_um[i]), up.ring_rad_um[j], atol=0.02)
    np.testing.assert_array_equal(spots.frame[i], up.frame[j])
    # One more of ours: grain 6, solution 82 lands at row 1023.74 (on the detector) but its ideal,
    # undistorted point is at row 1024.55, off the detector, where upstream's displacement-map lookup
    # fails and drops it.
    assert ours_only == [(6, 82)]
    k = {(int(g) + 1, int(s)): n for n, (g, s) in enumerate(zip(spots.grain_index, spots.solution_nr))}[(6, 82)]
    assert spots.z_px[k] < 1024 <= det.bc_px[1] + spots.z_um[k] / det.pixel_size_um[1]


@pytest.mark.parametrize("name", ["ff_au250", "ff_cu_tilted"])
def test_hkls_equal_upstream(name, tmp_path):
    folder = shared_path("upstream_sim", name)
    table = hkl_table_from_params(read_params(folder / "Parameters.txt"))
    from midas.io.hkls_csv import write_hkls_csv

    write_hkls_csv(tmp_path / "hkls.csv", table)
    assert (tmp_path / "hkls.csv").read_bytes() == (folder / "hkls.csv").read_bytes()
    np.testing.assert_array_equal(read_hkls_csv(folder / "hkls.csv").hkl, table.hkl)
