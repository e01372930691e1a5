"""``MidasParams``: an immutable, typed view of one upstream MIDAS parameter file.

A parameter set is an ordered list of :class:`ParamEntry` (one per key line, in file order,
with the comments above it) plus the comment lines at the end of the file. The resolved values
follow the shared C parser (``MIDAS_ParamParser.c``) and the NF readers:

* single-valued keys: the last line wins;
* accumulating keys (``OmegaRange``, ``BoxSize``, ``RingThresh``, ``ImTransOpt``, ...): the list
  of every line's value in file order;
* ``Lsd`` and ``BC`` in an NF file with ``nDistances`` >= 2: the list of per-distance values
  (line k is distance k);
* ``NrPixels N`` sets ``NrPixelsY`` and ``NrPixelsZ``; ``NrPixels`` itself reads as
  ``max(NrPixelsY, NrPixelsZ)``;
* absent keys read as the registry default (``docs/parameters.md``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from midas.errors import ParamError, ParamWarning
from midas.params.registry import REGISTRY, KeySpec, Value, closest_key, lookup
from midas.params.values import ValueProblem, coerce_value, format_value

__all__ = ["MidasParams", "MissingKeyError", "ParamEntry"]

_MISSING: Any = object()
_DERIVED = "NrPixels"  # read as max(NrPixelsY, NrPixelsZ); not compared on its own


class MissingKeyError(ParamError, KeyError):
    """A required key is absent from a parameter set (a :class:`ParamError` and a ``KeyError``)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True, slots=True)
class ParamEntry:
    """One key line of a parameter file.

    Attributes
    ----------
    key : str
        Canonical key (aliases resolved); the key as written when it is unknown.
    spelling : str
        The key as written in the file (``Distance`` for a ``Distance`` line).
    value : float, int, str or tuple
        Typed value; for an unknown key, the value text as written.
    known : bool
        False for keys the registry does not know (kept so they survive a rewrite).
    line : int or None
        1-based line number in the source file; None for entries built from values.
    text : str or None
        The original line (without newline), written back verbatim when unchanged.
    comments_before : tuple of str
        Comment and blank lines directly above this line, verbatim.
    """

    key: str
    spelling: str
    value: Value
    known: bool = True
    line: int | None = None
    text: str | None = None
    comments_before: tuple[str, ...] = ()


def _where(source: str | PathLike[str] | None, line: int | None = None) -> str:
    name = str(source) if source is not None else "<parameters>"
    return f"{name} line {line}" if line is not None else name


def _freeze(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    return v


class MidasParams(Mapping[str, Any]):
    """Immutable, typed contents of an upstream MIDAS parameter file.

    Build one with :func:`midas.params.read_params`, :func:`midas.params.parse_text` or
    :meth:`MidasParams.from_mapping`; change one with :meth:`with_values`/:meth:`without`,
    which return a new object.

    Keys are canonical MIDAS keys (``Lsd``, ``LatticeConstant``, ``RhoD``, ``MinEta``, ...);
    aliases (``Distance``, ``LatticeParameter``, ``MaxRingRad``, ``ExcludePoleAngle``, ...) are
    accepted wherever a key is looked up. Two parameter sets are equal when their resolved values
    are equal (comments, spelling and line order do not matter).

    Parameters
    ----------
    entries : sequence of ParamEntry
        Key lines in file order.
    source : path-like or None
        File the entries came from (named in error messages).
    trailer : sequence of str
        Comment and blank lines after the last key line.
    """

    __slots__ = ("_entries", "_source", "_trailer", "_occ", "_values")

    def __init__(
        self,
        entries: Sequence[ParamEntry],
        *,
        source: str | PathLike[str] | None = None,
        trailer: Sequence[str] = (),
    ) -> None:
        self._entries: tuple[ParamEntry, ...] = tuple(entries)
        self._source: Path | None = Path(source) if source is not None else None
        self._trailer: tuple[str, ...] = tuple(trailer)
        occ: dict[str, list[ParamEntry]] = {}
        for e in self._entries:
            targets = ("NrPixels", "NrPixelsY", "NrPixelsZ") if e.key == "NrPixels" else (e.key,)
            for t in targets:
                occ.setdefault(t, []).append(e)
        self._occ = occ
        n_dist = occ["nDistances"][-1].value if "nDistances" in occ else None
        values: dict[str, Any] = {}
        for key, es in occ.items():
            spec = REGISTRY.get(key) if es[-1].known else None
            if key == "NrPixels":
                continue
            if spec is not None and spec.repeat:
                values[key] = [e.value for e in es]
            elif (spec is not None and spec.per_distance and isinstance(n_dist, int)
                  and n_dist >= 2):
                values[key] = [e.value for e in es]
            else:
                values[key] = es[-1].value
        if "NrPixels" in occ:
            values["NrPixels"] = max(values["NrPixelsY"], values["NrPixelsZ"])
        self._values = values

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def from_mapping(
        cls,
        mapping: Mapping[str, Any] | Iterable[tuple[str, Any]],
        *,
        source: str | PathLike[str] | None = None,
        strict: bool = False,
    ) -> MidasParams:
        """Build a parameter set from key → value pairs.

        Parameters
        ----------
        mapping : mapping or iterable of (key, value)
            Keys are canonical keys or aliases (the spelling is kept for writing). Values as
            :meth:`get` returns them: scalars, tuples for multi-value keys, lists of occurrences
            for accumulating keys and for per-distance ``Lsd``/``BC``. A single occurrence of an
            accumulating key may be given without the list.
        source : path-like or None
            Name used in error messages (and by :meth:`write` when no path is given).
        strict : bool
            Raise :class:`ParamError` for keys the registry does not know instead of warning.

        Returns
        -------
        MidasParams

        Raises
        ------
        ParamError
            A value of the wrong type or count, a constraint violation (``px <= 0``,
            ``SpaceGroup`` outside 1..230, ...), a failed cross-check (see :meth:`validate`),
            or an unknown key with ``strict=True``.

        Examples
        --------
        >>> p = MidasParams.from_mapping({"Lsd": 1e6, "BC": (1022, 1022), "RingThresh": [(1, 10)]})
        >>> p["BC"], p["RingThresh"]
        ((1022.0, 1022.0), [(1, 10.0)])
        """
        items = _nr_pixels_first(list(mapping.items() if isinstance(mapping, Mapping) else mapping))
        where = _where(source)
        entries: list[ParamEntry] = []
        for name, obj in items:
            entries.extend(_entries_for(name, obj, where, strict))
        p = cls(entries, source=source)
        if "nDistances" not in p:
            for key in ("Lsd", "BC"):
                if len(p.get_all(key)) > 1:
                    raise ParamError(
                        f"{where}: {len(p.get_all(key))} values given for {key!r} but no "
                        "nDistances; per-distance values need nDistances"
                    )
        p.validate()
        return p

    # ---- Mapping protocol ---------------------------------------------------------------

    @property
    def source(self) -> Path | None:
        """File the parameters were read from (None when built from values)."""
        return self._source

    @property
    def entries(self) -> tuple[ParamEntry, ...]:
        """Every key line in file order."""
        return self._entries

    @property
    def trailer(self) -> tuple[str, ...]:
        """Comment and blank lines after the last key line."""
        return self._trailer

    def _canon(self, key: str) -> str:
        spec = lookup(key)
        return spec.name if spec is not None else key

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._canon(key) in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, key: str) -> Any:
        return self.require(key)

    def get(self, key: str, default: Any = _MISSING) -> Any:
        """Typed value of ``key`` (canonical name or alias).

        Parameters
        ----------
        key : str
            Canonical key or alias.
        default : object, optional
            Returned when the key is absent. Without it, the registry default applies (for
            example ``Padding`` → 6, ``tolP4`` → ``tolP``), then ``[]`` for accumulating keys,
            then None.

        Returns
        -------
        object
            ``float``/``int``/``str`` for one-value keys, a tuple for multi-value keys
            (``BC`` → ``(y_px, z_px)``, ``LatticeConstant`` → 6-tuple), a list of occurrences
            for accumulating keys (``RingThresh`` → ``[(ring, thresh), ...]``) and for
            per-distance ``Lsd``/``BC`` when ``nDistances`` >= 2.
        """
        k = self._canon(key)
        if k in self._values:
            return _copy(self._values[k])
        if default is not _MISSING:
            return default
        return self._default_of(k)

    def _default_of(self, key: str) -> Any:
        spec = REGISTRY.get(key)
        if spec is None:
            return None
        d = spec.default
        if callable(d):
            return d(self.get)
        if d is None and spec.repeat:
            return []
        return d

    def require(self, key: str) -> Any:
        """Value of ``key``, or its registry default; raise if it has neither.

        Raises
        ------
        MissingKeyError
            (a :class:`ParamError` and a ``KeyError``) naming the key and the file.
        """
        k = self._canon(key)
        if k in self._values:
            return _copy(self._values[k])
        d = self._default_of(k)
        if d is None or d == []:
            spec = REGISTRY.get(k)
            what = f" ({spec.doc}; {spec.expects()})" if spec is not None else ""
            raise MissingKeyError(f"{_where(self._source)}: required key {k!r} is missing{what}")
        return d

    def get_all(self, key: str) -> list[Any]:
        """Every occurrence of ``key`` in file order (empty when absent).

        For ``Lsd``/``BC`` of an NF file this is the per-distance list; for a single-valued key
        it shows overridden lines too.
        """
        return [e.value for e in self._occ.get(self._canon(key), [])]

    def line_of(self, key: str) -> int | None:
        """1-based line of the occurrence that sets ``key`` (the last one; the first for
        accumulating keys). None when the entries were built from values.

        Raises
        ------
        MissingKeyError
            The key is absent.
        """
        k = self._canon(key)
        es = self._occ.get(k)
        if not es:
            raise MissingKeyError(f"{_where(self._source)}: key {k!r} is not in the file")
        spec = REGISTRY.get(k)
        return es[0].line if spec is not None and spec.repeat else es[-1].line

    def lines_of(self, key: str) -> list[int | None]:
        """1-based lines of every occurrence of ``key`` (empty when absent)."""
        return [e.line for e in self._occ.get(self._canon(key), [])]

    def unknown_keys(self) -> tuple[str, ...]:
        """Keys present that the registry does not know, in file order."""
        return tuple(k for k, es in self._occ.items() if not es[-1].known)

    def where(self, key: str | None = None) -> str:
        """``"<file> line <n>"`` of ``key`` (or just the file) for error messages."""
        if key is None:
            return _where(self._source)
        try:
            return _where(self._source, self.line_of(key))
        except MissingKeyError:
            return _where(self._source)

    # ---- equality -----------------------------------------------------------------------

    def _comparable(self) -> dict[str, Any]:
        return {k: _freeze(v) for k, v in self._values.items() if k != _DERIVED}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MidasParams):
            return NotImplemented
        return self._comparable() == other._comparable()

    def __hash__(self) -> int:
        return hash(frozenset(self._comparable().items()))

    def __repr__(self) -> str:
        src = f" from {str(self._source)!r}" if self._source is not None else ""
        return f"<MidasParams{src}: {len(self._values)} keys>"

    # ---- checks -------------------------------------------------------------------------

    def validate(self) -> None:
        """Cross-check keys against each other.

        Checks
        ------
        * the number of ``OmegaRange`` lines equals the number of ``BoxSize`` lines when both
          are present (upstream pairs them index-wise);
        * with ``nDistances`` present: ``nDistances`` == number of ``Lsd`` lines == number of
          ``BC`` lines (NF readers fill per-distance arrays in file order);
        * per-line constraints (``px``, ``Lsd``, ``Wavelength`` > 0, ``SpaceGroup`` in 1..230,
          ...) hold for every entry (entries built by hand are checked here).

        Raises
        ------
        ParamError
            Naming the file, the keys, their counts and lines.
        """
        for e in self._entries:
            spec = REGISTRY.get(e.key) if e.known else None
            if spec is None:
                continue
            why = spec.check_value(e.value)
            if why is not None:
                raise ParamError(
                    f"{_where(self._source, e.line)}: key {e.spelling!r} {why}, "
                    f"got {format_value(e.value)!r}"
                )
        n_ome, n_box = len(self._occ.get("OmegaRange", [])), len(self._occ.get("BoxSize", []))
        if n_ome and n_box and n_ome != n_box:
            raise ParamError(
                f"{_where(self._source)}: {n_ome} OmegaRange line(s) (lines "
                f"{_lines(self._occ['OmegaRange'])}) but {n_box} BoxSize line(s) (lines "
                f"{_lines(self._occ['BoxSize'])}); upstream pairs OmegaRange k with BoxSize k, "
                "so give one BoxSize per OmegaRange"
            )
        if "nDistances" in self._occ:
            n = self._occ["nDistances"][-1]
            for key in ("Lsd", "BC"):
                es = self._occ.get(key, [])
                if len(es) != n.value:
                    raise ParamError(
                        f"{_where(self._source, n.line)}: nDistances is {n.value} but the file has "
                        f"{len(es)} {key} line(s) (lines {_lines(es)}); NF readers take one {key} "
                        "line per distance, in file order"
                    )

    # ---- changing -----------------------------------------------------------------------

    def with_values(
        self, changes: Mapping[str, Any] | None = None, /, *, strict: bool = False, **kw: Any
    ) -> MidasParams:
        """New parameter set with some keys replaced or added.

        Each changed key's lines are replaced in place (at its first line, keeping the comments
        above); new keys are appended. Values are given as for :meth:`from_mapping`.

        Raises
        ------
        ParamError
            As :meth:`from_mapping`.

        Examples
        --------
        >>> p = MidasParams.from_mapping({"Lsd": 1e6, "px": 200})
        >>> p.with_values(Lsd=9.5e5)["Lsd"]
        950000.0
        """
        all_changes = dict(changes or {}, **kw)
        where = _where(self._source)
        new: dict[str, list[ParamEntry]] = {}
        for name, obj in all_changes.items():
            made = _entries_for(name, obj, where, strict)
            canon = self._canon(name)
            new.setdefault(canon, []).extend(made)
        out: list[ParamEntry] = []
        placed: set[str] = set()
        for e in self._entries:
            if e.key in new:
                if e.key not in placed:
                    repl = new[e.key]
                    if repl:
                        repl = [_with_comments(repl[0], e.comments_before), *repl[1:]]
                    out.extend(repl)
                    placed.add(e.key)
                continue
            out.append(e)
        for k, es in new.items():
            if k not in placed:
                out.extend(es)
        p = MidasParams(out, source=self._source, trailer=self._trailer)
        p.validate()
        return p

    def without(self, *keys: str) -> MidasParams:
        """New parameter set with every line of the given keys (or aliases) removed."""
        drop = {self._canon(k) for k in keys}
        kept = [e for e in self._entries if e.key not in drop]
        return MidasParams(kept, source=self._source, trailer=self._trailer)

    # ---- writing ------------------------------------------------------------------------

    def to_text(self, *, names: str = "as_read") -> str:
        """Text of a parameter file that reads back equal to this one.

        Parameters
        ----------
        names : {"as_read", "canonical"}
            ``"as_read"`` keeps each line's spelling (``MaxRingRad`` stays ``MaxRingRad``, which
            the NF executables need); ``"canonical"`` writes canonical keys.

        Returns
        -------
        str
            Unchanged lines verbatim (comments kept), changed lines as ``Key v1 v2``, every
            line ending in ``\\n``.
        """
        from midas.params.writer import format_params

        return format_params(self, names=names)

    def write(self, path: str | PathLike[str], *, names: str = "as_read") -> Path:
        """Write :meth:`to_text` to ``path`` atomically (temp file in the same folder, then
        ``os.replace``); returns the path.

        Raises
        ------
        OSError
            The folder is not writable.
        """
        from midas.params.writer import write_text_atomic

        return write_text_atomic(Path(path), self.to_text(names=names))


def _nr_pixels_first(items: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Move ``NrPixels`` before ``NrPixelsY``/``NrPixelsZ`` so those still win (it sets both)."""
    names = [k for k, _ in items]
    if "NrPixels" not in names:
        return items
    i = names.index("NrPixels")
    j = min((names.index(k) for k in ("NrPixelsY", "NrPixelsZ") if k in names), default=i)
    if j < i:
        items.insert(j, items.pop(i))
    return items


def _copy(v: Any) -> Any:
    """Lists handed out are copies, so callers cannot change a parameter set."""
    return list(v) if isinstance(v, list) else v


def _lines(es: Sequence[ParamEntry]) -> str:
    return ", ".join(str(e.line) if e.line is not None else "?" for e in es) or "none"


def _with_comments(e: ParamEntry, comments: tuple[str, ...]) -> ParamEntry:
    return ParamEntry(e.key, e.spelling, e.value, e.known, e.line, e.text, comments)


def _is_occurrence_list(spec: KeySpec, obj: object) -> bool:
    """Does ``obj`` hold several occurrences (a list of values) rather than one value?

    One-value keys: any sequence is a list of occurrences. Multi-value keys: a sequence whose
    items are all sequences (``[(1, 10), (2, 10)]``, a 2-D array) is; a flat one is one value.
    """
    if isinstance(obj, str | bytes) or not hasattr(obj, "__iter__"):
        return False
    if spec.max_values == 1:
        return True
    items = list(obj)  # type: ignore[call-overload,unused-ignore]
    return bool(items) and all(
        hasattr(x, "__iter__") and not isinstance(x, str | bytes) for x in items
    )


def _entries_for(name: str, obj: Any, where: str, strict: bool) -> list[ParamEntry]:
    spec = lookup(name)
    if spec is None:
        hint = closest_key(name)
        msg = f"{where}: unknown key {name!r}" + (f" (did you mean {hint!r}?)" if hint else "")
        if strict:
            raise ParamError(msg)
        warnings.warn(msg, ParamWarning, stacklevel=4)
        text = format_value(tuple(obj)) if isinstance(obj, list | tuple) else str(obj)
        return [ParamEntry(name, name, text, known=False)]
    many = (spec.repeat or spec.per_distance) and _is_occurrence_list(spec, obj)
    occurrences = list(obj) if many else [obj]
    out = []
    for occ in occurrences:
        try:
            value = coerce_value(spec, occ)
        except ValueProblem as exc:
            raise ParamError(f"{where}: key {name!r} expects {spec.expects()}, {exc}") from None
        out.append(ParamEntry(spec.name, name, value))
    return out

