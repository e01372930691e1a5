"""The table of every upstream MIDAS parameter-file key midas knows.

One :class:`KeySpec` per canonical key: the value types and count, whether lines accumulate,
the aliases upstream accepts, the default upstream applies when the key is absent, the unit,
the workflows that use it and a one-line meaning. The parser, the writer, the typed views and
``docs/parameters.md`` are all driven by this table; nothing else in midas spells a MIDAS key.

Sources (restated, not copied): the shared C parser ``FF_HEDM/src/MIDAS_ParamParser.c`` (keys,
aliases, accumulating keys, defaults), the NF executables' own readers, ``paramstest.txt`` as
written by FitSetup, the example files ``FF_HEDM/Example/Parameters.txt``,
``NF_HEDM/Example/ps_au.txt`` and ``FF_HEDM/Example/Calibration/parameters.txt``, and the
integration manual (``manuals/FF_Radial_Integration.md`` §5). See
``shared/docs/upstream_facts.md`` §1.

Value types, one letter per value on the line: ``f`` a finite decimal number (returned as
``float``), ``i`` a decimal integer (``int``), ``s`` one whitespace-free token (``str``: file
names, dataset paths, extensions). A key with one value gives a scalar, a key with more gives a
tuple. Variadic keys (``PanelGapsY``) repeat their last type letter.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "KINDS",
    "KeySpec",
    "REGISTRY",
    "Scalar",
    "Value",
    "closest_key",
    "lookup",
    "specs_for_kind",
]

Scalar = float | int | str
Value = Scalar | tuple[Scalar, ...]

FF = "ff"
NF = "nf"
CAL = "calibration"
INT = "integration"
SIM = "simulation"
KINDS: tuple[str, ...] = (FF, NF, CAL, INT, SIM)
"""The workflows a key can belong to: far-field, near-field, detector calibration, radial
integration, forward simulation."""

_ALL = frozenset(KINDS)


# ---- value constraints (checked per line, so errors can name the line) ----------------------

def _positive(v: Value) -> str | None:
    return None if isinstance(v, int | float) and v > 0 else "must be > 0"


def _non_negative(v: Value) -> str | None:
    return None if isinstance(v, int | float) and v >= 0 else "must be >= 0"


def _space_group(v: Value) -> str | None:
    return None if isinstance(v, int) and 1 <= v <= 230 else "must be an ITA space-group number 1..230"


def _ring(v: Value) -> str | None:
    ring = v[0] if isinstance(v, tuple) else v
    return None if isinstance(ring, int) and ring >= 1 else "ring numbers start at 1"


def _im_trans(v: Value) -> str | None:
    return None if v in (0, 1, 2, 3) else "must be 0 (none), 1 (flip Y), 2 (flip Z) or 3 (transpose)"


def _all_positive(v: Value) -> str | None:
    vals = v if isinstance(v, tuple) else (v,)
    ok = all(isinstance(x, int | float) and x > 0 for x in vals)
    return None if ok else "all values must be > 0"


def _lattice(v: Value) -> str | None:
    vals = v if isinstance(v, tuple) else (v,)
    if not all(isinstance(x, int | float) and x > 0 for x in vals):
        return "all lattice constants must be > 0"
    if len(vals) == 6 and not all(float(x) < 180.0 for x in vals[3:]):
        return "angles alpha beta gamma must be < 180 deg"
    return None


_CHECKS: dict[str, Callable[[Value], str | None]] = {
    "positive": _positive,
    "non_negative": _non_negative,
    "space_group": _space_group,
    "ring": _ring,
    "im_trans": _im_trans,
    "all_positive": _all_positive,
    "lattice": _lattice,
}


@dataclass(frozen=True, slots=True)
class KeySpec:
    """Description of one canonical MIDAS parameter key.

    Attributes
    ----------
    name : str
        Canonical key, exactly as upstream spells it (case-sensitive).
    types : str
        One letter per value: ``f`` float, ``i`` int, ``s`` token. ``""`` for a bare flag.
    kinds : frozenset of str
        Workflows that read the key (subset of :data:`KINDS`).
    doc : str
        One-line meaning.
    unit : str
        Unit of the values ("µm", "deg", "px", "Å", ...); empty when dimensionless.
    repeat : bool
        Accumulating key: every line adds one occurrence and ``MidasParams.get`` returns the
        list of occurrences in file order. Otherwise the last line wins.
    aliases : tuple of str
        Other spellings upstream accepts for the same slot.
    default : value, callable or None
        Value upstream uses when the key is absent. A callable receives ``get(key)`` of the
        parameter set and returns the default (defaults that depend on other keys).
    fields : tuple of str
        Names of the values on the line, used in error messages (``("y", "z")`` for ``BC``).
    min_values, max_values : int
        Allowed number of values. Equal to ``len(types)`` except for variadic keys (the last
        type letter repeats) and keys with optional trailing values.
    per_distance : bool
        NF per-distance key (``Lsd``, ``BC``): in a file with ``nDistances``, line k is
        distance k.
    legacy_counts : tuple of int
        Other value counts accepted with a warning (old single-value ``LatticeConstant``).
    check : str or None
        Name of a value constraint (``"positive"``, ``"space_group"``, ...).
    """

    name: str
    types: str
    kinds: frozenset[str]
    doc: str
    unit: str = ""
    repeat: bool = False
    aliases: tuple[str, ...] = ()
    default: Any = None
    fields: tuple[str, ...] = ()
    min_values: int = -1
    max_values: int = -1
    per_distance: bool = False
    legacy_counts: tuple[int, ...] = ()
    check: str | None = None

    def __post_init__(self) -> None:
        if self.min_values < 0:
            object.__setattr__(self, "min_values", len(self.types))
        if self.max_values < 0:
            object.__setattr__(self, "max_values", len(self.types))
        if self.check is not None and self.check not in _CHECKS:
            raise ValueError(f"unknown check {self.check!r} for key {self.name!r}")

    @property
    def numeric(self) -> bool:
        """True when every value is a number (a trailing ``;`` is then tolerated)."""
        return "s" not in self.types

    @property
    def scalar(self) -> bool:
        """True when one line holds exactly one value (returned as a scalar, not a tuple)."""
        return self.min_values == 1 and self.max_values == 1 and not self.legacy_counts

    def type_at(self, k: int) -> str:
        """Type letter of value number ``k`` (0-based); variadic keys repeat the last letter."""
        return self.types[min(k, len(self.types) - 1)]

    def expects(self) -> str:
        """Human description of a valid value, e.g. ``"2 numbers: y z (px)"``."""
        if not self.types:
            return "no value"
        noun = {"f": "number", "i": "integer", "s": "token"}
        lo, hi = self.min_values, self.max_values
        count = str(lo) if lo == hi else f"{lo} to {hi}"
        mixed = len(set(self.types)) > 1
        base = "value" if mixed else noun[self.types[0]]
        what = f"{count} {base}{'' if hi == 1 else 's'}"
        if self.legacy_counts:
            what += f" (or the legacy {'/'.join(map(str, self.legacy_counts))}-value form)"
        if self.fields:
            pairs = zip(self.fields, self.types, strict=False)
            names = [f"{n} ({noun[t]})" if mixed else n for n, t in pairs]
            what += ": " + " ".join(names)
        if "s" in self.types and not mixed:
            what += " without spaces"
        if self.unit:
            what += f" ({self.unit})"
        return what

    def check_value(self, value: Value) -> str | None:
        """Return a description of why ``value`` violates the key's constraint, or None."""
        if self.check is None:
            return None
        return _CHECKS[self.check](value)


def _k(
    name: str,
    types: str,
    kinds: Iterable[str] | frozenset[str],
    doc: str,
    unit: str = "",
    **kw: Any,
) -> KeySpec:
    return KeySpec(name=name, types=types, kinds=frozenset(kinds), doc=doc, unit=unit, **kw)


def _tolp_default(k: int) -> Callable[[Callable[[str], Any]], Any]:
    def default(get: Callable[[str], Any]) -> Any:
        return get("tolP")

    default.__doc__ = f"tolP{k} falls back to tolP"
    return default


def _head_size_default(get: Callable[[str], Any]) -> Any:
    """8192 (GE header) when DataType is 1, else 0."""
    return 8192 if get("DataType") == 1 else 0


def _nr_pixels_default(get: Callable[[str], Any]) -> Any:
    """max(NrPixelsY, NrPixelsZ) of the keys present."""
    vals = [v for v in (get("NrPixelsY"), get("NrPixelsZ")) if v is not None]
    return max(vals) if vals else None


def _edge_length_default(get: Callable[[str], Any]) -> Any:
    """GridSize."""
    return get("GridSize")


_FNC = (FF, NF, CAL, INT, SIM)
_FS = (FF, SIM)
_FNS = (FF, NF, SIM)
_CI = (CAL, INT)

_SPECS: list[KeySpec] = [
    # ---- data source and file discovery ----
    _k("FileStem", "s", (FF, CAL, INT), "file-name prefix before the zero-padded frame number"),
    _k("Folder", "s", (FF, CAL, INT), "folder of the raw frames"),
    _k("RawFolder", "s", (FF,), "folder of the raw detector frames"),
    _k("Ext", "s", (FF, CAL, INT), "file extension with its dot (.ge3, .tif, .h5)"),
    _k("Dark", "s", (FF, CAL, INT), "dark-frame file"),
    _k("FlatFile", "s", (INT,), "flat-field file"),
    _k("Padding", "i", (FF, CAL, INT), "zero-padding width of frame numbers", "digits", default=6,
       check="non_negative"),
    _k("StartNr", "i", _FNC, "first file (frame) number"),
    _k("EndNr", "i", _FNC, "last file (frame) number"),
    _k("StartFileNrFirstLayer", "i", (FF,), "first file number of layer 1", default=1),
    _k("NrFilesPerSweep", "i", (FF,), "files per omega sweep", default=1),
    _k("NrFilesPerDistance", "i", (NF,), "frames per NF detector distance", default=1),
    _k("SkipFrame", "i", (FF, CAL, INT), "frames skipped at the start of each sweep", default=0),
    _k("HeadSize", "i", (FF, CAL, INT), "bytes of header skipped in raw binary frames", "bytes",
       default=_head_size_default),
    _k("DataType", "i", (FF, CAL, INT), "raw frame format code (1 = GE, 6 = TIFF, ...)", default=1),
    _k("MaxNFrames", "i", (FF,), "process at most this many frames"),
    _k("ScanStep", "f", (FF,), "translation step between scan points (PF)", "µm"),
    _k("RawStartNr", "i", (NF,), "first raw frame number (NF image processing)"),
    _k("OrigFileName", "s", (NF,), "raw NF file-name stem"),
    _k("ReducedFileName", "s", (NF,), "reduced NF file-name stem"),
    _k("extOrig", "s", (NF,), "raw NF file extension (no dot)", default="tif"),
    _k("extReduced", "s", (NF,), "reduced NF file extension (no dot)", default="bin"),
    _k("WFImages", "i", (NF,), "wide-field images per layer (skipped)", default=0),
    _k("DataDirectory", "s", (NF, INT), "NF data and work folder"),
    _k("OutputDirectory", "s", (NF,), "NF output folder"),
    _k("resultFolder", "s", _FNC, "top-level output folder of the workflow driver"),
    _k("logDir", "s", (NF,), "log folder"),
    _k("darkDataset", "s", (FF, CAL, INT), "HDF5/zarr dataset of the dark frames",
       aliases=("darkLoc",), default="exchange/dark"),
    _k("dataDataset", "s", (FF, CAL, INT), "HDF5/zarr dataset of the frames",
       aliases=("dataLoc",), default="exchange/data"),
    _k("PositionsFile", "s", (FF,), "per-scan sample positions (PF)"),
    # ---- detector geometry ----
    _k("NrPixels", "i", _FNC, "square detector size: sets NrPixelsY and NrPixelsZ", "px",
       default=_nr_pixels_default, check="positive"),
    _k("NrPixelsY", "i", _FNC, "detector width (columns, Y)", "px", check="positive"),
    _k("NrPixelsZ", "i", _FNC, "detector height (rows, Z)", "px", check="positive"),
    _k("px", "f", _FNC, "pixel size", "µm", aliases=("PixelSize",), check="positive"),
    _k("YPixelSize", "f", (INT, CAL), "pixel size along Y where it differs from px", "µm",
       check="positive"),
    _k("Lsd", "f", _FNC, "sample-to-detector distance", "µm",
       aliases=("Distance", "DetDist"), per_distance=True, check="positive"),
    _k("BC", "ff", _FNC, "beam centre on the detector", "px",
       fields=("y", "z"), per_distance=True),
    _k("nDistances", "i", (NF,), "number of NF detector distances", check="positive"),
    _k("LsdMean", "f", (NF,), "mean sample-to-detector distance", "µm"),
    _k("tx", "f", _FNC, "detector tilt about the beam (x)", "deg", default=0.0),
    _k("ty", "f", _FNC, "detector tilt about y", "deg", default=0.0),
    _k("tz", "f", _FNC, "detector tilt about z", "deg", default=0.0),
    *[_k(f"p{k}", "f", (FF, CAL, INT, SIM),
         f"distortion coefficient p{k}" + (" (phase)" if k in (3, 6, 8, 10, 12, 14) else ""),
         "deg" if k in (3, 6, 8, 10, 12, 14) else "", default=0.0) for k in range(15)],
    _k("DistortionOrder", "i", (CAL,), "highest distortion order refined (read and ignored upstream)"),
    _k("Wedge", "f", _FNC, "deviation of the rotation axis from perpendicular to the beam", "deg",
       default=0.0),
    _k("RhoD", "f", _FNC, "distortion normalising radius and maximum ring radius", "µm",
       aliases=("MaxRingRad",)),
    _k("Parallax", "f", (CAL, INT), "parallax correction term", "µm", default=0.0),
    _k("DistortionFile", "s", (INT,), "file with per-pixel Y then Z distortion maps"),
    _k("ResidualCorrectionMap", "s", (CAL, INT), "residual distortion correction map"),
    _k("DetParams", "ffffffffff", (FF,), "one detector of a multi-detector set "
       "(Lsd ybc zbc tx ty tz p0 p1 p2 RhoD)", repeat=True),
    _k("BigDetSize", "i", (FF,), "size of the assembled multi-detector image", "px"),
    _k("NPanelsY", "i", (CAL, INT), "detector panels along Y", default=0),
    _k("NPanelsZ", "i", (CAL, INT), "detector panels along Z", default=0),
    _k("PanelSizeY", "i", (CAL, INT), "pixels per panel along Y", "px", default=0),
    _k("PanelSizeZ", "i", (CAL, INT), "pixels per panel along Z", "px", default=0),
    _k("PanelGapsY", "i", (CAL, INT), "gaps between Y panels, up to 10 on one line", "px",
       min_values=1, max_values=10),
    _k("PanelGapsZ", "i", (CAL, INT), "gaps between Z panels, up to 10 on one line", "px",
       min_values=1, max_values=10),
    _k("PanelShiftsFile", "s", (CAL, INT), "per-panel shifts file"),
    _k("FixPanelID", "i", (CAL,), "panel held fixed during panel refinement", default=0),
    _k("PerPanelLsd", "i", (CAL,), "refine one Lsd per panel (0/1)"),
    _k("PerPanelDistortion", "i", (CAL,), "refine p2 per panel (0/1)"),
    # ---- crystallography ----
    _k("LatticeConstant", "ffffff", _FNC, "lattice constants a b c alpha beta gamma", "Å, deg",
       aliases=("LatticeParameter",), fields=("a", "b", "c", "alpha", "beta", "gamma"),
       legacy_counts=(1,), check="lattice"),
    _k("SpaceGroup", "i", _FNC, "space-group number (ITA)", aliases=("SGNr",), default=225,
       check="space_group"),
    _k("CellStruct", "i", (FF,), "legacy crystal-structure flag of old paramstest files"),
    _k("Wavelength", "f", _FNC, "X-ray wavelength", "Å", check="positive"),
    _k("NumPhases", "i", _FNS, "number of phases", default=1),
    _k("PhaseNr", "i", _FNS, "phase analysed"),
    _k("MaxRingNumber", "i", _FNC, "highest ring number considered", default=0),
    # ---- omega scan ----
    _k("OmegaStart", "f", _FNC, "omega of the first frame", "deg"),
    _k("OmegaEnd", "f", _FS, "omega of the last frame", "deg"),
    _k("OmegaStep", "f", _FNC, "omega step per frame (sign = direction)", "deg"),
    _k("OmegaFirstFile", "f", (FF, INT), "omega of the first frame of each scan file", "deg"),
    _k("OmegaSumFrames", "i", (INT,), "frames summed per integrated image"),
    _k("OmegaRange", "ff", _FNS, "omega window analysed; pairs index-wise with BoxSize", "deg",
       repeat=True, fields=("lo", "hi")),
    _k("BoxSize", "ffff", _FNS, "detector window for the matching OmegaRange", "µm",
       repeat=True, fields=("y_min", "y_max", "z_min", "z_max")),
    _k("MinOmeSpotIDsToIndex", "f", (FF,), "lowest omega of seed spots", "deg"),
    _k("MaxOmeSpotIDsToIndex", "f", (FF,), "highest omega of seed spots", "deg"),
    _k("OmeBinSize", "f", (FF,), "omega bin of the spot look-up table", "deg"),
    _k("EtaBinSize", "f", (FF, CAL, INT), "eta bin (look-up table; integration bin)", "deg"),
    _k("MinEta", "f", _FNS, "eta excluded around the poles (0 and 180 deg)", "deg",
       aliases=("ExcludePoleAngle",)),
    # ---- ring selection ----
    _k("RingThresh", "if", (FF, SIM), "ring used and its intensity threshold (counts above dark)",
       repeat=True, fields=("ring", "threshold"), check="ring"),
    _k("RingsToExclude", "i", _FNC, "ring excluded from the analysis", repeat=True,
       aliases=("RingsToReject",), check="ring"),
    _k("RingNumbers", "i", (FF,), "ring used by the indexer (paramstest)", repeat=True, check="ring"),
    _k("RingRadii", "f", (FF,), "radius of the matching RingNumbers ring", "µm", repeat=True),
    _k("RingsToUse", "i", (NF, SIM), "ring used by NF fitting and simulation", repeat=True,
       check="ring"),
    _k("RingToIndex", "i", (FF,), "ring used for PF indexing", repeat=True, check="ring"),
    _k("DSpacing", "f", (CAL,), "calibrant d-spacing (lamellar calibrants)", "Å", repeat=True,
       check="positive"),
    _k("OverAllRingToIndex", "i", (FF,), "ring whose spots seed the indexing", check="ring"),
    _k("RingsToExcludeFraction", "f", (FF,), "indexer ring-exclusion fraction"),
    # ---- image transforms, masks, peak search ----
    _k("ImTransOpt", "i", _FNC, "image transform applied in order (0 none, 1 flip Y, 2 flip Z, "
       "3 transpose)", repeat=True, check="im_trans"),
    _k("MaskFile", "s", (FF, CAL, INT, SIM), "mask image (1 = masked, 0 = good)"),
    _k("GapFile", "s", (CAL, INT), "detector-gap mask file"),
    _k("BadPxFile", "s", (CAL, INT), "bad-pixel mask file"),
    _k("GapIntensity", "i", (CAL, INT), "intensity marking gap pixels", "counts", default=0),
    _k("BadPxIntensity", "i", (CAL, INT), "intensity marking bad pixels", "counts", default=0),
    _k("UpperBoundThreshold", "f", (FF,), "saturation: regions with a pixel above it are dropped",
       "counts"),
    _k("Width", "f", (FF, CAL), "radial half-width of the ring bands", "µm", default=1500.0),
    _k("OverlapLength", "f", (FF,), "merge radius of peaks across frames", "px", default=2.0),
    _k("UseMaximaPositions", "i", (FF,), "use local-maximum positions, not fitted centres (0/1)",
       default=0),
    _k("UsePixelOverlap", "i", (FF,), "merge peaks by pixel overlap (0/1)", default=0),
    _k("doPeakFit", "i", (FF, INT), "fit peaks (0/1)", aliases=("DoPeakFit",), default=1),
    _k("LocalMaximaOnly", "i", (FF,), "only local maxima, no fitting (0/1)", default=0),
    _k("MinNrPx", "i", (FF,), "smallest peak region kept", "px", default=1),
    _k("MaxNrPx", "i", (FF,), "largest peak region kept", "px", default=10000),
    _k("MaxNPeaks", "i", (FF,), "most peaks fitted per region", default=400),
    _k("DoFullImage", "i", (FF,), "search the full image, not only ring bands (0/1)"),
    _k("DoFit", "i", (FF,), "run the fitting stage (0/1)"),
    _k("PeakFitMode", "i", (CAL,), "peak profile (0 pseudo-Voigt, 1 TCH)", default=0),
    _k("SubPixelLevel", "i", (CAL, INT), "sub-pixel split at cardinal eta (1 = off)", default=1),
    _k("SubPixelCardinalWidth", "f", (CAL, INT), "eta width of the sub-pixel split", "deg",
       default=5.0),
    _k("DoubletSeparation", "f", (CAL,), "minimum separation to fit a doublet", "px"),
    # ---- indexing ----
    _k("Completeness", "f", (FF,), "minimum fraction of matched spots to accept a grain",
       aliases=("MinMatchesToAcceptFrac",)),
    _k("MinNrSpots", "i", (FF,), "independent seed solutions needed to confirm a grain", default=1),
    _k("UseFriedelPairs", "i", (FF,), "seed with Friedel pairs (0/1)"),
    _k("StepSizeOrient", "f", (FF,), "orientation step about the plane normal", "deg",
       aliases=("StepsizeOrient",)),
    _k("StepSizePos", "f", (FF,), "position step along the diffracted ray", "µm",
       aliases=("StepsizePos",)),
    _k("MarginOme", "f", (FF, NF), "omega tolerance of spot matching", "deg",
       aliases=("MarginOmega",)),
    _k("MarginEta", "f", (FF, NF), "eta tolerance of spot matching (arc length)", "µm"),
    _k("MarginRadial", "f", (FF,), "radial tolerance of spot matching", "µm"),
    _k("MarginRadius", "f", (FF,), "tolerance on the per-spot grain radius", "µm"),
    _k("Rsample", "f", _FNS, "sample radius: |x|, |y| <= Rsample (NF: hex-grid radius)", "µm"),
    _k("Hbeam", "f", _FS, "beam height: |z| <= Hbeam/2", "µm"),
    _k("Vsample", "f", (FF,), "illuminated gauge volume", "µm³"),
    _k("BeamThickness", "f", (FF,), "beam thickness", "µm"),
    _k("BeamSize", "f", _FS, "horizontal beam size (PF)", "µm"),
    _k("GlobalPosition", "f", _FNS, "sample position of this layer", "µm"),
    _k("DiscModel", "i", (FF,), "beam model (0 parallel, 1 focused)", default=0),
    _k("DiscArea", "f", (FF,), "illuminated area of the focused beam", "µm²"),
    _k("tInt", "f", (FF,), "exposure time per frame", "s"),
    _k("tGap", "f", (FF,), "dead time between frames", "s"),
    _k("SpotsFileName", "s", (FF,), "spot list read by the indexer"),
    _k("IDsFileName", "s", (FF,), "seed-spot ID list read by the indexer"),
    _k("GrainsFile", "s", (FF, NF), "Grains.csv used for seeding or tracking"),
    _k("InFileName", "s", (FF, SIM), "input file (forward-sim grains; refinement spot file)",
       aliases=("RefinementFileName",)),
    _k("OutputFolder", "s", (FF,), "folder of the indexer output"),
    _k("ResultFolder", "s", (FF,), "folder of the refinement results"),
    _k("MaxAng", "f", (FF,), "PF misorientation tolerance for grouping voxels", "deg"),
    _k("TolEta", "f", (FF,), "PF eta tolerance", "deg"),
    _k("TolOme", "f", (FF,), "PF omega tolerance", "deg"),
    _k("nStepsToMerge", "i", (FF,), "PF scan steps merged", default=1),
    _k("MicFile", "s", (FF,), "PF output .mic file"),
    # ---- refinement ----
    _k("MargABC", "f", (FF,), "refinement bound on a, b, c", "%", default=0.3),
    _k("MargABG", "f", (FF,), "refinement bound on alpha, beta, gamma", "%", default=0.3),
    _k("MargStrain", "f", (FF,), "refinement bound on strain", default=0.01),
    _k("FitAllAtOnce", "i", (FF,), "fit all grain parameters together (0/1)"),
    _k("Twins", "i", (FF,), "twin analysis (0/1)"),
    _k("TakeGrainMax", "i", (FF,), "twin analysis: keep the largest grain (0/1)"),
    _k("GBAngle", "f", (FF, NF), "grain-boundary misorientation", "deg"),
    _k("DebugMode", "i", _FNC, "verbose diagnostics (0/1)"),
    _k("WeightMask", "f", (FF,), "weight of mask-touching spots in refinement"),
    _k("WeightFitRMSE", "f", (FF,), "weight of the peak-fit RMSE in refinement"),
    _k("DoDynamicReassignment", "i", (FF,), "re-assign spots during refinement (0/1)"),
    _k("TopLayer", "i", (FF,), "top-layer refinement flag"),
    _k("MinIndicesForFit", "i", (FF, CAL), "fewest points for a fit", default=1),
    _k("LsdFit", "f", (FF,), "Lsd used by refinement (paramstest)", "µm", check="positive"),
    _k("YBCFit", "f", (FF,), "beam centre y used by refinement (paramstest)", "px"),
    _k("ZBCFit", "f", (FF,), "beam centre z used by refinement (paramstest)", "px"),
    _k("txFit", "f", (FF,), "tilt tx used by refinement (paramstest)", "deg"),
    _k("tyFit", "f", (FF,), "tilt ty used by refinement (paramstest)", "deg"),
    _k("tzFit", "f", (FF,), "tilt tz used by refinement (paramstest)", "deg"),
    # ---- calibration ----
    _k("tolTilts", "f", (CAL,), "tilt search range", "deg"),
    _k("tolTiltX", "f", (CAL,), "tx search range", "deg"),
    _k("tolBC", "f", (CAL,), "beam-centre search range", "px"),
    _k("tolLsd", "f", (CAL,), "Lsd search range", "µm"),
    _k("tolP", "f", (CAL,), "search range of every distortion coefficient", default=0.0),
    *[_k(f"tolP{k}", "f", (CAL,), f"search range of p{k} (default tolP)", default=_tolp_default(k))
      for k in range(15)],
    _k("tolShifts", "f", (CAL,), "panel-shift search range", "px", default=1.0),
    _k("tolRotation", "f", (CAL,), "panel-rotation search range", "deg"),
    _k("tolLsdPanel", "f", (CAL,), "per-panel Lsd search range", "µm", default=100.0),
    _k("tolP2Panel", "f", (CAL,), "per-panel p2 search range", default=1e-4),
    _k("tolWavelength", "f", (CAL,), "wavelength search range", "Å", default=1e-3),
    _k("tolParallax", "f", (CAL,), "parallax search range", "µm"),
    _k("FitWavelength", "i", (CAL,), "refine the wavelength (0/1)", default=0),
    _k("FitParallax", "i", (CAL,), "refine the parallax (0/1)", default=0),
    _k("RBinDivisions", "i", (CAL,), "radial sub-bins per pixel", default=4),
    _k("RMin", "f", _CI, "smallest radius integrated", "px", default=10.0),
    _k("RMax", "f", _CI, "largest radius integrated", "px"),
    _k("RBinSize", "f", _CI, "radial bin", "px", default=0.25),
    _k("EtaMin", "f", _CI, "smallest eta integrated", "deg"),
    _k("EtaMax", "f", _CI, "largest eta integrated", "deg"),
    _k("MultFactor", "f", (CAL,), "outlier factor (times the mean strain)"),
    _k("FitOrWeightedMean", "i", (CAL,), "ring position by fit or weighted mean"),
    _k("nIterations", "i", (CAL,), "full calibration iterations", default=1),
    _k("OutlierIterations", "i", (CAL,), "outlier-rejection passes", default=1),
    _k("TrimmedMeanFraction", "f", (CAL,), "fraction kept by the trimmed mean", default=1.0),
    _k("RemoveOutliersBetweenIters", "i", (CAL,), "reject outliers between iterations (0/1)"),
    _k("ReFitPeaks", "i", (CAL,), "re-fit peaks each iteration (0/1)"),
    _k("NormalizeRingWeights", "i", (CAL,), "equal weight per ring (0/1)"),
    _k("WeightByRadius", "i", (CAL,), "weight points by R/Rmax (0/1)"),
    _k("WeightByFitSNR", "i", (CAL,), "weight points by peak-fit SNR (0/1)"),
    _k("L2Objective", "i", (CAL,), "squared (L2) instead of absolute strain (0/1)"),
    _k("GradientCorrection", "i", _CI, "intensity-gradient correction (0/1)"),
    _k("ConvergenceThresholdPPM", "f", (CAL,), "stop when the mean strain changes less", "ppm"),
    # ---- integration ----
    _k("QMin", "f", (INT,), "smallest Q (Q mode)", "1/Å"),
    _k("QMax", "f", (INT,), "largest Q (Q mode)", "1/Å"),
    _k("QBinSize", "f", (INT,), "Q bin (Q mode)", "1/Å"),
    _k("SolidAngleCorrection", "i", (INT,), "solid-angle correction (0/1)", default=0),
    _k("PolarizationCorrection", "i", (INT,), "polarisation correction (0/1)", default=0),
    _k("PolarizationFraction", "f", (INT,), "polarisation fraction", default=0.99),
    _k("PolarizationPlaneEtaDeg", "f", (INT,), "eta of the polarisation plane", "deg", default=0.0),
    _k("Polariz", "f", (INT,), "GSAS-II polarisation instrument parameter"),
    _k("Normalize", "i", (INT,), "normalise by pixel count (0/1)", default=1),
    _k("SumImages", "i", (INT,), "sum all frames (0/1)", default=0),
    _k("Write2D", "i", (INT,), "write the 2-D caked images (0/1)", default=0),
    _k("DoBinSort", "i", (INT,), "sort the pixel map by bin (0/1)", default=1),
    _k("SaveIndividualFrames", "i", (INT,), "write each frame's lineout (0/1)"),
    _k("PeakLocation", "f", (INT,), "radius of a peak to fit", "px", repeat=True),
    _k("MultiplePeaks", "i", (INT,), "fit several peaks per region (0/1)"),
    _k("AutoDetectPeaks", "i", (INT,), "find peaks automatically (0/1)"),
    _k("SNIPIterations", "i", (INT,), "SNIP background iterations", default=50),
    _k("DoSmoothing", "i", (INT,), "smooth before peak fitting (0/1)"),
    _k("FitROIPadding", "i", (INT,), "padding around a fitted peak", "px", default=20),
    _k("FitROIAuto", "i", (INT,), "choose the fit window automatically (0/1)"),
    *[_k(name, "f", (INT,), f"GSAS-II profile parameter {name}") for name in
      ("U", "V", "W", "X", "Y", "Z", "SHpL")],
    # ---- forward simulation ----
    _k("OutFileName", "s", _FS, "output file stem"),
    _k("nScans", "i", _FS, "scan positions (1 = FF, > 1 = PF)", default=1),
    _k("PeakIntensity", "f", (SIM,), "simulated peak amplitude", "counts", default=2000.0),
    _k("MaxOutputIntensity", "f", (SIM,), "brightest simulated pixel", "counts", default=65000.0),
    _k("GaussWidth", "f", (SIM,), "Gaussian sigma of simulated spots", "px"),
    _k("OmegaSigma", "f", (SIM,), "omega broadening of simulated spots", "deg"),
    _k("SimNoiseSigma", "f", (SIM,), "Gaussian noise of simulated frames"),
    _k("WriteSpots", "i", (SIM,), "write SpotMatrixGen.csv (0/1)", default=1),
    _k("WriteImage", "i", (SIM, NF), "write images (0/1)", default=1),
    _k("EResolution", "fi", (SIM,), "relative energy spread and wavelength samples",
       fields=("fraction", "n_samples"), min_values=1),
    _k("IntensitiesFile", "s", (SIM,), "per-reflection intensities"),
    _k("IsBinary", "i", (SIM,), "binary input grains (0/1)"),
    _k("LoadNr", "i", (SIM,), "load number"),
    _k("UpdatedOrientations", "i", (SIM,), "orientations already updated (0/1)", default=1),
    _k("NFOutput", "i", (SIM,), "NF-style output (0/1)"),
    _k("OutDirPath", "s", (SIM,), "output folder"),
    _k("NoSaveAll", "i", (SIM,), "skip saving all outputs (0/1)"),
    _k("SimulationBatches", "i", (NF, SIM), "memory batches of a large NF simulation", default=0),
    _k("WriteLegacyBin", "i", (NF, SIM), "write legacy per-frame .bin files (0/1)", default=0),
    # ---- NF grid, fitting, image processing, calibration ----
    _k("GridSize", "f", (NF,), "hex-grid spacing", "µm", check="positive"),
    _k("EdgeLength", "f", (NF,), "triangle edge of the mic grid (default GridSize)", "µm",
       default=_edge_length_default),
    _k("GridFileName", "s", (NF,), "grid file made by MakeHexGrid", default="grid.txt"),
    _k("GridMask", "ffff", (NF,), "grid bounding box", "µm",
       fields=("y_min", "y_max", "z_min", "z_max")),
    _k("GridPoints", "f", (NF,), "one mic row to fit (FitOrientationParametersMultiPoint)",
       repeat=True, min_values=1, max_values=16),
    _k("GridRefactor", "f", (NF,), "grid subdivision per resolution step", default=2.0),
    _k("GlobalPositionFirstLayer", "f", (NF,), "sample position of layer 1", "µm"),
    _k("LayerThickness", "f", (NF,), "layer step", "µm"),
    _k("TomoImage", "s", (NF,), "tomography image masking the grid"),
    _k("TomoPixelSize", "f", (NF,), "pixel size of the tomography image", "µm", check="positive"),
    _k("NrOrientations", "i", (NF,), "orientations in the seed list"),
    _k("SeedOrientations", "s", (NF,), "seed orientation file"),
    _k("SeedOrientationsAll", "s", (NF,), "combined seed file (multi-resolution)"),
    _k("OrientTol", "f", (NF,), "orientation search radius around a candidate", "deg"),
    _k("MinFracAccept", "f", (NF,), "minimum overlap fraction of a candidate", default=0.5),
    _k("MinConfidence", "f", (NF,), "minimum confidence of a voxel"),
    _k("SaveNSolutions", "i", (NF,), "best solutions saved per voxel", default=1),
    _k("NearestMisorientation", "i", (NF,), "keep solutions by nearest misorientation (0/1)",
       default=0),
    _k("MinMisoNSaves", "f", (NF,), "misorientation between saved solutions", "deg"),
    _k("MicFileBinary", "s", (NF,), "binary .mic output"),
    _k("MicFileText", "s", (NF,), "text .mic output"),
    _k("OnlySpotsInfo", "i", (NF, SIM), "only write SpotsInfo.bin (0/1)", default=0),
    _k("Ice9Input", "s", (NF,), "IceNine input flag (value ignored)", min_values=0),
    _k("BlanketSubtraction", "i", (NF,), "flat value subtracted from every pixel", "counts"),
    _k("MedFiltRadius", "i", (NF,), "median-filter radius (1 or 2)", "px"),
    _k("GaussFiltRadius", "f", (NF,), "Gaussian-filter radius", "px"),
    _k("LoGMaskRadius", "i", (NF,), "Laplacian-of-Gaussian mask radius", "px"),
    _k("DoLoGFilter", "i", (NF,), "apply the LoG filter (0/1)"),
    _k("Deblur", "i", (NF,), "deblur (0/1)", default=0),
    _k("WriteFinImage", "i", (NF,), "write the reduced images uncompressed (0/1)", default=0),
    _k("SkipImageBinning", "i", (NF,), "skip the 2x2 binning of MMapImageInfo (0/1)", default=0),
    _k("PrecomputedSpotsInfo", "i", (NF,), "reuse an existing SpotsInfo.bin (0/1)", default=0),
    _k("LsdTol", "f", (NF,), "Lsd search range (NF calibration)", "µm"),
    _k("LsdRelativeTol", "f", (NF,), "relative Lsd accuracy between distances", "µm"),
    _k("BCTol", "ff", (NF,), "beam-centre search range", "px", fields=("y", "z")),
    _k("TiltsTol", "f", (NF,), "tilt search range (NF calibration)", "deg"),
    _k("NumIterations", "i", (NF,), "NF calibration iterations", default=3),
    _k("MaxAngle", "f", (NF,), "misorientation defining grain boundaries", "deg"),
    _k("Denoise", "i", (NF,), "denoise raw frames first (0/1)"),
    _k("DenoiseMethod", "s", (NF,), "denoising method (nlm or n2v)"),
    _k("DenoisedDirectory", "s", (NF,), "folder of the denoised frames"),
    _k("DenoiseConfigFile", "s", (NF,), "denoiser configuration file"),
    _k("DenoisePattern", "s", (NF,), "glob of the frames to denoise"),
    _k("DenoiseTrainJointly", "i", (NF,), "train one network for the stack (0/1)"),
    _k("DenoiseCheckpoint", "s", (NF,), "saved denoiser checkpoint"),
    _k("DenoiseFinetune", "i", (NF,), "fine-tune the checkpoint per image (0/1)"),
    _k("DenoiseMaskThreshold", "f", (NF,), "threshold of the denoised signal mask"),
]

REGISTRY: Mapping[str, KeySpec] = {s.name: s for s in _SPECS}
"""Canonical key → :class:`KeySpec`, in documentation order."""

_BY_NAME: dict[str, KeySpec] = {}
for _s in _SPECS:
    for _n in (_s.name, *_s.aliases):
        if _n in _BY_NAME:  # pragma: no cover - guards the table itself
            raise RuntimeError(f"MIDAS key {_n!r} registered twice")
        _BY_NAME[_n] = _s
del _s, _n

_LOWER: dict[str, str] = {}
for _n in _BY_NAME:
    _LOWER.setdefault(_n.lower(), _n)
del _n


def lookup(name: str) -> KeySpec | None:
    """Return the spec of a canonical key or alias (case-sensitive), or None if unknown.

    Parameters
    ----------
    name : str
        Key as written in a parameter file.

    Returns
    -------
    KeySpec or None

    Examples
    --------
    >>> lookup("Distance").name
    'Lsd'
    >>> lookup("lsd") is None
    True
    """
    return _BY_NAME.get(name)


def closest_key(name: str) -> str | None:
    """Closest known key or alias to an unknown ``name`` (for "did you mean" messages).

    A case-insensitive exact match wins; otherwise difflib's best match above 0.6 similarity.

    Examples
    --------
    >>> closest_key("lsd")
    'Lsd'
    >>> closest_key("OmegaStpe")
    'OmegaStep'
    """
    exact = _LOWER.get(name.lower())
    if exact is not None:
        return exact
    matches = difflib.get_close_matches(name, list(_BY_NAME), n=1, cutoff=0.6)
    if matches:
        return matches[0]
    matches = difflib.get_close_matches(name.lower(), list(_LOWER), n=1, cutoff=0.6)
    return _LOWER[matches[0]] if matches else None


def specs_for_kind(kind: str) -> tuple[KeySpec, ...]:
    """All specs used by one workflow kind (one of :data:`KINDS`), in table order.

    Raises
    ------
    ValueError
        If ``kind`` is not one of :data:`KINDS`.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return tuple(s for s in _SPECS if kind in s.kinds)

