// midas/ff/index_windows.hpp — which predicted spots count (analysis windows, per-ring tables),
// shared by the indexer and the refinement.
//
// A predicted spot is expected when some window k holds lo_k < ω < hi_k and its box strictly
// contains the ideal spot (y0, z0) (upstream's OmegaRange / BoxSize pairs, upstream_facts.md
// §2.7 step 4); no window at all means every spot. Ring tables are indexed by ring number.
#pragma once

#include <cstddef>
#include <cstdint>

#include "midas/core/span.hpp"

namespace midas::ff {

/// The OmegaRange/BoxSize windows: (W, 2) ω ranges (deg) and (W, 4) boxes (µm) on (y0, z0).
struct SpotWindows {
    span<const double> omega_deg;
    span<const double> boxes_um;

    [[nodiscard]] bool contains(double omega, double y0, double z0) const {
        const std::size_t n = omega_deg.size() / 2;
        if (n == 0) return true;
        for (std::size_t k = 0; k < n; ++k) {
            const double* box = boxes_um.data() + 4 * k;
            if (omega > omega_deg[2 * k] && omega < omega_deg[2 * k + 1] && y0 > box[0] && y0 < box[1] &&
                z0 > box[2] && z0 < box[3])
                return true;
        }
        return false;
    }
};

/// Per-ring values: ideal radius (µm; 0 = ring not used) and whether the ring counts toward
/// completeness.
struct RingTable {
    span<const double> radius_um;
    span<const std::uint8_t> counts;

    [[nodiscard]] double radius(int ring) const {
        if (ring < 0 || static_cast<std::size_t>(ring) >= radius_um.size()) return 0.0;
        return radius_um[static_cast<std::size_t>(ring)];
    }
    [[nodiscard]] bool counted(int ring) const {
        if (ring < 0 || static_cast<std::size_t>(ring) >= counts.size()) return false;
        return counts[static_cast<std::size_t>(ring)] != 0;
    }
};

}  // namespace midas::ff
