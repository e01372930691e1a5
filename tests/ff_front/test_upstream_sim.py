"""The FF front half on upstream's own simulated scans (../shared/data/upstream_sim/ff_au250):
truth recall and centroid accuracy, agreement with upstream's merged spots, CalcRadius and FitSetup
against upstream's files, thread independence, written artefacts.

Default run: the ``tiny`` variant (25 grains, 1024², 1440 frames). The full 2048² dataset runs in
the ``slow`` test at the end (and in benchmarks/bench_peaksearch.py).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from conftest import shared_path
from midas.ff import artefacts, bin_spots, run_ff_front, search_peaks
from midas.ff.compare import classify_unmatched, isolated, match_spots
from midas.ff.peaksearch import PeakSearchConfig
from midas.params import MidasParams, read_params

log = logging.getLogger(__name__)
STEP = -0.25


def _truth(folder: str) -> pd.DataFrame:
    d = shared_path("upstream_sim", "ff_au250", *([folder] if folder else []))
    name = "SpotMatrixGen.csv" if folder else "SpotMatrixGen.csv.gz"
    return pd.read_csv(d / name, sep=r"\s+")


def _upstream_radius(folder: str) -> pd.DataFrame:
    d = shared_path("upstream_sim", "ff_au250", *([folder] if folder else []), "upstream_outputs")
    name = "Radius_StartNr_1_EndNr_1440.csv" + ("" if folder else ".gz")
    return pd.read_csv(d / name, sep=r"\s+")


def _scores(merged_rows: np.ndarray, truth: pd.DataFrame, up: pd.DataFrame,
            config: PeakSearchConfig) -> dict[str, float]:
    t_yz = truth[["DetectorHor", "DetectorVert"]].to_numpy()
    iso = isolated(t_yz, truth["omeBin"].to_numpy())
    ours = match_spots(t_yz, truth["Omega"], merged_rows[:, [3, 4]], merged_rows[:, 2], max_distance_px=1.0,
                       max_d_omega_deg=0.5)
    u_yz = up[["YCen(px)", "ZCen(px)"]].to_numpy()
    u_w = up["Omega(degrees)"].to_numpy()
    theirs = match_spots(t_yz, truth["Omega"], u_yz, u_w, max_distance_px=1.0, max_d_omega_deg=0.5)
    # upstream's spots found again by us: y/z within 0.2 px, ω within 0.1° once upstream's
    # frame-start labels are moved to frame centres (+ half a step)
    again = match_spots(u_yz, u_w + STEP / 2, merged_rows[:, [3, 4]], merged_rows[:, 2], max_distance_px=0.2,
                        max_d_omega_deg=0.1)
    accurate = match_spots(u_yz, u_w, t_yz, truth["Omega"], max_distance_px=0.2, max_d_omega_deg=0.5).found
    # why the others are missed: upstream cuts spots at its ring-band edge and mis-fits them
    px = config.detector.pixel_size_um[0]
    why = classify_unmatched(u_yz, u_w + STEP / 2, merged_rows[:, [3, 4]], merged_rows[:, 2], t_yz, truth["Omega"],
                             bc_px=config.detector.bc_px, ring_radius_px=np.asarray(config.ring_radius_um) / px,
                             band_half_width_px=config.width_um / px)
    counts = why.counts()
    closer, with_truth = why.candidate_closer("band_edge")
    s = {
        "recall_ours": ours.recall(iso), "median_err_ours": float(np.nanmedian(ours.distance_px[iso])),
        "omega_bias_ours": float(np.nanmean(ours.d_omega_deg[iso])),
        "recall_upstream": theirs.recall(iso), "median_err_upstream": float(np.nanmedian(theirs.distance_px[iso])),
        "omega_bias_upstream": float(np.nanmean(theirs.d_omega_deg[iso])),
        "upstream_matched": again.recall(), "upstream_accurate_matched": again.recall(accurate),
        "n_isolated": float(iso.sum()),
        "miss_band_edge": counts["band_edge"] / len(up),
        "miss_not_band_edge": 1 - again.recall() - counts["band_edge"] / len(up),
        "band_edge_ours_closer": closer / max(with_truth, 1),
    }
    log.info("scores: %s", {k: round(v, 5) for k, v in s.items()})
    return s


def _tiny_config() -> PeakSearchConfig:
    from midas.io.midas_zip import open_midas_zip

    with open_midas_zip(shared_path("upstream_sim", "ff_au250", "tiny", "Au_FF_tiny.analysis.MIDAS.zip")) as z:
        return PeakSearchConfig.from_params(MidasParams.from_mapping(z.analysis_parameters))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    zip_path = shared_path("upstream_sim", "ff_au250", "tiny", "Au_FF_tiny.analysis.MIDAS.zip")
    out = tmp_path_factory.mktemp("tiny")
    return run_ff_front(zip_path, out_dir=out, n_threads=2, write_bin_files=False), out


def test_tiny_truth_and_upstream_agreement(tiny) -> None:  # type: ignore[no-untyped-def]
    res, _out = tiny
    s = _scores(res.merged.rows, _truth("tiny"), _upstream_radius("tiny"), _tiny_config())
    assert s["n_isolated"] > 2800
    assert s["recall_ours"] >= 0.995
    assert s["median_err_ours"] <= 0.05
    assert abs(s["omega_bias_ours"]) < 0.01  # frame-centre labels: no half-step bias
    assert s["omega_bias_upstream"] == pytest.approx(-STEP / 2, abs=0.01)  # upstream: +0.125°
    assert s["recall_ours"] >= s["recall_upstream"]
    # Upstream's spots that upstream located correctly are all found again; the others are spots
    # cut by a ring-band edge, which upstream fits off-centre (region growth fixes them here).
    assert s["upstream_accurate_matched"] >= 0.995
    assert s["upstream_matched"] >= 0.98
    assert s["miss_not_band_edge"] <= 0.002
    assert s["band_edge_ours_closer"] >= 0.9


def test_tiny_calc_radius_and_fit_setup_agree_with_upstream(tiny) -> None:  # type: ignore[no-untyped-def]
    res, _out = tiny
    up = _upstream_radius("tiny")
    rs = res.ring_spots
    m = match_spots(up[["YCen(px)", "ZCen(px)"]].to_numpy(), up["Omega(degrees)"] + STEP / 2,
                    np.c_[rs.column("YCen"), rs.column("ZCen")], rs.column("Omega"), max_distance_px=0.05,
                    max_d_omega_deg=0.01)
    ok = m.found
    assert ok.mean() > 0.95
    j = m.partner[ok]
    assert np.array_equal(rs.column("RingNr")[j], up["RingNr"].to_numpy()[ok])
    d_theta = np.abs(rs.column("Theta")[j] - up["Theta(degrees)"].to_numpy()[ok])
    # upstream takes the radius of a spot's last frame, we its intensity-weighted mean
    assert np.median(d_theta) < 1e-5 and d_theta.max() < 1e-3
    np.testing.assert_array_equal(rs.column("NImgs")[j], up["NImgs"].to_numpy()[ok])
    # whole spots (region growth) carry a little more intensity than upstream's band-cut ones
    rel = np.abs(rs.column("GrainRadius")[j] / up["GrainRadius"].to_numpy()[ok] - 1)
    assert np.median(rel) < 0.05
    # FitSetup: same seeds (ring 2, |ω| ≤ 90°) and IDs ordered ring by ring, ω ascending inside a ring
    d = shared_path("upstream_sim", "ff_au250", "tiny", "upstream_outputs")
    up_seeds = np.loadtxt(d / "SpotsToIndex.csv", dtype=np.int64)
    su = res.setup
    # plus the whole spots our CalcRadius keeps beyond Width because their flank reached the band
    # (docs/conventions.md §15.4); upstream cut those at the band edge and dropped some of them
    st = rs.settings
    ring2 = rs.column("RingNr") == 2
    r2 = st.ring_radius_um[st.ring_numbers.index(2)]
    n_rescued = int(np.sum(ring2 & (np.abs(rs.column("Radius") * st.pixel_size_um - r2) >= st.width_um)))
    assert -0.03 * up_seeds.size <= su.spots_to_index.size - up_seeds.size <= 0.03 * up_seeds.size + n_rescued, n_rescued
    ia = su.input_all[su.kept]
    assert np.all(np.diff(ia[:, 5]) >= 0)
    for ring in np.unique(ia[:, 5]):
        assert np.all(np.diff(ia[ia[:, 5] == ring, 2]) >= 0)
    assert np.array_equal(su.ids_hash[:, 0], np.arange(1, 6))
    assert np.all(su.ids_hash[1:, 1] == su.ids_hash[:-1, 2])
    up_ia = np.loadtxt(d / "InputAll.csv", skiprows=1)
    up_ia = up_ia[up_ia[:, 5] > 0]
    mi = match_spots(up_ia[:, :2] / 400.0, up_ia[:, 2] + STEP / 2, ia[:, :2] / 400.0, ia[:, 2],
                     max_distance_px=0.02, max_d_omega_deg=0.01)  # same centre: same ω correction
    assert mi.recall() > 0.95
    k = mi.partner[mi.found]
    np.testing.assert_allclose(ia[k, 7], up_ia[mi.found, 7], atol=5e-4)  # 2θ: 0.02 px at Lsd 1 m
    np.testing.assert_allclose(ia[k, 6], up_ia[mi.found, 6], atol=5e-3)  # η
    assert np.median(np.abs(ia[k, 3] / up_ia[mi.found, 3] - 1)) < 0.05  # grain radius (intensities differ)


def test_calc_radius_formula_on_upstream_spots() -> None:
    """Upstream's own merged spots through our CalcRadius give upstream's numbers."""
    from midas.ff.merge import RESULT_COLUMNS, MergedSpots
    from midas.ff.radius import RadiusSettings, calc_radius

    up = _upstream_radius("tiny")
    names = {"Omega": "Omega(degrees)", "YCen": "YCen(px)", "ZCen": "ZCen(px)", "MinOme": "MinOme(degrees)",
             "MaxOme": "MaxOme(degress)", "Radius": "Radius(px)", "Eta": "Eta(degrees)"}
    rows = np.zeros((len(up), len(RESULT_COLUMNS)))
    for i, c in enumerate(RESULT_COLUMNS):
        rows[:, i] = up[names.get(c, c)].to_numpy()
    fake = MergedSpots(rows=rows, member_start=np.arange(len(up) + 1), member_peak=np.arange(len(up)),
                       peaks=None)  # type: ignore[arg-type]
    p = read_params(shared_path("upstream_sim", "ff_au250", "tiny", "Parameters_tiny.txt"))
    got = calc_radius(fake, RadiusSettings.from_params(p, n_frames=1440))
    assert len(got) == len(up)
    for c, tol in (("RingNr", 0), ("Theta", 2e-6), ("DeltaOmega", 1e-9), ("NImgs", 1e-9), ("PowderIntensity", 1e-6),
                   ("GrainVolume", 1e-5), ("GrainRadius", 1e-5)):
        want = up[[k for k in up.columns if k.split("(")[0] == c][0]].to_numpy()
        np.testing.assert_allclose(got.column(c), want, rtol=tol, atol=1e-6, err_msg=c)


def test_tiny_artefacts_round_trip(tiny) -> None:  # type: ignore[no-untyped-def]
    res, out = tiny
    rows, frame = artefacts.read_all_peaks_ps(out / "Temp" / "AllPeaks_PS.bin")
    np.testing.assert_array_equal(rows, res.peaks.rows)
    np.testing.assert_array_equal(frame, res.peaks.frame)
    px, frame_px, nr_pixels = artefacts.read_all_peaks_px(out / "Temp" / "AllPeaks_PX.bin")
    assert nr_pixels == 1024 and len(px) == len(res.peaks)
    for i in (0, len(px) // 2, len(px) - 1):
        np.testing.assert_array_equal(px[i], res.peaks.pixels(i))
    radius = pd.read_csv(out / "Radius_StartNr_1_EndNr_1440.csv", sep=r"\s+")
    assert list(radius.columns) == list(_upstream_radius("tiny").columns)  # upstream's 24-column header
    np.testing.assert_allclose(radius.to_numpy(), res.ring_spots.rows, rtol=1e-6, atol=1e-6)
    ia = np.loadtxt(out / "InputAll.csv", skiprows=1)
    np.testing.assert_allclose(ia, res.setup.input_all, atol=1e-5)
    extra = np.loadtxt(out / "InputAllExtraInfoFittingAll.csv", skiprows=1)
    assert extra.shape == (len(res.setup), 18)
    mm = np.loadtxt(out / "MergeMap.csv", skiprows=1, dtype=np.int64)
    assert mm.shape[0] == res.merged.member_peak.size
    text = (out / "paramstest.txt").read_text()
    assert "RingNumbers 2;" in text and "OmegaRange -180.000000 180.000000;" in text
    # small bins keep nData.bin small: check it against the in-memory look-up
    small = bin_spots(res.setup, eta_bin_size_deg=6.0, ome_bin_size_deg=6.0)
    artefacts.write_bin_data(out, small)
    ndata = np.fromfile(out / "nData.bin", "<i4").reshape(small.n_ring_bins, small.n_eta_bins, small.n_ome_bins, 2)
    data = np.fromfile(out / "Data.bin", "<i4")
    spots = np.fromfile(out / "Spots.bin", "<f8").reshape(-1, 9)
    np.testing.assert_array_equal(spots, small.spots)
    rng = np.random.default_rng(3)
    for _ in range(200):
        ring, eta, ome = int(rng.integers(1, 6)), rng.uniform(-180, 180), rng.uniform(-180, 180)
        ie, io = int((180 + eta) // 6.0), int((180 + ome) // 6.0)
        cnt, off = ndata[ring - 1, ie, io]
        np.testing.assert_array_equal(data[off:off + cnt], small.lookup(ring, eta, ome))


def test_results_do_not_depend_on_threads() -> None:
    zip_path = shared_path("upstream_sim", "ff_au250", "tiny", "Au_FF_tiny.analysis.MIDAS.zip")
    one = search_peaks(zip_path, frame_range=(200, 320), n_threads=1)
    two = search_peaks(zip_path, frame_range=(200, 320), n_threads=2, block_frames=5)
    np.testing.assert_array_equal(one.rows, two.rows)
    np.testing.assert_array_equal(one.region_px_yz, two.region_px_yz)
    assert len(one) > 100


def test_upstream_start_labels_reproduced() -> None:
    zip_path = shared_path("upstream_sim", "ff_au250", "tiny", "Au_FF_tiny.analysis.MIDAS.zip")
    t = search_peaks(zip_path, frame_range=(0, 40), n_threads=2, omega_label="start")
    assert set(np.round(t.omega_deg, 9)) <= {180.0 - 0.25 * k for k in range(40)}


def test_parameter_file_and_archive_parameters_agree() -> None:
    d = shared_path("upstream_sim", "ff_au250", "tiny")
    p = read_params(d / "Parameters_tiny.txt")
    from midas.io.midas_zip import open_midas_zip

    with open_midas_zip(d / "Au_FF_tiny.analysis.MIDAS.zip") as z:
        q = MidasParams.from_mapping(z.analysis_parameters)
    a, b = PeakSearchConfig.from_params(p), PeakSearchConfig.from_params(q)
    assert a == b


@pytest.mark.slow
def test_full_dataset_truth_and_upstream_agreement() -> None:
    from midas.io.midas_zip import open_midas_zip

    zip_path = shared_path("upstream_sim", "ff_au250", "Au_FF_000001_pf.analysis.MIDAS.zip")
    res = run_ff_front(zip_path, n_threads=2)
    with open_midas_zip(zip_path) as z:
        config = PeakSearchConfig.from_params(MidasParams.from_mapping(z.analysis_parameters))
    s = _scores(res.merged.rows, _truth(""), _upstream_radius(""), config)
    assert s["n_isolated"] > 28000
    assert s["recall_ours"] >= 0.995
    assert s["median_err_ours"] <= 0.05
    assert abs(s["omega_bias_ours"]) < 0.01
    assert s["upstream_accurate_matched"] >= 0.995
    # 96.4 % of all upstream spots; 986 of the 990 others are spots upstream cut at its band edge,
    # and ours is the closer to truth for 810 of the 812 of them that upstream put within 3 px of truth
    assert s["upstream_matched"] >= 0.96
    assert s["miss_not_band_edge"] <= 0.0005
    assert s["band_edge_ours_closer"] >= 0.99


def test_band_cut_mode_keeps_upstreams_pixels() -> None:
    """With ``grow_outside_bands=False`` the ring bands (Width around the corrected ring radius) select
    exactly upstream's pixels: a merged spot covers as many pixels as upstream's."""
    import dataclasses

    from midas.ff.merge import merge_peaks

    zip_path = shared_path("upstream_sim", "ff_au250", "tiny", "Au_FF_tiny.analysis.MIDAS.zip")
    config = dataclasses.replace(_tiny_config(), grow_outside_bands=False)
    peaks = search_peaks(zip_path, config, frame_range=(0, 360), n_threads=2)
    merged = merge_peaks(peaks)
    up = _upstream_radius("tiny")
    up = up[up["Omega(degrees)"] > 180.0 + STEP * 359.5]
    m = match_spots(up[["YCen(px)", "ZCen(px)"]].to_numpy(), up["Omega(degrees)"] + STEP / 2,
                    merged.rows[:, [3, 4]], merged.rows[:, 2], max_distance_px=0.2, max_d_omega_deg=0.1)
    assert m.recall() > 0.97 and m.found.sum() > 500
    same = merged.column("NrPxTot")[m.partner[m.found]] == up["NrPxTot"].to_numpy()[m.found]
    assert same.mean() > 0.995
