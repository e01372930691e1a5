"""``midas integrate`` / ``integrator`` end to end on a small synthetic multi-file TIFF series."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from midas.cli.integrate import main as integrator_main
from midas.cli.main import main as midas_main
from midas.geometry import FFDetector, pixel_to_ideal

N_Y, N_Z = 64, 48
RING_PX = 17.0
BG = 50.0
DARK = 10.0


def _write_series(folder):
    import tifffile

    det = FFDetector(lsd_um=40_000.0, bc_px=(31.3, 22.8), pixel_size_um=(100.0, 100.0), ty_deg=0.4, tz_deg=-0.3,
                     n_pixels=(N_Y, N_Z), rho_d_um=4000.0)
    yy, zz = np.meshgrid(np.arange(N_Y), np.arange(N_Z))
    r = pixel_to_ideal(det, yy, zz).r_um / 100.0
    ring = 400.0 * np.exp(-0.5 * ((r - RING_PX) / 0.9) ** 2)
    for n, scale in ((1, 1.0), (2, 2.0)):
        frames = np.stack([(DARK + BG + scale * (k + 1) * ring) for k in range(3)]).astype(np.uint16)
        tifffile.imwrite(folder / f"scan_{n:06d}.tif", frames, photometric="minisblack")
    tifffile.imwrite(folder / "dark.tif", np.full((N_Z, N_Y), DARK, np.uint16))
    params = f"""Lsd 40000
BC 31.3 22.8
ty 0.4
tz -0.3
px 100
RhoD 4000
NrPixelsY {N_Y}
NrPixelsZ {N_Z}
Wavelength 0.2
RMin 2
RMax 30
RBinSize 0.5
EtaMin -180
EtaMax 180
EtaBinSize 45
OmegaStart 10
OmegaStep 0.25
OmegaSumFrames 2
PeakLocation {RING_PX}
FitROIPadding 10
"""
    (folder / "params.txt").write_text(params)


@pytest.fixture
def series(tmp_path):
    _write_series(tmp_path)
    return tmp_path


def test_integrate_a_numbered_series(series, capsys):
    import h5py
    import scipy.io

    out = series / "out"
    rc = midas_main(["integrate", "-paramFN", str(series / "params.txt"), "-dataFN", str(series / "scan_000001.tif"),
                     "-startFileNr", "1", "-endFileNr", "2", "-darkFN", str(series / "dark.tif"),
                     "-resultFolder", str(out), "-writeMat", "1", "-plots", "1", "-nCPUsLocal", "2"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "scan_000002.tif: 3 frames" in text
    for n in (1, 2):
        stem = f"scan_{n:06d}.tif"
        for suffix in (".caked.hdf", ".caked.hdf.zarr.zip", "_lineout.xy", "_lineouts.csv", "_peaks.csv",
                       ".caked.hdf.zarr.zip.mat", "_cake.png", "_lineout.png"):
            assert (out / f"{stem}{suffix}").stat().st_size > 0, suffix
    with h5py.File(out / "scan_000002.tif.caked.hdf") as f:
        sums = f["OmegaSumFrame"]
        assert sorted(sums.keys()) == ["LastFrameNumber_1", "LastFrameNumber_2"]
        a, b = sums["LastFrameNumber_1"], sums["LastFrameNumber_2"]
        assert a.attrs["Number Of Frames Summed"] == 2 and b.attrs["Number Of Frames Summed"] == 1
        assert (a.attrs["FirstOme"], a.attrs["LastOme"], b.attrs["FirstOme"]) == (10.0, 10.25, 10.5)
        frames = [f[f"IntegrationResult/FrameNr_{i}"][()] for i in range(3)]
        np.testing.assert_allclose(a[()], frames[0] + frames[1], rtol=1e-12)
        np.testing.assert_array_equal(f["Omegas"][()], [10.0, 10.25, 10.5])
        lineouts = f["midas/Lineouts"][()]
        r = f["REtaMap"][0, :, 0]
    # dark subtracted: far from the ring the lineout is the background alone
    far = np.abs(r - RING_PX) > 6
    np.testing.assert_allclose(lineouts[:, far], BG, atol=1.0)
    # frame k of file 2 has ring amplitude 2·(k + 1): the peak heights scale accordingly
    peak = lineouts[:, np.argmin(np.abs(r - RING_PX))] - BG
    np.testing.assert_allclose(peak / peak[0], [1, 2, 3], rtol=1e-3)
    with open(out / "scan_000001.tif_peaks.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 and all(abs(float(row["centre_px"]) - RING_PX) < 0.05 for row in rows)
    m = scipy.io.loadmat(out / "scan_000001.tif.caked.hdf.zarr.zip.mat")
    assert m["Lineouts"].shape == (3, 56)


def test_integrator_script_reuses_the_cached_map_and_takes_overrides(series, capsys):
    out = series / "out"
    args = ["-paramFN", str(series / "params.txt"), "-dataFN", str(series / "scan_000001.tif"),
            "-resultFolder", str(out), "-peakFit", "none"]
    assert integrator_main(args) == 0
    assert "built in" in capsys.readouterr().out
    assert integrator_main(args + ["-mapDetector", "0"]) == 0
    assert "(cached)" in capsys.readouterr().out
    # an override changes the bins, so the cached map no longer fits
    assert integrator_main(args + ["-mapDetector", "0", "RBinSize", "0.25"]) == 2
    assert "no cached integration map" in capsys.readouterr().err
    assert integrator_main(args + ["RBinSize", "0.25"]) == 0
    import h5py

    with h5py.File(out / "scan_000001.tif.caked.hdf") as f:
        assert f["REtaMap"].shape == (5, 112, 8)


def test_cli_errors_are_clear(series, capsys):
    base = ["integrate", "-paramFN", str(series / "params.txt"), "-resultFolder", str(series / "o")]
    assert midas_main(base + ["-dataFN", str(series / "scan_000009.tif")]) == 2
    assert "not found" in capsys.readouterr().err
    assert midas_main(base + ["-dataFN", str(series / "scan.tif"), "-startFileNr", "1", "-endFileNr", "2"]) == 2
    assert "6 digits" in capsys.readouterr().err


def test_gpu_request_without_a_gpu_fails_clearly(series, capsys):
    from midas.sparse import gpu_available

    if gpu_available()[0]:
        pytest.skip("a GPU is visible here")
    rc = midas_main(["integrate", "-paramFN", str(series / "params.txt"), "-dataFN", str(series / "scan_000001.tif"),
                     "-resultFolder", str(series / "o"), "-gpu", "1"])
    assert rc == 2 and "GPU" in capsys.readouterr().err


def test_convert_files_writes_a_midas_zip(series):
    from midas.io.midas_zip import open_midas_zip

    out = series / "conv"
    rc = midas_main(["integrate", "-paramFN", str(series / "params.txt"), "-dataFN", str(series / "scan_000002.tif"),
                     "-resultFolder", str(out), "-convertFiles", "1", "-peakFit", "none"])
    assert rc == 0
    import tifffile

    raw = tifffile.imread(series / "scan_000002.tif")
    with open_midas_zip(out / "scan_000002.tif.analysis.MIDAS.zip") as z:
        assert z.n_frames == 3 and z.omega_start_deg == 10.0 and z.omega_step_deg == 0.25
        np.testing.assert_array_equal(z.frame(2), raw[2])
