#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "midas/core/error.hpp"
#include "midas/integration/integrate.hpp"

namespace midas::integration {

template <class In>
std::vector<std::int64_t> find_sentinel_pixels(span<const In> frame, span<const double> values,
                                               span<const std::uint8_t> skip) {
    if (!skip.empty() && skip.size() != frame.size())
        throw ParamError("find_sentinel_pixels: skip mask has " + std::to_string(skip.size()) +
                         " pixels, frame has " + std::to_string(frame.size()));
    std::vector<std::int64_t> found;
    if (values.empty()) return found;
    const auto n = static_cast<std::int64_t>(frame.size());
    constexpr std::int64_t block = 1 << 16;
    const std::int64_t n_blocks = (n + block - 1) / block;
    std::vector<std::vector<std::int64_t>> per_block(static_cast<std::size_t>(n_blocks));
#pragma omp parallel for schedule(static)
    for (std::int64_t b = 0; b < n_blocks; ++b) {
        const std::int64_t end = std::min(n, (b + 1) * block);
        for (std::int64_t i = b * block; i < end; ++i) {
            const double v = static_cast<double>(frame[static_cast<std::size_t>(i)]);
            bool hit = false;
            for (const double s : values) hit = hit || v == s;
            if (hit && (skip.empty() || skip[static_cast<std::size_t>(i)] == 0))
                per_block[static_cast<std::size_t>(b)].push_back(i);
        }
    }
    for (const auto& v : per_block) found.insert(found.end(), v.begin(), v.end());
    return found;
}

void lineout_from_cake(span<const double> cake, span<const double> area, std::int64_t n_frames, std::int64_t n_r,
                       std::int64_t n_eta, span<double> lineout) {
    if (n_frames < 0 || n_r < 0 || n_eta < 0 || cake.size() != static_cast<std::size_t>(n_frames * n_r * n_eta) ||
        area.size() != static_cast<std::size_t>(n_r * n_eta) ||
        lineout.size() != static_cast<std::size_t>(n_frames * n_r))
        throw ParamError("lineout_from_cake: cake (" + std::to_string(cake.size()) + "), area (" +
                         std::to_string(area.size()) + ") and lineout (" + std::to_string(lineout.size()) +
                         ") sizes do not match n_frames = " + std::to_string(n_frames) + ", n_r = " +
                         std::to_string(n_r) + ", n_eta = " + std::to_string(n_eta));
    const double nan = std::numeric_limits<double>::quiet_NaN();
#pragma omp parallel for schedule(static)
    for (std::int64_t fr = 0; fr < n_frames * n_r; ++fr) {
        const std::int64_t i = fr % n_r;
        const double* c = cake.data() + fr * n_eta;
        const double* a = area.data() + i * n_eta;
        double num = 0.0, den = 0.0;
        for (std::int64_t j = 0; j < n_eta; ++j) {
            if (a[j] > 0.0 && std::isfinite(c[j])) {
                num += a[j] * c[j];
                den += a[j];
            }
        }
        lineout[static_cast<std::size_t>(fr)] = den > 0.0 ? num / den : nan;
    }
}

template std::vector<std::int64_t> find_sentinel_pixels<float>(span<const float>, span<const double>,
                                                               span<const std::uint8_t>);
template std::vector<std::int64_t> find_sentinel_pixels<double>(span<const double>, span<const double>,
                                                                span<const std::uint8_t>);
template std::vector<std::int64_t> find_sentinel_pixels<std::uint16_t>(span<const std::uint16_t>, span<const double>,
                                                                       span<const std::uint8_t>);
template std::vector<std::int64_t> find_sentinel_pixels<std::int32_t>(span<const std::int32_t>, span<const double>,
                                                                      span<const std::uint8_t>);
template std::vector<std::int64_t> find_sentinel_pixels<std::uint32_t>(span<const std::uint32_t>, span<const double>,
                                                                       span<const std::uint8_t>);

}  // namespace midas::integration
