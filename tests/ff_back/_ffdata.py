"""Small synthetic FF scenes for the back-half tests (no shared data needed)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from midas.ff.synthetic import SYNTHETIC_AU_PARAMS
from midas.params import parse_text

AU_PARAMS = SYNTHETIC_AU_PARAMS


@dataclass(frozen=True)
class Scene:
    params: Any
    grains: Any
    spots: Any
    table: Any
    settings: Any
    spot_index: Any


def params(extra: str = "") -> Any:
    return parse_text(AU_PARAMS + extra)


@lru_cache(maxsize=8)
def scene(n: int, noise_yz_um: float = 0.0, noise_ome_deg: float = 0.0, seed: int = 7, extra: str = "") -> Scene:
    """``n`` random Au grains (r <= 200 µm, |z| <= 200 µm) seen by the ff_au250 detector."""
    from midas.crystal import hkl_table_from_params
    from midas.ff.index import SpotIndex
    from midas.ff.pipeline import back_half_settings
    from midas.ff.synthetic import random_grains, synthetic_spots
    from midas.forward import FFScan
    from midas.geometry import FFDetector

    p = params(extra)
    det = FFDetector.from_params(p)
    scan = FFScan.from_params(p)
    grains = random_grains(n, lattice=(4.08, 4.08, 4.08, 90, 90, 90), rsample_um=200, hbeam_um=400, seed=seed)
    spots, table = synthetic_spots(grains, hkl_table_from_params(p), det, scan, wavelength_A=0.22291,
                                   rings=[1, 2, 3, 4, 5], noise_yz_um=noise_yz_um, noise_ome_deg=noise_ome_deg,
                                   seed=seed)
    settings = back_half_settings(p)
    return Scene(p, grains, spots, table, settings, SpotIndex(spots, settings.rings))
