"""Grains.csv and SpotMatrix(Gen).csv: byte-exact round trips with upstream's files, clear errors."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from conftest import shared_path
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from midas.errors import FormatError
from midas.io.grains_csv import (
    GRAINS_COLUMNS,
    GrainsHeader,
    GrainsTable,
    read_grains_csv,
    write_grains_csv,
)
from midas.io.spot_matrix import read_spot_matrix, write_spot_matrix


@pytest.mark.parametrize("parts", [("ff_au250", "upstream_Grains.csv"), ("ff_au250", "GrainsSim.csv"),
                                   ("ff_cu_tilted", "upstream_Grains.csv")])
def test_grains_csv_rewrites_upstream_files_byte_for_byte(parts, tmp_path):
    src = shared_path("upstream_sim", *parts)
    g = read_grains_csv(src)
    write_grains_csv(tmp_path / "g.csv", g)
    assert (tmp_path / "g.csv").read_bytes() == src.read_bytes()


def test_grains_csv_values_and_units():
    g = read_grains_csv(shared_path("upstream_sim", "ff_au250", "upstream_Grains.csv"))
    assert len(g) == 246 and g.header.space_group == 225 and g.header.lattice[0] == 4.08
    assert g.header.beam_center == -4.320227 and g.header.global_position_um == 100.0
    first = np.loadtxt(shared_path("upstream_sim", "ff_au250", "upstream_Grains.csv"), skiprows=9)[0]
    assert g.grain_id[0] == first[0] == 5748
    np.testing.assert_array_equal(g.orient_mat[0].ravel(), first[1:10])
    np.testing.assert_allclose(g.strain_fab[0].ravel(), first[24:33] * 1e-6)  # dimensionless in memory
    np.testing.assert_allclose(g.rms_strain[0], first[42] * 1e-6)
    np.testing.assert_array_equal(g.euler_raw[0], first[44:47])


def test_grains_csv_reads_nine_decimal_untabbed_rows():
    g = read_grains_csv(shared_path("upstream_sim", "ff_cu_tilted", "GrainsSim.csv"))
    assert len(g) == 8 and g.orient_mat[0, 0, 0] == 0.902710569
    assert np.abs(np.einsum("nji,njk->nik", g.orient_mat, g.orient_mat) - np.eye(3)).max() < 1e-8


def test_grains_gen_layout_round_trip(tmp_path):
    g = read_grains_csv(shared_path("upstream_sim", "ff_au250", "GrainsSim.csv"))
    write_grains_csv(tmp_path / "GrainsGen.csv", g, short=True)
    lines = (tmp_path / "GrainsGen.csv").read_text().splitlines()
    assert len(lines) == 9 + 250 and lines[9].count("\t") == 19
    # upstream's simulator writes the same 19 values per grain (its header lines are copied from the input)
    upstream = shared_path("upstream_sim", "ff_au250", "GrainsGen.csv").read_text().splitlines()
    assert lines[9:] == upstream[9:]
    back = read_grains_csv(tmp_path / "GrainsGen.csv")
    np.testing.assert_array_equal(back.lattice, g.lattice)
    assert back.confidence.max() == 0


_finite = st.floats(-1e5, 1e5, allow_nan=False).map(lambda x: round(x, 6))


@settings(max_examples=25, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(0, 5), st.just(47)), elements=_finite))
def test_grains_table_round_trip(tmp_path_factory, m):
    m[:, 0] = np.arange(1, len(m) + 1)
    g = GrainsTable.from_matrix(m, GrainsHeader(space_group=194, lattice=(2.95, 2.95, 4.68, 90, 90, 120)))
    path = tmp_path_factory.mktemp("g") / "Grains.csv"
    write_grains_csv(path, g)
    back = read_grains_csv(path)
    np.testing.assert_allclose(back.to_matrix(), m, rtol=0, atol=5e-7)
    assert back.header == g.header
    assert GrainsHeader.from_dict(g.header.to_dict()) == g.header
    assert path.read_text().splitlines()[8] == "%" + "\t".join(GRAINS_COLUMNS)


def test_grains_csv_errors_name_file_and_line(tmp_path):
    text = shared_path("upstream_sim", "ff_cu_tilted", "GrainsSim.csv").read_text().splitlines()
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(text[:11] + [text[11].rsplit("\t", 3)[0]] + text[12:]) + "\n")
    with pytest.raises(FormatError, match=r"bad\.csv:12: grain row has 44 values, expected 47"):
        read_grains_csv(bad)
    bad.write_text("\n".join(text[:10] + [text[10].replace("0.875818408", "zero")]) + "\n")
    with pytest.raises(FormatError, match=r"bad\.csv:11"):
        read_grains_csv(bad)
    with pytest.raises(FormatError, match="cannot read"):
        read_grains_csv(tmp_path / "missing.csv")


def test_spot_matrix_gen_round_trip_byte_exact(tmp_path):
    src = shared_path("upstream_sim", "ff_cu_tilted", "SpotMatrixGen.csv")
    s = read_spot_matrix(src)
    assert len(s) == 864 and s.frame is not None and s.columns[-1] == "omeBin"
    write_spot_matrix(tmp_path / "s.csv", s)
    assert (tmp_path / "s.csv").read_bytes() == src.read_bytes()


def test_spot_matrix_refinement_layout_round_trip(tmp_path):
    src = shared_path("upstream_sim", "ff_au250", "upstream_outputs", "SpotMatrix.csv.gz")
    (tmp_path / "SpotMatrix.csv").write_bytes(gzip.decompress(src.read_bytes()))
    s = read_spot_matrix(tmp_path / "SpotMatrix.csv")
    assert s.frame is None and s.ring_rad_um is None and len(s.columns) == 12
    write_spot_matrix(tmp_path / "out.csv", s)
    assert (tmp_path / "out.csv").read_bytes() == (tmp_path / "SpotMatrix.csv").read_bytes()


def test_spot_matrix_errors(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("%GrainID\tSpotID\tOmega\n1\t2\t3\n")
    with pytest.raises(FormatError, match="header columns"):
        read_spot_matrix(p)
    src = shared_path("upstream_sim", "ff_cu_tilted", "SpotMatrixGen.csv").read_text().splitlines()
    p.write_text("\n".join(src[:3] + [src[3] + "\t7"]) + "\n")
    with pytest.raises(FormatError, match=r"s\.csv:4: 16 values, expected 15"):
        read_spot_matrix(p)
