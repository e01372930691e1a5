"""Far-field HEDM, front half: from detector frames to the spot table indexing reads.

Stages (each a function returning a frozen dataclass that the next one takes):

==================================  =====================================  =========================
stage (upstream program)            function                               result
==================================  =====================================  =========================
peak search (PeaksFittingOMPZarr)   :func:`midas.ff.peaksearch.search_peaks`  :class:`PeakTable`
merge over ω (MergeOverlapping...)  :func:`midas.ff.merge.merge_peaks`        :class:`MergedSpots`
rings, grain size (CalcRadius...)   :func:`midas.ff.radius.calc_radius`       :class:`RingSpots`
spot set-up (FitSetupZarr)          :func:`midas.ff.setup.fit_setup`          :class:`FitSetupResult`
(ring, η, ω) look-up (SaveBinData)  :func:`midas.ff.binning.bin_spots`        :class:`BinnedSpots`
==================================  =====================================  =========================

:func:`midas.ff.workflow.run_ff_front` runs all of them; :mod:`midas.ff.artefacts` writes upstream's
files. Conventions (ω labels, differences from upstream): ``docs/conventions_ff_front.md``.
"""

from __future__ import annotations

from midas.ff.binning import BinnedSpots, bin_spots
from midas.ff.merge import MergedSpots, merge_peaks
from midas.ff.peaksearch import PeakSearchConfig, PeakTable, build_pixel_plan, search_peaks
from midas.ff.radius import RadiusSettings, RingSpots, calc_radius
from midas.ff.setup import FitSetupResult, FitSetupSettings, fit_setup
from midas.ff.workflow import FFFrontResult, run_ff_front

__all__ = [
    "PeakSearchConfig", "PeakTable", "build_pixel_plan", "search_peaks",
    "MergedSpots", "merge_peaks",
    "RadiusSettings", "RingSpots", "calc_radius",
    "FitSetupSettings", "FitSetupResult", "fit_setup",
    "BinnedSpots", "bin_spots",
    "FFFrontResult", "run_ff_front",
]
