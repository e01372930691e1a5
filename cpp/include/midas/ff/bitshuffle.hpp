// Undo the bit shuffle of a Blosc block (Blosc's BITSHUFFLE filter, used by upstream's
// .MIDAS.zip frames: Blosc(zstd, bitshuffle), upstream_facts.md §3.2).
//
// A block of n elements of `typesize` bytes is stored as typesize·8 bit planes of n/8 bytes:
// plane p = 8·j + k holds bit k of byte j of every element, element e at bit (e mod 8) of byte
// e/8 (least significant bit first). c-blosc 1 (the format of numcodecs' Blosc) shuffles a block
// only when its length is a multiple of 8·typesize bytes and stores any other block unchanged. Detector frames are mostly zero, so the columns of eight
// elements whose planes are all zero are skipped and the rest are undone with 8×8 bit transposes.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "midas/core/error.hpp"
#include "midas/core/span.hpp"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "bitshuffle.hpp reads 64-bit words byte by byte and assumes a little-endian host"
#endif

namespace midas::ff {

/// Transpose an 8×8 bit matrix stored row-major in the bytes of x (row r = byte r, column c =
/// bit c): afterwards byte c holds, at bit r, what was bit c of byte r.
[[nodiscard]] inline std::uint64_t transpose_bits_8x8(std::uint64_t x) {
    std::uint64_t t = (x ^ (x >> 7)) & 0x00AA00AA00AA00AAULL;
    x ^= t ^ (t << 7);
    t = (x ^ (x >> 14)) & 0x0000CCCC0000CCCCULL;
    x ^= t ^ (t << 14);
    t = (x ^ (x >> 28)) & 0x00000000F0F0F0F0ULL;
    x ^= t ^ (t << 28);
    return x;
}

/// Undo Blosc's bit shuffle of one block into `out` (same length as `shuffled`, overwritten; a
/// block that is not a multiple of 8·typesize bytes is copied).
/// Returns the number of non-zero bytes written. Throws ParamError for a length mismatch or a
/// type size outside 1..16.
inline std::int64_t bit_unshuffle_block(span<const std::uint8_t> shuffled, std::size_t typesize,
                                        span<std::uint8_t> out) {
    if (typesize < 1 || typesize > 16)
        throw ParamError("bit_unshuffle_block: typesize " + std::to_string(typesize) + " outside 1..16");
    if (out.size() != shuffled.size())
        throw ParamError("bit_unshuffle_block: output has " + std::to_string(out.size()) + " bytes for " +
                         std::to_string(shuffled.size()) + " shuffled bytes");
    const bool shuffled_block = shuffled.size() % (8 * typesize) == 0;
    const std::size_t n_cols = shuffled_block ? shuffled.size() / (8 * typesize) : 0;  // columns of 8 elements
    const std::size_t done = n_cols * 8 * typesize;
    const std::uint8_t* in = shuffled.data();
    std::uint8_t* dst = out.data();
    std::memset(dst, 0, done);
    std::int64_t nonzero = 0;
    // Column q of byte j: bytes q of planes 8j..8j+7 → one 8×8 bit matrix → byte j of elements 8q..8q+7.
    auto undo_column = [&](std::size_t q, std::size_t j, std::uint64_t x) {
        x = transpose_bits_8x8(x);
        std::uint8_t* e = dst + q * 8 * typesize + j;
        for (std::size_t i = 0; i < 8; ++i) {
            const auto b = static_cast<std::uint8_t>(x >> (8 * i));
            e[i * typesize] = b;
            nonzero += b != 0;
        }
    };
    // Eight columns at a time: one 64-bit word of each of the eight planes of a byte. The planes
    // are first scanned in order (their rows lie a multiple of 4 kB apart, so reading them side by
    // side would thrash the cache) to find the words that are non-zero in any of them; only those
    // (few, in a detector frame) are gathered and transposed.
    const std::size_t n_words = n_cols / 8;
    std::vector<std::uint64_t> any(n_words);
    for (std::size_t j = 0; j < typesize && n_words > 0; ++j) {
        std::fill(any.begin(), any.end(), std::uint64_t{0});
        for (std::size_t k = 0; k < 8; ++k) {
            const std::uint8_t* row = in + (8 * j + k) * n_cols;
            for (std::size_t w = 0; w < n_words; ++w) {
                std::uint64_t v;
                std::memcpy(&v, row + 8 * w, 8);
                any[w] |= v;
            }
        }
        for (std::size_t w = 0; w < n_words; ++w) {
            if (any[w] == 0) continue;
            std::uint64_t word[8];
            for (std::size_t k = 0; k < 8; ++k) std::memcpy(&word[k], in + (8 * j + k) * n_cols + 8 * w, 8);
            for (std::size_t c = 0; c < 8; ++c) {
                if (((any[w] >> (8 * c)) & 0xFFu) == 0) continue;
                std::uint64_t x = 0;
                for (std::size_t k = 0; k < 8; ++k) x |= ((word[k] >> (8 * c)) & 0xFFu) << (8 * k);
                undo_column(8 * w + c, j, x);
            }
        }
    }
    for (std::size_t q = 8 * n_words; q < n_cols; ++q) {
        for (std::size_t j = 0; j < typesize; ++j) {
            std::uint64_t x = 0;
            for (std::size_t k = 0; k < 8; ++k)
                x |= static_cast<std::uint64_t>(in[(8 * j + k) * n_cols + q]) << (8 * k);
            if (x != 0) undo_column(q, j, x);
        }
    }
    for (std::size_t i = done; i < shuffled.size(); ++i) {
        dst[i] = in[i];
        nonzero += in[i] != 0;
    }
    return nonzero;
}

}  // namespace midas::ff
