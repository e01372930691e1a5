// Hash table of the non-zero words of a SpotsInfo bitmask (midas/nf/bit_table.hpp).
#include <string>

#include "midas/core/error.hpp"
#include "midas/nf/bit_table.hpp"

namespace midas::nf {

BitTable make_bit_table(span<const std::uint32_t> words, const BitLayout& layout) {
    check_layout(layout, words.size());
    const std::uint64_t nw = n_words(layout);
    if (nw >= (std::uint64_t{1} << 32) - 1u)
        throw CapacityError("SpotsInfo layout has " + std::to_string(nw) + " 32-bit words; the bit table holds fewer than 2^32");
    // non-zero word indices, block by block (blocks in order: the table does not depend on the threads)
    constexpr std::uint64_t block = std::uint64_t{1} << 20;
    const auto n_blocks = static_cast<std::int64_t>((nw + block - 1u) / block);
    std::vector<std::vector<std::uint32_t>> found(static_cast<std::size_t>(n_blocks));
#pragma omp parallel for schedule(static)
    for (std::int64_t b = 0; b < n_blocks; ++b) {
        const std::uint64_t lo = static_cast<std::uint64_t>(b) * block;
        const std::uint64_t hi = lo + block < nw ? lo + block : nw;
        auto& out = found[static_cast<std::size_t>(b)];
        constexpr std::uint64_t run = 16;  // test runs of words at once: almost all are zero
        std::uint64_t i = lo;
        for (; i + run <= hi; i += run) {
            std::uint32_t any = 0u;
            for (std::uint64_t j = 0; j < run; ++j) any |= words[i + j];
            if (any == 0u) continue;
            for (std::uint64_t j = 0; j < run; ++j)
                if (words[i + j] != 0u) out.push_back(static_cast<std::uint32_t>(i + j));
        }
        for (; i < hi; ++i)
            if (words[i] != 0u) out.push_back(static_cast<std::uint32_t>(i));
    }
    std::uint64_t n_set = 0;
    for (const auto& f : found) n_set += f.size();
    BitTable t;
    t.layout = layout;
    std::uint64_t size = 16;
    int bits = 4;
    while (size < 4u * n_set) {
        size <<= 1;
        ++bits;
    }
    t.slots.assign(size, 0u);
    std::uint64_t fsize = 64;  // filter bits: ≥ 64 per stored word, at least one 64-bit word
    int fbits = 6;
    while (fsize < 64u * n_set) {
        fsize <<= 1;
        ++fbits;
    }
    t.filter.assign(fsize / 64u, 0u);
    t.filter_shift = 64 - fbits;
    t.mask = size - 1u;
    t.shift = 64 - bits;
    // the last word may hold bits past the layout: keep only the layout's bits
    const std::uint64_t tail = n_bits(layout) % 32u;
    for (const auto& f : found) {
        for (const std::uint32_t wi : f) {
            std::uint32_t w = words[wi];
            if (tail != 0u && wi == nw - 1u) w &= (1u << tail) - 1u;
            if (w == 0u) continue;
            std::uint64_t i = BitTable::home(wi, t.shift);
            while (t.slots[i] != 0u) i = (i + 1u) & t.mask;
            t.slots[i] = ((std::uint64_t{wi} + 1u) << 32) | w;
            ++t.n_words_set;
            const std::uint64_t fb = BitTable::filter_bit(wi, t.filter_shift);
            t.filter[fb >> 6] |= std::uint64_t{1} << (fb & 63u);
        }
    }
    return t;
}

}  // namespace midas::nf
