"""Grains.csv reader: the 24-column layout (GrainID to Confidence) of converted grain lists."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path
from midas.errors import FormatError
from midas.io.grains_csv import (
    GRAINS_COLUMNS,
    GrainsHeader,
    GrainsTable,
    read_grains_csv,
    write_grains_csv,
)


def _narrow(path, out, width, names=None):
    """Rewrite a written Grains.csv with only its first ``width`` columns (and column names)."""
    lines = path.read_text().splitlines()
    head = lines[:8] + ["%" + "\t".join(names if names is not None else GRAINS_COLUMNS[:width])]
    rows = ["\t".join(r.split("\t")[:width]) for r in lines[9:]]
    out.write_text("\n".join(head + rows) + "\n")


def test_reads_hexrd_truth_grains():
    src = shared_path("real", "hexrd_multiruby_dexela_ff_chess", "midas", "hexrd_grains_as_midas_Grains.csv")
    g = read_grains_csv(src)
    first = src.read_text().splitlines()[9].split()
    assert len(first) == 24 and len(g) == 3
    assert g.header.space_group == 167 and g.header.lattice[2] == pytest.approx(12.99568)
    np.testing.assert_array_equal(g.to_matrix()[0, :24], [float(x) for x in first])
    np.testing.assert_allclose(np.einsum("nji,njk->nik", g.orient_mat, g.orient_mat), np.broadcast_to(np.eye(3),
                               (3, 3, 3)), atol=1e-8)
    assert np.all(g.to_matrix()[:, 24:] == 0)


def test_24_column_file_keeps_the_first_24_columns(tmp_path):
    rng = np.random.default_rng(3)
    m = np.round(rng.uniform(-100, 100, (4, 47)), 6)
    m[:, 0] = np.arange(1, 5)
    full = tmp_path / "full.csv"
    write_grains_csv(full, GrainsTable.from_matrix(m, GrainsHeader(space_group=225, lattice=(4.08,) * 3 + (90.0,) * 3)))
    narrow = tmp_path / "narrow.csv"
    _narrow(full, narrow, 24)
    back = read_grains_csv(narrow)
    np.testing.assert_allclose(back.to_matrix()[:, :24], m[:, :24], rtol=0, atol=5e-7)
    assert np.all(back.to_matrix()[:, 24:] == 0)
    assert back.header.space_group == 225


def test_other_widths_and_wrong_names_are_errors(tmp_path):
    m = np.zeros((2, 47))
    m[:, 0] = [1, 2]
    m[:, 1] = m[:, 5] = m[:, 9] = 1.0
    full = tmp_path / "full.csv"
    write_grains_csv(full, GrainsTable.from_matrix(m))
    bad = tmp_path / "bad.csv"
    _narrow(full, bad, 30)
    with pytest.raises(FormatError, match=r"bad\.csv:10: grain row has 30 values, expected 47 .* 24 .* 19"):
        read_grains_csv(bad)
    names = list(GRAINS_COLUMNS[:24])
    names[23] = "Completeness"
    _narrow(full, bad, 24, names)
    with pytest.raises(FormatError, match=r"bad\.csv:9: rows have 24 values but the column names"):
        read_grains_csv(bad)
