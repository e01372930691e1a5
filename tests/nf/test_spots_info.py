"""SpotsInfo bit layout: kernels vs a NumPy bit twin, files, sparse .npz round trips."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from midas._reference import nf as ref
from midas.errors import FormatError, ParamError
from midas.nf.spots_info import SpotsInfo, n_words_of

LAYOUT = (2, 5, 7, 9)  # 630 bits: not a multiple of 32


def _bits_numpy(words: np.ndarray, n_bits: int) -> np.ndarray:
    """Bits of little-endian uint32 words as a bool array (bit k of word k//32)."""
    return np.unpackbits(words.astype("<u4").view(np.uint8), bitorder="little")[:n_bits].astype(bool)


coords_strategy = st.lists(
    st.tuples(st.integers(0, 1), st.integers(0, 4), st.integers(0, 6), st.integers(0, 8)), max_size=60
)


@settings(max_examples=60, deadline=None)
@given(coords_strategy)
def test_set_list_count_match_bit_twin(coords):
    s = SpotsInfo.zeros(LAYOUT)
    c = np.array(coords, dtype=np.int32).reshape(-1, 4)
    s.set_bits(c)
    n_bits = int(np.prod(LAYOUT))
    bits = _bits_numpy(s.words, n_bits)
    expected = sorted({ref.bit_index(LAYOUT, *map(int, row)) for row in c})
    assert np.flatnonzero(bits).tolist() == expected
    assert s.count() == len(expected)
    back = s.coords()
    assert [ref.bit_index(LAYOUT, *map(int, row)) for row in back] == expected
    assert all(ref.test_bit(s.words, k) for k in expected)


def test_layout_size_and_last_partial_word():
    assert n_words_of(LAYOUT) == (630 + 31) // 32
    s = SpotsInfo.zeros(LAYOUT)
    s.set_bits([[1, 4, 6, 8]])  # the very last bit, 629
    assert s.words[-1] == 1 << (629 % 32)
    assert s.coords().tolist() == [[1, 4, 6, 8]]


@pytest.mark.parametrize("row", [[2, 0, 0, 0], [0, 5, 0, 0], [0, 0, 7, 0], [0, 0, 0, 9], [-1, 0, 0, 0]])
def test_set_bits_rejects_out_of_range(row):
    s = SpotsInfo.zeros(LAYOUT)
    with pytest.raises(ParamError, match="outside the layout"):
        s.set_bits([[0, 0, 0, 0], row])


def test_file_create_open_and_size_check(tmp_path):
    p = tmp_path / "SpotsInfo.bin"
    s = SpotsInfo.create(p, LAYOUT)
    s.set_bits([[0, 1, 2, 3], [1, 2, 3, 4]])
    s.flush()
    del s
    assert p.stat().st_size == 4 * n_words_of(LAYOUT)
    r = SpotsInfo.open(p, LAYOUT)
    assert r.coords().tolist() == [[0, 1, 2, 3], [1, 2, 3, 4]]
    with pytest.raises(ParamError, match="read-only"):
        r.set_bits([[0, 0, 0, 0]])
    with pytest.raises(FormatError, match="bytes"):
        SpotsInfo.open(p, (2, 6, 7, 9))
    with pytest.raises(FormatError, match="not found"):
        SpotsInfo.open(tmp_path / "missing.bin", LAYOUT)


def test_sparse_npz_and_write_round_trip(tmp_path, rng):
    layout = (2, 3, 64, 48)
    c = np.stack([rng.integers(0, n, 200) for n in layout], axis=1).astype(np.int32)
    s = SpotsInfo.from_coords(c, layout)
    npz = s.to_sparse_npz(tmp_path / "s.npz")
    back = SpotsInfo.from_sparse_npz(npz, layout)
    assert np.array_equal(back.words, s.words)
    on_disk = SpotsInfo.from_sparse_npz(npz, layout, target=tmp_path / "S.bin")
    on_disk.flush()
    assert np.array_equal(np.fromfile(tmp_path / "S.bin", dtype="<u4"), s.words)
    s.write(tmp_path / "W.bin")
    assert np.array_equal(np.fromfile(tmp_path / "W.bin", dtype="<u4"), s.words)
    with pytest.raises(FormatError, match="does not match"):
        SpotsInfo.from_sparse_npz(npz, (2, 3, 64, 49))


def test_words_must_be_uint32_and_contiguous():
    from midas._native import core

    with pytest.raises(ParamError, match="uint32"):
        core().nf_count_bits(np.zeros(20, dtype=np.int64), LAYOUT)
    with pytest.raises(ParamError, match="C-contiguous"):
        core().nf_count_bits(np.zeros(60, dtype=np.uint32)[::2], LAYOUT)


@settings(max_examples=40, deadline=None)
@given(coords_strategy, st.integers(0, 2**32 - 1))
def test_bit_table_words_equal_dense_words(coords, junk):
    """NfBitTable (hash table of the non-zero words, used by the fit) returns every dense word;
    bits past the layout in the last word are not part of the mask."""
    from midas._native import core

    s = SpotsInfo.zeros(LAYOUT)
    s.set_bits(np.array(coords, dtype=np.int32).reshape(-1, 4))
    words = s.words.copy()
    words[-1] |= np.uint32(junk) & ~np.uint32((1 << (int(np.prod(LAYOUT)) % 32)) - 1)  # beyond bit 630
    t = core().NfBitTable(words, LAYOUT)
    got = np.array([t.word(i) for i in range(words.size)], dtype=np.uint32)
    assert np.array_equal(got, s.words)
    assert t.n_words_set == int(np.count_nonzero(s.words))
    assert t.word(10**6) == 0
