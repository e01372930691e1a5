"""``midas calibrate`` / ``AutoCalibrateZarr`` end to end on a synthetic TIFF, and the refined parameter
file used as is by ``midas integrate``."""

from __future__ import annotations

import csv

import h5py
import numpy as np
import pytest
import tifffile
from midas.cli.calibrate import main as autocal_main
from midas.cli.main import main as midas_main
from midas.geometry import FFDetector
from midas.params import read_params

from .conftest import WAVELENGTH_A, synthetic


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    syn = synthetic(n=512, tilts=(0.3, 0.5))
    folder = tmp_path_factory.mktemp("calib")
    img = syn.image.copy()
    img[img < 0] = -2  # beamstop as gap pixels, as a Pilatus writes them
    tifffile.imwrite(folder / "CeO2_00001.tif", img.astype(np.int32))
    (folder / "ps.txt").write_text(f"px 200\nWavelength {WAVELENGTH_A}\nSpaceGroup 225\n"
                                   "LatticeConstant 5.411651 5.411651 5.411651 90 90 90\nRhoD 110000\n"
                                   "OmegaStep -0.25\n")
    rc = midas_main(["calibrate", "-dataFN", str(folder / "CeO2_00001.tif"), "-ConvertFile", "3", "-paramFN",
                     str(folder / "ps.txt"), "-StoppingStrain", "0.00003", "-MakePlots", "1", "-SavePlotsHDF",
                     "autocal.h5", "-resultFolder", str(folder / "out")])
    assert rc == 0
    return folder, syn


def test_outputs_are_written(run_folder):
    folder, syn = run_folder
    out = folder / "out"
    for name in ("refined_MIDAS_params.txt", "autocal.log", "calibration_rings.csv", "autocal.h5",
                 "ring_overlay.png", "strain_vs_2theta.png"):
        assert (out / name).stat().st_size > 0, name
    assert not list(out.glob(".*.part"))  # no temporary files left behind
    log = (out / "autocal.log").read_text()
    assert "iteration 1" in log and "mean pseudo-strain" in log
    with open(out / "calibration_rings.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["RingNr"] == "1" and (rows[0]["h"], rows[0]["k"], rows[0]["l"]) == ("1", "1", "1")
    used = [r for r in rows if r["Excluded"] == "0"]
    assert len(used) >= 6 and all(abs(float(r["MeanStrain_ue"])) < 20 for r in used)
    with h5py.File(out / "autocal.h5") as f:
        assert f["images/raw"].shape == f["images/background"].shape == f["images/thresholded"].shape == (512, 512)
        assert "iter_01" in f["iterations"] and f["iterations/iter_01/strain"].ndim == 1
        assert f["final"].attrs["Lsd_um"] == pytest.approx(syn.detector.lsd_um, rel=1e-4)
        assert len(f["final/rings"]) == len(rows)


def test_refined_parameters_read_back(run_folder):
    folder, syn = run_folder
    p = read_params(folder / "out" / "refined_MIDAS_params.txt")
    det = FFDetector.from_params(p)
    true = syn.detector
    assert abs(det.lsd_um / true.lsd_um - 1) < 2e-5
    assert np.hypot(*np.subtract(det.bc_px, true.bc_px)) < 0.03
    assert p["OmegaStep"] == -0.25  # keys of the input file are kept
    assert p["SpaceGroup"] == 225 and p["RhoD"] == 110000.0


def test_midas_integrate_uses_the_refined_file_directly(run_folder):
    folder, syn = run_folder
    text = (folder / "out" / "refined_MIDAS_params.txt").read_text()
    d_ref = np.array([3.12441816, 2.70582550, 1.91330756, 1.63167417, 1.56220908, 1.35291275])
    r_px = syn.detector.lsd_um / 200.0 * np.tan(2 * np.arcsin(WAVELENGTH_A / (2 * d_ref)))
    extra = "".join(f"PeakLocation {r:.3f}\n" for r in r_px if 40 < r < 240)
    (folder / "integrate.txt").write_text(text + "GapIntensity -2\nFitROIPadding 12\n" + extra)
    rc = midas_main(["integrate", "-paramFN", str(folder / "integrate.txt"), "-dataFN",
                     str(folder / "CeO2_00001.tif"), "-resultFolder", str(folder / "int")])
    assert rc == 0
    with open(folder / "int" / "CeO2_00001.tif_peaks.csv") as f:
        rows = list(csv.DictReader(f))
    ppm = [(float(r["d_A"]) / d_ref[np.argmin(np.abs(d_ref - float(r["d_A"])))] - 1) * 1e6 for r in rows]
    assert len(ppm) >= 4 and np.max(np.abs(ppm)) < 30, np.round(ppm, 1)


def test_autocalibratezarr_script_and_errors(run_folder, tmp_path, capsys):
    folder, _ = run_folder
    (tmp_path / "nolambda.txt").write_text("px 200\n")
    rc = autocal_main(["-dataFN", str(folder / "CeO2_00001.tif"), "-paramFN", str(tmp_path / "nolambda.txt"),
                       "-resultFolder", str(tmp_path / "o")])
    assert rc == 2
    assert "no wavelength" in capsys.readouterr().err
    rc = autocal_main(["-dataFN", str(folder / "CeO2_00001.tif"), "-paramFN", str(folder / "ps.txt"),
                       "-Calibrant", "LaB6", "-resultFolder", str(tmp_path / "o")])
    assert rc == 2
    assert "calibrant" in capsys.readouterr().err.lower()
    assert not (tmp_path / "o" / "refined_MIDAS_params.txt").exists()


def test_midas_zip_input_carries_its_own_parameters_and_dark(tmp_path):
    """A .MIDAS.zip (zarr) holds frames, dark and the analysis parameters: no -paramFN needed."""
    from midas.io.midas_zip import MidasZipWriter

    syn = synthetic(n=512, tilts=(0.3, 0.5))
    dark = np.full((512, 512), 7, dtype=np.uint16)
    frames = np.clip(syn.image, 0, None) + dark
    params = {"px": 200.0, "Wavelength": WAVELENGTH_A, "SpaceGroup": 225,
              "LatticeConstant": (5.411651, 5.411651, 5.411651, 90.0, 90.0, 90.0), "RhoD": 110000.0}
    path = tmp_path / "CeO2.analysis.MIDAS.zip"
    with MidasZipWriter(path, frame_shape=(512, 512), dtype=np.uint16, omega_start_deg=0.0, omega_step_deg=0.0,
                        analysis_parameters=params, dark=dark) as w:
        for _ in range(2):
            w.append(frames.astype(np.uint16))
    rc = midas_main(["calibrate", "-dataFN", str(path), "-resultFolder", str(tmp_path / "out")])
    assert rc == 0
    det = FFDetector.from_params(read_params(tmp_path / "out" / "refined_MIDAS_params.txt"))
    assert abs(det.lsd_um / syn.detector.lsd_um - 1) < 2e-5
    assert np.hypot(*np.subtract(det.bc_px, syn.detector.bc_px)) < 0.05
