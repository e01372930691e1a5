"""Hexagonal NF grid: upstream's grid.txt byte for byte, counts, triangles, filters."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import shared_path
from midas.errors import FormatError, ParamError
from midas.nf.grid import (
    filter_grid_mask,
    filter_grid_tomo,
    grid_triangles,
    grid_up_down,
    make_hex_grid,
    read_grid,
    write_grid,
)


def test_grid_txt_identical_to_upstream(tmp_path):
    up = shared_path("upstream_sim", "nf_au", "upstream_outputs", "grid.txt")
    out = write_grid(tmp_path / "grid.txt", make_hex_grid(50.0, 2.5, 1.0))
    assert out.read_bytes() == up.read_bytes()


@pytest.mark.parametrize("r,g,e", [(50.0, 2.5, 1.0), (100.0, 5.0, None), (7.3, 1.1, 0.7), (1.0, 3.0, None)])
def test_counts_and_triangle_shapes(r, g, e):
    grid = make_hex_grid(r, g, e)
    n = math.ceil(2 * r / math.sqrt(3) / g)
    assert grid.shape[0] == sum(2 * (2 * (2 * n - i) + 1) for i in range(1, n + 1))
    edge = g if e is None else e
    tri = grid_triangles(grid)
    xs, ys = tri[:, :3], tri[:, 3:6]
    # equilateral triangles of side EdgeLength centred on (xs, ys)
    for a, b in ((0, 1), (1, 2), (2, 0)):
        assert np.allclose(np.hypot(xs[:, a] - xs[:, b], ys[:, a] - ys[:, b]), edge, atol=1e-9)
    assert np.allclose(xs.mean(axis=1), grid[:, 2]) and np.allclose(ys.mean(axis=1), grid[:, 3])
    ud = grid_up_down(grid)
    assert np.all((ys[:, 0] < grid[:, 3]) == (ud == -1))
    # neighbouring triangles of a row alternate up/down and are GridSize/2 apart
    row = grid[np.isclose(grid[:, 3], grid[0, 3]) | np.isclose(grid[:, 3], grid[1, 3])][:6]
    assert np.allclose(np.diff(row[:, 2]), g / 2)


def test_grid_mask_bounds_are_inclusive():
    grid = make_hex_grid(10.0, 2.0)
    x0 = float(grid[5, 2])
    kept = filter_grid_mask(grid, (x0, x0, -100, 100))
    assert kept.shape[0] > 0 and np.all(kept[:, 2] == x0)
    assert filter_grid_mask(grid, (-1e3, 1e3, -1e3, 1e3)).shape == grid.shape


def test_tomo_filter_keeps_points_on_nonzero_pixels(tmp_path):
    grid = make_hex_grid(20.0, 2.0)
    n, px = 40, 1.5
    img = np.zeros((n, n), dtype=np.uint8)
    img[:, n // 2:] = 1  # right half (x >= 0) of the sample
    img.tofile(tmp_path / "tomo.raw")
    kept = filter_grid_tomo(grid, tmp_path / "tomo.raw", px)
    assert kept.shape[0] > 0 and np.all(kept[:, 2] >= 0)
    expected = grid[(grid[:, 2] >= 0) & (np.abs(grid[:, 2]) / px < n / 2) & (np.abs(grid[:, 3]) / px < n / 2)]
    assert np.array_equal(kept, expected)
    top = np.zeros((n, n), dtype=np.uint8)
    top[: n // 2, :] = 1  # image row 0 is the top: y > 0
    assert np.all(filter_grid_tomo(grid, top, px)[:, 3] >= 0)
    (tmp_path / "bad.raw").write_bytes(b"\x00" * 10)
    with pytest.raises(FormatError, match="square"):
        filter_grid_tomo(grid, tmp_path / "bad.raw", px)


def test_read_write_round_trip_and_errors(tmp_path):
    g = make_hex_grid(12.0, 1.5, 0.5)
    p = write_grid(tmp_path / "g.txt", g)
    assert np.allclose(read_grid(p), g, atol=5e-7)
    (tmp_path / "short.txt").write_text("3\n1 2 3 4 5\n")
    with pytest.raises(FormatError, match="header says 3"):
        read_grid(tmp_path / "short.txt")
    with pytest.raises(ParamError, match="GridSize"):
        make_hex_grid(10.0, 0.0)
