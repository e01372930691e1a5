// midas/nf/bit_table.hpp — read-only views of the SpotsInfo bitmask (spots_info.hpp) for the
// fitting's look-ups: the dense word array itself, or a hash table of its non-zero words.
//
// An NF bitmask is large and almost empty (upstream's Au example: 2 × 1440 × 2048² bits = 1.5 GB
// with 87,646 bits set). An objective evaluation of the fit tests a few hundred bits scattered
// over frames and layers, so on the dense array nearly every test misses the caches and the TLB.
// BitTable keeps only the non-zero 32-bit words in an open-addressing table (Fibonacci hashing,
// linear probing, load ≤ 1/4, one 8-byte slot per word: key = word index + 1 in the high half,
// the word in the low half). A few MB stay in the CPU caches, and look-ups return exactly the
// dense array's words.
//
// Both views provide word(word_index) and test(bit_index); the overlap kernels are templates over
// the view.
#pragma once

#include <cstdint>
#include <vector>

#include "midas/core/hd.hpp"
#include "midas/core/span.hpp"
#include "midas/nf/spots_info.hpp"

namespace midas::nf {

/// The dense word array (file layout), used in place.
struct DenseBits {
    const std::uint32_t* words;
    [[nodiscard]] MIDAS_HD std::uint32_t word(std::uint64_t wi) const { return words[wi]; }
    [[nodiscard]] MIDAS_HD bool test(std::uint64_t k) const { return test_bit(words, k); }
};

/// The non-zero words of a bitmask in a hash table (see the file header). Build with make_bit_table.
struct BitTable {
    BitLayout layout;
    std::vector<std::uint64_t> slots;  ///< power-of-two size; 0 = empty
    std::uint64_t mask = 0;            ///< slots.size() − 1
    int shift = 63;                    ///< 64 − log2(slots.size())
    std::uint64_t n_words_set = 0;     ///< number of non-zero words stored
    std::vector<std::uint64_t> filter;  ///< one bit per hashed word index: clear = the word is zero
    int filter_shift = 63;              ///< 64 − log2(filter bits)

    [[nodiscard]] static std::uint64_t home(std::uint64_t wi, int shift) {
        return (wi * 0x9E3779B97F4A7C15ull) >> shift;
    }
    /// Word `wi` of the dense array (0 when absent).
    [[nodiscard]] static std::uint64_t filter_bit(std::uint64_t wi, int shift) {
        return (wi * 0xC2B2AE3D27D4EB4Full) >> shift;
    }
    [[nodiscard]] std::uint32_t word(std::uint64_t wi) const {
        const std::uint64_t fb = filter_bit(wi, filter_shift);
        if (((filter[fb >> 6] >> (fb & 63u)) & 1u) == 0u) return 0u;
        const std::uint64_t key = (wi + 1u) << 32;
        for (std::uint64_t i = home(wi, shift);; i = (i + 1u) & mask) {
            const std::uint64_t s = slots[i];
            if ((s & 0xFFFFFFFF00000000ull) == key) return static_cast<std::uint32_t>(s);
            if (s == 0u) return 0u;
        }
    }
    /// Bit k of the dense array.
    [[nodiscard]] bool test(std::uint64_t k) const { return ((word(k >> 5) >> (k & 31u)) & 1u) != 0u; }
};

/// Build the table of the non-zero words of `words` (at least n_words(layout) long). Throws
/// midas::ParamError for a bad layout or short array, midas::CapacityError when the layout has
/// 2^32 words or more.
[[nodiscard]] BitTable make_bit_table(span<const std::uint32_t> words, const BitLayout& layout);

}  // namespace midas::nf
