"""``midas convert`` end to end on small synthetic scans."""

from __future__ import annotations

import logging
import warnings

import numpy as np
from midas.cli.main import main
from midas.io.corrections import dark_mean, pre_threshold
from midas.io.ge import write_ge
from midas.io.midas_zip import open_midas_zip

PARAMS = """\
# synthetic scan
NrPixels 256
OmegaStart 180
OmegaStep -0.25
SkipFrame 1
px 200
Lsd 1000000
BC 128.5 127.25
RingThresh 1 10
RingThresh 2 20
LatticeConstant 4.08 4.08 4.08 90 90 90
SpaceGroup 225
Wavelength 0.22291
ImTransOpt 2
"""


def _scan(rng, n=20, shape=(256, 256)):
    frames = rng.poisson(12, (n, *shape)).astype(np.uint16)
    for k in range(n):  # a few bright spots per frame
        z, y = rng.integers(2, shape[0] - 2), rng.integers(2, shape[1] - 2)
        frames[k, z - 2:z + 3, y - 2:y + 3] += np.uint16(3000 + 10 * k)
    return frames


def _convert(*args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # parameter-file warnings are not what is tested here
        return main(["convert", *map(str, args)])


def test_convert_ge_series_end_to_end(tmp_path, rng, caplog, capsys):
    frames = _scan(rng)
    write_ge(tmp_path / "scan_000042.ge3", frames)
    (tmp_path / "ps.txt").write_text(PARAMS)
    with caplog.at_level(logging.WARNING):
        rc = _convert("-paramFN", tmp_path / "ps.txt", "-dataFN", tmp_path / "scan_000042.ge3",
                      "-resultFolder", tmp_path / "out", "-numFrameChunks", 3)
    assert rc == 0
    out = tmp_path / "out" / "scan_000042.ge3.analysis.MIDAS.zip"
    assert f"OutputZipName: {out}" in capsys.readouterr().out
    assert "ALL-ZERO exchange/dark" in caplog.text  # upstream's silent zero dark, said aloud
    with open_midas_zip(out) as z:
        assert z.shape == (20, 256, 256) and z.dtype == np.uint16
        np.testing.assert_array_equal(z.read(), frames)  # frames bit-exact, raw (no transform)
        assert not np.any(z.dark) and z.dark.shape == (1, 256, 256)
        assert z.omega_start_deg == 180.25 and z.omega_step_deg == -0.25  # OmegaStart - 1 step
        ap = z.analysis_parameters
    assert ap["BC"] == (128.5, 127.25) and ap["px"] == 200.0 and ap["SkipFrame"] == 1
    assert ap["RingThresh"] == [(1, 10.0), (2, 20.0)] and ap["ImTransOpt"] == [2]
    assert ap["NrPixels"] == 256 and ap["OmegaStep"] == -0.25
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [out.name]


def test_convert_with_dark_and_pre_threshold(tmp_path, rng):
    frames = _scan(rng, n=6, shape=(64, 48))
    darks = rng.poisson(10, (3, 64, 48)).astype(np.uint16)
    write_ge(tmp_path / "s_000001.ge2", frames)
    write_ge(tmp_path / "dark_000001.ge2", darks)
    (tmp_path / "ps.txt").write_text(PARAMS.replace("NrPixels 256", "NrPixelsY 48\nNrPixelsZ 64"))
    out = tmp_path / "t.MIDAS.zip"
    assert _convert("-paramFN", tmp_path / "ps.txt", "-dataFN", tmp_path / "s_000001.ge2",
                    "-darkFN", tmp_path / "dark_000001.ge2", "-o", out) == 0
    with open_midas_zip(out) as z:  # without -preProcThresh: raw frames and the real darks
        np.testing.assert_array_equal(z.read(), frames)
        np.testing.assert_array_equal(z.dark, darks)
    assert _convert("-paramFN", tmp_path / "ps.txt", "-dataFN", tmp_path / "s_000001.ge2",
                    "-darkFN", tmp_path / "dark_000001.ge2", "-o", out, "-preProcThresh", 15) == 0
    mean = dark_mean(darks, skip_frames=1)
    with open_midas_zip(out) as z:
        want = np.stack([pre_threshold(f, mean, 15) for f in frames])
        np.testing.assert_array_equal(z.read(), want)
        assert z.dark.shape == (3, 64, 48) and not np.any(z.dark)  # as upstream: zeros


def test_convert_hdf5_with_internal_dark_and_mask(tmp_path, rng):
    import h5py
    import tifffile

    frames = rng.integers(0, 2**20, (4, 32, 40)).astype(np.int32)
    with h5py.File(tmp_path / "d_0001.h5", "w") as f:
        f["exchange/data"] = frames
        f["exchange/dark"] = frames[:2] // 4
    mask = np.zeros((32, 40), np.uint8)
    mask[0, :] = 1
    tifffile.imwrite(tmp_path / "mask.tif", mask)
    (tmp_path / "ps.txt").write_text("OmegaStart 0\nOmegaStep 0.5\nNrPixelsY 40\nNrPixelsZ 32\n")
    assert _convert("-paramFN", tmp_path / "ps.txt", "-dataFN", tmp_path / "d_0001.h5",
                    "-maskFN", tmp_path / "mask.tif", "-resultFolder", tmp_path) == 0
    with open_midas_zip(tmp_path / "d_0001.h5.analysis.MIDAS.zip") as z:
        assert z.dtype == np.int32 and z.datatype == "int32"
        np.testing.assert_array_equal(z.read(), frames)
        np.testing.assert_array_equal(z.dark, frames[:2] // 4)
        np.testing.assert_array_equal(z.mask, mask == 1)
        assert z.omega_start_deg == 0.0 and z.omega_step_deg == 0.5


def test_convert_tiff_sequence_widens_uint8(tmp_path, rng):
    import tifffile

    frames = rng.integers(0, 255, (5, 16, 24)).astype(np.uint8)
    for k in range(5):
        tifffile.imwrite(tmp_path / f"img_{k + 1:04d}.tif", frames[k])
    (tmp_path / "ps.txt").write_text("OmegaStart 10\nOmegaStep 1\nSkipFrame 1\n")
    assert _convert("-paramFN", tmp_path / "ps.txt", "-dataFN", tmp_path / "img_0001.tif",
                    "-numFilesPerScan", 5, "-o", tmp_path / "x.zip") == 0
    with open_midas_zip(tmp_path / "x.zip") as z:
        assert z.dtype == np.uint16  # uint8 is widened losslessly (upstream reads no uint8)
        np.testing.assert_array_equal(z.read(), frames)  # single-frame files: nothing skipped
        assert z.omega_start_deg == 9.0


def test_convert_multi_file_ge_skips_repeated_leading_frames(tmp_path, rng):
    a, b = _scan(rng, n=4, shape=(8, 8)), _scan(rng, n=4, shape=(8, 8))
    write_ge(tmp_path / "m_000001.ge3", a)
    write_ge(tmp_path / "m_000002.ge3", b)
    (tmp_path / "ps.txt").write_text("NrPixels 8\nOmegaStart 0\nOmegaStep 1\nSkipFrame 1\n")
    assert _convert("-paramFN", tmp_path / "ps.txt", "-dataFN", tmp_path / "m_000001.ge3",
                    "-numFilesPerScan", 2, "-o", tmp_path / "m.zip") == 0
    with open_midas_zip(tmp_path / "m.zip") as z:  # file 1 whole, file 2 minus SkipFrame frames
        np.testing.assert_array_equal(z.read(), np.concatenate([a, b[1:]]))


def test_convert_head_size_hides_frames(tmp_path, rng):
    frames = _scan(rng, n=5, shape=(8, 8))
    write_ge(tmp_path / "h.ge3", frames)
    (tmp_path / "ps.txt").write_text(f"NrPixels 8\nOmegaStart 0\nOmegaStep 1\nHeadSize {8192 + 2 * 128}\n")
    assert _convert("-paramFN", tmp_path / "ps.txt", "-dataFN", tmp_path / "h.ge3",
                    "-o", tmp_path / "h.zip") == 0
    with open_midas_zip(tmp_path / "h.zip") as z:
        np.testing.assert_array_equal(z.read(), frames)  # all frames kept (consumer skips)
        assert z.analysis_parameters["SkipFrame"] == 2 and z.analysis_parameters["HeadSize"] == 8192
        assert z.omega_start_deg == -2.0


def test_convert_errors_are_clear_and_leave_no_output(tmp_path, rng, capsys):
    write_ge(tmp_path / "e.ge3", _scan(rng, n=3, shape=(8, 8)))
    ps = tmp_path / "ps.txt"
    ps.write_text("NrPixels 8\nOmegaStart 0\nOmegaStep 1\n")
    args = ["-paramFN", ps, "-dataFN", tmp_path / "e.ge3", "-resultFolder", tmp_path / "o"]
    assert _convert(*args, "-darkFN", tmp_path / "missing_dark.ge3") == 2
    err = capsys.readouterr().err
    assert "missing_dark.ge3" in err and "dark file not found" in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
    ps.write_text("NrPixels 16\nOmegaStart 0\nOmegaStep 1\n")  # wrong frame size for this GE file
    assert _convert(*args) == 2
    assert "e.ge3" in capsys.readouterr().err
    ps.write_text("NrPixelsY 8\nNrPixelsZ 8\nOmegaStart 0\n")
    assert _convert(*args) == 2
    assert "OmegaStep" in capsys.readouterr().err
    ps.write_text("NrPixels 8\nOmegaStart 0\nOmegaStep 1\n")
    write_ge(tmp_path / "f_000001.ge3", _scan(rng, n=3, shape=(8, 8)))
    assert _convert("-paramFN", ps, "-dataFN", tmp_path / "f_000001.ge3", "-numFilesPerScan", 3,
                    "-o", tmp_path / "z.zip") == 2
    err = capsys.readouterr().err
    assert "f_000002.ge3" in err and "f_000003.ge3" in err and "not found" in err
    assert not (tmp_path / "z.zip").exists()


def test_convert_builds_the_data_name_from_the_parameters(tmp_path, rng):
    frames = _scan(rng, n=2, shape=(8, 8))
    (tmp_path / "raw").mkdir()
    write_ge(tmp_path / "raw" / "Au_00007.ge2", frames)  # layer 2: 5 + (2 - 1) * 2 = 7
    (tmp_path / "ps.txt").write_text(
        f"NrPixels 8\nOmegaStart 0\nOmegaStep 1\nRawFolder {tmp_path / 'raw'}\nFileStem Au\n"
        "StartFileNrFirstLayer 5\nNrFilesPerSweep 2\nPadding 5\nExt .ge2\n")
    assert _convert("-paramFN", tmp_path / "ps.txt", "-LayerNr", 2, "-resultFolder", tmp_path) == 0
    with open_midas_zip(tmp_path / "Au_00007.ge2.analysis.MIDAS.zip") as z:
        np.testing.assert_array_equal(z.read(), frames)
