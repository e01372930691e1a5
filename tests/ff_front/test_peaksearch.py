"""Whole-frame peak search on synthetic frames: compiled search vs the NumPy twin, thread
independence, ImTransOpt, dark, masks, saturation, size and peak-count limits."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
from midas._reference import ff_peaks as ref
from midas.errors import ParamError
from midas.ff.peaksearch import (
    PS_COLUMNS,
    PeakSearchConfig,
    build_pixel_plan,
    ring_band_thresholds,
    search_frames,
    search_peaks,
)
from midas.geometry.ff import FFDetector
from midas.io.frames import ArrayFrames
from midas.parallel import threads

BC = (-30.0, 40.0)  # beam centre off the panel, as on the HEXRD Dexelas
SHAPE = (112, 96)  # (n_z, n_y)
RING_PX = 60.0
PX_UM = 100.0


def _config(**kw: object) -> PeakSearchConfig:
    det = FFDetector(lsd_um=1e6, bc_px=BC, pixel_size_um=(PX_UM, PX_UM), rho_d_um=2e5,
                     n_pixels=(SHAPE[1], SHAPE[0]), im_trans_opt=kw.pop("im_trans_opt", (0,)))  # type: ignore[arg-type]
    base = dict(detector=det, ring_thresholds=((1, 10.0),), ring_radius_um=(RING_PX * PX_UM,), width_um=300.0)
    base.update(kw)
    return PeakSearchConfig(**base)  # type: ignore[arg-type]


def _peaks(rng: np.random.Generator, n: int = 5) -> np.ndarray:
    """Spots 20° apart along the ring (some straddling the 3 px band edge) and a close partner of
    the first one (a two-maximum region)."""
    out = []
    for k in range(n):
        eta = 40.0 + 20.0 * k + rng.uniform(-1, 1)
        r = RING_PX + rng.uniform(-3.5, 3.5)
        out.append([rng.uniform(500, 2000), r, eta, rng.uniform(0, 0.3), rng.uniform(0.7, 1.4),
                    rng.uniform(0.7, 1.4), rng.uniform(0.6, 1.3), rng.uniform(0.6, 1.3)])
    p = list(out[0])
    p[0] *= 0.6
    p[2] += 3.2
    out.append(p)
    return np.array(out)


def _frame(peaks: np.ndarray) -> np.ndarray:
    return np.round(ref.render_frame(SHAPE, peaks, *BC)).astype(np.int32)


def _rows(results: list[tuple[np.ndarray, ...]]) -> np.ndarray:
    return np.concatenate([r[0] for r in results]) if results else np.zeros((0, 29))


def _twin(frame: np.ndarray, cfg: PeakSearchConfig, **kw: object) -> np.ndarray:
    thr = ring_band_thresholds(cfg).astype(np.float64)
    rows = ref.find_peaks_frame(frame, thr, kw.pop("dark", None), kw.pop("masked", None),  # type: ignore[arg-type]
                                bc_y=BC[0], bc_z=BC[1], saturation=cfg.saturation, min_nr_px=cfg.min_nr_px,
                                max_nr_px=cfg.max_nr_px, max_n_peaks=cfg.max_n_peaks, do_peak_fit=cfg.do_peak_fit,
                                grow=cfg.grow_outside_bands, **kw)  # type: ignore[arg-type]
    if not rows:
        return np.zeros((0, 29))
    out = np.concatenate(rows)
    out[:, 0] = np.arange(1, len(out) + 1)
    return out


EXACT = [PS_COLUMNS.index(c) for c in ("SpotID", "NrPxTot", "nPeaks", "maxY", "maxZ", "rawIMax", "maskTouched")]


@pytest.mark.parametrize("grow", [True, False])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_search_matches_twin_and_truth(seed: int, grow: bool) -> None:
    rng = np.random.default_rng(seed)
    peaks = _peaks(rng)
    frame = _frame(peaks)
    cfg = _config(grow_outside_bands=grow)
    plan = build_pixel_plan(cfg, SHAPE)
    got = _rows(search_frames(frame, plan, cfg))
    want = _twin(frame, cfg)
    assert got.shape == want.shape and got.shape[0] >= 5
    np.testing.assert_array_equal(got[:, EXACT], want[:, EXACT])
    np.testing.assert_allclose(got[:, [3, 4]], want[:, [3, 4]], atol=2e-3)
    np.testing.assert_allclose(got[:, 1], want[:, 1], rtol=1e-3)
    if grow:  # whole spots: the fitted centres are the true ones (integer rounding only)
        truth = np.array([ref.peak_centre_px(q, *BC) for q in peaks])
        d = np.hypot(got[:, 3, None] - truth[None, :, 0], got[:, 4, None] - truth[None, :, 1])
        assert np.all(d.min(axis=1) < 0.02)


def test_growth_recovers_spots_cut_by_the_band_edge() -> None:
    # a spot centred 4.5 px outside a 3 px band: without growth only its tail is fitted
    peak = np.array([[3000.0, RING_PX + 4.5, 70.0, 0.0, 1.0, 1.0, 1.0, 1.0]])
    frame = _frame(peak)
    truth = ref.peak_centre_px(peak[0], *BC)
    for grow, tol in ((True, 0.01), (False, None)):
        cfg = _config(grow_outside_bands=grow)
        rows = _rows(search_frames(frame, build_pixel_plan(cfg, SHAPE), cfg))
        assert rows.shape[0] == 1
        err = np.hypot(rows[0, 3] - truth[0], rows[0, 4] - truth[1])
        if tol is not None:
            assert err < tol
        else:
            assert err > 0.3  # the cut spot's centre is pulled toward the band


def test_results_identical_for_one_and_two_threads(rng: np.random.Generator) -> None:
    frames = np.stack([_frame(_peaks(rng)) for _ in range(12)])
    cfg = _config()
    plan = build_pixel_plan(cfg, SHAPE)
    with threads(1):
        one = search_frames(frames, plan, cfg)
    with threads(2):
        two = search_frames(frames, plan, cfg)
    assert len(one) == len(two) == 12
    for a, b in zip(one, two, strict=True):
        for x, y in zip(a[:4], b[:4], strict=True):
            np.testing.assert_array_equal(x, y)
        assert a[4] == b[4]


@pytest.mark.parametrize("opts", [(1,), (2,), (1, 2), (3,), (2, 3, 1)])
def test_im_trans_opt_plans_give_the_same_peaks(opts: tuple[int, ...]) -> None:
    from midas.io.corrections import im_trans_opt

    rng = np.random.default_rng(7)
    square = (72, 72)
    det = FFDetector(lsd_um=1e6, bc_px=BC, pixel_size_um=(PX_UM, PX_UM), rho_d_um=2e5, n_pixels=(72, 72))
    cfg0 = PeakSearchConfig(detector=det, ring_thresholds=((1, 10.0),), ring_radius_um=(RING_PX * PX_UM,),
                            width_um=300.0)
    frame = np.round(ref.render_frame(square, _peaks(rng), *BC)).astype(np.int32)  # as seen after ImTransOpt
    want = _rows(search_frames(frame, build_pixel_plan(cfg0, square), cfg0))
    # the raw file holds the frame before the transform: find it by inverting the operations
    raw = frame
    for op in reversed(opts):
        raw = np.ascontiguousarray(im_trans_opt(raw, [op]))  # flips and transpose are involutions
    assert np.array_equal(im_trans_opt(raw, opts), frame)
    cfg = dataclasses.replace(cfg0, detector=dataclasses.replace(det, im_trans_opt=opts))
    got = _rows(search_frames(raw, build_pixel_plan(cfg, square), cfg))
    np.testing.assert_array_equal(got, want)


def test_dark_is_subtracted(rng: np.random.Generator) -> None:
    frame = _frame(_peaks(rng))
    dark = rng.integers(50, 150, SHAPE).astype(np.float64)
    cfg = _config()
    want = _rows(search_frames(frame, build_pixel_plan(cfg, SHAPE), cfg))
    got = _rows(search_frames((frame + dark).astype(np.int32), build_pixel_plan(cfg, SHAPE, dark=dark), cfg))
    np.testing.assert_array_equal(got, want)


def test_saturated_region_is_dropped(rng: np.random.Generator) -> None:
    peaks = _peaks(rng)
    frame = _frame(peaks)
    cfg = _config()
    plan = build_pixel_plan(cfg, SHAPE)
    full = search_frames(frame, plan, cfg)[0]
    brightest = float(frame.max())
    sat = search_frames(frame, plan, dataclasses.replace(cfg, saturation=brightest - 1))[0]
    assert sat[4]["saturated"] == 1
    assert sat[4]["regions"] == full[4]["regions"]
    assert brightest not in sat[0][:, PS_COLUMNS.index("rawIMax")]
    assert sat[0].shape[0] < full[0].shape[0]


def test_size_limits_and_peak_cap_warn(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(11)
    peaks = _peaks(rng)
    frames = np.stack([_frame(peaks)] * 3)
    cfg = _config()
    plan = build_pixel_plan(cfg, SHAPE)
    sizes = np.diff(search_frames(frames[:1], plan, cfg)[0][2])
    kw = dict(omega_start_deg=0.0, omega_step_deg=0.25, n_threads=1)
    with caplog.at_level(logging.WARNING, logger="midas.ff.peaksearch"):
        caplog.clear()
        t = search_peaks(ArrayFrames(frames), dataclasses.replace(cfg, max_nr_px=int(sizes.max())), **kw)
        assert t.counts["too_large"] == 3 * int((sizes >= sizes.max()).sum())
        assert "MaxNrPx" in caplog.text
        caplog.clear()
        t = search_peaks(ArrayFrames(frames), dataclasses.replace(cfg, max_n_peaks=1), **kw)
        assert t.counts["truncated"] == 3
        assert "MaxNPeaks" in caplog.text
        assert t.column("nPeaks").max() == 1
    t = search_peaks(ArrayFrames(frames), dataclasses.replace(cfg, min_nr_px=int(sizes.min())), **kw)
    assert t.counts["too_small"] == 3 * int((sizes <= sizes.min()).sum())
    with pytest.raises(ParamError, match="MinNrPx"):
        dataclasses.replace(cfg, min_nr_px=5, max_nr_px=6)


def test_mask_and_bad_values_flag_regions(rng: np.random.Generator) -> None:
    peaks = _peaks(rng)
    frame = _frame(peaks)
    cfg = _config()
    y0, z0 = (int(round(v)) for v in ref.peak_centre_px(peaks[2], *BC))
    mask = np.zeros(SHAPE, dtype=np.uint8)
    mask[z0, y0] = 1  # mask the centre pixel of one spot
    got = _rows(search_frames(frame, build_pixel_plan(cfg, SHAPE, mask=mask), cfg))
    want = _twin(frame, cfg, masked=mask.astype(bool))
    np.testing.assert_array_equal(got[:, EXACT], want[:, EXACT])
    assert got[:, PS_COLUMNS.index("maskTouched")].sum() >= 1
    # a gap value inside a spot acts like the mask for that frame
    gap = frame.copy()
    gap[z0, y0] = -1
    got2 = _rows(search_frames(gap, build_pixel_plan(cfg, SHAPE), dataclasses.replace(cfg, gap_intensity=-1.0)))
    want2 = _twin(gap, cfg, bad_values=(-1.0,))
    np.testing.assert_array_equal(got2[:, EXACT], want2[:, EXACT])
    assert got2[:, PS_COLUMNS.index("maskTouched")].sum() >= 1


def test_centroid_mode(rng: np.random.Generator) -> None:
    frame = _frame(_peaks(rng))
    cfg = _config(do_peak_fit=False)
    got = _rows(search_frames(frame, build_pixel_plan(cfg, SHAPE), cfg))
    want = _twin(frame, cfg)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)
    assert np.all(got[:, PS_COLUMNS.index("nPeaks")] == 1)


def test_search_peaks_omega_labels(rng: np.random.Generator) -> None:
    frames = np.stack([_frame(_peaks(rng)) for _ in range(4)])
    cfg = _config()
    kw = dict(omega_start_deg=180.0, omega_step_deg=-0.25, n_threads=2, block_frames=3)
    centre = search_peaks(ArrayFrames(frames), cfg, **kw)
    start = search_peaks(ArrayFrames(frames), cfg, omega_label="start", **kw)
    np.testing.assert_allclose(centre.omega_deg, 180.0 - 0.25 * (centre.frame + 0.5))
    np.testing.assert_allclose(start.omega_deg, 180.0 - 0.25 * start.frame)
    np.testing.assert_array_equal(centre.relabel_omega("start").rows, start.rows)
    part = search_peaks(ArrayFrames(frames), cfg, frame_range=(1, 3), **kw)
    np.testing.assert_array_equal(part.rows, centre.rows[(centre.frame >= 1) & (centre.frame < 3)])
    assert part.frame.min() == 0 and part.n_frames == 2
    with pytest.raises(ParamError, match="omega_label"):
        search_peaks(ArrayFrames(frames), cfg, omega_label="middle", **kw)


def test_config_validation() -> None:
    with pytest.raises(ParamError, match="RingThresh"):
        _config(ring_thresholds=(), ring_radius_um=())
    with pytest.raises(ParamError, match="threshold"):
        _config(ring_thresholds=((1, 0.0),))
    with pytest.raises(ParamError, match="NrPixelsZ"):
        build_pixel_plan(_config(), (SHAPE[0] + 1, SHAPE[1]))


def test_mask_file_from_parameters(tmp_path, rng: np.random.Generator) -> None:  # type: ignore[no-untyped-def]
    import tifffile
    from midas.params import MidasParams

    peaks = _peaks(rng)
    frames = np.stack([_frame(peaks)] * 2)
    y0, z0 = (int(round(v)) for v in ref.peak_centre_px(peaks[2], *BC))
    mask = np.zeros(SHAPE, dtype=np.uint8)
    mask[z0, y0] = 1
    path = tmp_path / "mask.tif"
    tifffile.imwrite(path, mask)
    cfg = _config()
    kw = dict(omega_start_deg=0.0, omega_step_deg=0.25, n_threads=1)
    from_file = search_peaks(ArrayFrames(frames), cfg, MidasParams.from_mapping({"MaskFile": str(path)}), **kw)
    direct = search_peaks(ArrayFrames(frames), cfg, mask=mask, **kw)
    plain = search_peaks(ArrayFrames(frames), cfg, **kw)
    np.testing.assert_array_equal(from_file.rows, direct.rows)
    touched = PS_COLUMNS.index("maskTouched")
    assert from_file.rows[:, touched].sum() == 2 and plain.rows[:, touched].sum() == 0
