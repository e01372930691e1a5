"""Parameter-file keys <-> the parameter nodes of a ``.MIDAS.zip`` archive.

Upstream's zipper copies every key of the parameter file into the archive, one zarr array per
key, under ``analysis/process/analysis_parameters/<Name>`` (a few under
``measurement/process/scan_parameters/``), and its C programs read them back by node name
(upstream_facts §3.2). This module restates those rules:

- renames: ``px`` → ``PixelSize``, ``BC`` → ``YCen`` + ``ZCen``, ``Completeness`` →
  ``MinMatchesToAcceptFrac``, ``LatticeConstant`` → ``LatticeParameter`` (6 values),
  ``OverAllRingToIndex`` → ``OverallRingToIndex``, ``resultFolder`` → ``ResultFolder``,
  ``OmegaRange`` → ``OmegaRanges`` (n, 2), ``BoxSize`` → ``BoxSizes`` (n, 4),
  ``OmegaStep`` → ``measurement/process/scan_parameters/step``;
- shapes: scalars ``(1,)``; ``RingThresh`` ``(n, 2)`` [ring, threshold]; ``RingsToExclude``
  ``(n, 1)``; ``ImTransOpt`` ``(n,)`` int32; other lists ``(n,)``;
- dtypes: float64 ``'<f8'`` for the keys upstream forces to double, int32 ``'<i4'`` for those it
  forces to int, bytes ``|S<len>`` for strings, and otherwise the number's own type (an integer
  becomes ``'<i8'``, as numpy makes it). Upstream decides that last case from the text of the
  parameter file (``PeakIntensity 5000`` → int64 even though it is a float quantity); given a
  :class:`~midas.params.MidasParams` read from a file, the same is done from its line text so the
  archive matches upstream's node for node;
- placeholders written when a key is absent (upstream's C readers expect the node):
  ``RingThresh`` and ``RingsToExclude`` = ``[[0, 0]]``, ``OmegaRanges`` = ``[[-10000, 0]]``,
  ``BoxSizes`` = ``[[-10000, 0, 0, 0]]``, ``ImTransOpt`` = ``[-1]``. Reading drops them again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from midas.errors import ParamError

__all__ = [
    "ANALYSIS_GROUP",
    "SCAN_GROUP",
    "analysis_parameters_from_params",
    "archive_name",
    "params_from_archive_nodes",
]

ANALYSIS_GROUP = "analysis/process/analysis_parameters"
SCAN_GROUP = "measurement/process/scan_parameters"

# Parameter-file key -> archive node name (analysis group) where the two differ.
_ARCHIVE_NAMES = {
    "px": "PixelSize",
    "Completeness": "MinMatchesToAcceptFrac",
    "LatticeConstant": "LatticeParameter",
    "OverAllRingToIndex": "OverallRingToIndex",
    "resultFolder": "ResultFolder",
    "OmegaRange": "OmegaRanges",
    "BoxSize": "BoxSizes",
}
# Parameter-file key -> node name in the scan group.
_SCAN_NAMES = {"OmegaStep": "step", "doPeakFit": "doPeakFit"}

# Archive node name -> canonical parameter key where the registry cannot tell (the archive
# names that are not aliases of :mod:`midas.params`). ``ResultFolder`` stays itself: upstream
# stores both ``resultFolder`` and ``ResultFolder`` there.
_CANONICAL = {
    "OverallRingToIndex": "OverAllRingToIndex",
    "OmegaRanges": "OmegaRange",
    "BoxSizes": "BoxSize",
    "LatticeParameter": "LatticeConstant",
    "PixelSize": "px",
    "MinMatchesToAcceptFrac": "Completeness",
}
_CANONICAL_SCAN = {v: k for k, v in _SCAN_NAMES.items()}


def _canonical_key(name: str) -> str:
    if name in _CANONICAL:
        return _CANONICAL[name]
    from midas.params import lookup

    spec = lookup(name)
    return spec.name if spec is not None else name


def _as_registry_shape(key: str, value: Any) -> Any:
    """A read-back value in the shape :class:`midas.params.MidasParams` gives for ``key``:
    a list of occurrences for accumulating keys (``RingNumbers``), a list per detector distance
    for per-distance keys given more than once (NF ``Lsd``)."""
    from midas.params import lookup

    spec = lookup(key)
    if spec is None or isinstance(value, list):
        return value
    if spec.repeat and spec.max_values == 1:
        return list(value) if isinstance(value, tuple) else [value]
    if spec.per_distance and spec.max_values == 1 and isinstance(value, tuple):
        return list(value)
    return value

# Keys upstream writes as float64 whatever the text looks like (param_refresh / ff_zip lists).
FORCE_DOUBLE = frozenset([
    "RMin", "RMax", "px", "PixelSize", "Completeness", "MinMatchesToAcceptFrac", "OverArea",
    "IntensityThresh", "MinS_N", "YPixelSize", "ZPixelSize", "BeamStopY", "BeamStopZ",
    "DetDist", "MaxDev", "OmegaStart", "OmegaFirstFile", "OmegaStep", "step", "BadPxIntensity",
    "GapIntensity", "FitWeightMean", "PixelSplittingRBin", "tolTilts", "tolBC", "tolLsd",
    "DiscArea", "OverlapLength", "ReferenceRingCurrent", "zDiffThresh", "GlobalPosition",
    "tolPanelFit", "tolP", "tolP0", "tolP1", "tolP2", "tolP3", "tolP4", "tolShifts",
    "tolRotation", "tolLsdPanel", "tolP2Panel", "DoubletSeparation", "MultFactor",
    "StepSizePos", "tInt", "tGap", "StepSizeOrient", "MarginRadius", "MarginRadial",
    "MarginEta", "MarginOme", "MargABG", "MargABC", "OmeBinSize", "EtaBinSize", "RBinSize",
    "EtaMin", "MinEta", "EtaMax", "X", "Y", "Z", "U", "V", "W", "SHpL", "Polariz",
    "MaxOmeSpotIDsToIndex", "MinOmeSpotIDsToIndex", "BeamThickness", "Wedge", "Rsample",
    "Hbeam", "Vsample", "RhoD", "MaxRingRad", "Lsd", "Wavelength", "Width", "WidthTthPx",
    "UpperBoundThreshold", "p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10",
    "p11", "p12", "p13", "p14", "Parallax", "tx", "ty", "tz", "tolP5", "tolP6", "tolP7",
    "tolP8", "tolP9", "tolP10", "tolP11", "tolP12", "tolP13", "tolP14", "tolParallax",
    "WeightMask", "WeightFitRMSE", "QBinSize", "QMin", "QMax", "iso_R2", "iso_R4", "iso_R6",
    "a1", "phi1", "a2", "phi2", "a3", "phi3", "a4", "phi4", "a5", "phi5", "a6", "phi6",
])
# Keys upstream writes as int32.
FORCE_INT32 = frozenset([
    "Twins", "MaxNFrames", "DoFit", "DiscModel", "UseMaximaPositions", "UsePixelOverlap",
    "MaxNrPx", "MinNrPx", "MaxNPeaks", "PhaseNr", "NumPhases", "MinNrSpots", "UseFriedelPairs",
    "OverallRingToIndex", "OverAllRingToIndex", "SpaceGroup", "LayerNr", "DoFullImage",
    "SkipFrame", "SumImages", "Normalize", "SaveIndividualFrames", "OmegaSumFrames",
    "NrFilesPerSweep", "NPanelsY", "NPanelsZ", "Padding", "PanelSizeY", "PanelSizeZ",
    "PanelGapsY", "PanelGapsZ", "doPeakFit", "nIterations", "NormalizeRingWeights",
    "OutlierIterations", "WeightByRadius", "WeightByFitSNR", "L2Objective", "PerPanelLsd",
    "PerPanelDistortion", "FixPanelID", "MinIndicesForFit", "LocalMaximaOnly", "FitParallax",
    "ImTransOpt",
])
# Keys upstream writes as strings even when they look like numbers.
FORCE_STRING = frozenset([
    "GapFile", "BadPxFile", "ResultFolder", "resultFolder", "PanelShiftsFile", "MaskFile",
    "GrainsFile", "ResidualCorrectionMap",
])

# Placeholder nodes (upstream writes them when the key is absent).
_PLACEHOLDERS: dict[str, NDArray[Any]] = {
    "RingThresh": np.zeros((1, 2), dtype="<f8"),
    "RingsToExclude": np.zeros((1, 2), dtype="<f8"),
    "OmegaRanges": np.array([[-10000.0, 0.0]], dtype="<f8"),
    "BoxSizes": np.array([[-10000.0, 0.0, 0.0, 0.0]], dtype="<f8"),
    "ImTransOpt": np.array([-1], dtype="<i4"),
}

_TABLE_COLUMNS = {"RingThresh": 2, "OmegaRange": 2, "BoxSize": 4}


def archive_name(key: str) -> str:
    """Node path (relative to the archive root) where parameter ``key`` is stored.

    ``BC`` is stored as two nodes (``YCen``, ``ZCen``); this returns the ``YCen`` one.

    Examples
    --------
    >>> archive_name("px"), archive_name("OmegaStep")
    ('analysis/process/analysis_parameters/PixelSize', 'measurement/process/scan_parameters/step')
    """
    if key in _SCAN_NAMES:
        return f"{SCAN_GROUP}/{_SCAN_NAMES[key]}"
    if key == "BC":
        return f"{ANALYSIS_GROUP}/YCen"
    return f"{ANALYSIS_GROUP}/{_ARCHIVE_NAMES.get(key, key)}"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


_INT_TOKEN = re.compile(r"^[+-]?\d+$")


def _int_literal_keys(entries: Iterable[Any]) -> set[str]:
    """Keys whose every line in the file writes its numbers as integer literals ("5000").

    Upstream's zipper types a key it does not force by how the number is written: ``5000`` is
    stored as int64, ``5000.0`` as float64. Knowing the text lets us store the same dtype.
    """
    seen: dict[str, bool] = {}
    for e in entries:
        text = getattr(e, "text", None)
        if not text:
            seen[e.key] = False
            continue
        tokens = text.split("#", 1)[0].replace(";", " ").split()[1:]
        ok = bool(tokens) and all(_INT_TOKEN.match(t) for t in tokens)
        seen[e.key] = seen.get(e.key, True) and ok
    return {k for k, ok in seen.items() if ok}


def _scalar_dtype(name: str, values: Iterable[Any], key: str, int_text: bool = False) -> str:
    vals = list(values)
    for v in vals:
        if isinstance(v, (bool, np.bool_)):
            continue
        if not _is_number(v):
            raise ParamError(f"parameter {key}: value {v!r} is not a number; a list value must "
                             f"hold numbers only")
    if name in FORCE_DOUBLE or key in FORCE_DOUBLE:
        return "<f8"
    if name in FORCE_INT32 or key in FORCE_INT32:
        for v in vals:
            if float(v) != int(v):
                raise ParamError(f"parameter {key}: {v!r} must be an integer (stored as int32)")
            if not -2**31 <= int(v) < 2**31:
                raise ParamError(f"parameter {key}: {v!r} does not fit int32")
        return "<i4"
    if all(isinstance(v, (int, np.integer, bool, np.bool_)) for v in vals):
        return "<i8"
    if int_text and all(float(v).is_integer() and abs(v) < 2**63 for v in vals):
        return "<i8"
    return "<f8"


def _string_node(value: str) -> NDArray[Any]:
    raw = value.encode("utf-8")
    return np.array([raw], dtype=f"S{max(len(raw), 1)}")


def _table(key: str, value: Any, ncol: int | None) -> NDArray[np.float64]:
    rows = value
    if isinstance(rows, np.ndarray):
        rows = rows.tolist()
    if rows and _is_number(rows[0]):
        rows = [rows]  # one occurrence given as a flat tuple
    try:
        arr = np.array([[float(x) for x in r] for r in rows], dtype="<f8")
    except (TypeError, ValueError) as exc:
        raise ParamError(f"parameter {key}: expected rows of numbers, got {value!r}") from exc
    if arr.ndim != 2 or arr.shape[0] == 0 or (ncol is not None and arr.shape[1] != ncol):
        want = f"{ncol} numbers" if ncol else "numbers"
        raise ParamError(f"parameter {key}: each occurrence must hold {want}; got {value!r}")
    return arr


def _nodes_for(key: str, value: Any, int_text: bool = False) -> list[tuple[str, NDArray[Any]]]:
    """Archive nodes (path, array) for one parameter (``int_text``: written as integers)."""
    a = ANALYSIS_GROUP
    if value is None:
        raise ParamError(f"parameter {key} has no value")
    if key == "BC":
        bc = np.asarray(value, dtype=np.float64)
        if bc.shape == (2,):
            return [(f"{a}/YCen", bc[:1].astype("<f8")), (f"{a}/ZCen", bc[1:].astype("<f8"))]
        if bc.ndim == 2 and bc.shape[1] == 2:  # one BC per detector distance (NF)
            return [(f"{a}/YCen", bc[:, 0].astype("<f8")), (f"{a}/ZCen", bc[:, 1].astype("<f8"))]
        raise ParamError(f"parameter BC must be 2 numbers (y_px, z_px), got {value!r}")
    if key in ("LatticeConstant", "LatticeParameter"):
        lat = np.asarray(value, dtype=np.float64).ravel()
        if lat.shape != (6,):
            raise ParamError(f"parameter {key} must be 6 numbers (a b c in Å, α β γ in deg), "
                             f"got {value!r}")
        return [(f"{a}/LatticeParameter", lat.astype("<f8"))]
    if key == "ImTransOpt":
        vals = [value] if _is_number(value) else list(value)
        return [(f"{a}/ImTransOpt", np.array(_int_list(key, vals), dtype="<i4"))]
    if key in _TABLE_COLUMNS:
        return [(f"{a}/{_ARCHIVE_NAMES.get(key, key)}", _table(key, value, _TABLE_COLUMNS[key]))]
    if key == "RingsToExclude":
        vals = [value] if _is_number(value) else [v[0] if isinstance(v, (tuple, list)) and len(v) == 1
                                                   else v for v in value]
        return [(f"{a}/RingsToExclude", np.array(_int_list(key, vals), dtype="<f8").reshape(-1, 1))]
    path = archive_name(key)
    name = path.rsplit("/", 1)[1]
    if isinstance(value, (str, bytes)):
        text = value.decode() if isinstance(value, bytes) else value
        return [(path, _string_node(text))]
    if name in FORCE_STRING or key in FORCE_STRING:
        return [(path, _string_node(str(value)))]
    if _is_number(value) or isinstance(value, (bool, np.bool_)):
        return [(path, np.array([value], dtype=_scalar_dtype(name, [value], key, int_text)))]
    seq = value.tolist() if isinstance(value, np.ndarray) else list(value)
    if seq and all(isinstance(v, (tuple, list)) for v in seq):  # repeated multi-value key
        widths = {len(v) for v in seq}
        if len(widths) != 1:
            raise ParamError(f"parameter {key}: occurrences have different numbers of values "
                             f"{sorted(widths)}; cannot store them as one table")
        flat = [x for v in seq for x in v]
        arr = np.array(flat, dtype=_scalar_dtype(name, flat, key, int_text)).reshape(len(seq), -1)
        return [(path, arr)]
    if seq and all(isinstance(v, str) for v in seq):  # several words: keep the text
        return [(path, _string_node(" ".join(seq)))]
    if not seq:
        raise ParamError(f"parameter {key} has an empty value")
    return [(path, np.array(seq, dtype=_scalar_dtype(name, seq, key, int_text)))]


def _int_list(key: str, vals: Iterable[Any]) -> list[int]:
    out = []
    for v in vals:
        if not _is_number(v) or float(v) != int(v):
            raise ParamError(f"parameter {key}: {v!r} is not an integer")
        out.append(int(v))
    return out


def analysis_parameters_from_params(p: Mapping[str, Any] | Any) -> dict[str, NDArray[Any]]:
    """The archive's parameter nodes for a mapping of canonical keys to typed values.

    Parameters
    ----------
    p : mapping or MidasParams
        Canonical key -> value, as :class:`midas.params.MidasParams` holds them (for a
        MidasParams, the keys of its file lines, in file order): floats, ints,
        strings, tuples of numbers; repeated keys as lists of occurrences (``RingThresh`` list of
        ``(ring, thresh)``, ``OmegaRange`` list of ``(lo, hi)``, ``BoxSize`` list of 4-tuples,
        ``ImTransOpt`` list of int, ``RingsToExclude`` list of int); ``BC`` = ``(y_px, z_px)``;
        ``LatticeConstant`` = 6-tuple.

    Returns
    -------
    dict of str -> ndarray
        Node path relative to the archive root (e.g.
        ``'analysis/process/analysis_parameters/PixelSize'``,
        ``'measurement/process/scan_parameters/step'``) -> array with the dtype and shape the
        archive stores, in the order of ``p``, followed by the placeholder nodes upstream's C
        readers expect (module notes).

    Raises
    ------
    ParamError
        A value of the wrong shape or type (message names the key and value), or two keys that
        land on the same node (e.g. both ``px`` and ``PixelSize``).

    Examples
    --------
    >>> n = analysis_parameters_from_params({"px": 200, "BC": (1022.0, 1021.5), "SpaceGroup": 225})
    >>> {k.rsplit("/", 1)[1]: (v.dtype.str, v.tolist()) for k, v in n.items() if "Cen" in k or "Pix" in k}
    {'PixelSize': ('<f8', [200.0]), 'YCen': ('<f8', [1022.0]), 'ZCen': ('<f8', [1021.5])}
    """
    entries = getattr(p, "entries", None)
    if entries is not None:
        # A MidasParams: one node per key line of the file (a `NrPixels` line gives the
        # `NrPixels` node only, as upstream, not the NrPixelsY/NrPixelsZ it implies).
        items = [(k, p.get(k)) for k in dict.fromkeys(e.key for e in entries)]
        int_keys = _int_literal_keys(entries)
    else:
        items = list(p.items())
        int_keys = set()
    nodes: dict[str, NDArray[Any]] = {}
    owner: dict[str, str] = {}
    for key, value in items:
        for path, arr in _nodes_for(str(key), value, key in int_keys):
            if path in nodes:
                raise ParamError(f"parameters {owner[path]} and {key} both set archive node "
                                 f"{path}; keep one of them")
            nodes[path] = arr
            owner[path] = str(key)
    for name, default in _PLACEHOLDERS.items():
        nodes.setdefault(f"{ANALYSIS_GROUP}/{name}", default.copy())
    return nodes


def _python_value(arr: NDArray[Any]) -> Any:
    """An archive array as the Python value a parameter file would give."""
    if arr.dtype.kind == "S":
        words = [b.decode("utf-8", "replace") for b in np.atleast_1d(arr).ravel()]
        return words[0] if len(words) == 1 else tuple(words)
    if arr.dtype.kind == "U":
        words = [str(b) for b in np.atleast_1d(arr).ravel()]
        return words[0] if len(words) == 1 else tuple(words)
    conv = int if arr.dtype.kind in "iub" else float
    if arr.ndim == 0 or arr.size == 1 and arr.ndim == 1:
        return conv(arr.ravel()[0])
    if arr.ndim == 1:
        return tuple(conv(x) for x in arr)
    return [tuple(conv(x) for x in row) for row in arr.reshape(arr.shape[0], -1)]


def _is_placeholder(name: str, arr: NDArray[Any]) -> bool:
    ref = _PLACEHOLDERS.get(name)
    return ref is not None and arr.shape == ref.shape and bool(np.all(arr == ref))


def params_from_archive_nodes(nodes: Mapping[str, NDArray[Any]]) -> dict[str, Any]:
    """Canonical parameters from archive nodes (inverse of :func:`analysis_parameters_from_params`).

    Parameters
    ----------
    nodes : mapping of str -> ndarray
        Node path relative to the archive root -> its array. Nodes outside the analysis group
        are ignored, except ``measurement/process/scan_parameters/step`` (→ ``OmegaStep``) and
        ``doPeakFit``.

    Returns
    -------
    dict
        Canonical key -> value: ``BC`` tuple, ``LatticeConstant`` 6-tuple, ``RingThresh`` list of
        ``(int ring, float thresh)``, ``OmegaRange`` list of 2-tuples, ``BoxSize`` list of
        4-tuples, ``ImTransOpt`` list of int, ``RingsToExclude`` list of int, scalars as
        int/float/str, other arrays as tuples. Upstream's placeholder nodes are left out.
    """
    out: dict[str, Any] = {}
    ycen = zcen = None
    for path, arr in nodes.items():
        group, _, name = path.rpartition("/")
        arr = np.asarray(arr)
        if group == SCAN_GROUP:
            if name in _CANONICAL_SCAN:
                out[_CANONICAL_SCAN[name]] = _python_value(arr)
            continue
        if group != ANALYSIS_GROUP or _is_placeholder(name, arr):
            continue
        if name == "YCen":
            ycen = arr
            continue
        if name == "ZCen":
            zcen = arr
            continue
        key = _canonical_key(name)
        if name == "RingThresh":
            out[key] = [(int(r), float(t)) for r, t in arr.reshape(-1, 2)]
        elif name in ("OmegaRanges", "BoxSizes"):
            out[key] = [tuple(float(x) for x in row) for row in arr.reshape(arr.shape[0], -1)]
        elif name == "ImTransOpt":
            out[key] = [int(x) for x in arr.ravel()]
        elif name == "RingsToExclude":
            out[key] = [int(x) for x in arr.ravel() if x != 0]
        elif name == "LatticeParameter":
            out[key] = tuple(float(x) for x in arr.ravel())
        else:
            out[key] = _as_registry_shape(key, _python_value(arr))
    if ycen is not None and zcen is not None:
        if ycen.size == 1 and zcen.size == 1:
            out["BC"] = (float(ycen.ravel()[0]), float(zcen.ravel()[0]))
        else:
            out["BC"] = [(float(y), float(z)) for y, z in zip(ycen.ravel(), zcen.ravel())]
    elif ycen is not None or zcen is not None:  # half a beam centre: keep what is there
        for nm, v in (("YCen", ycen), ("ZCen", zcen)):
            if v is not None:
                out[nm] = _python_value(v)
    return out
