"""Radial integration: the exact pixel-splitting detector map, the CSR integrator, outputs, peak fits.

Upstream's "MIDAS Radial Integration Suite" (``DetectorMapper`` + ``IntegratorZarrOMP``, CPU batch
workflow) and the GSAS-II ``.zarr.zip`` it feeds. Conventions (bins, η, corrections, masks) are in
``docs/conventions.md``.

Typical use::

    from midas.params import read_params
    from midas.integration import IntegrationBins, MapOptions, build_map, Integrator
    det = FFDetector.from_params(p)
    bins = IntegrationBins.from_params(p, lsd_um=det.lsd_um, px_um=det.pixel_size_um[0])
    imap = build_map(det, bins, options=MapOptions.from_params(p), mask=mask)
    result = Integrator(imap, dark=dark).integrate(frames)   # .cake (n, nR, nη), .lineout (n, nR)

Modules: :mod:`~midas.integration.bins`, :mod:`~midas.integration.mapper`,
:mod:`~midas.integration.integrate`, :mod:`~midas.integration.outputs`,
:mod:`~midas.integration.peakfit`, :mod:`~midas.integration.plots`,
:mod:`~midas.integration.workflow` (the ``midas integrate`` batch driver).
"""

from __future__ import annotations

from midas.integration.bins import IntegrationBins
from midas.integration.integrate import IntegratedFrames, Integrator, lineout_from_cake
from midas.integration.mapper import (
    IntegrationMap,
    MapOptions,
    build_map,
    load_or_build_map,
)
from midas.integration.peakfit import (
    PeakFit,
    PeakFitSettings,
    fit_peaks,
    pseudo_voigt,
    snip_background,
)

__all__ = [
    "IntegratedFrames",
    "IntegrationBins",
    "IntegrationMap",
    "Integrator",
    "MapOptions",
    "PeakFit",
    "PeakFitSettings",
    "build_map",
    "fit_peaks",
    "lineout_from_cake",
    "load_or_build_map",
    "pseudo_voigt",
    "snip_background",
]
