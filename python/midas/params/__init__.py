"""Upstream MIDAS parameter files as typed, validated objects.

Read any MIDAS parameter file (FF ``Parameters.txt``, NF ``ps_*.txt``, calibration and
integration files, forward-simulation files, ``paramstest.txt``) with :func:`read_params`, look
values up by canonical key or alias, check them, change them and write them back. Typed views
(:class:`FFParams`, :class:`NFParams`, :class:`CalibrationParams`, :class:`IntegrationParams`)
give the values each workflow needs under unit-suffixed names. Every known key is listed, by
workflow, in ``docs/parameters.md`` (generated from :data:`REGISTRY`).

Examples
--------
>>> from midas.params import parse_text
>>> p = parse_text("Distance 1000000;\\nLatticeParameter 4.08 4.08 4.08 90 90 90;\\n")
>>> p["Lsd"], p["LatticeConstant"][0], p.get("SpaceGroup")
(1000000.0, 4.08, 225)
"""

from __future__ import annotations

from midas.errors import ParamError, ParamWarning
from midas.params.midas_params import MidasParams, MissingKeyError, ParamEntry
from midas.params.models import CalibrationParams, FFParams, IntegrationParams, NFParams
from midas.params.parser import parse_bytes, parse_text, read_params
from midas.params.registry import KINDS, REGISTRY, KeySpec, closest_key, lookup, specs_for_kind

__all__ = [
    "KINDS",
    "REGISTRY",
    "CalibrationParams",
    "FFParams",
    "IntegrationParams",
    "KeySpec",
    "MidasParams",
    "MissingKeyError",
    "NFParams",
    "ParamEntry",
    "ParamError",
    "ParamWarning",
    "closest_key",
    "lookup",
    "parse_bytes",
    "parse_text",
    "read_params",
    "specs_for_kind",
]
