"""Merging peaks over ω (distance and pixel overlap) on hand-built peak tables."""

from __future__ import annotations

import numpy as np
import pytest
from midas.errors import ParamError
from midas.ff.merge import RESULT_COLUMNS, merge_peaks
from midas.ff.peaksearch import PS_COLUMNS, PeakTable

C = {n: i for i, n in enumerate(PS_COLUMNS)}
R = {n: i for i, n in enumerate(RESULT_COLUMNS)}


def _table(peaks: list[tuple[int, float, float, float]], n_frames: int, start: float = 180.0,
           step: float = -0.25) -> PeakTable:
    """peaks: (frame, y, z, intensity); each region is the 3x3 block around the rounded centre."""
    peaks = sorted(peaks, key=lambda p: p[0])
    rows = np.zeros((len(peaks), 29))
    yz, starts = [], [0]
    for i, (f, y, z, inten) in enumerate(peaks):
        rows[i, C["SpotID"]] = 1 + sum(1 for p in peaks[:i] if p[0] == f)
        rows[i, C["IntegratedIntensity"]] = inten
        rows[i, C["Omega"]] = start + (f + 0.5) * step
        rows[i, C["YCen"]], rows[i, C["ZCen"]] = y, z
        rows[i, C["Radius"]] = np.hypot(y, z)
        rows[i, C["Eta"]] = np.degrees(np.arctan2(y, z))
        rows[i, C["IMax"]] = inten / 10
        rows[i, C["SigmaR"]] = 1.0 + 0.1 * f
        rows[i, C["SigmaEta"]] = 0.5
        rows[i, C["NrPixels"]] = 9
        rows[i, C["NrPxTot"]] = 9
        rows[i, C["RawSumIntensity"]] = inten * 1.01
        rows[i, C["maskTouched"]] = float(f == 2)
        rows[i, C["FitRMSE"]] = f
        rows[i, C["maxY"]], rows[i, C["maxZ"]] = round(y), round(z)
        cy, cz = int(round(y)), int(round(z))
        yz += [(cy + dy, cz + dz) for dz in (-1, 0, 1) for dy in (-1, 0, 1)]
        starts.append(len(yz))
    return PeakTable(rows=rows, frame=np.array([p[0] for p in peaks], np.int32), n_frames=n_frames,
                     region=np.arange(len(peaks), dtype=np.int64), region_px_start=np.array(starts, np.int64),
                     region_px_yz=np.array(yz, np.int16).reshape(-1, 2), omega_start_deg=start, omega_step_deg=step,
                     frame_shape=(300, 300))


PEAKS = [
    # spot A: frames 0..2, drifting by 0.3 px per frame
    (0, 100.0, 100.0, 100.0), (1, 100.3, 100.0, 300.0), (2, 100.6, 100.1, 100.0),
    # spot B: frames 1..3, 3 px from A (beyond OverlapLength 2)
    (1, 100.3, 103.0, 50.0), (2, 100.3, 103.1, 50.0), (3, 100.3, 103.2, 50.0),
    # spot C: frame 5 only
    (5, 200.0, 50.0, 70.0),
    # D and E in frame 6 near F in frame 7: the closer / more overlapping one (E) continues
    (6, 150.0, 150.0, 10.0), (6, 151.8, 150.0, 20.0), (7, 152.0, 150.0, 40.0),
    # a peak too weak to merge (intensity < 1) is left out
    (8, 10.0, 10.0, 0.5),
]


def test_merge_by_distance() -> None:
    m = merge_peaks(_table(PEAKS, 10))
    rows = m.rows
    assert len(m) == 5  # A, B, C, D, E+F
    by_y = {round(r[R["IntegratedIntensity"]]): r for r in rows}
    a = by_y[500]
    assert a[R["YCen"]] == pytest.approx((100 * 100 + 100.3 * 300 + 100.6 * 100) / 500)
    assert a[R["Omega"]] == pytest.approx(180 - 0.25 * (0.5 * 100 + 1.5 * 300 + 2.5 * 100) / 500)
    assert a[R["MinOme"]] == pytest.approx(180 - 0.25 * 2.5) and a[R["MaxOme"]] == pytest.approx(180 - 0.25 * 0.5)
    assert a[R["IMax"]] == 30 and a[R["SigmaR"]] == pytest.approx(1.2) and a[R["NrPx"]] == 27
    assert a[R["maskTouched"]] == 1 and a[R["FitRMSE"]] == 2 and a[R["RawSumIntensity"]] == pytest.approx(505)
    assert by_y[150][R["NrPxTot"]] == 27  # B
    ef = by_y[60]
    assert ef[R["YCen"]] == pytest.approx((151.8 * 20 + 152.0 * 40) / 60)
    assert 10 in by_y  # D stays alone
    # SpotIDs are 1..N in closing order: A closes after frame 2, B after 3, C after 5, D after 6, E+F last
    order = [round(v) for v in rows[:, R["IntegratedIntensity"]]]
    assert order == [500, 150, 70, 10, 60]
    assert rows[:, R["SpotID"]].tolist() == [1, 2, 3, 4, 5]
    mm = m.merge_map()
    assert mm.shape == (10, 3)
    assert mm[:3].tolist() == [[1, 1, 1], [1, 2, 1], [1, 3, 1]]


def test_merge_by_pixel_overlap() -> None:
    m = merge_peaks(_table(PEAKS, 10), use_pixel_overlap=True)
    sums = sorted(round(v) for v in m.column("IntegratedIntensity"))
    # A's and B's 3x3 blocks (rows 99..101 and 102..104) share no pixel, so they stay apart;
    # F shares 9 pixels with E and 3 with D.
    assert sums == sorted([500, 150, 70, 10, 60])


def test_overlap_length_controls_merging() -> None:
    moving = _table([(0, 50.0, 50.0, 5.0), (1, 53.0, 50.0, 5.0)], 2)  # 3 px per frame
    assert len(merge_peaks(moving)) == 2
    assert len(merge_peaks(moving, overlap_length_px=5.0)) == 1
    with pytest.raises(ParamError, match="OverlapLength"):
        merge_peaks(_table(PEAKS, 10), overlap_length_px=0)


def test_merge_independent_of_peak_order_within_frames() -> None:
    t = _table(PEAKS, 10)
    perm = np.arange(len(t))
    perm[[7, 8]] = perm[[8, 7]]  # swap D and E (same frame)
    swapped = PeakTable(rows=t.rows[perm], frame=t.frame[perm], n_frames=t.n_frames, region=t.region[perm],
                        region_px_start=t.region_px_start, region_px_yz=t.region_px_yz,
                        omega_start_deg=t.omega_start_deg, omega_step_deg=t.omega_step_deg, frame_shape=t.frame_shape)
    a, b = merge_peaks(t).rows, merge_peaks(swapped).rows
    key = np.lexsort((a[:, R["YCen"]], a[:, R["IntegratedIntensity"]]))
    key_b = np.lexsort((b[:, R["YCen"]], b[:, R["IntegratedIntensity"]]))
    np.testing.assert_allclose(a[key][:, 1:], b[key_b][:, 1:])


def test_maxima_positions_option() -> None:
    m = merge_peaks(_table(PEAKS, 10), use_maxima_positions=True)
    a = m.rows[m.column("IntegratedIntensity") == 500][0]
    assert a[R["YCen"]] == pytest.approx((100 * 100 + 100 * 300 + 101 * 100) / 500)  # brightest pixels 100, 100, 101


def test_eta_average_across_the_branch_cut() -> None:
    # a spot straight below the beam centre: η = ±180 in alternate frames
    t = _table([(0, 0.01, -300.0, 1.0), (1, -0.01, -300.0, 1.0)], 2)
    eta = merge_peaks(t).column("Eta")
    assert eta.shape == (1,) and abs(abs(eta[0]) - 180.0) < 1e-9
