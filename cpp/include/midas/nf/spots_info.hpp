// midas/nf/spots_info.hpp — the NF observation bitmask ("SpotsInfo.bin") bit layout.
//
// Upstream MIDAS stores which detector pixels saw diffraction as one bit per
// (distance layer, frame, Y, Z) in little-endian 32-bit words (upstream_facts.md §3.13, fact 12):
//
//   k = ((layer·n_frames + frame)·n_y + y)·n_z + z,   bit k = (word[k / 32] >> (k % 32)) & 1
//
// with z fastest. Y and Z are the NF detector coordinates (Y = n_y−1−column, Z = n_z−1−row of the
// raw frame). The file is exactly ceil(n_layers·n_frames·n_y·n_z / 32) words long.
//
// The per-bit functions are MIDAS_HD; batched helpers over spans live in cpp/src/nf_spots_info.cpp.
#pragma once

#include <cstdint>
#include <vector>

#include "midas/core/hd.hpp"
#include "midas/core/span.hpp"

namespace midas::nf {

/// Shape of a SpotsInfo bit array (all counts > 0).
struct BitLayout {
    std::int32_t n_layers = 0;  ///< detector distances
    std::int32_t n_frames = 0;  ///< ω frames per distance
    std::int32_t n_y = 0;       ///< detector pixels along Y
    std::int32_t n_z = 0;       ///< detector pixels along Z
};

/// Linear bit index of (layer, frame, y, z); no range check.
MIDAS_HD inline std::uint64_t bit_index(const BitLayout& l, std::int32_t layer, std::int32_t frame,
                                        std::int32_t y, std::int32_t z) {
    return ((static_cast<std::uint64_t>(layer) * static_cast<std::uint64_t>(l.n_frames) +
             static_cast<std::uint64_t>(frame)) *
                static_cast<std::uint64_t>(l.n_y) +
            static_cast<std::uint64_t>(y)) *
               static_cast<std::uint64_t>(l.n_z) +
           static_cast<std::uint64_t>(z);
}

/// Total number of bits of the layout.
MIDAS_HD inline std::uint64_t n_bits(const BitLayout& l) {
    return static_cast<std::uint64_t>(l.n_layers) * static_cast<std::uint64_t>(l.n_frames) *
           static_cast<std::uint64_t>(l.n_y) * static_cast<std::uint64_t>(l.n_z);
}

/// Number of 32-bit words of the file: ceil(n_bits / 32).
MIDAS_HD inline std::uint64_t n_words(const BitLayout& l) { return (n_bits(l) + 31u) / 32u; }

/// Value of bit k.
MIDAS_HD inline bool test_bit(const std::uint32_t* words, std::uint64_t k) {
    return ((words[k >> 5] >> (k & 31u)) & 1u) != 0u;
}

/// Set bit k (not atomic; callers that write concurrently use set_bit_atomic).
MIDAS_HD inline void set_bit(std::uint32_t* words, std::uint64_t k) { words[k >> 5] |= (1u << (k & 31u)); }

/// Set bit k with an atomic OR (host only), for writers running on several threads.
inline void set_bit_atomic(std::uint32_t* words, std::uint64_t k) {
    __atomic_fetch_or(&words[k >> 5], 1u << (k & 31u), __ATOMIC_RELAXED);
}

/// Throws midas::ParamError when a count is not positive or `words` is shorter than the layout.
void check_layout(const BitLayout& layout, std::uint64_t words_available);

/// Set the bits of N coordinates given as rows (layer, frame, y, z) of `coords` (N·4 int32).
/// Throws midas::ParamError naming the first row out of range.
void set_bits(span<std::uint32_t> words, const BitLayout& layout, span<const std::int32_t> coords);

/// Number of set bits among the first n_bits(layout) bits.
[[nodiscard]] std::uint64_t count_set_bits(span<const std::uint32_t> words, const BitLayout& layout);

/// Coordinates (layer, frame, y, z) of every set bit, in increasing bit order, flattened N·4.
[[nodiscard]] std::vector<std::int32_t> list_set_bits(span<const std::uint32_t> words, const BitLayout& layout);

}  // namespace midas::nf
