"""Frame simulation: against upstream's own frames, and end to end through `midas simulate ff`."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path
from midas.crystal import hkl_table_from_params
from midas.forward.ff import FFScan, predict_spots
from midas.forward.simulate import (
    SpotShape,
    peak_pixel_value,
    render_frames,
    simulate_ff,
    spot_contributions,
)
from midas.geometry import FFDetector
from midas.io.grains_csv import GrainsTable, read_grains_csv, write_grains_csv
from midas.io.midas_zip import open_midas_zip
from midas.io.spot_matrix import read_spot_matrix
from midas.params import read_params

log = logging.getLogger(__name__)


def _upstream_frames(path: Path, frames: list[int]) -> np.ndarray:
    import zarr

    g = zarr.open_group(zarr.storage.ZipStore(path, mode="r"), mode="r", zarr_format=2)
    data = g["exchange/data"]
    return np.stack([data[k] for k in frames])


def _centroids(frame: np.ndarray, y: np.ndarray, z: np.ndarray, half: int = 4) -> np.ndarray:
    out = np.full((len(y), 2), np.nan)
    for n, (yc, zc) in enumerate(zip(y, z)):
        y0, z0 = round(yc), round(zc)
        win = frame[max(z0 - half, 0): z0 + half + 1, max(y0 - half, 0): y0 + half + 1].astype(np.float64)
        zz, yy = np.mgrid[max(z0 - half, 0): z0 + half + 1, max(y0 - half, 0): y0 + half + 1]
        if win.sum() > 0:
            out[n] = ((win * yy).sum() / win.sum(), (win * zz).sum() / win.sum())
    return out


def _isolated(spots, frame: int, min_sep_px: float = 12.0) -> np.ndarray:
    idx = np.nonzero(spots.frame == frame)[0]
    keep = []
    for i in idx:
        d = np.hypot(spots.y_px[idx] - spots.y_px[i], spots.z_px[idx] - spots.z_px[i])
        if (d < min_sep_px).sum() == 1 and 6 < spots.y_px[i] < 1017 and 6 < spots.z_px[i] < 1017:
            keep.append(i)
    return np.array(keep, dtype=np.int64)


@pytest.mark.parametrize("name, params, zip_name, max_count_diff", [
    ("ff_au250/tiny", "Parameters_tiny.txt", "Au_FF_tiny.analysis.MIDAS.zip", 1),
    # upstream draws tilted/distorted spots through an approximate per-pixel lookup (≤ 0.0035 px off the
    # exact inverse), which moves steep Gaussian flanks by up to ~150 counts of 65000
    ("ff_cu_tilted", "Parameters.txt", "Cu_FF_tilted.analysis.MIDAS.zip", 200),
])
def test_rendered_frames_match_upstream(name, params, zip_name, max_count_diff):
    folder = shared_path("upstream_sim", *name.split("/"))
    p = read_params(folder / params)
    det = FFDetector.from_params(p)
    scan = FFScan.from_params(p)
    spots = predict_spots(read_grains_csv(folder / p.get("InFileName")), hkl_table_from_params(p), det,
                          scan.for_simulation(), wavelength_A=p.get("Wavelength"),
                          rings=[r for r, _ in p.get("RingThresh")], orthonormalize="upstream")
    shape = SpotShape.from_params(p)
    contribs = spot_contributions(spots, scan, shape)
    peak = peak_pixel_value(contribs, det.n_pixels, shape)
    busy = np.bincount(spots.frame, minlength=scan.n_frames)
    frames = [int(k) for k in np.argsort(-busy, kind="stable")[:8]]  # the most crowded frames
    ours = np.concatenate([render_frames(contribs, det.n_pixels, shape, k, 1, peak) for k in frames])
    theirs = _upstream_frames(folder / zip_name, frames)
    diff = np.abs(ours.astype(np.int64) - theirs)
    log.info("%s frames %s: max |count diff| %d, pixels differing %d", name, frames, diff.max(), (diff > 0).sum())
    assert ours.max() <= 65000 and diff.max() <= max_count_diff
    errs = []
    for n, k in enumerate(frames):
        iso = _isolated(spots, k)
        c_ours = _centroids(ours[n], spots.y_px[iso], spots.z_px[iso])
        c_theirs = _centroids(theirs[n], spots.y_px[iso], spots.z_px[iso])
        errs.append(np.hypot(*(c_ours - c_theirs).T))
        # and our centroid sits on the predicted position
        assert np.hypot(*(c_ours - np.c_[spots.y_px[iso], spots.z_px[iso]]).T).max() < 0.01
    e = np.concatenate(errs)
    log.info("%s: %d isolated spots, centroid difference to upstream max %.4f px", name, len(e), e.max())
    assert len(e) >= 15 and e.max() < 0.1


def test_global_scale_matches_upstream():
    """Upstream scales all 1440 frames by one factor: brightest pixel of the scan -> 65000."""
    folder = shared_path("upstream_sim", "ff_cu_tilted")
    p = read_params(folder / "Parameters.txt")
    det, scan = FFDetector.from_params(p), FFScan.from_params(p)
    spots = predict_spots(read_grains_csv(folder / "GrainsSim.csv"), hkl_table_from_params(p), det,
                          scan.for_simulation(), wavelength_A=p.get("Wavelength"), orthonormalize="upstream")
    shape = SpotShape.from_params(p)
    contribs = spot_contributions(spots, scan, shape)
    peak = peak_pixel_value(contribs, det.n_pixels, shape)
    assert 5000 < peak < 5100  # two spots overlap a little somewhere
    per_frame = []
    for k in range(scan.n_frames):
        a, b = contribs.frame_offsets[k], contribs.frame_offsets[k + 1]
        one = type(contribs)(frame_offsets=np.array([0, b - a]), y_px=contribs.y_px[a:b], z_px=contribs.z_px[a:b],
                             amplitude=contribs.amplitude[a:b], spot=contribs.spot[a:b])
        per_frame.append(peak_pixel_value(one, det.n_pixels, shape) if b > a else 0.0)
    k = int(np.argmax(per_frame))
    assert per_frame[k] == peak
    brightest = render_frames(contribs, det.n_pixels, shape, k, 1, peak)
    assert brightest.max() == 65000
    theirs = _upstream_frames(folder / "Cu_FF_tilted.analysis.MIDAS.zip", [k])
    assert theirs.max() == 65000 and np.abs(brightest.astype(np.int64) - theirs).max() < 200


# --------------------------------------------------------------------------------------------
# end to end on a small synthetic scan

_PARAMS = """LatticeConstant 3.6149 3.6149 3.6149 90 90 90
SpaceGroup 225
InFileName grains_in.csv
OutFileName sim/small
Wavelength 0.1839
Lsd 1200000
NrPixels 256
px 1600
BC 130.2 121.7
ty -0.3
tz 0.2
p0 -0.0003
p2 0.0002
RhoD 300000
Wedge 0
OmegaStart 10
OmegaEnd -5
OmegaStep -0.25
OmegaRange -180 180
BoxSize -1000000 1000000 -1000000 1000000
RingThresh 1 10
RingThresh 2 10
RingThresh 3 10
GaussWidth 1.2
PeakIntensity 1000
ImTransOpt {ito}
"""


def _small_case(tmp_path: Path, rng, ito: str = "0") -> Path:
    from scipy.spatial.transform import Rotation

    n = 30
    om = Rotation.random(n, random_state=int(rng.integers(1 << 30))).as_matrix()
    grains = GrainsTable.from_arrays(om, rng.uniform(-300, 300, (n, 3)),
                                     np.array([3.6149, 3.6149, 3.6149, 90, 90, 90]) * (1 + rng.uniform(-3e-4, 3e-4, (n, 6))))
    write_grains_csv(tmp_path / "grains_in.csv", grains)
    (tmp_path / "sim").mkdir()
    (tmp_path / "params.txt").write_text(_PARAMS.format(ito=ito))
    return tmp_path / "params.txt"


def test_simulate_ff_end_to_end(tmp_path, rng):
    pfile = _small_case(tmp_path, rng)
    p = read_params(pfile)
    done = []
    res = simulate_ff(p, n_threads=2, batch_frames=7, progress=done.append)
    assert sum(done) == res.n_frames == 60 and res.zip_path == tmp_path / "sim" / "small.analysis.MIDAS.zip"
    z = open_midas_zip(res.zip_path)
    assert z.n_frames == 60 and z.frame_shape == (256, 256) and z.dtype == np.int32
    assert z.omega_start_deg == 10 and z.omega_step_deg == -0.25
    assert float(np.asarray(z.analysis_parameters["Lsd"]).ravel()[0]) == 1.2e6
    frames = np.stack(list(z.iter_frames()))
    assert frames.max() == 65000 and len(res.spots) > 20
    # the spot table on disk is the prediction
    sm = read_spot_matrix(tmp_path / "SpotMatrixGen.csv")
    np.testing.assert_array_equal(sm.frame, res.spots.frame)
    np.testing.assert_allclose(sm.y_px, res.spots.y_px, atol=5e-7)
    # every spot shows up where predicted
    for k in np.unique(res.spots.frame)[:10]:
        i = _isolated(res.spots, int(k))
        i = i[(res.spots.y_px[i] > 6) & (res.spots.y_px[i] < 249) & (res.spots.z_px[i] > 6) & (res.spots.z_px[i] < 249)]
        c = _centroids(frames[k], res.spots.y_px[i], res.spots.z_px[i])
        assert np.hypot(*(c - np.c_[res.spots.y_px[i], res.spots.z_px[i]]).T).max() < 0.02
    # frames without spots are empty
    empty = np.setdiff1d(np.arange(60), res.spots.frame)
    assert frames[empty].max() == 0
    # 1 thread and other batches: the same frames
    res1 = simulate_ff(p, result_folder=tmp_path, n_threads=1, batch_frames=60)
    frames1 = np.stack(list(open_midas_zip(res1.zip_path).iter_frames()))
    np.testing.assert_array_equal(frames1, frames)
    assert (tmp_path / "GrainsGen.csv").exists() and (tmp_path / "hkls.csv").exists()
    assert len(read_grains_csv(tmp_path / "GrainsGen.csv")) == 30


def test_im_trans_opt_writes_raw_frames(tmp_path, rng):
    from midas.io.corrections import im_trans_opt

    pfile = _small_case(tmp_path, rng)
    plain = simulate_ff(read_params(pfile), n_threads=1)
    ref = np.stack(list(open_midas_zip(plain.zip_path).iter_frames()))
    pfile.write_text(pfile.read_text().replace("ImTransOpt 0", "ImTransOpt 1\nImTransOpt 3"))
    flipped = simulate_ff(read_params(pfile), n_threads=1)
    raw = np.stack(list(open_midas_zip(flipped.zip_path).iter_frames()))
    assert not np.array_equal(raw, ref)
    np.testing.assert_array_equal(im_trans_opt(raw, [1, 3]), ref)  # the analysis' transform undoes it


def test_noise_and_omega_blur(tmp_path, rng):
    pfile = _small_case(tmp_path, rng)
    text = pfile.read_text()
    pfile.write_text(text + "OmegaSigma 0.3\nSimNoiseSigma 20\n")
    p = read_params(pfile)
    a = simulate_ff(p, n_threads=2, noise_seed=5)
    fa = np.stack(list(open_midas_zip(a.zip_path).iter_frames()))
    b = simulate_ff(p, n_threads=1, noise_seed=5, batch_frames=3)
    np.testing.assert_array_equal(np.stack(list(open_midas_zip(b.zip_path).iter_frames())), fa)
    assert (fa[np.setdiff1d(np.arange(60), a.spots.frame)] > 0).mean() > 0.3  # noise everywhere
    # blur: a spot spreads over neighbouring frames with Gaussian weights summing to ~1
    scan = FFScan.from_params(p)
    shape = SpotShape.from_params(p)
    c = spot_contributions(a.spots, scan, shape)
    total = np.bincount(c.spot, weights=c.amplitude, minlength=len(a.spots))
    inside = (a.spots.frame > 6) & (a.spots.frame < 53)
    np.testing.assert_allclose(total[inside], shape.peak_intensity, rtol=1e-6)
    k = np.nonzero(inside)[0][0]
    mine = c.spot == k
    frames_k = np.searchsorted(c.frame_offsets, np.nonzero(mine)[0], side="right") - 1
    w_centre = scan.omega_start_deg + (frames_k + 0.5) * scan.omega_step_deg
    mean_w = (c.amplitude[mine] * w_centre).sum() / c.amplitude[mine].sum()
    assert abs(mean_w - a.spots.omega_deg[k]) < 0.02


def test_cli_simulate_ff(tmp_path, rng, capsys):
    from midas.cli.main import main

    pfile = _small_case(tmp_path, rng)
    out = tmp_path / "out"
    out.mkdir()
    assert main(["simulate", "ff", "-paramFN", str(pfile), "-nCPUs", "2", "-resultFolder", str(out)]) == 0
    assert (out / "sim" / "small.analysis.MIDAS.zip").exists()
    assert (out / "SpotMatrixGen.csv").exists()
    assert "spots in 60 frames" in capsys.readouterr().out
    # a bad parameter file gives one clear line and exit status 2
    pfile.write_text(pfile.read_text().replace("InFileName grains_in.csv", "InFileName nope.csv"))
    assert main(["simulate", "ff", "-paramFN", str(pfile)]) == 2
    assert "nope.csv" in capsys.readouterr().err


def test_simulate_rejects_unsupported(tmp_path, rng):
    from midas.errors import ParamError

    pfile = _small_case(tmp_path, rng)
    pfile.write_text(pfile.read_text() + "nScans 4\n")
    with pytest.raises(ParamError, match="nScans"):
        simulate_ff(read_params(pfile))


@pytest.mark.slow
def test_full_cu_tilted_simulation_matches_upstream_archive(tmp_path):
    """`midas simulate ff` on upstream's ff_cu_tilted inputs: 1440 frames of 1024², compared with
    upstream's archive on 40 frames (the busiest ones and a spread of others)."""
    from midas.cli.main import main

    folder = shared_path("upstream_sim", "ff_cu_tilted")
    for name in ("Parameters.txt", "GrainsSim.csv"):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    assert main(["simulate", "ff", "-paramFN", str(tmp_path / "Parameters.txt"), "-nCPUs", "2"]) == 0
    ours = open_midas_zip(tmp_path / "Cu_FF_tilted.analysis.MIDAS.zip")
    assert ours.n_frames == 1440 and ours.frame_shape == (1024, 1024)
    sm = read_spot_matrix(tmp_path / "SpotMatrixGen.csv")
    up = read_spot_matrix(folder / "SpotMatrixGen.csv")
    assert len(sm) == len(up) + 1  # grain 6 / SpotID 82, see test_predict_upstream
    busy = np.bincount(up.frame, minlength=1440)
    frames = sorted(set(np.argsort(-busy, kind="stable")[:20].tolist()) | set(range(3, 1440, 72)))
    theirs = _upstream_frames(folder / "Cu_FF_tilted.analysis.MIDAS.zip", frames)
    extra = (sm.grain_id == 6) & (sm.spot_id == 82)
    for n, k in enumerate(frames):
        mine = ours.frame(k).astype(np.int64)
        if k == int(sm.frame[extra][0]):
            y, z = round(sm.y_px[extra][0]), round(sm.z_px[extra][0])
            mine[max(z - 5, 0): z + 6, max(y - 5, 0): y + 6] = theirs[n][max(z - 5, 0): z + 6, max(y - 5, 0): y + 6]
        assert np.abs(mine - theirs[n]).max() <= 200, k
