"""CalcRadius, FitSetup and binning on small hand-made spot lists with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from midas.errors import ParamError
from midas.ff.binning import bin_spots
from midas.ff.merge import RESULT_COLUMNS, MergedSpots
from midas.ff.radius import RadiusSettings, calc_radius
from midas.ff.setup import FitSetupSettings, fit_setup
from midas.geometry.ff import FFDetector, pixel_to_ideal

R = {n: i for i, n in enumerate(RESULT_COLUMNS)}
PX, LSD, BC = 200.0, 1e6, (1022.0, 1022.0)
RING_R = {1: 94949.4, 2: 109761.7, 3: 155930.4}


def _merged(spots: list[tuple[float, float, float, float, int]]) -> MergedSpots:
    """(y_px, z_px, omega, intensity, n_frames) per spot."""
    rows = np.zeros((len(spots), len(RESULT_COLUMNS)))
    for i, (y, z, w, inten, nf) in enumerate(spots):
        dy, dz = y - BC[0], z - BC[1]
        rows[i, [R["SpotID"], R["IntegratedIntensity"], R["Omega"], R["YCen"], R["ZCen"]]] = [i + 1, inten, w, y, z]
        rows[i, R["MinOme"]] = w - 0.125 * (nf - 1)
        rows[i, R["MaxOme"]] = w + 0.125 * (nf - 1)
        rows[i, R["Radius"]] = math.hypot(dy, dz)
        rows[i, R["Eta"]] = math.degrees(math.atan2(dy, dz))
        rows[i, R["RawSumIntensity"]] = inten
    return MergedSpots(rows=rows, member_start=np.arange(len(spots) + 1), member_peak=np.arange(len(spots)),
                       peaks=None)  # type: ignore[arg-type]


def _at(ring: int, eta_deg: float, off_px: float = 0.0) -> tuple[float, float]:
    r = RING_R[ring] / PX + off_px
    return BC[0] + r * math.sin(math.radians(eta_deg)), BC[1] + r * math.cos(math.radians(eta_deg))


def _radius_settings(**kw: object) -> RadiusSettings:
    base = dict(ring_numbers=(1, 2, 3), ring_radius_um=tuple(RING_R.values()), ring_multiplicity=(8, 6, 12),
                width_um=1500.0, pixel_size_um=PX, lsd_um=LSD, omega_step_deg=-0.25, n_frames=1440,
                gauge_volume_um3=1e7)
    base.update(kw)
    return RadiusSettings(**base)  # type: ignore[arg-type]


def test_calc_radius_assigns_rings_and_grain_size() -> None:
    spots = [(*_at(1, 30.0, 1.0), 10.0, 1000.0, 1), (*_at(2, -60.0, -2.0), 20.0, 3000.0, 3),
             (*_at(1, 100.0), -5.0, 3000.0, 2), (*_at(3, 45.0, 30.0), 0.0, 50.0, 1)]  # last: 30 px off → no ring
    rs = calc_radius(_merged(spots), _radius_settings())
    assert len(rs) == 3 and rs.merged_index.tolist() == [0, 1, 2]
    assert rs.column("RingNr").tolist() == [1, 2, 1]
    np.testing.assert_allclose(rs.column("DeltaOmega"), [0.25, 0.75, 0.5])
    np.testing.assert_allclose(rs.column("NImgs"), [1, 3, 2])
    np.testing.assert_allclose(rs.column("PowderIntensity"), [4000 / 1440, 3000 / 1440, 4000 / 1440])
    # hand evaluation of the first spot
    th = 0.5 * math.atan(rs.column("Radius")[0] * PX / LSD)
    eta = math.radians(rs.column("Eta")[0])
    dw = math.radians(0.25)
    dth = math.asin(math.sin(th) * math.cos(dw) + math.cos(th) * abs(math.sin(eta)) * math.sin(dw)) - th
    vol = 0.5 * 8 * dth * math.cos(th) * 1e7 * 1000.0 / (1 * 4000 / 1440)
    assert rs.column("GrainVolume")[0] == pytest.approx(vol, rel=1e-12)
    assert rs.column("GrainRadius")[0] == pytest.approx((3 * vol / (4 * math.pi)) ** (1 / 3), rel=1e-12)
    assert rs.column("Theta")[0] == pytest.approx(math.degrees(th))
    disc = calc_radius(_merged(spots), _radius_settings(disc_model=True))
    np.testing.assert_allclose(disc.column("GrainRadius"), np.sqrt(disc.column("GrainVolume") / math.pi))


def test_calc_radius_spot_between_two_rings_appears_twice() -> None:
    mid = 0.5 * (RING_R[1] + RING_R[2]) / PX
    y, z = BC[0], BC[1] + mid
    rs = calc_radius(_merged([(y, z, 0.0, 10.0, 1)]), _radius_settings(width_um=8000.0))
    assert rs.column("RingNr").tolist() == [1, 2] and rs.merged_index.tolist() == [0, 0]
    assert rs.column("SpotID").tolist() == [1, 2]


def test_calc_radius_keeps_grown_spots_whose_flank_reached_the_band() -> None:
    """A whole (grown) spot centred 9 px = 1800 µm off its ring, σ_R 2 px, IMax 100 × the ring
    threshold: its profile stays above threshold to 2·√(2·ln 100) = 6.07 px = 1214 µm from the
    centre, so it reached the 1500 µm band (1800 < 1500 + 1214); one 14 px off (2800 µm) did not."""
    merged = _merged([(*_at(1, 30.0, 9.0), 10.0, 1000.0, 1), (*_at(1, 60.0, 14.0), 10.0, 1000.0, 1)])
    merged.rows[:, R["SigmaR"]] = 2.0
    merged.rows[:, R["IMax"]] = 1000.0
    grown = calc_radius(merged, _radius_settings(ring_threshold=(10.0, 10.0, 10.0), grown_regions=True))
    assert grown.merged_index.tolist() == [0] and grown.column("RingNr").tolist() == [1]
    # the same spots from a band-limited search: centre within Width only (upstream's rule)
    assert len(calc_radius(merged, _radius_settings(ring_threshold=(10.0, 10.0, 10.0), grown_regions=False))) == 0
    # a spot at threshold level reaches nowhere beyond its centre
    merged.rows[:, R["IMax"]] = 10.0
    assert len(calc_radius(merged, _radius_settings(ring_threshold=(10.0, 10.0, 10.0), grown_regions=True))) == 0


def _setup_settings(**kw: object) -> FitSetupSettings:
    det = FFDetector(lsd_um=LSD, bc_px=BC, pixel_size_um=(PX, PX), rho_d_um=204800.0, n_pixels=(2048, 2048),
                     ty_deg=0.3, tz_deg=-0.2, distortion=(2e-4,) + (0.0,) * 14)
    keys = {"EtaBinSize": 0.5, "OmeBinSize": 0.5, "MarginEta": 500.0, "MarginOme": 0.5, "StepsizeOrient": 0.2,
            "UseFriedelPairs": 1}
    base = dict(detector=det, wavelength_A=0.22291, wedge_deg=0.0, omega_step_deg=-0.25, t_int_s=0.3, t_gap_s=0.15,
                min_eta_deg=6.0, omega_ranges_deg=((-180.0, 180.0),), box_sizes_um=((-1e6, 1e6, -1e6, 1e6),),
                ring_to_index=2, seed_omega_min_deg=-90.0, seed_omega_max_deg=90.0,
                ring_d_A={1: 2.3556, 2: 2.04, 3: 1.4425}, ring_radius_um=RING_R, indexer_keys=keys)
    base.update(kw)
    return FitSetupSettings(**base)  # type: ignore[arg-type]


SPOTS = [(*_at(2, 40.0), 50.0, 100.0, 1), (*_at(1, -120.0), 170.0, 100.0, 1), (*_at(2, 100.0), -20.0, 100.0, 1),
         (*_at(1, 2.0), 0.0, 100.0, 1),  # |η| < MinEta → rejected
         (*_at(2, -150.0), 120.0, 100.0, 1),  # ring 2 but ω > 90 → kept, not a seed
         (*_at(3, 60.0), -100.0, 100.0, 1)]


def test_fit_setup_order_corrections_and_filters() -> None:
    s = _setup_settings()
    rs = calc_radius(_merged(SPOTS), _radius_settings())
    fs = fit_setup(rs, s)
    ia = fs.input_all
    assert ia[:, 4].tolist() == [1, 2, 3, 4, 5, 6]  # row i is SpotID i+1
    # ring by ring, ω ascending inside a ring (after the timing correction)
    ring = fs.id_rings[:, 0]
    assert ring.tolist() == [1, 1, 2, 2, 2, 3]
    src = rs.rows[fs.source_index]
    z = src[:, 4]
    w_expected = src[:, 2] - (0.15 / 0.45) * -0.25 * (1 - np.abs(2 * z - 2048) / 2048)
    np.testing.assert_allclose(fs.extra_info[fs.kept, 8], w_expected[fs.kept], atol=1e-12)
    for r in (1, 2):
        w = w_expected[ring == r]
        assert np.all(np.diff(w) >= 0)
    # the |η| < MinEta spot is a zero row with its SpotID
    rejected = np.flatnonzero(~fs.kept)
    assert rejected.size == 1 and np.all(ia[rejected[0], [0, 1, 2, 3, 5, 6, 7]] == 0)
    # corrected coordinates are midas.geometry's (tilt + distortion)
    ideal = pixel_to_ideal(s.detector, src[:, 3], src[:, 4])
    k = fs.kept
    np.testing.assert_allclose(ia[k, 0], ideal.y_um[k], atol=1e-9)
    np.testing.assert_allclose(ia[k, 1], ideal.z_um[k], atol=1e-9)
    np.testing.assert_allclose(ia[k, 7], ideal.tth_deg[k], atol=1e-12)
    np.testing.assert_allclose(fs.extra_info[k, 11:13], src[k, 3:5])
    # seeds: ring 2 with |ω| ≤ 90
    seeds_src = [fs.source_index[i - 1] for i in fs.spots_to_index]
    assert sorted(seeds_src) == [0, 2]
    assert fs.ids_hash[:, 0].tolist() == [1, 2, 3] and fs.ids_hash[:, 1:3].tolist() == [[1, 3], [3, 6], [6, 7]]
    with pytest.raises(ParamError, match="LatticeParameter"):
        fs.paramstest()  # these hand-made settings lack the indexer keys


def test_fit_setup_boxes_and_wedge() -> None:
    from midas.geometry.omega import correct_wedge

    rs = calc_radius(_merged(SPOTS), _radius_settings())
    boxed = fit_setup(rs, _setup_settings(omega_ranges_deg=((-180.0, 0.0),), box_sizes_um=((-1e6, 0.0, -1e6, 1e6),)))
    ia = boxed.input_all[boxed.kept]
    assert np.all(ia[:, 2] <= 0) and np.all(ia[:, 0] < 0)
    plain = fit_setup(rs, _setup_settings(t_gap_s=0.0))
    wedged = fit_setup(rs, _setup_settings(t_gap_s=0.0, wedge_deg=0.5))
    k = plain.kept & wedged.kept
    w0, e0 = correct_wedge(plain.input_all[k, 6], plain.input_all[k, 7], plain.input_all[k, 2], 0.5)
    np.testing.assert_allclose(wedged.input_all[k, 2], w0, atol=1e-9)
    np.testing.assert_allclose(wedged.input_all[k, 6], e0, atol=1e-9)
    assert np.max(np.abs(wedged.input_all[k, 2] - plain.input_all[k, 2])) > 0.01
    with pytest.raises(ParamError, match="OmegaRange"):
        _setup_settings(box_sizes_um=())


def _brute_force_cells(spots: np.ndarray, radius: dict[int, float], eb: float, ob: float, me: float, mo: float,
                       so: float) -> dict[tuple[int, int, int], list[int]]:
    """Upstream SaveBinData's loops, written out."""
    n_eta, n_ome = math.ceil(360 / eb), math.ceil(360 / ob)
    cells: dict[tuple[int, int, int], list[int]] = {}
    for row, s in enumerate(spots):
        ring = int(s[5])
        if ring < 1 or ring not in radius:
            continue
        eta, ome = s[6], s[2]
        om = mo + 0.5 * so / abs(math.sin(math.radians(eta)))
        em = math.degrees(math.atan(me / radius[ring])) + 0.5 * so
        for ie0 in range(math.floor((180 + eta - em) / eb), math.floor((180 + eta + em) / eb) + 1):
            for io0 in range(math.floor((180 + ome - om) / ob), math.floor((180 + ome + om) / ob) + 1):
                cells.setdefault((ring, ie0 % n_eta, io0 % n_ome), []).append(row)
    return cells


def test_binning_matches_upstream_loops(rng: np.random.Generator) -> None:
    n = 300
    ring = rng.integers(1, 4, n)
    eta = rng.uniform(-174, 174, n)
    eta[np.abs(eta) < 6] = 30.0
    ome = rng.uniform(-180, 180, n)
    ome[:5] = [179.95, -179.95, 0.0, 179.8, -180.0]  # wrap-around
    spots = [(*_at(int(r), float(e)), float(w), 10.0, 1) for r, e, w in zip(ring, eta, ome, strict=True)]
    rsp = calc_radius(_merged(spots), _radius_settings())
    fs = fit_setup(rsp, _setup_settings(t_gap_s=0.0))
    b = bin_spots(fs)
    radii = dict(zip(b.ring_numbers, b.ring_radius_um, strict=True))
    cells = _brute_force_cells(b.spots, radii, 0.5, 0.5, 500.0, 0.5, 0.2)
    n_eta, n_ome = b.n_eta_bins, b.n_ome_bins
    got_keys = b.cell_key.tolist()
    want_keys = sorted((r - 1) * n_eta * n_ome + ie * n_ome + io for (r, ie, io) in cells)
    assert got_keys == want_keys
    for (r, ie, io), rows in cells.items():
        eta_c = -180 + (ie + 0.5) * 0.5
        ome_c = -180 + (io + 0.5) * 0.5
        assert b.lookup(r, eta_c, ome_c).tolist() == sorted(rows)
    counts, offsets = b.dense_counts(2)
    assert counts.sum() == sum(len(v) for (r, _e, _o), v in cells.items() if r == 2)
    nz = np.flatnonzero(counts.ravel())
    np.testing.assert_array_equal(offsets.ravel()[nz], b.cell_start[np.searchsorted(b.cell_key, (2 - 1) * n_eta
                                                                                       * n_ome + nz)])
    # radial deviation column: |(y, z)| − ideal ring radius
    k = b.spots[:, 5] > 0
    dev = np.hypot(b.spots[k, 0], b.spots[k, 1]) - np.array([RING_R[int(r)] for r in b.spots[k, 5]])
    np.testing.assert_allclose(b.spots[k, 8], dev)
    with pytest.raises(ParamError, match="ring"):
        b.lookup(7, 0.0, 0.0)
