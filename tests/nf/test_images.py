"""NF image processing: streaming median, filters, reduction, TIFF series and .binN inputs."""

from __future__ import annotations

import numpy as np
import pytest
from midas import parallel
from midas._native import core
from midas._reference import nf as ref
from midas.errors import FormatError, ParamError
from midas.nf.images import (
    ReductionSettings,
    process_tiff_distance,
    reduce_frames,
    spots_info_from_nf_bin,
    temporal_median,
    tiff_series_paths,
)
from midas.nf.spots_info import SpotsInfo


def _median(frames):
    return temporal_median(lambda: iter(frames), frames.shape[0], frames.shape[1:])


def _median_histogram_only(frames):
    """The streaming median without the direct-selection budget: histogram passes only."""
    m = core().NfStreamingMedian(frames[0].size, frames.shape[0], collect_budget_bytes=0)
    while not m.done:
        for f in frames:
            m.add_frame(f.reshape(-1))
        m.finish_pass()
    return m.median().reshape(frames.shape[1:]), m.passes_done


@pytest.mark.parametrize("n", [1, 2, 3, 8, 51])
def test_streaming_median_matches_lower_median(rng, n):
    kinds = [
        rng.integers(0, 200, size=(n, 24, 20)),  # low background
        rng.integers(0, 65536, size=(n, 24, 20)),  # anything
        np.where(rng.random((n, 24, 20)) < 0.5, 65535, rng.integers(990, 1010, size=(n, 24, 20))),  # outside window
    ]
    for frames in kinds:
        f = frames.astype(np.uint16)
        expected = ref.temporal_median(f)
        med, passes = _median(f)
        assert np.array_equal(med, expected), n
        assert passes <= 2
        med, passes = _median_histogram_only(f)
        assert np.array_equal(med, expected), n
        assert passes <= 6


def test_streaming_median_two_passes_for_stable_background(rng):
    f = (300 + rng.normal(0, 8, size=(41, 32, 32))).astype(np.uint16)
    f[5, 3, 4] = 60000  # a spot
    f[0, 10:14, 10:14] += 3000  # a spot in the first frame: these pixels select their values directly
    med, passes = _median(f)
    assert passes == 2 and np.array_equal(med, ref.temporal_median(f))
    med, passes = _median_histogram_only(f)
    assert passes > 2 and np.array_equal(med, ref.temporal_median(f))


def test_streaming_median_memory_is_independent_of_frame_count():
    a = core().NfStreamingMedian(2048 * 2048, 10)
    b = core().NfStreamingMedian(2048 * 2048, 50000)
    assert a.memory_bytes == b.memory_bytes < 1 << 30


def test_streaming_median_wide_counters(rng):
    """More than 65535 frames: 32-bit counters."""
    n = 70001
    vals = rng.integers(0, 5, size=(n, 3)).astype(np.uint16)
    m = core().NfStreamingMedian(3, n)
    while not m.done:
        for row in vals:
            m.add_frame(row)
        m.finish_pass()
    assert np.array_equal(m.median(), ref.temporal_median(vals))


def test_streaming_median_checks_its_stream():
    m = core().NfStreamingMedian(4, 2)
    with pytest.raises(ParamError, match="pixels"):
        m.add_frame(np.zeros(5, dtype=np.uint16))
    m.add_frame(np.zeros(4, dtype=np.uint16))
    with pytest.raises(ParamError, match="saw 1 frames"):
        m.finish_pass()
    with pytest.raises(FormatError, match="gave 1 frames"):
        temporal_median(lambda: iter([np.zeros((2, 2), np.uint16)]), 2, (2, 2))


@pytest.mark.parametrize("radius", [0, 1, 2])
def test_median_filter_matches_twin(rng, radius):
    img = np.where(rng.random((30, 27)) < 0.45, rng.integers(1, 900, (30, 27)), 0).astype(np.uint16)
    assert np.array_equal(core().nf_median_filter(img, radius), ref.median_filter(img, radius))


def test_log_mask_matches_twin(rng):
    img = np.zeros((48, 44), dtype=np.uint16)
    for _ in range(6):
        y, x = rng.integers(8, 40, 2)
        yy, xx = np.mgrid[:48, :44]
        img += (800 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 6.0)).astype(np.uint16)
    img[rng.random(img.shape) < 0.05] += 30
    ours = core().nf_log_blob_mask(img, 6, 2.0)
    assert np.array_equal(ours, ref.log_blob_mask(img, 6, 2.0)) and 0 < ours.sum() < (img > 0).sum()


@pytest.mark.parametrize("do_log", [False, True])
def test_reduce_frame_matches_twin_and_threads(rng, do_log):
    nz, ny = 40, 36
    median = rng.integers(90, 110, (nz, ny)).astype(np.uint16)
    raw = (median + rng.integers(0, 12, (nz, ny))).astype(np.uint16)
    raw[10:14, 5:9] += 400
    raw[30:33, 20:22] += 250
    layout = (2, 3, ny, nz)
    s = ReductionSettings(blanket=5, median_radius=1, do_log=do_log, log_radius=5, log_sigma=1.5)
    results = []
    for n_threads in (1, 2):
        si = SpotsInfo.zeros(layout)
        reducer = core().NfFrameReducer(nz, ny, s.blanket, s.median_radius, s.do_log, s.log_radius, s.log_sigma)
        with parallel.threads(n_threads):
            n, img = reducer.reduce(raw, median, si.words, layout, 1, 2, True)
            n2, _ = reducer.reduce(raw, median, si.words, layout, 1, 2)  # buffers reused: same answer
        assert n2 == n and img.shape == raw.shape
        results.append(si.coords())
    assert np.array_equal(results[0], results[1])
    yz = ref.reduce_frame(raw, median, s.blanket, s.median_radius, s.do_log, s.log_radius, s.log_sigma)
    assert n == len(yz) > 0
    expected = np.array(sorted((1, 2, int(y), int(z)) for y, z in yz))
    assert np.array_equal(results[0], expected)


def _write_series(tmp_path, frames_per_layer, background, spots, name="scan"):
    import tifffile

    paths = []
    for layer, frames in enumerate(frames_per_layer):
        lp = tiff_series_paths(tmp_path, name, "tif", layer, 3, len(frames), 0)
        for p, f in zip(lp, frames):
            tifffile.imwrite(p, f)
        paths.append(lp)
    return paths


def test_tiff_series_to_spotsinfo(tmp_path, rng):
    nz, ny, nf = 32, 40, 9
    base = rng.integers(80, 120, (nz, ny))
    layers = []
    for _ in range(2):
        frames = np.repeat(base[None], nf, 0) + rng.integers(0, 4, (nf, nz, ny))
        for k in range(nf):
            r, c = rng.integers(3, nz - 5), rng.integers(3, ny - 5)
            frames[k, r:r + 3, c:c + 3] += 500
        layers.append(frames.astype(np.uint16))
    paths = _write_series(tmp_path, layers, base, None)
    assert [p.name for p in paths[1][:2]] == ["scan_000012.tif", "scan_000013.tif"]  # 1·9 + 3 + j
    settings = ReductionSettings(blanket=5, median_radius=1)
    si = SpotsInfo.zeros((2, nf, ny, nz))
    for layer in range(2):
        stats = process_tiff_distance(paths[layer], si, layer, settings,
                                      median_path=tmp_path / f"median_{layer}.bin")
        med = ref.temporal_median(layers[layer])
        assert np.array_equal(np.fromfile(tmp_path / f"median_{layer}.bin", dtype=np.uint16).reshape(nz, ny), med)
        assert stats["frames"] == nf and stats["passes"] == 2
    expected = sorted((layer, k, int(y), int(z)) for layer in range(2) for k in range(nf)
                      for y, z in ref.reduce_frame(layers[layer][k], ref.temporal_median(layers[layer]), 5, 1, False, 10, 4.0))
    assert [tuple(c) for c in si.coords().tolist()] == expected and len(expected) >= 2 * nf * 3
    with pytest.raises(FormatError, match="missing"):
        process_tiff_distance(tiff_series_paths(tmp_path, "nope", "tif", 0, 0, nf), si, 0, settings)


def test_reduce_frames_checks_dtype_and_count(rng):
    si = SpotsInfo.zeros((1, 2, 8, 6))
    med = np.zeros((6, 8), dtype=np.uint16)
    with pytest.raises(FormatError, match="16-bit"):
        reduce_frames([np.full((6, 8), 70000, dtype=np.int32)] * 2, med, si, 0, ReductionSettings())
    with pytest.raises(FormatError, match="1 frames reduced"):
        reduce_frames([np.zeros((6, 8), dtype=np.uint16)], med, si, 0, ReductionSettings())


def test_nf_bin_files_to_spotsinfo(tmp_path, rng):
    from midas.io.nf_bin import NFBinPeaks, write_nf_bin

    layout = (2, 4, 50, 40)
    expected = []
    for layer in range(2):
        for k in range(4):
            y = rng.integers(0, 50, 30).astype(np.uint16)
            z = rng.integers(1, 40, 30).astype(np.uint16)
            pk = NFBinPeaks(y_px=y, z_px=z, intensity=np.ones(30, np.float32), peak_id=np.ones(30, np.uint16),
                            n_peaks=1, version=1.0)
            write_nf_bin(tmp_path / f"red_{10 + k:06d}.bin{layer}", pk)
            expected += [(layer, k, int(a), int(b)) for a, b in zip(y, z)]
    si = SpotsInfo.zeros(layout)
    n = sum(spots_info_from_nf_bin(tmp_path / "red", 10, si, layer) for layer in range(2))
    assert n == 8 * 30
    assert [tuple(c) for c in si.coords().tolist()] == sorted(set(expected))
    flipped = SpotsInfo.zeros(layout)
    spots_info_from_nf_bin(tmp_path / "red", 10, flipped, 0, ice9=True)
    assert sorted({(a, b, c, 40 - d) for a, b, c, d in expected if a == 0}) == [tuple(c) for c in flipped.coords().tolist()]
