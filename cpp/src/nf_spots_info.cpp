// Batched helpers over the SpotsInfo bit layout.
#include <string>

#include "midas/core/error.hpp"
#include "midas/nf/spots_info.hpp"

namespace midas::nf {

void check_layout(const BitLayout& layout, std::uint64_t words_available) {
    if (layout.n_layers <= 0 || layout.n_frames <= 0 || layout.n_y <= 0 || layout.n_z <= 0)
        throw ParamError("SpotsInfo layout (" + std::to_string(layout.n_layers) + ", " + std::to_string(layout.n_frames) + ", " +
                         std::to_string(layout.n_y) + ", " + std::to_string(layout.n_z) + ") has a non-positive count");
    if (words_available < n_words(layout))
        throw ParamError("SpotsInfo array holds " + std::to_string(words_available) + " 32-bit words, the layout needs " +
                         std::to_string(n_words(layout)));
}

void set_bits(span<std::uint32_t> words, const BitLayout& layout, span<const std::int32_t> coords) {
    check_layout(layout, words.size());
    if (coords.size() % 4 != 0) throw ParamError("set_bits: coordinates must be rows of (layer, frame, y, z)");
    const std::size_t n = coords.size() / 4;
    for (std::size_t i = 0; i < n; ++i) {
        const std::int32_t* c = &coords[4 * i];
        if (c[0] < 0 || c[0] >= layout.n_layers || c[1] < 0 || c[1] >= layout.n_frames || c[2] < 0 || c[2] >= layout.n_y ||
            c[3] < 0 || c[3] >= layout.n_z)
            throw ParamError("set_bits: row " + std::to_string(i) + " (layer " + std::to_string(c[0]) + ", frame " +
                             std::to_string(c[1]) + ", y " + std::to_string(c[2]) + ", z " + std::to_string(c[3]) +
                             ") is outside the layout");
        set_bit(words.data(), bit_index(layout, c[0], c[1], c[2], c[3]));
    }
}

std::uint64_t count_set_bits(span<const std::uint32_t> words, const BitLayout& layout) {
    check_layout(layout, words.size());
    const std::uint64_t nb = n_bits(layout);
    const std::uint64_t full = nb / 32;
    std::uint64_t total = 0;
    const auto nfull = static_cast<std::int64_t>(full);
#pragma omp parallel for reduction(+ : total) schedule(static)
    for (std::int64_t i = 0; i < nfull; ++i) total += static_cast<std::uint64_t>(__builtin_popcount(words[static_cast<std::size_t>(i)]));
    const std::uint64_t rest = nb % 32;
    if (rest != 0) total += static_cast<std::uint64_t>(__builtin_popcount(words[full] & ((1u << rest) - 1u)));
    return total;
}

std::vector<std::int32_t> list_set_bits(span<const std::uint32_t> words, const BitLayout& layout) {
    check_layout(layout, words.size());
    const std::uint64_t nb = n_bits(layout);
    std::vector<std::int32_t> out;
    const std::uint64_t nw = n_words(layout);
    const std::uint64_t per_frame = static_cast<std::uint64_t>(layout.n_y) * static_cast<std::uint64_t>(layout.n_z);
    for (std::uint64_t i = 0; i < nw; ++i) {
        std::uint32_t w = words[i];
        while (w != 0u) {
            const int b = __builtin_ctz(w);
            w &= w - 1u;
            const std::uint64_t k = i * 32u + static_cast<std::uint64_t>(b);
            if (k >= nb) break;
            const std::uint64_t lf = k / per_frame;
            const std::uint64_t yz = k % per_frame;
            out.push_back(static_cast<std::int32_t>(lf / static_cast<std::uint64_t>(layout.n_frames)));
            out.push_back(static_cast<std::int32_t>(lf % static_cast<std::uint64_t>(layout.n_frames)));
            out.push_back(static_cast<std::int32_t>(yz / static_cast<std::uint64_t>(layout.n_z)));
            out.push_back(static_cast<std::int32_t>(yz % static_cast<std::uint64_t>(layout.n_z)));
        }
    }
    return out;
}

}  // namespace midas::nf
