"""Output files: the GSAS-II zarr.zip against the importer's spec, the upstream HDF5 layout,
upstream Map.bin/nMap.bin, and the text/CSV/MAT exports."""

from __future__ import annotations

import hashlib
import json
import struct
import zipfile

import numpy as np
import pytest
from midas.geometry import FFDetector
from midas.integration.bins import IntegrationBins
from midas.integration.integrate import Integrator
from midas.integration.mapper import MapOptions, build_map
from midas.integration.outputs import (
    GSAS_DEFAULTS,
    CakeHdf5Writer,
    GsasZarrZipWriter,
    UpstreamMapHash,
    read_upstream_map,
    upstream_map_hash_string,
    write_lineouts_csv,
    write_mat,
    write_upstream_map,
    write_xy,
)


def flat_detector(n=40):
    return FFDetector(lsd_um=50_000.0, bc_px=(19.5, 19.5), pixel_size_um=(100.0, 100.0), n_pixels=(n, n))


def gsas_import(path):
    """What GSAS-II's G2pwd_MIDAS.MIDAS_Zarr_Reader does with a file (gsas2.md §2.2–2.3)."""
    import zarr
    from zarr.storage import ZipStore

    root = zarr.open_group(ZipStore(str(path), mode="r"), mode="r", zarr_format=2)
    assert {"InstrumentParameters", "REtaMap", "OmegaSumFrame"} <= set(root.keys())
    rm = np.array(root["REtaMap"])
    tth, eta, area = rm[1], rm[2], rm[3]
    hists = []
    for img_name, img in root["OmegaSumFrame"].arrays():
        n_frame = img.attrs.get("Number Of Frames Summed", 1)
        omega = (img.attrs["FirstOme"] + img.attrs["LastOme"]) / 2
        data = np.array(img)
        for i_eta in range(tth.shape[1]):
            unmasked = area[:, i_eta] != 0
            if unmasked.sum() > 20:
                y = data[unmasked, i_eta] / n_frame
                a = area[unmasked, i_eta]
                w = np.where(y > 0, n_frame**2 * a / np.where(y > 0, y, 1), 0.0)
                hists.append({"img": img_name, "omega": omega, "eta": eta[unmasked, i_eta].mean(),
                              "x": tth[unmasked, i_eta], "y": y, "w": w})
    inst = {k: float(np.array(v)[0]) for k, v in root["InstrumentParameters"].arrays()}
    return hists, inst


@pytest.fixture
def small_map():
    det = flat_detector()
    # 22 radial bins; one bad pixel flags bins of the +90° quadrant's column only
    bins = IntegrationBins.uniform_r(2.0, 24.0, 1.0, eta_min_deg=-180, eta_max_deg=180, eta_bin_size_deg=90)
    mask = np.zeros((40, 40), bool)
    mask[19, 35] = True  # on the −y side (column > bc): η ≈ +90°
    return build_map(det, bins, options=MapOptions(precision="float64"), mask=mask)


def test_zarr_zip_follows_the_importer_spec(tmp_path, small_map):
    imap = small_map
    assert imap.bin_flagged.sum() >= 1
    frames = np.random.default_rng(1).uniform(10, 100, (4, 40, 40))
    res = Integrator(imap).integrate(frames)
    inst = dict(GSAS_DEFAULTS, Lam=0.2, Distance=50_000.0)
    path = tmp_path / "run.zarr.zip"
    with GsasZarrZipWriter(path, imap, wavelength_A=0.2, instrument=inst) as w:
        w.add_omega_sum(1, res.cake[0] + res.cake[1], {"LastFrameNumber": 1, "Number Of Frames Summed": 2,
                                                        "FirstOme": 0.0, "LastOme": 0.25})
        w.add_omega_sum(3, res.cake[2] + res.cake[3], {"LastFrameNumber": 3, "Number Of Frames Summed": 2,
                                                        "FirstOme": 0.5, "LastOme": 0.75})
        w.finish(np.arange(4) * 0.25, res.cake.sum(axis=0), 4)
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        assert len(names) == len(set(names)), "a member (e.g. .zattrs) is written twice"
        assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
        meta = json.loads(z.read("REtaMap/.zarray"))
        assert meta["zarr_format"] == 2 and meta["dtype"] == "<f8" and meta["shape"] == [5, 22, 4]
        assert meta["compressor"] is None
        assert json.loads(z.read(".zgroup")) == {"zarr_format": 2}
        for name in names:
            if name.endswith(".zarray"):
                arr = np.frombuffer(z.read(name.replace(".zarray", ".".join("0" * len(json.loads(z.read(name))["shape"])))),
                                    dtype="<f8")
                assert np.isfinite(arr).all(), f"{name}: NaN written"
    hists, got_inst = gsas_import(path)
    assert got_inst["Lam"] == 0.2 and got_inst["Distance"] == 50_000.0 and set(got_inst) == set(GSAS_DEFAULTS)
    # the flagged column has 21 unmasked bins at most; a column with ≤ 20 must be dropped
    counts = (imap.bin_area > 0).sum(axis=0)
    kept = counts > 20
    assert len(hists) == 2 * kept.sum()
    for h in hists:
        assert np.all(np.diff(h["x"]) > 0) and np.isfinite(h["y"]).all() and np.isfinite(h["w"]).all()
    # the importer's y is the per-frame mean of the cake (OmegaSumFrame holds sums)
    col = int(np.flatnonzero(kept)[0])
    want = 0.5 * (res.cake[0] + res.cake[1])[imap.bin_area[:, col] > 0, col]
    np.testing.assert_allclose(hists[0]["y"], want, rtol=1e-12)


def test_zarr_zip_drops_a_column_with_exactly_20_points(tmp_path):
    det = flat_detector()
    bins = IntegrationBins.uniform_r(2.0, 23.0, 1.0, eta_min_deg=-180, eta_max_deg=180, eta_bin_size_deg=90)
    clean = build_map(det, bins)
    assert (clean.bin_area > 0).sum(axis=0).min() == 21
    mask = np.zeros((40, 40), bool)
    mask[19, 35] = True
    imap = build_map(det, bins, mask=mask)
    counts = (imap.bin_area > 0).sum(axis=0)
    assert counts.min() <= 20 and counts.max() == 21
    path = tmp_path / "x.zarr.zip"
    cake = Integrator(imap).integrate(np.ones((40, 40))).cake[0]
    with GsasZarrZipWriter(path, imap, wavelength_A=0.3, instrument=GSAS_DEFAULTS) as w:
        w.add_omega_sum(0, cake, {"LastFrameNumber": 0, "Number Of Frames Summed": 1, "FirstOme": 0.0,
                                  "LastOme": 0.0})
        w.finish(np.zeros(1), cake, 1)
    hists, _ = gsas_import(path)
    assert len(hists) == int((counts > 20).sum()) == 3


def test_zarr_zip_needs_the_exact_extension(tmp_path, small_map):
    from midas.errors import ParamError

    with pytest.raises(ParamError, match=".zarr.zip"):
        GsasZarrZipWriter(tmp_path / "run.zip", small_map, wavelength_A=0.2, instrument=GSAS_DEFAULTS)
    assert list(tmp_path.iterdir()) == []


def test_hdf5_layout(tmp_path, small_map):
    import h5py

    imap = small_map
    frames = np.random.default_rng(2).uniform(10, 100, (3, 40, 40))
    res = Integrator(imap).integrate(frames)
    path = tmp_path / "a.caked.hdf"
    inst = dict(GSAS_DEFAULTS, Distance=50_000.0)
    with CakeHdf5Writer(path, imap, wavelength_A=0.2, instrument=inst) as w:
        for i in range(3):
            w.add_frame(i, 0.25 * i, res.cake[i])
        w.add_omega_sum(2, res.cake.sum(axis=0), {"LastFrameNumber": 2, "Number Of Frames Summed": 3,
                                                   "FirstOme": 0.0, "LastOme": 0.5})
        w.add_extra("Lineouts", res.lineout)
        w.finish(np.array([0.0, 0.25, 0.5]), res.cake.sum(axis=0), 3)
    with h5py.File(path) as f:
        rm = f["REtaMap"]
        assert rm.shape == (5, 22, 4) and rm.dtype == np.float64
        assert rm.attrs["nRBins"] == 22 and rm.attrs["nEtaBins"] == 4
        assert rm.attrs["Header"] == "Radius,2Theta,Eta,BinArea,Q"
        np.testing.assert_allclose(rm[0, :, 0], np.arange(22) + 2.5)
        np.testing.assert_allclose(rm[1, :, 0], np.degrees(np.arctan((np.arange(22) + 2.5) * 100 / 50_000)))
        np.testing.assert_allclose(rm[2, 0], [-135, -45, 45, 135])
        np.testing.assert_allclose(rm[4, :, 0], 4 * np.pi / 0.2 * np.sin(np.radians(rm[1, :, 0]) / 2))
        assert (rm[3][imap.bin_flagged] == 0).all()
        assert f["IntegrationResult/FrameNr_1"].attrs["omega"] == 0.25
        s = f["OmegaSumFrame/LastFrameNumber_2"]
        assert s.attrs["Number Of Frames Summed"] == 3 and s.attrs["LastOme"] == 0.5
        np.testing.assert_array_equal(s[()], res.cake.sum(axis=0))
        assert np.isnan(s[()][imap.bin_flagged]).all()  # upstream writes NaN for masked bins
        assert f["Omegas"].attrs["Units"] == "Degrees" and f["SumFrames"].attrs["nFrames"] == 3
        for k in ("Polariz", "Lam", "SH_L", "U", "V", "W", "X", "Y", "Z", "Distance"):
            assert f[f"InstrumentParameters/{k}"].shape == (1,)
        assert f["InstrumentParameters/Distance"][0] == 50_000.0
        assert f["midas/Lineouts"].shape == (3, 22)


def test_writer_error_leaves_no_file(tmp_path, small_map):
    path = tmp_path / "b.caked.hdf"
    with pytest.raises(RuntimeError):
        with CakeHdf5Writer(path, small_map, wavelength_A=None, instrument=GSAS_DEFAULTS):
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_upstream_map_files(tmp_path):
    det = FFDetector(lsd_um=50_000.0, bc_px=(15.2, 12.7), pixel_size_um=(100.0, 100.0), n_pixels=(30, 26),
                     im_trans_opt=(1,), distortion=(0, 0, 0, 0, 0, 3e-3, 0, 0, 0, 0, 0, 0, 0, 0, 0),
                     rho_d_um=5000.0)
    bins = IntegrationBins.uniform_r(1.0, 15.0, 0.5, eta_min_deg=-180, eta_max_deg=180, eta_bin_size_deg=30)
    opts = MapOptions(solid_angle=True, precision="float64")
    mask = np.zeros((26, 30), bool)
    mask[3, 4] = True
    imap = build_map(det, bins, options=opts, mask=mask)
    h = UpstreamMapHash(bc_y=15.2, bc_z=12.7, eta_bin_size=30, eta_max=180, eta_min=-180, lsd=50_000, n_pixels_y=30,
                        n_pixels_z=26, r_bin_size=0.5, r_max=15, r_min=1, rho_d=5000, trans_opt=(1,),
                        p=det.distortion, px_y=100, px_z=100, tx=0, ty=0, tz=0)
    text = upstream_map_hash_string(h)
    assert text == ("BC=15.200000,12.700000|EtaBinSize=30.000000|EtaMax=180.000000|EtaMin=-180.000000|"
                    "Lsd=50000.000000|NrPixelsY=30|NrPixelsZ=26|RBinSize=0.500000|RMax=15.000000|RMin=1.000000|"
                    "RhoD=5000.000000|TransOpt=1,1|p0=0.000000|p1=0.000000|p2=0.000000|p3=0.000000|p4=0.000000|"
                    "p6=0.000000|pxY=100.000000|pxZ=100.000000|tx=0.000000|ty=0.000000|tz=0.000000")
    write_upstream_map(tmp_path, imap, h)
    head, rec, nmap, maskmap = read_upstream_map(tmp_path)
    magic, version, digest, q_mode, grad = struct.unpack_from("<II32sBB", head)
    assert (magic, version, q_mode, grad) == (0x3050414D, 3, 0, 1)
    assert digest == hashlib.sha256(text.encode()).digest()
    assert (tmp_path / "Map.bin").stat().st_size == 64 + 24 * imap.matrix.nnz
    np.testing.assert_array_equal(nmap[:, 0], np.diff(imap.matrix.indptr))
    np.testing.assert_array_equal(maskmap, imap.bin_flagged.ravel().astype(np.int32))
    # upstream's integrator: I = Σ pixel(y, z)·frac / Σ areaWeight; with no tilt the corrected
    # footprint of a pixel is 1 px² up to the small p5 distortion, so it matches the cake closely
    frame = np.random.default_rng(4).uniform(0, 1000, (26, 30))
    cake = Integrator(imap).integrate(frame).cake[0].ravel()
    up = np.full(nmap.shape[0], np.nan)
    for b, (cnt, off) in enumerate(nmap):
        if cnt:
            r = rec[off:off + cnt]
            up[b] = (frame[r["z"].astype(int), r["y"].astype(int)] * r["frac"]).sum() / r["area"].sum()
    ok = np.isfinite(up) & np.isfinite(cake) & (imap.bin_area.ravel() > 0.3)
    np.testing.assert_allclose(up[ok], cake[ok], rtol=2e-3)
    assert np.all(np.abs(rec["delta_r"]) < 2.0)


def test_text_exports(tmp_path):
    import scipy.io

    tth = np.linspace(1, 10, 10)
    y = np.arange(10.0)
    y[3] = np.nan
    write_xy(tmp_path / "a.xy", tth, y, header=["test"])
    back = np.loadtxt(tmp_path / "a.xy")
    assert back.shape == (9, 2) and 3.0 not in back[:, 1]
    write_lineouts_csv(tmp_path / "a.csv", r_px=np.arange(10.0), tth_deg=tth, q_inv_A=None,
                       lineouts=np.stack([y, 2 * y]), labels=["f0", "f1"])
    head = (tmp_path / "a.csv").read_text().splitlines()[0]
    assert head == "R_px,TwoTheta_deg,f0,f1"
    write_mat(tmp_path / "a.mat", {"Lineouts": np.stack([y, y]), "nFrames": 2})
    m = scipy.io.loadmat(tmp_path / "a.mat")
    assert m["Lineouts"].shape == (2, 10)
