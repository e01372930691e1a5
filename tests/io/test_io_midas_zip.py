"""The .MIDAS.zip archive: upstream's archives, our writer mirroring them, round trips, errors."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path
from hypothesis import given, settings
from hypothesis import strategies as st
from midas.errors import FormatError, ParamError
from midas.io.frames import open_frames
from midas.io.midas_zip import MidasZip, MidasZipWriter, open_midas_zip
from midas.io.midas_zip_params import (
    ANALYSIS_GROUP,
    SCAN_GROUP,
    analysis_parameters_from_params,
    params_from_archive_nodes,
)

AU = ("upstream_sim", "ff_au250")
CU = ("upstream_sim", "ff_cu_tilted")


def _read_params(*parts):
    import warnings

    from midas.params import read_params

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_params(shared_path(*parts))


def _zarr_meta(path: Path) -> dict[str, dict]:
    with zipfile.ZipFile(path) as zf:
        return {n[: -len("/.zarray")]: json.loads(zf.read(n)) for n in zf.namelist()
                if n.endswith("/.zarray")}


def _c_reader_frames(path: Path, n: int) -> list[np.ndarray]:
    """Read frames the way upstream's C programs do: find exchange/data/0.0.0 in the ZIP, then
    blosc-decompress that member and the n-1 members that follow it."""
    from numcodecs import blosc

    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        meta = json.loads(zf.read("exchange/data/.zarray"))
        first = next(i for i, m in enumerate(infos) if m.filename == "exchange/data/0.0.0")
        dt = np.dtype(meta["dtype"])
        _, nz, ny = meta["shape"]
        return [np.frombuffer(blosc.decompress(zf.read(infos[first + k])), dtype=dt).reshape(nz, ny)
                for k in range(n)]


# ------------------------------------------------------------------------ upstream archives
def test_reads_upstream_au250_archive_lazily():
    p = shared_path(*AU, "Au_FF_000001_pf.analysis.MIDAS.zip")
    params = _read_params(*AU, "Parameters.txt")
    with open_midas_zip(p) as z:
        assert z.n_frames == 1440 and z.frame_shape == (2048, 2048) and z.dtype == np.int32
        f = z.frame(700)  # decode only two frames of the 24 GB scan
        assert f.shape == (2048, 2048) and f.max() > 0 and f.min() >= 0
        assert z.frame(0).shape == (2048, 2048)
        assert z.datatype == "int32"
        assert z.omega_start_deg == 180.0 and z.omega_step_deg == -0.25
        assert z.omega_deg(1439) == 180.0 - 1439 * 0.25
        assert z.dark is None and z.mask is None
        ap = z.analysis_parameters
    # The values of the Parameters.txt the archive was made from (read independently).
    for key in ("Lsd", "px", "Wavelength", "SpaceGroup", "LatticeConstant", "BC", "RingThresh",
                "OmegaRange", "BoxSize", "OmegaStep", "OmegaStart", "RhoD", "ImTransOpt",
                "Completeness", "OverAllRingToIndex", "MinEta", "Width"):
        assert ap[key] == params[key], key
    assert ap["BC"] == (1022.0, 1022.0) and ap["px"] == 200.0 and ap["Lsd"] == 1_000_000.0
    assert ap["LatticeConstant"] == (4.08, 4.08, 4.08, 90.0, 90.0, 90.0)
    assert ap["RingThresh"] == [(r, 10.0) for r in range(1, 6)]
    assert ap["OmegaRange"] == [(-180.0, 180.0)]
    assert ap["BoxSize"] == [(-1e6, 1e6, -1e6, 1e6)]
    assert "RingsToExclude" not in ap  # upstream's placeholder is not a parameter


def test_open_frames_dispatches_to_midas_zip():
    p = shared_path(*CU, "Cu_FF_tilted.analysis.MIDAS.zip")
    with open_frames(p) as z:
        assert isinstance(z, MidasZip) and z.shape == (1440, 1024, 1024)


@pytest.mark.parametrize("case", [(CU, "Cu_FF_tilted.analysis.MIDAS.zip"),
                                  (AU, "Au_FF_000001_pf.analysis.MIDAS.zip")])
def test_written_archive_mirrors_upstream_node_by_node(tmp_path, case):
    folder, name = case
    up_path = shared_path(*folder, name)
    params = _read_params(*folder, "Parameters.txt")
    out = tmp_path / "ours.analysis.MIDAS.zip"
    with open_midas_zip(up_path) as up:
        frames = [up.frame(k) for k in (0, 1)]
        start = params["OmegaStart"] - params.get("SkipFrame") * params["OmegaStep"]
        with MidasZipWriter(out, frame_shape=up.frame_shape, dtype=up.dtype, omega_start_deg=start,
                            omega_step_deg=params["OmegaStep"], analysis_parameters=params,
                            n_frames=2) as w:
            for f in frames:
                w.append(f)
        theirs, ours = _zarr_meta(up_path), _zarr_meta(out)
        assert set(theirs) == set(ours)
        for node, m in theirs.items():
            o = ours[node]
            shape_t = m["shape"][1:] if node == "exchange/data" else m["shape"]
            shape_o = o["shape"][1:] if node == "exchange/data" else o["shape"]
            assert (shape_o, o["dtype"], o["chunks"], o["compressor"], o["fill_value"],
                    o["filters"], o["order"]) == \
                   (shape_t, m["dtype"], m["chunks"], m["compressor"], m["fill_value"],
                    m["filters"], m["order"]), node
        with open_midas_zip(out) as mine:
            for node in up.node_paths():
                if node != "exchange/data":
                    a, b = up.read_node(node), mine.read_node(node)
                    assert a.shape == b.shape and np.array_equal(a, b), node
            assert mine.analysis_parameters == up.analysis_parameters
            for k in (0, 1):
                np.testing.assert_array_equal(mine.frame(k), frames[k])
    with zipfile.ZipFile(out) as zf, zipfile.ZipFile(up_path) as zu:
        theirs_attrs = json.loads(zu.read("exchange/data/.zattrs"))
        assert json.loads(zf.read("exchange/data/.zattrs")) == {
            "_ARRAY_DIMENSIONS": [2, *theirs_attrs["_ARRAY_DIMENSIONS"][1:]]}


# ------------------------------------------------------------------------ our archives
def _write(path, frames, **kw):
    _n, nz, ny = frames.shape
    kw.setdefault("omega_start_deg", 180.25)
    kw.setdefault("omega_step_deg", -0.25)
    with MidasZipWriter(path, frame_shape=(nz, ny), dtype=frames.dtype, **kw) as w:
        for f in frames:
            w.append(f)
    return path


@pytest.mark.parametrize("dtype", ["uint16", "int32", "uint32", "float32", "float64"])
def test_round_trip_frames_bit_exact(tmp_path, rng, dtype):
    frames = (rng.random((6, 17, 13)) * 60000).astype(dtype)
    frames[2] = 0  # an all-zero frame must still be stored (the C readers count members)
    dark = (rng.random((3, 17, 13)) * 100).astype(dtype)
    mask = np.zeros((17, 13), bool)
    mask[3, 4] = mask[16, 0] = True
    p = _write(tmp_path / "a.MIDAS.zip", frames, dark=dark, mask=mask, n_frames=6)
    with open_midas_zip(p) as z:
        assert z.dtype == np.dtype(dtype) and z.datatype == dtype
        np.testing.assert_array_equal(z.read(), frames)
        np.testing.assert_array_equal(z.dark, dark)
        np.testing.assert_array_equal(z.read_node("exchange/bright"), dark)
        np.testing.assert_array_equal(z.mask, mask)
        assert z.omega_start_deg == 180.25 and z.omega_step_deg == -0.25
    for got, want in zip(_c_reader_frames(p, 6), frames):
        np.testing.assert_array_equal(got, want)


def test_members_unique_in_frame_order_and_all_compressed(tmp_path, rng):
    from numcodecs import blosc

    frames = rng.integers(0, 50, (12, 8, 9)).astype(np.uint16)
    p = _write(tmp_path / "o.MIDAS.zip", frames, n_frames=12,
               analysis_parameters={"px": 200.0, "InFileName": "GrainsSim.csv", "SkipFrame": 1,
                                    "RingThresh": [(1, 10.0)], "OmegaStep": -0.25})
    with zipfile.ZipFile(p) as zf:
        names = zf.namelist()
        assert len(names) == len(set(names))  # no member written twice
        assert not [n for n in names if n.endswith(".zattrs") and n != "exchange/data/.zattrs"]
        first = names.index("exchange/data/0.0.0")
        assert names[first:first + 12] == [f"exchange/data/{k}.0.0" for k in range(12)]
        assert names.index("exchange/data/.zarray") < first
        for n in names:
            if n.rsplit("/", 1)[-1].startswith("."):
                continue
            raw = zf.read(n)
            if n == f"{SCAN_GROUP}/datatype/0":
                assert raw == b"uint16"  # read raw by the C programs
            else:
                assert len(blosc.decompress(raw)) > 0, n  # every other chunk is Blosc
        # each .zarray comes right before its first chunk (one upstream reader relies on it)
        assert names[names.index(f"{SCAN_GROUP}/datatype/.zarray") + 1] == f"{SCAN_GROUP}/datatype/0"


def test_params_round_trip_through_archive(tmp_path, rng):
    params = _read_params(*CU, "Parameters.txt")
    frames = rng.integers(0, 9, (2, 4, 5)).astype(np.int32)
    p = _write(tmp_path / "p.MIDAS.zip", frames, analysis_parameters=params, n_frames=2,
               omega_step_deg=params["OmegaStep"])
    with open_midas_zip(p) as z:
        back = z.analysis_parameters
    keys = list(dict.fromkeys(e.key for e in params.entries))
    for key in keys:
        assert back[key] == params.get(key), key
    assert set(back) == set(keys)


@pytest.mark.parametrize("parts", [
    (*AU, "Parameters.txt"), (*AU, "tiny", "Parameters_tiny.txt"),
    (*AU, "upstream_outputs", "paramstest.txt"), (*CU, "Parameters.txt"),
    ("upstream_sim", "nf_au", "ps_au.txt"),
    ("real", "hexrd_multiruby_dexela_ff_chess", "midas", "Parameters_ff1.txt"),
    ("real", "midas_2015_ruby_ff_spots", "paramstest.txt")])
def test_every_shared_parameter_file_survives_the_archive_nodes(parts):
    import warnings

    from midas.params import MidasParams

    params = _read_params(*parts)
    back = params_from_archive_nodes(analysis_parameters_from_params(params))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert MidasParams.from_mapping(back) == params  # NF per-distance Lsd, RingNumbers, ...


_SCALAR_KEYS = st.sampled_from(["Lsd", "px", "Wavelength", "tx", "p2", "RhoD", "Width", "MinEta"])


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(_SCALAR_KEYS, st.floats(-1e7, 1e7, allow_nan=False), max_size=5),
       st.lists(st.tuples(st.integers(1, 40), st.floats(0, 1e5, allow_nan=False)), max_size=6),
       st.lists(st.integers(0, 3), max_size=3),
       st.tuples(st.floats(-5e3, 5e3, allow_nan=False), st.floats(-5e3, 5e3, allow_nan=False)),
       st.integers(1, 230), st.text("abcXYZ_/.0123", min_size=1, max_size=20))
def test_params_nodes_round_trip(scalars, ring_thresh, trans, bc, sg, name):
    p = dict(scalars)
    p.update({"BC": bc, "SpaceGroup": sg, "InFileName": name, "OmegaStep": -0.25})
    if ring_thresh:
        p["RingThresh"] = [(r, t) for r, t in ring_thresh]
    if trans:
        p["ImTransOpt"] = trans
    nodes = analysis_parameters_from_params(p)
    assert nodes[f"{ANALYSIS_GROUP}/SpaceGroup"].dtype.str == "<i4"
    assert nodes[f"{SCAN_GROUP}/step"].dtype.str == "<f8"
    assert nodes[f"{ANALYSIS_GROUP}/InFileName"].dtype.kind == "S"
    back = params_from_archive_nodes(nodes)
    if trans == [-1]:
        p.pop("ImTransOpt")  # indistinguishable from upstream's "no ImTransOpt" placeholder
    assert back == p


def test_parameter_errors():
    with pytest.raises(ParamError, match="both set"):
        analysis_parameters_from_params({"px": 200.0, "PixelSize": 200.0})
    with pytest.raises(ParamError, match="LatticeConstant"):
        analysis_parameters_from_params({"LatticeConstant": (4.08,)})
    with pytest.raises(ParamError, match="RingThresh"):
        analysis_parameters_from_params({"RingThresh": [(1, 10.0, 3.0)]})
    with pytest.raises(ParamError, match="integer"):
        analysis_parameters_from_params({"SpaceGroup": 225.5})


def test_unknown_count_spills_and_cleans_up(tmp_path, rng):
    frames = rng.integers(0, 1000, (7, 6, 5)).astype(np.uint16)
    p = _write(tmp_path / "s.MIDAS.zip", frames)  # no n_frames
    assert sorted(x.name for x in tmp_path.iterdir()) == ["s.MIDAS.zip"]
    with open_midas_zip(p) as z:
        np.testing.assert_array_equal(z.read(), frames)
    for got, want in zip(_c_reader_frames(p, 7), frames):
        np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------------ failures
def test_exception_mid_write_leaves_nothing(tmp_path, rng):
    target = tmp_path / "x.MIDAS.zip"
    frames = rng.integers(0, 9, (3, 4, 5)).astype(np.uint16)
    with pytest.raises(RuntimeError, match="boom"), \
            MidasZipWriter(target, frame_shape=(4, 5), dtype="uint16", omega_start_deg=0,
                           omega_step_deg=1, n_frames=3) as w:
        w.append(frames[0])
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    # an existing archive at the target survives a failed rewrite untouched
    _write(target, frames, n_frames=3)
    before = target.read_bytes()
    with pytest.raises(FormatError, match="2 frames appended but n_frames=3"):
        _write(target, frames[:2], n_frames=3)
    assert target.read_bytes() == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["x.MIDAS.zip"]
    for spill in (None, 4):  # wrong frame shape, with and without spilling
        with pytest.raises(FormatError, match=r"frame 1 has shape \(4, 4\)"), \
                MidasZipWriter(tmp_path / "y.zip", frame_shape=(4, 5), dtype="uint16",
                               omega_start_deg=0, omega_step_deg=1, n_frames=spill) as w:
            w.append(frames[0])
            w.append(frames[1][:, :4])
        assert sorted(x.name for x in tmp_path.iterdir()) == ["x.MIDAS.zip"]


def test_writer_argument_errors(tmp_path, rng):
    kw = {"frame_shape": (4, 5), "omega_start_deg": 0.0, "omega_step_deg": 0.25}
    with pytest.raises(ParamError, match="int16"):
        MidasZipWriter(tmp_path / "a.zip", dtype="int16", **kw)
    with pytest.raises(ParamError, match="OmegaStep"):
        MidasZipWriter(tmp_path / "a.zip", dtype="uint16",
                       analysis_parameters={"OmegaStep": -0.25}, **kw)
    with pytest.raises(ParamError, match="dark"):
        MidasZipWriter(tmp_path / "a.zip", dtype="uint16", dark=np.full((1, 4, 5), 0.5), **kw)
    with pytest.raises(FormatError, match="does not exist"):
        MidasZipWriter(tmp_path / "nowhere" / "a.zip", dtype="uint16", **kw)
    w = MidasZipWriter(tmp_path / "a.zip", dtype="uint16", n_frames=1, **kw)
    with pytest.raises(FormatError, match="without loss"):
        w.append(np.full((4, 5), 1.5))
    w.append(np.ones((4, 5), np.uint8))  # lossless widening is fine
    with pytest.raises(FormatError, match="more frames"):
        w.append(np.ones((4, 5), np.uint16))
    w.close()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.zip"]
    assert list(tmp_path.glob(".*")) == []


def test_reader_errors_name_the_path(tmp_path, rng):
    good = _write(tmp_path / "g.MIDAS.zip", rng.integers(0, 9, (3, 4, 5)).astype(np.uint16),
                  n_frames=3)
    data = good.read_bytes()
    cut = tmp_path / "cut.MIDAS.zip"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError, match="cut.MIDAS.zip"):
        open_midas_zip(cut)
    flipped = bytearray(data)
    i = data.index(b"exchange/data/1.0.0") + len("exchange/data/1.0.0") + 10
    flipped[i] ^= 0xFF  # corrupt a chunk's bytes: CRC check fails
    bad = tmp_path / "crc.MIDAS.zip"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(FormatError, match="crc.MIDAS.zip"):
        open_midas_zip(bad).frame(1)
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(FormatError, match="junk.zip"):
        open_midas_zip(junk)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(FormatError, match="exchange/data"):
        open_midas_zip(other)
    with pytest.raises(FormatError, match="no such"):
        open_midas_zip(tmp_path / "absent.MIDAS.zip")
