"""Every MIDAS parameter file in ../shared/data parses, round-trips, and holds known values."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from conftest import SHARED_DATA, shared_path
from midas.errors import ParamWarning
from midas.params import FFParams, NFParams, parse_text, read_params

_PATTERNS = ("Parameters*.txt", "ps_*.txt", "paramstest.txt")


def _shared_param_files() -> list[Path]:
    if not SHARED_DATA.exists():
        return []
    found = {f for pat in _PATTERNS for f in SHARED_DATA.rglob(pat) if f.is_file()}
    return sorted(found)


_FILES = _shared_param_files()


def _read_quietly(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ParamWarning)  # the shared files are all clean
        return read_params(path)


def test_shared_parameter_files_are_found() -> None:
    root = shared_path()
    files = _shared_param_files()
    # ff_au250 (3 Parameters + 3 paramstest), ff_cu_tilted, nf_au (2), hexrd (2), 2015 paramstest
    assert len(files) >= 12, f"expected the shared MIDAS parameter files under {root}, got {files}"


@pytest.mark.parametrize("path", _FILES, ids=lambda p: str(p.relative_to(SHARED_DATA)))
def test_shared_file_parses_cleanly_and_round_trips(path: Path, tmp_path: Path) -> None:
    p = _read_quietly(path)
    assert len(p) > 10
    assert p.unknown_keys() == ()
    assert p.source == path
    # Unchanged files are written back verbatim (except a final newline).
    original = path.read_text(encoding="utf-8")
    assert p.to_text() == original if original.endswith("\n") else original + "\n"
    out = p.write(tmp_path / path.name)
    q = _read_quietly(out)
    assert q == p
    for names in ("as_read", "canonical"):
        assert parse_text(p.to_text(names=names)) == p
    # Rebuilding from the resolved values gives an equal parameter set.
    from midas.params import MidasParams

    assert MidasParams.from_mapping(dict(p.items())) == p


def test_ff_au250_known_values() -> None:
    p = _read_quietly(shared_path("upstream_sim", "ff_au250", "Parameters.txt"))
    assert p["Lsd"] == 1e6
    assert p["BC"] == (1022.0, 1022.0)
    assert p["LatticeConstant"] == (4.08, 4.08, 4.08, 90.0, 90.0, 90.0)
    assert p["SpaceGroup"] == 225
    assert p["Wavelength"] == 0.22291
    assert p["OmegaStep"] == -0.25
    n_frames = (p["OmegaEnd"] - p["OmegaStart"]) / p["OmegaStep"]
    assert n_frames == 1440  # README: 1440 frames, omega 180 -> -180
    assert p["RingThresh"] == [(r, 10.0) for r in range(1, 6)]
    assert p["OmegaRange"] == [(-180.0, 180.0)]
    assert p["BoxSize"] == [(-1e6, 1e6, -1e6, 1e6)]
    assert p["NrPixelsY"] == p["NrPixelsZ"] == p["NrPixels"] == 2048
    assert p["ImTransOpt"] == [0]
    assert p["PeakIntensity"] == 5000.0  # inline comment stripped
    assert p["InFileName"] == "GrainsSim.csv"
    assert p.line_of("Lsd") == 56  # "Lsd 1000000.0000"
    ff = FFParams.from_params(p)
    assert ff.pixel_size_um == 200.0 and ff.rho_d_um == 204800.0 and ff.min_eta_deg == 6.0


def test_ff_tiny_differs_only_where_documented() -> None:
    full = _read_quietly(shared_path("upstream_sim", "ff_au250", "Parameters.txt"))
    tiny = _read_quietly(shared_path("upstream_sim", "ff_au250", "tiny", "Parameters_tiny.txt"))
    changed = {k for k in full.keys() | tiny.keys() if full.get(k) != tiny.get(k)}
    assert changed == {"InFileName", "OutFileName", "NrPixels", "NrPixelsY", "NrPixelsZ", "px", "BC"}
    assert tiny["BC"] == (511.0, 511.0) and tiny["px"] == 400.0


def test_nf_au_two_distances() -> None:
    p = _read_quietly(shared_path("upstream_sim", "nf_au", "ps_au.txt"))
    assert p["nDistances"] == 2
    assert p.get_all("Lsd") == [8289.154576, 10290.724494]
    assert p["Lsd"] == [8289.154576, 10290.724494]
    assert p.get_all("BC") == [(985.415831, 17.510494), (985.161497, 24.511210)]
    assert p["RhoD"] == p["MaxRingRad"] == 2800.0
    assert p["MinEta"] == 6.0  # ExcludePoleAngle
    assert p["BCTol"] == (2.0, 0.2)
    nf = NFParams.from_params(p)
    assert nf.n_distances == 2
    assert nf.lsd_um == pytest.approx((8289.15, 10290.72), abs=0.01)
    assert nf.edge_length_um == 1.0 and nf.grid_size_um == 2.5
    # Written back with its own spelling, which the NF executables need.
    text = p.to_text()
    assert "\nMaxRingRad 2800\n" in text and "\nLatticeParameter 4.08" in text


def test_nf_as_run_overrides() -> None:
    p = _read_quietly(shared_path("upstream_sim", "nf_au", "ps_au_as_run.txt"))
    assert p["NrOrientations"] == 4
    assert p["PrecomputedSpotsInfo"] == 1
    assert p["GrainsFile"] == "<DATA_DIR>/grs.csv"


def test_paramstest_semicolons_and_aliases() -> None:
    p = _read_quietly(shared_path("upstream_sim", "ff_au250", "upstream_outputs", "paramstest.txt"))
    assert p["Lsd"] == 1e6  # "Distance 1000000.000000;"
    assert p["LatticeConstant"] == (4.08, 4.08, 4.08, 90.0, 90.0, 90.0)
    assert p["RhoD"] == 204800.0
    assert p["StepSizeOrient"] == 0.2 and p["StepSizePos"] == 100.0
    assert p["RingNumbers"] == [1, 2, 3, 4, 5]
    assert p["RingRadii"][0] == 94949.402022
    assert p["Completeness"] == 0.8  # MinMatchesToAcceptFrac
    assert p["InFileName"] == "InputAllExtraInfoFittingAll.csv"  # RefinementFileName
    assert p["OutputFolder"] == "UPSTREAM/FF_HEDM/Example/LayerNr_1////Output"
    assert p.to_text().startswith("LatticeParameter 4.080000 4.080000 4.080000 90.000000")


def test_2015_paramstest_legacy_lattice_superseded() -> None:
    p = _read_quietly(shared_path("real", "midas_2015_ruby_ff_spots", "paramstest.txt"))
    # "LatticeConstant 4.760800;" (legacy single value) then a full LatticeParameter line
    assert p.get_all("LatticeConstant") == [(4.7608,), (4.7608, 4.7608, 12.99568, 90.0, 90.0, 120.0)]
    assert p["LatticeConstant"] == (4.7608, 4.7608, 12.99568, 90.0, 90.0, 120.0)
    assert p["SpaceGroup"] == 167
    assert p["RingNumbers"] == list(range(1, 14))
    assert len(p["RingRadii"]) == 13
    assert p["Wedge"] == 0.001062 and p["LsdFit"] == 756947.922058


def test_hexrd_panel_files() -> None:
    p1 = _read_quietly(shared_path("real", "hexrd_multiruby_dexela_ff_chess", "midas",
                                   "Parameters_ff1.txt"))
    assert p1["BC"] == (-113.9368, 1901.4411)  # beam centre off the panel is legitimate
    assert (p1["NrPixelsY"], p1["NrPixelsZ"], p1["NrPixels"]) == (3072, 3888, 3888)
    assert p1["ImTransOpt"] == [2]
    assert [r for r, _ in p1["RingThresh"]] == [1, 2, 3, 5, 7, 8, 9, 12]
    ff = FFParams.from_params(p1)
    assert ff.n_pixels == (3072, 3888) and ff.space_group == 167
