"""Output files of radial integration, in upstream MIDAS layouts.

- :class:`CakeHdf5Writer` — the ``.caked.hdf`` of ``IntegratorZarrOMP`` (``upstream_facts.md``
  §3.14): ``/REtaMap`` (5, nR, nη), ``/IntegrationResult/FrameNr_<i>``,
  ``/OmegaSumFrame/LastFrameNumber_<i>`` with its attributes, ``/Omegas``, ``/SumFrames``,
  ``/InstrumentParameters``; midas extras (lineouts, peak fits) under ``/midas``.
- :class:`GsasZarrZipWriter` — the ``.zarr.zip`` that GSAS-II's "MIDAS zarr" importer reads
  (``gsas2.md`` §2): zarr format 2 in a ZIP with STORED members, one uncompressed chunk per array,
  every node's attributes written once, NaN written as 0 and masked bins with area 0.
- :func:`write_xy`, :func:`write_lineouts_csv`, :func:`write_mat` — text, CSV and MATLAB exports.
- :func:`write_upstream_map` — ``Map.bin``/``nMap.bin``/``maskMap.bin`` (64-byte ``MAP0`` v3
  header, 24-byte records) for upstream's integrators.

Every file is written to a temporary name in the same folder and renamed when complete.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import logging
import math
import struct
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

import midas
from midas._native import core
from midas.errors import CapacityError, FormatError, ParamError
from midas.integration.mapper import IntegrationMap
from midas.io._atomic import discard, temp_path_for

__all__ = [
    "GSAS_DEFAULTS",
    "CakeHdf5Writer",
    "GsasZarrZipWriter",
    "REtaMapHeader",
    "UpstreamMapHash",
    "gsas_instrument_parameters",
    "read_upstream_map",
    "upstream_map_hash_string",
    "write_lineouts_csv",
    "write_mat",
    "write_upstream_map",
    "write_xy",
]

log = logging.getLogger(__name__)

#: GSAS-II's defaults for the instrument parameters (``G2pwd_MIDAS.py``; upstream writes the same).
GSAS_DEFAULTS: dict[str, float] = {"Lam": 0.413263, "Polariz": 0.99, "SH_L": 0.002, "U": 1.163, "V": -0.126,
                                   "W": 0.063, "X": 0.0, "Y": 0.0, "Z": 0.0, "Distance": 1_000_000.0}
_INSTRUMENT_ORDER = ("Polariz", "Lam", "SH_L", "U", "V", "W", "X", "Y", "Z", "Distance")
REtaMapHeader = {"Header": "Radius,2Theta,Eta,BinArea,Q", "Units": "Pixels,Degrees,Degrees,Pixels,InvAngstrom"}


def gsas_instrument_parameters(p: Any, *, lsd_um: float, wavelength_A: float | None) -> dict[str, float]:
    """``/InstrumentParameters`` values from a parameter set.

    ``Lam`` = ``Wavelength``; ``Distance`` = Lsd in µm; ``Polariz`` = ``Polariz`` (else
    ``PolarizationFraction``); ``SH_L`` = ``SHpL``; ``U V W X Y Z`` from their keys; GSAS-II's
    defaults (:data:`GSAS_DEFAULTS`) otherwise.

    Raises
    ------
    ParamError
        A key that is present but not a number.
    """
    out = dict(GSAS_DEFAULTS)
    out["Distance"] = float(lsd_um)
    if wavelength_A:
        out["Lam"] = float(wavelength_A)
    sources = {"Polariz": ("Polariz", "PolarizationFraction"), "SH_L": ("SHpL",), "U": ("U",), "V": ("V",),
               "W": ("W",), "X": ("X",), "Y": ("Y",), "Z": ("Z",)}
    for name, keys in sources.items():
        for key in keys:
            if key in p:
                value = p.get(key)
                try:
                    out[name] = float(value[0] if isinstance(value, (list, tuple)) else value)
                except (TypeError, ValueError, IndexError):
                    raise ParamError(f"parameter {key!r} = {value!r}: expected a number") from None
                break
    return out


# ------------------------------------------------------------------------------------------------
# HDF5 (.caked.hdf)
# ------------------------------------------------------------------------------------------------
class CakeHdf5Writer:
    """Streaming writer of upstream's integrated HDF5 (``IntegratorZarrOMP.c`` layout).

    Parameters
    ----------
    path : path
        Output file; written as ``.<name>.<random>.part`` beside it and renamed by :meth:`close`.
    imap : IntegrationMap
        Provides ``/REtaMap``.
    wavelength_A : float or None
        For the Q row of ``/REtaMap``.
    instrument : mapping
        ``/InstrumentParameters`` values (see :func:`gsas_instrument_parameters`).

    Notes
    -----
    Intensities are area-normalised cakes; bins flagged by a bad pixel are NaN (as upstream) and
    have area 0 in ``/REtaMap``. Use as a context manager: an exception discards the file.
    """

    def __init__(self, path: str | Path, imap: IntegrationMap, *, wavelength_A: float | None,
                 instrument: Mapping[str, float]) -> None:
        import h5py

        self.path = Path(path)
        self._tmp = temp_path_for(self.path)
        try:
            self._f = h5py.File(self._tmp, "w")
            f = self._f
            f.attrs["midas_version"] = midas.__version__
            f.attrs["creation_timestamp"] = _dt.datetime.now(_dt.timezone.utc).isoformat()
            rm = f.create_dataset("REtaMap", data=imap.r_eta_map(wavelength_A))
            rm.attrs.update({"nEtaBins": imap.n_eta, "nRBins": imap.n_r, **REtaMapHeader})
            g = f.create_group("InstrumentParameters")
            for name in _INSTRUMENT_ORDER:
                g.create_dataset(name, data=np.array([float(instrument[name])], dtype=np.float64))
            self._frames = f.create_group("IntegrationResult")
            self._sums = f.create_group("OmegaSumFrame")
        except BaseException:
            discard(self._tmp)
            raise
        self._closed = False

    def add_frame(self, index: int, omega_deg: float, cake: NDArray[np.float64]) -> None:
        """Write ``/IntegrationResult/FrameNr_<index>`` (attr ``omega``)."""
        ds = self._frames.create_dataset(f"FrameNr_{int(index)}", data=np.asarray(cake, dtype=np.float64))
        ds.attrs["omega"] = float(omega_deg)

    def add_omega_sum(self, last_frame: int, cake_sum: NDArray[np.float64], attrs: Mapping[str, Any]) -> None:
        """Write ``/OmegaSumFrame/LastFrameNumber_<last_frame>`` with its attributes."""
        ds = self._sums.create_dataset(f"LastFrameNumber_{int(last_frame)}", data=np.asarray(cake_sum, np.float64))
        ds.attrs.update(dict(attrs))

    def add_extra(self, name: str, data: ArrayLike, attrs: Mapping[str, Any] | None = None) -> None:
        """Write a midas dataset under ``/midas/<name>`` (lineouts, peak fits...)."""
        ds = self._f.require_group("midas").create_dataset(name, data=np.asarray(data))
        if attrs:
            ds.attrs.update(dict(attrs))

    def finish(self, omegas_deg: NDArray[np.float64], sum_frames: NDArray[np.float64] | None, n_frames: int) -> None:
        """Write ``/Omegas`` and ``/SumFrames``, close and rename the file into place."""
        f = self._f
        om = f.create_dataset("Omegas", data=np.asarray(omegas_deg, dtype=np.float64))
        om.attrs["Units"] = "Degrees"
        if sum_frames is not None:
            sf = f.create_dataset("SumFrames", data=np.asarray(sum_frames, dtype=np.float64))
            sf.attrs.update({"nFrames": int(n_frames), "Header": "Radius,Eta", "Units": "Pixels,Degrees"})
        f.close()
        self._closed = True
        self._tmp.replace(self.path)

    def abort(self) -> None:
        """Close and delete the partial file."""
        if not self._closed:
            self._f.close()
            self._closed = True
        discard(self._tmp)

    def __enter__(self) -> CakeHdf5Writer:  # noqa: PYI034
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None or not self._closed:
            self.abort()


# ------------------------------------------------------------------------------------------------
# GSAS-II .zarr.zip
# ------------------------------------------------------------------------------------------------
def _zarray(shape: tuple[int, ...]) -> bytes:
    meta = {"chunks": list(shape), "compressor": None, "dtype": "<f8", "fill_value": 0.0, "filters": None,
            "order": "C", "shape": list(shape), "zarr_format": 2}
    return json.dumps(meta, indent=4, sort_keys=True).encode()


def _json(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(obj), indent=4, sort_keys=True, allow_nan=False).encode()


class GsasZarrZipWriter:
    """Streaming writer of the MIDAS ``.zarr.zip`` that GSAS-II imports.

    zarr format 2 inside a ZIP with STORED members: ``.zgroup`` for the root and each group,
    ``<array>/.zarray`` + one chunk (``0``, ``0.0`` or ``0.0.0``) of raw C-order little-endian
    float64, ``<node>/.zattrs`` written once per node. NaN values are written as 0 (GSAS-II then
    gives them weight 0); masked bins have area 0 in ``REtaMap``, so the importer drops them and
    keeps an η column only with more than 20 unmasked points.

    Parameters
    ----------
    path : path
        Must end in ``.zarr.zip`` (the importer's strict extension).
    imap : IntegrationMap
    wavelength_A : float or None
    instrument : mapping
        ``InstrumentParameters`` values.
    write_frames : bool
        Also write ``IntegrationResult/FrameNr_<i>`` (off by default: GSAS-II does not read it).

    Raises
    ------
    ParamError
        A name not ending in ``.zarr.zip``.
    """

    def __init__(self, path: str | Path, imap: IntegrationMap, *, wavelength_A: float | None,
                 instrument: Mapping[str, float], write_frames: bool = False) -> None:
        self.path = Path(path)
        if not self.path.name.endswith(".zarr.zip"):
            raise ParamError(f"{self.path}: GSAS-II reads MIDAS zarr files only with the extension .zarr.zip")
        self._tmp = temp_path_for(self.path)
        self._zip = zipfile.ZipFile(self._tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
        self._closed = False
        self._write_frames = bool(write_frames)
        try:
            self._member(".zgroup", _json({"zarr_format": 2}))
            self._member(".zattrs", _json({"midas_version": midas.__version__,
                                           "creation_timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat()}))
            self._array("REtaMap", imap.r_eta_map(wavelength_A),
                        {"nEtaBins": imap.n_eta, "nRBins": imap.n_r, **REtaMapHeader})
            self._member("InstrumentParameters/.zgroup", _json({"zarr_format": 2}))
            for name in _INSTRUMENT_ORDER:
                self._array(f"InstrumentParameters/{name}", np.array([float(instrument[name])]), None)
            self._member("OmegaSumFrame/.zgroup", _json({"zarr_format": 2}))
            if self._write_frames:
                self._member("IntegrationResult/.zgroup", _json({"zarr_format": 2}))
        except BaseException:
            self.abort()
            raise

    def _member(self, name: str, data: bytes) -> None:
        self._zip.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)

    def _array(self, name: str, data: NDArray[Any], attrs: Mapping[str, Any] | None) -> None:
        a = np.nan_to_num(np.asarray(data, dtype="<f8"), nan=0.0)
        self._member(f"{name}/.zarray", _zarray(a.shape))
        if attrs:
            self._member(f"{name}/.zattrs", _json(attrs))
        chunk = ".".join("0" for _ in a.shape)
        self._member(f"{name}/{chunk}", np.ascontiguousarray(a).tobytes())

    def add_frame(self, index: int, omega_deg: float, cake: NDArray[np.float64]) -> None:
        """``IntegrationResult/FrameNr_<index>`` (only with ``write_frames``)."""
        if self._write_frames:
            self._array(f"IntegrationResult/FrameNr_{int(index)}", cake,
                        {"omega": float(omega_deg), "Header": "Radius,Eta", "Units": "Pixels,Degrees"})

    def add_omega_sum(self, last_frame: int, cake_sum: NDArray[np.float64], attrs: Mapping[str, Any]) -> None:
        """``OmegaSumFrame/LastFrameNumber_<last_frame>``: a SUM of cakes, with its attributes."""
        self._array(f"OmegaSumFrame/LastFrameNumber_{int(last_frame)}", cake_sum, attrs)

    def finish(self, omegas_deg: NDArray[np.float64], sum_frames: NDArray[np.float64] | None, n_frames: int) -> None:
        """Write ``Omegas`` and ``SumFrames``, close and rename into place."""
        self._array("Omegas", np.asarray(omegas_deg, dtype=np.float64), {"Units": "Degrees"})
        if sum_frames is not None:
            self._array("SumFrames", sum_frames, {"nFrames": int(n_frames), "Header": "Radius,Eta",
                                                  "Units": "Pixels,Degrees"})
        self._zip.close()
        self._closed = True
        self._tmp.replace(self.path)

    def abort(self) -> None:
        """Close and delete the partial file."""
        if not self._closed:
            self._zip.close()
            self._closed = True
        discard(self._tmp)

    def __enter__(self) -> GsasZarrZipWriter:  # noqa: PYI034
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None or not self._closed:
            self.abort()


# ------------------------------------------------------------------------------------------------
# text, CSV, MATLAB
# ------------------------------------------------------------------------------------------------
def _atomic_bytes(path: Path, data: bytes) -> None:
    tmp = temp_path_for(path)
    try:
        tmp.write_bytes(data)
    except BaseException:
        discard(tmp)
        raise
    tmp.replace(path)


def write_xy(path: str | Path, tth_deg: ArrayLike, intensity: ArrayLike, *, header: Sequence[str] = ()) -> Path:
    """Two-column text lineout ``2θ (deg)  I``; NaN bins are omitted (as upstream's ``_lineout.xy``).

    Returns
    -------
    Path
        The written file.
    """
    x = np.asarray(tth_deg, dtype=np.float64)
    y = np.asarray(intensity, dtype=np.float64)
    ok = np.isfinite(y)
    buf = io.StringIO()
    for line in header:
        buf.write(f"# {line}\n")
    buf.write("# 2theta_deg intensity\n")
    np.savetxt(buf, np.column_stack([x[ok], y[ok]]), fmt="%.9g")
    p = Path(path)
    _atomic_bytes(p, buf.getvalue().encode())
    return p


def write_lineouts_csv(path: str | Path, *, r_px: ArrayLike, tth_deg: ArrayLike, q_inv_A: ArrayLike | None,
                       lineouts: NDArray[np.float64], labels: Sequence[str]) -> Path:
    """CSV of lineouts: columns ``R_px, TwoTheta_deg[, Q_invA]`` then one column per lineout.

    Raises
    ------
    ParamError
        ``labels`` not matching the number of lineouts.
    """
    lo = np.atleast_2d(np.asarray(lineouts, dtype=np.float64))
    if len(labels) != lo.shape[0]:
        raise ParamError(f"{len(labels)} labels for {lo.shape[0]} lineouts")
    cols = [np.asarray(r_px, np.float64), np.asarray(tth_deg, np.float64)]
    names = ["R_px", "TwoTheta_deg"]
    if q_inv_A is not None:
        cols.append(np.asarray(q_inv_A, np.float64))
        names.append("Q_invA")
    table = np.column_stack(cols + list(lo))
    buf = io.StringIO()
    buf.write(",".join(names + [str(s) for s in labels]) + "\n")
    np.savetxt(buf, table, fmt="%.10g", delimiter=",")
    p = Path(path)
    _atomic_bytes(p, buf.getvalue().encode())
    return p


def write_mat(path: str | Path, variables: Mapping[str, Any]) -> Path:
    """MATLAB ``.mat`` (``scipy.io.savemat``, v5) of the given variables, written atomically."""
    import scipy.io

    buf = io.BytesIO()
    scipy.io.savemat(buf, {k: v for k, v in variables.items() if v is not None}, do_compression=True)
    p = Path(path)
    _atomic_bytes(p, buf.getvalue())
    return p


# ------------------------------------------------------------------------------------------------
# upstream Map.bin / nMap.bin / maskMap.bin
# ------------------------------------------------------------------------------------------------
_MAP_MAGIC = 0x3050414D
_MAP_VERSION = 3
_MAP_RECORD = np.dtype([("y", "<f4"), ("z", "<f4"), ("frac", "<f8"), ("delta_r", "<f4"), ("area", "<f4")])


@dataclass(frozen=True, slots=True)
class UpstreamMapHash:
    """The values upstream's ``MapHeader.h`` hashes (as written in the parameter file).

    ``tx/ty/tz`` in degrees, lengths in µm, radii in pixels; ``trans_opt`` the ImTransOpt list.
    """

    bc_y: float
    bc_z: float
    eta_bin_size: float
    eta_max: float
    eta_min: float
    lsd: float
    n_pixels_y: int
    n_pixels_z: int
    r_bin_size: float
    r_max: float
    r_min: float
    rho_d: float
    trans_opt: tuple[int, ...]
    p: tuple[float, ...]
    px_y: float
    px_z: float
    tx: float
    ty: float
    tz: float
    q_mode: bool = False
    wavelength: float = 0.0

    @classmethod
    def from_params(cls, p: Any, det: Any) -> UpstreamMapHash:
        """From a parameter set and its :class:`~midas.geometry.FFDetector`."""

        def num(key: str, default: float) -> float:
            v = p.get(key, default)
            v = v[0] if isinstance(v, (list, tuple)) else v
            return float(default if v is None else v)

        return cls(bc_y=det.bc_px[0], bc_z=det.bc_px[1], eta_bin_size=num("EtaBinSize", 0.0),
                   eta_max=num("EtaMax", 0.0), eta_min=num("EtaMin", 0.0), lsd=det.lsd_um,
                   n_pixels_y=int(det.n_pixels[0]), n_pixels_z=int(det.n_pixels[1]),
                   r_bin_size=num("RBinSize", 0.0), r_max=num("RMax", 0.0), r_min=num("RMin", 0.0),
                   rho_d=det.rho_d_um, trans_opt=tuple(int(v) for v in det.im_trans_opt),
                   p=tuple(det.distortion), px_y=det.pixel_size_um[0], px_z=det.pixel_size_um[1],
                   tx=det.tx_deg, ty=det.ty_deg, tz=det.tz_deg, q_mode=p.get("QBinSize", None) is not None,
                   wavelength=num("Wavelength", 0.0))


def upstream_map_hash_string(h: UpstreamMapHash) -> str:
    """The canonical string upstream hashes into the Map.bin header (``MapHeader.h``).

    Note that upstream leaves out p5, p7–p14 and the mask; midas' own cache key does not.
    """
    s = (f"BC={h.bc_y:.6f},{h.bc_z:.6f}|EtaBinSize={h.eta_bin_size:.6f}|EtaMax={h.eta_max:.6f}|"
         f"EtaMin={h.eta_min:.6f}|Lsd={h.lsd:.6f}|NrPixelsY={h.n_pixels_y:d}|NrPixelsZ={h.n_pixels_z:d}|"
         f"RBinSize={h.r_bin_size:.6f}|RMax={h.r_max:.6f}|RMin={h.r_min:.6f}|RhoD={h.rho_d:.6f}|"
         f"TransOpt={len(h.trans_opt[:10]):d}")
    for t in h.trans_opt[:10]:
        s += f",{t:d}"
    p = h.p
    s += (f"|p0={p[0]:.6f}|p1={p[1]:.6f}|p2={p[2]:.6f}|p3={p[3]:.6f}|p4={p[4]:.6f}|p6={p[6]:.6f}|"
          f"pxY={h.px_y:.6f}|pxZ={h.px_z:.6f}|tx={h.tx:.6f}|ty={h.ty:.6f}|tz={h.tz:.6f}")
    if h.q_mode:
        s += f"|qMode=1|Wavelength={h.wavelength:.8f}"
    return s


def _map_header(h: UpstreamMapHash) -> bytes:
    digest = hashlib.sha256(upstream_map_hash_string(h).encode()).digest()
    head = struct.pack("<II32sBB6sd8s", _MAP_MAGIC, _MAP_VERSION, digest, 1 if h.q_mode else 0, 1, bytes(6),
                       float(h.wavelength) if h.q_mode else 0.0, bytes(8))
    assert len(head) == 64
    return head


def write_upstream_map(folder: str | Path, imap: IntegrationMap, hash_fields: UpstreamMapHash) -> list[Path]:
    """Write ``Map.bin``, ``nMap.bin`` and ``maskMap.bin`` for upstream's integrators.

    ``Map.bin`` records (24 bytes): float32 y, z (RAW pixel column and row of the pixel centre),
    float64 frac = areaWeight / C, float32 deltaR = R(pixel centre) − R(bin centre) (pixels),
    float32 areaWeight = area of the pixel's footprint inside the bin in px² of the corrected
    plane. ``nMap.bin``: int32 (count, offset) per bin, r-major. ``maskMap.bin``: int32 1 per bin
    touched by a bad pixel. Each file starts with the 64-byte ``MAP0`` v3 header.

    Raises
    ------
    ParamError
        A map built from explicit corners (no detector to recompute footprints).
    CapacityError
        More than 2**31 − 1 entries (int32 offsets).
    """
    if imap.detector is None:
        raise ParamError("write_upstream_map needs a map built from an FFDetector")
    det = imap.detector
    m = imap.matrix
    if m.nnz > np.iinfo(np.int32).max:
        raise CapacityError(f"{m.nnz} map entries do not fit upstream's int32 nMap offsets")
    n_y, n_z = det.n_pixels
    cy, cz = core().ff_pixel_corners(det._kernel(), int(n_y), int(n_z))
    # footprint area (px², corrected plane) and centre radius per transformed pixel → raw index
    a, b, c, d = (cy[:-1, :-1], cz[:-1, :-1]), (cy[:-1, 1:], cz[:-1, 1:]), (cy[1:, 1:], cz[1:, 1:]), \
        (cy[1:, :-1], cz[1:, :-1])
    quad_area = 0.5 * np.abs((c[0] - a[0]) * (d[1] - b[1]) - (c[1] - a[1]) * (d[0] - b[0])).ravel()
    r_centre = np.hypot(0.25 * (a[0] + b[0] + c[0] + d[0]), 0.25 * (a[1] + b[1] + c[1] + d[1])).ravel()
    from midas.integration.mapper import raw_pixel_index

    n_raw = m.n_cols
    area_raw = np.zeros(n_raw)
    rc_raw = np.zeros(n_raw)
    ri = raw_pixel_index(imap.raw_frame_shape, det.im_trans_opt)
    area_raw[ri] = quad_area
    rc_raw[ri] = r_centre
    rows = np.repeat(np.arange(m.n_rows), np.diff(m.indptr))
    cols = m.indices.astype(np.int64)
    rec = np.empty(m.nnz, dtype=_MAP_RECORD)
    n_columns = imap.raw_frame_shape[1]
    rec["y"] = (cols % n_columns).astype(np.float32)
    rec["z"] = (cols // n_columns).astype(np.float32)
    area_w = imap.fractions.astype(np.float64) * area_raw[cols]
    rec["area"] = area_w.astype(np.float32)
    rec["frac"] = m.data.astype(np.float64) * area_raw[cols]
    r_bin_centre = imap.bins.r_centres_px[rows // imap.n_eta]
    rec["delta_r"] = (rc_raw[cols] - r_bin_centre).astype(np.float32)
    nmap = np.empty((m.n_rows, 2), dtype="<i4")
    nmap[:, 0] = np.diff(m.indptr)
    nmap[:, 1] = m.indptr[:-1]
    head = _map_header(hash_fields)
    out = []
    folder = Path(folder)
    for name, payload in (("Map.bin", rec.tobytes()), ("nMap.bin", nmap.tobytes()),
                          ("maskMap.bin", imap.bin_flagged.ravel().astype("<i4").tobytes())):
        path = folder / name
        _atomic_bytes(path, head + payload)
        out.append(path)
    log.info("upstream map written: %s (%d records)", folder / "Map.bin", m.nnz)
    return out


def read_upstream_map(folder: str | Path) -> tuple[bytes, NDArray[Any], NDArray[np.int32], NDArray[np.int32]]:
    """Read back ``Map.bin``/``nMap.bin``/``maskMap.bin``: (header, records, nmap (n, 2), maskmap).

    Raises
    ------
    FormatError
        A file without the ``MAP0`` header or of the wrong size.
    """
    folder = Path(folder)
    parts = []
    for name in ("Map.bin", "nMap.bin", "maskMap.bin"):
        raw = (folder / name).read_bytes()
        if len(raw) < 64 or struct.unpack_from("<I", raw)[0] != _MAP_MAGIC:
            raise FormatError(f"{folder / name}: no MAP0 header")
        parts.append(raw)
    rec = np.frombuffer(parts[0], dtype=_MAP_RECORD, offset=64)
    nmap = np.frombuffer(parts[1], dtype="<i4", offset=64).reshape(-1, 2)
    mask = np.frombuffer(parts[2], dtype="<i4", offset=64)
    if not math.isclose(len(rec), int(nmap[:, 0].sum())):
        raise FormatError(f"{folder}: Map.bin has {len(rec)} records, nMap.bin counts {int(nmap[:, 0].sum())}")
    return parts[0][:64], rec, nmap, mask
