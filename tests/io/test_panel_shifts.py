"""Upstream PanelShiftsFile: the 3-, 4- and 6-column layouts, round trip, atomic write, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from midas.errors import FormatError
from midas.io.panel_shifts import HEADER, read_panel_shifts, write_panel_shifts


def test_reads_every_upstream_layout(tmp_path):
    f = tmp_path / "shifts.txt"
    f.write_text("# ID dY dZ dTheta dLsd dP2\n\n0 0.5 -0.25\n2 1.5 -2.5 0.01\n3 0.1 0.2 0.03 12.5 1.5e-5\n")
    a = read_panel_shifts(f, n_panels=4)
    np.testing.assert_array_equal(a, [[0.5, -0.25, 0, 0, 0], [0, 0, 0, 0, 0], [1.5, -2.5, 0.01, 0, 0],
                                      [0.1, 0.2, 0.03, 12.5, 1.5e-5]])


@settings(max_examples=30, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 30), st.just(5)),
              elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)))
def test_round_trip(tmp_path_factory, a):
    f = tmp_path_factory.mktemp("ps") / "ps.txt"
    write_panel_shifts(f, a)
    assert f.read_text().splitlines()[0] == HEADER
    np.testing.assert_allclose(read_panel_shifts(f, n_panels=len(a)), a, atol=6e-11)


@pytest.mark.parametrize(("text", "match"), [("0 1\n", "2 values"), ("0 1 x\n", "numbers"),
                                             ("5 0 0\n", "outside 0..3"), ("1 0 0\n1 0 0\n", "twice"),
                                             ("0 1 2 3 4 5 6\n", "7 values"), ("0 nan 0\n", "non-finite")])
def test_bad_lines_name_file_and_line(tmp_path, text, match):
    f = tmp_path / "bad.txt"
    f.write_text("# header\n" + text)
    with pytest.raises(FormatError, match=match) as e:
        read_panel_shifts(f, n_panels=4)
    assert "bad.txt:" in str(e.value)


def test_write_errors_leave_nothing(tmp_path):
    with pytest.raises(FormatError):
        write_panel_shifts(tmp_path / "x.txt", np.zeros((3, 4)))
    with pytest.raises(FormatError):
        write_panel_shifts(tmp_path / "missing" / "x.txt", np.zeros((3, 5)))
    assert list(tmp_path.iterdir()) == []
