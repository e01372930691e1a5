"""Frame readers: GE, TIFF, HDF5, fabio (EDF/CBF), HEXRD npz, NF .binN, dispatch, sequences."""

from __future__ import annotations

import tarfile
import warnings

import numpy as np
import pytest
from conftest import shared_path
from hypothesis import given, settings
from hypothesis import strategies as st
from midas.errors import FormatError, ParamError
from midas.io.frames import (
    ArrayFrames,
    ConcatenatedFrames,
    detect_format,
    numbered_file_sequence,
    open_frames,
)
from midas.io.ge import GEFrames, ge_layout_from_head_size, write_ge
from midas.io.nf_bin import NFBinPeaks, nf_bin_paths, read_nf_bin, write_nf_bin


def _stack(rng, n=5, nz=6, ny=7, dtype=np.uint16, hi=60000):
    return rng.integers(0, hi, (n, nz, ny)).astype(dtype)


# ---------------------------------------------------------------------------------- GE
def test_ge_reads_frames_written_as_raw_bytes(tmp_path, rng):
    frames = _stack(rng)
    p = tmp_path / "scan_000001.ge3"
    p.write_bytes(b"\x07" * 8192 + frames.astype("<u2").tobytes())
    with open_frames(p, n_pixels_y=7, n_pixels_z=6) as fr:
        assert isinstance(fr, GEFrames)
        assert fr.shape == (5, 6, 7) and fr.dtype == np.uint16
        for k in range(5):
            np.testing.assert_array_equal(fr.frame(k), frames[k])
        np.testing.assert_array_equal(fr.read(1, 4), frames[1:4])
        np.testing.assert_array_equal(fr.frame(-1), frames[4])
        np.testing.assert_array_equal(np.stack(list(fr.iter_frames(2))), frames[2:])
        blocks = list(fr.iter_blocks(2))
        assert [b.shape[0] for b in blocks] == [2, 2, 1]
        np.testing.assert_array_equal(np.concatenate(blocks), frames)
        with pytest.raises(IndexError, match="out of range"):
            fr.frame(5)


def test_ge_uint32_custom_header_and_write_ge(tmp_path, rng):
    frames = _stack(rng, n=3, dtype=np.uint32, hi=2**31)
    p = tmp_path / "x.ge5"
    write_ge(p, frames, header=bytes(100))
    assert p.stat().st_size == 100 + frames.nbytes
    with GEFrames(p, n_pixels_y=7, n_pixels_z=6, header_bytes=100, pixel_dtype=np.uint32) as fr:
        np.testing.assert_array_equal(fr.read(), frames)
        assert fr.metadata == {"header_bytes": 100, "frame_bytes": 6 * 7 * 4}


def test_ge_truncated_file_names_expected_and_actual_size(tmp_path, rng):
    p = tmp_path / "cut.ge2"
    write_ge(p, _stack(rng, n=3))
    data = p.read_bytes()
    p.write_bytes(data[:-10])
    with pytest.raises(FormatError) as e:
        GEFrames(p, n_pixels_y=7, n_pixels_z=6)
    msg = str(e.value)
    assert str(p) in msg and str(len(data) - 10) in msg and str(len(data)) in msg
    assert "truncated by 10 bytes" in msg
    p.write_bytes(bytes(8000))
    with pytest.raises(FormatError, match="no complete frame"):
        GEFrames(p, n_pixels_y=7, n_pixels_z=6)
    with pytest.raises(FormatError, match="no such"):
        GEFrames(tmp_path / "absent.ge3")
    with pytest.raises(ParamError, match="uint16 or uint32"):
        GEFrames(p, pixel_dtype=np.float32)


def test_ge_head_size_semantics():
    fb = 2048 * 2048 * 2
    assert ge_layout_from_head_size(8192, fb) == (8192, 0)
    assert ge_layout_from_head_size(8192 + 3 * fb, fb) == (8192, 3)
    assert ge_layout_from_head_size(0, fb) == (0, 0)
    assert ge_layout_from_head_size(8192 + 100, fb) == (8292, 0)  # less than a frame: literal header
    with pytest.raises(ParamError, match="whole number"):
        ge_layout_from_head_size(8192 + fb + 2, fb)


# ---------------------------------------------------------------------------------- TIFF
def test_tiff_single_multipage_imagej_and_sequence(tmp_path, rng):
    import tifffile

    frames = _stack(rng, n=4, nz=9, ny=11)
    tifffile.imwrite(tmp_path / "multi.tif", frames, photometric="minisblack")
    tifffile.imwrite(tmp_path / "ij.tif", frames, imagej=True)
    tifffile.imwrite(tmp_path / "zlib.tiff", frames, photometric="minisblack", compression="zlib",
                     bigtiff=True)
    with warnings.catch_warnings():  # 3-4 frames packed in one page as "planar samples"
        warnings.simplefilter("ignore", DeprecationWarning)
        tifffile.imwrite(tmp_path / "planar.tif", frames)
    for name in ("multi.tif", "ij.tif", "zlib.tiff", "planar.tif"):
        with open_frames(tmp_path / name) as fr:
            assert fr.shape == (4, 9, 11), name
            np.testing.assert_array_equal(fr.frame(2), frames[2])
            np.testing.assert_array_equal(fr.read(), frames)
    for k in range(4):
        tifffile.imwrite(tmp_path / f"seq_{k + 7:05d}.tif", frames[k])
    files = numbered_file_sequence(tmp_path / "seq_00007.tif", 4)
    with open_frames(files) as fr:
        assert isinstance(fr, ConcatenatedFrames) and fr.shape == (4, 9, 11)
        np.testing.assert_array_equal(fr.read(), frames)


def test_tiff_rejects_colour_and_garbage(tmp_path, rng):
    import tifffile

    tifffile.imwrite(tmp_path / "rgb.tif", rng.integers(0, 255, (9, 11, 3), dtype=np.uint8),
                     photometric="rgb")
    with pytest.raises(FormatError, match="colour"):
        open_frames(tmp_path / "rgb.tif")
    (tmp_path / "bad.tif").write_bytes(b"not a tiff at all")
    with pytest.raises(FormatError, match="bad.tif"):
        open_frames(tmp_path / "bad.tif")


# ---------------------------------------------------------------------------------- HDF5
def test_hdf5_datasets_compression_and_wrong_path(tmp_path, rng):
    import h5py
    import hdf5plugin

    frames = _stack(rng, n=3)
    p = tmp_path / "scan.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("exchange/data", data=frames, chunks=(1, 6, 7),
                         **hdf5plugin.Blosc(cname="zstd", shuffle=hdf5plugin.Blosc.BITSHUFFLE))
        f.create_dataset("exchange/dark", data=frames[0])
        f.create_dataset("measurement/omega", data=np.arange(3.0))
    with open_frames(p) as fr:
        assert fr.shape == (3, 6, 7) and fr.metadata["dataset"] == "exchange/data"
        np.testing.assert_array_equal(fr.frame(1), frames[1])
        np.testing.assert_array_equal(fr.read(), frames)
    with open_frames(p, dataset="/exchange/dark") as fr:
        assert fr.shape == (1, 6, 7)
        np.testing.assert_array_equal(fr.frame(0), frames[0])
    with pytest.raises(FormatError) as e:
        open_frames(p, dataset="entry/data/data")
    msg = str(e.value)
    assert str(p) in msg and "entry/data/data" in msg and "does not exist" in msg
    assert "exchange/data" in msg and "exchange/dark" in msg and "measurement/omega" in msg
    with pytest.raises(FormatError, match="is a group"):
        open_frames(p, dataset="exchange")
    with pytest.raises(FormatError, match="expected"):
        open_frames(p, dataset="measurement/omega")


# ---------------------------------------------------------------------------------- fabio
def test_edf_and_cbf_through_fabio(tmp_path, rng):
    import fabio.cbfimage
    import fabio.edfimage

    frame = rng.integers(0, 30000, (9, 11)).astype(np.int32)
    fabio.edfimage.EdfImage(data=frame.astype(np.float32)).write(str(tmp_path / "a_0001.edf"))
    fabio.cbfimage.CbfImage(data=frame).write(str(tmp_path / "a_0001.cbf"))
    with open_frames(tmp_path / "a_0001.edf") as fr:
        assert fr.shape == (1, 9, 11)
        np.testing.assert_array_equal(fr.frame(0), frame.astype(np.float32))
    with open_frames(tmp_path / "a_0001.cbf") as fr:
        assert fr.shape == (1, 9, 11) and fr.dtype == np.int32
        np.testing.assert_array_equal(fr.frame(0), frame)
    (tmp_path / "junk.cbf").write_bytes(b"###CBF: garbage\n")
    with pytest.raises(FormatError, match="junk.cbf"):
        open_frames(tmp_path / "junk.cbf")


# ---------------------------------------------------------------------------------- HEXRD npz
def test_hexrd_frame_cache_synthetic(tmp_path, rng):
    dense = np.zeros((3, 8, 10), np.uint16)
    arrays = {"shape": np.array([8, 10]), "nframes": np.array(3), "dtype": np.bytes_(b"uint16"),
              "omega": np.array([[0.0, 0.25], [0.25, 0.5], [0.5, 0.75]])}
    for k in range(3):
        rows, cols = rng.integers(0, 8, 5), rng.integers(0, 10, 5)
        vals = rng.integers(151, 4000, 5).astype(np.uint16)
        dense[k][rows, cols] = vals
        arrays[f"{k}_row"], arrays[f"{k}_col"], arrays[f"{k}_data"] = rows, cols, vals
    np.savez(tmp_path / "cache.npz", **arrays)
    with open_frames(tmp_path / "cache.npz") as fr:
        assert fr.shape == (3, 8, 10) and fr.dtype == np.uint16
        np.testing.assert_array_equal(fr.read(), dense)
        np.testing.assert_array_equal(fr.metadata["omega_deg"][:, 0], [0.0, 0.25, 0.5])
    del arrays["2_data"]
    np.savez(tmp_path / "broken.npz", **arrays)
    with pytest.raises(FormatError, match="missing"):
        open_frames(tmp_path / "broken.npz")


def test_hexrd_frame_cache_real_dexela():
    p = shared_path("real", "hexrd_multiruby_dexela_ff_chess", "mruby-0129_000004_ff1_000012-cachefile.npz")
    with open_frames(p) as fr:
        assert fr.shape == (1440, 3888, 3072) and fr.dtype == np.uint16
        om = fr.metadata["omega_deg"]
        assert om.shape == (1440, 2) and om[0, 0] == 0.0 and om[-1, 1] == 360.0
        total = 0
        for k in (0, 700, 1439):
            row, col, val = fr.sparse_frame(k)
            dense = fr.frame(k)
            assert np.count_nonzero(dense) == len(np.unique(row * 3072 + col))
            assert int(dense.sum()) == int(val.astype(np.int64).sum())
            assert val.size == 0 or val.min() >= 151  # thresholded at 150 (SOURCES.md)
            total += val.size
        assert total > 0


# ---------------------------------------------------------------------------------- NF .binN
@settings(max_examples=25, deadline=None)
@given(st.integers(0, 60), st.integers(0, 2**32 - 1))
def test_nf_bin_round_trip(tmp_path_factory, n, seed):
    rng = np.random.default_rng(seed)
    pk = NFBinPeaks(y_px=rng.integers(0, 2048, n).astype(np.uint16),
                    z_px=rng.integers(0, 2048, n).astype(np.uint16),
                    intensity=rng.uniform(0, 500, n).astype(np.float32),
                    peak_id=rng.integers(0, 9, n).astype(np.uint16), n_peaks=9)
    p = tmp_path_factory.mktemp("nf") / "s_000000.bin0"
    write_nf_bin(p, pk)
    back = read_nf_bin(p)
    for a in ("y_px", "z_px", "intensity", "peak_id"):
        np.testing.assert_array_equal(getattr(back, a), getattr(pk, a))
    assert back.n_peaks == 9 and back.version == 1.0


def test_nf_bin_corrupt(tmp_path):
    p = tmp_path / "x_000000.bin1"
    p.write_bytes(b"\x00\x00\x80?" + b"\x01" * 80)
    with pytest.raises(FormatError, match="0xFEEDBEEF"):
        read_nf_bin(p)


def _extract_nf(tmp_path, names):
    tar = shared_path("real", "hexomap_au_nf_aps1id_2018", "Au_reduced_1degree.tar.xz")
    want, out = set(names), {}
    with tarfile.open(tar) as tf:
        for m in tf:
            base = m.name.rsplit("/", 1)[-1]
            if base in want:
                tf.extract(m, tmp_path, filter="data")
                out[base] = tmp_path / m.name
                if len(out) == len(want):
                    break
    return [out[n] for n in names]


def test_nf_bin_real_hexomap_files(tmp_path):
    stem = "Au_int_1degree_suter_aug18_z0"
    f12, f13 = _extract_nf(tmp_path, [f"{stem}_000012.bin0", f"{stem}_000013.bin0"])
    pk = read_nf_bin(f12)
    # Figures stated in the data folder's SOURCES.md for frame 12, distance 0.
    assert pk.n_pixels == 10007
    assert (int(pk.y_px.min()), int(pk.y_px.max())) == (217, 1956)
    assert (int(pk.z_px.min()), int(pk.z_px.max())) == (588, 2027)
    assert (float(pk.intensity.min()), float(pk.intensity.max())) == (1.0, 249.0)
    assert pk.n_peaks == len(np.unique(pk.peak_id))
    write_nf_bin(tmp_path / "copy.bin0", pk)  # our writer reproduces the file byte for byte
    assert (tmp_path / "copy.bin0").read_bytes() == f12.read_bytes()
    assert nf_bin_paths(f12.parent / stem, 12, 13, 0) == [f12, f13]
    with open_frames([f12, f13]) as fr:
        assert fr.shape == (2, 2048, 2048)
        dense = fr.frame(0)
        assert dense.sum() == pytest.approx(float(pk.intensity.astype(np.float64).sum()))
        assert dense[pk.z_px[0], pk.y_px[0]] >= pk.intensity[0]


# ---------------------------------------------------------------------------------- real images
def test_real_pilatus_hdf5_and_dioptas_tiff():
    h5 = shared_path("real", "hexrd_pilatus2m_ceo2_aps1idc", "ceria_50x30_740mm_000005_Pilatus2M.hdf5")
    with pytest.raises(FormatError, match="imageseries/images"):
        open_frames(h5)  # default exchange/data is absent: the message lists what is there
    with open_frames(h5, dataset="imageseries/images") as fr:
        assert fr.shape == (1, 1679, 1475) and fr.dtype == np.int32
        assert int((fr.frame(0) < 0).sum()) == 203286  # gap pixels (SOURCES.md)
    tif = shared_path("real", "dioptas_ceo2_pilatus1m", "CeO2_Pilatus1M.tif")
    with open_frames(tif) as fr:
        img = fr.frame(0)
        assert fr.shape == (1, 1043, 981) and img.dtype == np.int32
        assert set(np.unique(img[img < 0]).tolist()) <= {-1, -2}  # module gaps


# ---------------------------------------------------------------------------------- dispatch
def test_detect_format_by_name_and_content(tmp_path, rng):
    import h5py
    import tifffile

    assert detect_format("a.ge2") == "ge" and detect_format("b_000001.bin3") == "nf-bin"
    assert detect_format("c.analysis.MIDAS.zip") == "midas-zip"
    with h5py.File(tmp_path / "noext", "w") as f:
        f["exchange/data"] = _stack(rng, n=2)
    assert detect_format(tmp_path / "noext") == "hdf5"
    tifffile.imwrite(tmp_path / "img.raw", _stack(rng, n=1)[0])
    assert detect_format(tmp_path / "img.raw") == "tiff"
    (tmp_path / "mystery.dat").write_bytes(b"\x01\x02\x03 hello")
    with pytest.raises(FormatError, match="unknown frame file type"):
        open_frames(tmp_path / "mystery.dat")
    with pytest.raises(FormatError, match="no such file"):
        open_frames(tmp_path / "missing.ge3")
    with pytest.raises(ParamError, match="only applies to HDF5"):
        open_frames(tmp_path / "img.raw", dataset="x")


def test_numbered_file_sequence_keeps_padding_and_extensions():
    names = [p.name for p in numbered_file_sequence("d/park_0MPa_000294.edf.ge5", 2)]
    assert names == ["park_0MPa_000294.edf.ge5", "park_0MPa_000295.edf.ge5"]
    assert [p.name for p in numbered_file_sequence("x_99.h5.bz2", 2)] == ["x_99.h5.bz2", "x_100.h5.bz2"]
    assert [p.name for p in numbered_file_sequence("f_000012.bin0", 2, step=3)] == ["f_000012.bin0", "f_000015.bin0"]
    with pytest.raises(ParamError, match="no number"):
        numbered_file_sequence("nonumber.tif", 2)


def test_concatenated_frames_skip_leading_and_shape_check(rng):
    a, b = _stack(rng, n=4), _stack(rng, n=4)
    cat = ConcatenatedFrames([ArrayFrames(a, "a"), ArrayFrames(b, "b")], skip_leading=1)
    assert cat.n_frames == 7
    np.testing.assert_array_equal(cat.read(), np.concatenate([a, b[1:]]))
    np.testing.assert_array_equal(cat.frame(4), b[1])
    with pytest.raises(FormatError, match="all files of a scan must match"):
        ConcatenatedFrames([ArrayFrames(a, "a"), ArrayFrames(_stack(rng, nz=5), "c")])
