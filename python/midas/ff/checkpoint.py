"""Stage checkpoints of the FF pipeline in one HDF5 file (``pipeline.h5``).

Each completed stage's result (a frozen dataclass of arrays, numbers, tuples, nested dataclasses)
is stored under ``/stages/<name>``; objects shared between stages (the front half's results nest
the earlier ones) are stored once and referenced. The file is rewritten as a whole after every
stage, into a temporary file that replaces the old one, so a run killed at any moment leaves
either the previous or the new checkpoint, never a half-written one. ``/params`` holds the
parameter text the stages were computed with.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from midas.errors import FormatError

__all__ = ["Checkpoint", "params_digest"]

log = logging.getLogger(__name__)

_CLASS = "__class__"
_REF = "__ref__"
_SEQ = "__seq__"
_JSON = "__json__"
_FORMAT = "midas-ff-pipeline-1"


def params_digest(text: str) -> str:
    """SHA-256 of a parameter text (comments and blank lines included)."""
    return hashlib.sha256(text.encode()).hexdigest()


def _to_json(v: Any) -> Any:
    if isinstance(v, tuple):
        return {"__t": [_to_json(x) for x in v]}
    if isinstance(v, list):
        return [_to_json(x) for x in v]
    if isinstance(v, Path):
        return {"__p": str(v)}
    if isinstance(v, Mapping):
        if all(isinstance(k, str) for k in v):
            return {"__m": {k: _to_json(x) for k, x in v.items()}}
        return {"__d": [[_to_json(k), _to_json(x)] for k, x in v.items()]}
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return {"__a": v.tolist(), "dtype": str(v.dtype)}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    raise FormatError(f"checkpoint: cannot store a value of type {type(v).__name__}")


def _from_json(v: Any) -> Any:
    if isinstance(v, list):
        return [_from_json(x) for x in v]
    if isinstance(v, dict):
        if "__t" in v:
            return tuple(_from_json(x) for x in v["__t"])
        if "__p" in v:
            return Path(v["__p"])
        if "__m" in v:
            return {k: _from_json(x) for k, x in v["__m"].items()}
        if "__d" in v:
            return {_from_json(k): _from_json(x) for k, x in v["__d"]}
        if "__a" in v:
            return np.asarray(v["__a"], dtype=v["dtype"])
    return v


def _is_array_seq(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) > 0 and all(isinstance(x, np.ndarray) for x in v)


class _Writer:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.memo: dict[int, str] = {}
        self.keep: list[Any] = []  # keep objects alive so id() stays unique

    def put(self, group: Any, name: str, v: Any) -> None:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            if id(v) in self.memo:
                group.attrs[f"{_REF}{name}"] = self.memo[id(v)]
                return
            sub = group.create_group(name)
            self.memo[id(v)] = sub.name
            self.keep.append(v)
            sub.attrs[_CLASS] = f"{type(v).__module__}:{type(v).__qualname__}"
            for f in dataclasses.fields(v):
                self.put(sub, f.name, getattr(v, f.name))
        elif isinstance(v, np.ndarray):
            arr = np.ascontiguousarray(v)
            if arr.dtype.kind in "OUS":
                group.attrs[f"{_JSON}{name}"] = json.dumps(_to_json(arr))
            else:
                group.create_dataset(name, data=arr, compression="lzf" if arr.size > 4096 else None)
        elif _is_array_seq(v):
            sub = group.create_group(name)
            sub.attrs[_SEQ] = "tuple" if isinstance(v, tuple) else "list"
            sub.attrs["length"] = len(v)
            for k, x in enumerate(v):
                self.put(sub, str(k), x)
        else:
            group.attrs[f"{_JSON}{name}"] = json.dumps(_to_json(v))


class _Reader:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.memo: dict[str, Any] = {}

    def get_group(self, g: Any) -> Any:
        if g.name in self.memo:
            return self.memo[g.name]
        if _SEQ in g.attrs:
            n = int(g.attrs["length"])
            items = [self.child(g, str(k)) for k in range(n)]
            return tuple(items) if g.attrs[_SEQ] == "tuple" else items
        cls_name = str(g.attrs.get(_CLASS, ""))
        if not cls_name:
            raise FormatError(f"checkpoint {self.root.filename}: group {g.name} has no class")
        mod, _, qual = cls_name.partition(":")
        try:
            cls: Any = importlib.import_module(mod)
            for part in qual.split("."):
                cls = getattr(cls, part)
        except (ImportError, AttributeError) as exc:
            raise FormatError(f"checkpoint {self.root.filename}: class {cls_name} not available: {exc}") from exc
        kw = {f.name: self.child(g, f.name) for f in dataclasses.fields(cls)
              if f.init and not (_has_default(f) and not _stored(g, f.name))}
        obj = cls(**kw)
        self.memo[g.name] = obj
        return obj

    def child(self, g: Any, name: str) -> Any:
        import h5py

        if f"{_REF}{name}" in g.attrs:
            return self.get_group(self.root[str(g.attrs[f"{_REF}{name}"])])
        if f"{_JSON}{name}" in g.attrs:
            return _from_json(json.loads(str(g.attrs[f"{_JSON}{name}"])))
        if name not in g:
            raise FormatError(f"checkpoint {self.root.filename}: {g.name}/{name} is missing")
        node = g[name]
        if isinstance(node, h5py.Dataset):
            return node[()]
        return self.get_group(node)


def _has_default(f: Any) -> bool:
    """A dataclass field a newer midas added with a default: absent from older checkpoints."""
    return f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING


def _stored(g: Any, name: str) -> bool:
    return f"{_REF}{name}" in g.attrs or f"{_JSON}{name}" in g.attrs or name in g


class Checkpoint:
    """The stage results of one pipeline run, kept in memory and mirrored to an HDF5 file.

    Parameters
    ----------
    path : path
        The checkpoint file (``pipeline.h5``); read when it exists.
    params_text : str
        The parameter text of this run; a checkpoint made with other parameters is refused
        unless ``allow_changed_params``.
    allow_changed_params : bool
        Accept a checkpoint computed with a different parameter text (the stages re-run by
        ``-restartFrom`` use the new one).

    Raises
    ------
    FormatError
        Unreadable file, or one written by something else.
    ParamError
        Parameters differ and ``allow_changed_params`` is False.
    """

    def __init__(self, path: str | Path, params_text: str, *, allow_changed_params: bool = False) -> None:
        from midas.errors import ParamError

        self.path = Path(path)
        self.params_text = params_text
        self.results: dict[str, Any] = {}
        self.order: list[str] = []
        if self.path.exists():
            old_text = self._load()
            if old_text != params_text:
                if not allow_changed_params:
                    raise ParamError(f"{self.path}: the checkpoint was made with different parameters; use "
                                     "-restartFrom to recompute from a stage with the new ones, or remove it")
                log.warning("%s: parameters changed since the checkpoint; stages kept from it used the old ones",
                            self.path)

    def _load(self) -> str:
        import h5py

        try:
            f = h5py.File(self.path, "r")
        except OSError as exc:
            raise FormatError(f"{self.path}: not a readable checkpoint: {exc}") from exc
        with f:
            if f.attrs.get("format") != _FORMAT:
                raise FormatError(f"{self.path}: not a midas FF pipeline checkpoint (format attribute "
                                  f"{f.attrs.get('format')!r})")
            reader = _Reader(f)
            order = json.loads(str(f.attrs["stages"]))
            for name in order:
                self.results[name] = reader.child(f["stages"], name)
                self.order.append(name)
            return str(f.attrs.get("params_text", ""))

    def __contains__(self, stage: str) -> bool:
        return stage in self.results

    def get(self, stage: str) -> Any:
        """The stored result of ``stage``."""
        return self.results[stage]

    def drop_from(self, stages: tuple[str, ...], first: str) -> None:
        """Forget ``first`` and every later stage of ``stages`` (for -restartFrom)."""
        later = stages[stages.index(first):]
        for s in later:
            self.results.pop(s, None)
        self.order = [s for s in self.order if s in self.results]

    def save(self, stage: str, result: Any) -> None:
        """Record ``result`` for ``stage`` and rewrite the file atomically.

        Raises
        ------
        FormatError
            The folder is not writable or a value cannot be stored.
        """
        import h5py

        from midas.io._atomic import atomic_output

        self.results[stage] = result
        if stage not in self.order:
            self.order.append(stage)
        with atomic_output(self.path) as tmp, h5py.File(tmp, "w") as f:
            f.attrs["format"] = _FORMAT
            f.attrs["params_text"] = self.params_text
            f.attrs["params_sha256"] = params_digest(self.params_text)
            f.attrs["stages"] = json.dumps(self.order)
            w = _Writer(f)
            g = f.create_group("stages")
            for name in self.order:
                w.put(g, name, self.results[name])
