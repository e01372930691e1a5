"""Frame decoding of the peak search: the block-wise Blosc(zstd, bit shuffle) path against
numcodecs, and the bit-unshuffle kernel against its NumPy twin."""

from __future__ import annotations

import numcodecs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from midas._native import core
from midas._reference import ff_peaks as ref
from midas.errors import ParamError
from midas.ff._frames import BlockReader, _blosc_bitshuffle_zstd_layout
from midas.io.midas_zip import MidasZipWriter, open_midas_zip


def _sparse(rng: np.random.Generator, n: int, dtype: str, density: float) -> np.ndarray:
    a = np.zeros(n, dtype=dtype)
    hit = rng.random(n) < density
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    hi = info.max if info is not None else 1e6
    lo = info.min if info is not None else -1e6
    a[hit] = rng.uniform(lo, hi, int(hit.sum())).astype(dtype)
    return a


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(["uint8", "uint16", "int32", "float32", "float64"]), st.integers(0, 700),
       st.sampled_from([0.0, 0.001, 0.05, 1.0]), st.integers(0, 2**31 - 1))
def test_bit_unshuffle_matches_twin_and_blosc(dtype: str, n: int, density: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = _sparse(rng, n, dtype, density)
    size = a.dtype.itemsize
    # Blosc's own shuffle of one block: compress with a block as large as the data, read the
    # block back with zstd alone.
    codec = numcodecs.Blosc(cname="zstd", clevel=1, shuffle=numcodecs.Blosc.BITSHUFFLE,
                            blocksize=max(a.nbytes, 16))
    chunk = codec.encode(a)
    layout = _blosc_bitshuffle_zstd_layout(chunk)
    want = a.view(np.uint8)
    if layout is not None and n >= 8:
        start = int(layout[3][0])
        nc = int.from_bytes(chunk[start:start + 4], "little")
        body = chunk[start + 4:start + 4 + nc]
        shuffled = body if nc == a.nbytes else numcodecs.zstd.Zstd().decode(body)
        np.testing.assert_array_equal(ref.bit_unshuffle_block(shuffled, size), want)
        out = np.full(a.nbytes, 0xAB, dtype=np.uint8)
        nz = core().ff_bit_unshuffle(shuffled, size, out)
        np.testing.assert_array_equal(out, want)
        assert nz == int(np.count_nonzero(want))
    # and any byte string: compiled == twin
    raw = rng.integers(0, 256, n * size, dtype=np.uint8) * (rng.random(n * size) < density)
    out = np.empty(raw.size, np.uint8)
    core().ff_bit_unshuffle(raw.tobytes(), size, out)
    np.testing.assert_array_equal(out, ref.bit_unshuffle_block(raw.tobytes(), size))


def test_bit_unshuffle_rejects_bad_arguments() -> None:
    with pytest.raises(ParamError, match="typesize"):
        core().ff_bit_unshuffle(b"\0" * 16, 0, np.zeros(16, np.uint8))
    with pytest.raises(ParamError, match="bytes"):
        core().ff_bit_unshuffle(b"\0" * 16, 4, np.zeros(8, np.uint8))
    with pytest.raises(ParamError, match="contiguous"):
        core().ff_bit_unshuffle(b"\0" * 16, 4, np.zeros(32, np.uint8)[::2])


@pytest.mark.parametrize("dtype", ["uint16", "int32", "float32"])
def test_block_reader_equals_numcodecs(tmp_path, dtype: str) -> None:  # type: ignore[no-untyped-def]
    """Frames read block-wise are those zarr/numcodecs decode, whatever was in the buffer before:
    sparse frames (zero blocks skipped), dense frames, empty frames and odd frame sizes."""
    rng = np.random.default_rng(5)
    nz, ny = 131, 1001  # 0.26–0.5 MB frames: several Blosc blocks plus a short last one
    frames = np.zeros((9, nz, ny), dtype=dtype)
    for k in range(9):
        density = (0.0005, 0.02, 1.0, 0.0)[k % 4]
        frames[k] = _sparse(rng, nz * ny, dtype, density).reshape(nz, ny)
    frames[5, :3] = 7  # one hot block, the rest zero
    path = tmp_path / "f.MIDAS.zip"
    with MidasZipWriter(path, frame_shape=(nz, ny), dtype=dtype, omega_start_deg=0.0, omega_step_deg=0.25,
                        n_frames=9) as w:
        for f in frames:
            w.append(f)
    with open_midas_zip(path) as z:
        with BlockReader(z, 2) as rd:
            assert rd._chunks is not None and rd._chunks.n_blocks(0) > 1  # the block-wise path is taken
            for start, stop in ((0, 3), (3, 6), (6, 9), (2, 5), (0, 1), (4, 9), (0, 9)):
                np.testing.assert_array_equal(rd.read(start, stop), frames[start:stop])
            assert rd._chunks._zero_signatures  # zero blocks were recognised without decompressing
        with BlockReader(z, 1) as rd:
            np.testing.assert_array_equal(rd.read(1, 9), frames[1:9])


def test_block_reader_on_upstream_frames() -> None:
    from conftest import shared_path

    zip_path = shared_path("upstream_sim", "ff_au250", "tiny", "Au_FF_tiny.analysis.MIDAS.zip")
    with open_midas_zip(zip_path) as z, BlockReader(z, 2) as rd:
        for start in (0, 700, 3, 1439):
            got = rd.read(start, min(start + 4, 1440)).copy()
            want = np.stack([z.frame(k) for k in range(start, min(start + 4, 1440))])
            np.testing.assert_array_equal(got, want)
