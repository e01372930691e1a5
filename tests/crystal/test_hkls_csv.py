"""hkls.csv writer/reader: byte-identical to upstream, exact round trip, clear errors."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import shared_path
from midas.crystal import Lattice, hkl_table
from midas.errors import FormatError
from midas.io.hkls_csv import HKLS_CSV_HEADER, read_hkls_csv, write_hkls_csv


@pytest.mark.parametrize(
    "folder, sg, lat, wl, lsd, rhod",
    [
        ("ff_au250", 225, (4.08, 4.08, 4.08, 90, 90, 90), 0.22291, 1e6, 204800.0),
        ("ff_cu_tilted", 225, (3.6149, 3.6149, 3.6149, 90, 90, 90), 0.1839, 1.2e6, 298774.29),
        ("nf_au", 225, (4.08, 4.08, 4.08, 90, 90, 90), 0.172979, 10290.724494, 2800.0),
    ],
)
def test_written_file_is_byte_identical_to_upstream(tmp_path, folder, sg, lat, wl, lsd, rhod):
    up = shared_path("upstream_sim", folder, "hkls.csv")
    out = write_hkls_csv(tmp_path / "hkls.csv", hkl_table(sg, Lattice(*lat), wl, lsd, rhod))
    assert out.read_bytes() == up.read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["hkls.csv"]  # no temporary file left behind


def test_round_trip_is_exact_for_a_low_symmetry_cell(tmp_path):
    t = hkl_table(14, Lattice(5.1, 7.3, 9.2, 90, 103.7, 90), 0.1771, 9e5, 2.5e5)
    back = read_hkls_csv(write_hkls_csv(tmp_path / "h.csv", t))
    for name, a in t.to_dict().items():
        np.testing.assert_array_equal(getattr(back, name), a, err_msg=name)
    assert (tmp_path / "h.csv").read_text().splitlines()[0] == HKLS_CSV_HEADER


def test_reads_the_2015_percent_f_format():
    t = read_hkls_csv(shared_path("real", "midas_2015_ruby_ff_spots", "hkls.csv"))
    assert len(t) == 494
    assert t.hkl[0].tolist() == [0, -1, -2] and t.ring_nr[-1] == 49


@pytest.mark.parametrize(
    "body, match",
    [
        ("1 1 1 2.3 1 0.2 0.2 0.2 2.7 5.4\n", "line 2: 10 columns"),
        ("1 1 1 2.3 1 0.2 0.2 x 2.7 5.4 9\n", "line 2: not a number"),
        ("1 1 1.5 2.3 1 0.2 0.2 0.2 2.7 5.4 9\n", "line 2: h, k, l and RingNr must be integers"),
        ("1 1 1 2.3 1 0.2 0.2 0.2 2.7 5.4 9\n1 1 1 nan 1 0.2 0.2 0.2 2.7 5.4 9\n", "line 3: non-finite"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, body, match):
    p = tmp_path / "hkls.csv"
    p.write_text(HKLS_CSV_HEADER + "\n" + body)
    with pytest.raises(FormatError, match=match):
        read_hkls_csv(p)


def test_missing_or_headerless_file(tmp_path):
    with pytest.raises(FormatError, match="cannot read"):
        read_hkls_csv(tmp_path / "nope.csv")
    p = tmp_path / "x.csv"
    p.write_text("1 1 1 2.3 1 0.2 0.2 0.2 2.7 5.4 9\n")
    with pytest.raises(FormatError, match="header"):
        read_hkls_csv(p)


def test_failed_write_leaves_no_partial_file(tmp_path):
    with pytest.raises(FormatError):
        write_hkls_csv(tmp_path / "missing_dir" / "hkls.csv", hkl_table(225, Lattice(4, 4, 4, 90, 90, 90), 0.2, 1e6, 2e5))
    assert not (tmp_path / "missing_dir").exists()
