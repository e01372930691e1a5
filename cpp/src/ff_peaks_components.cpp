// Sparse 8-connected labelling and regional maxima (see midas/ff/components.hpp).
#include <algorithm>
#include <limits>
#include <numeric>
#include <string>

#include "midas/core/error.hpp"
#include "midas/ff/components.hpp"

namespace midas::ff {

namespace {

std::int32_t find_root(std::vector<std::int32_t>& parent, std::int32_t k) {
    std::int32_t root = k;
    while (parent[static_cast<std::size_t>(root)] != root) root = parent[static_cast<std::size_t>(root)];
    while (parent[static_cast<std::size_t>(k)] != root) {  // path compression
        const std::int32_t next = parent[static_cast<std::size_t>(k)];
        parent[static_cast<std::size_t>(k)] = root;
        k = next;
    }
    return root;
}

void link(std::vector<std::int32_t>& neighbour, std::vector<std::int32_t>& parent, std::int32_t a,
          std::int32_t b) {
    // Record the pair in both neighbour lists, then join the two trees (smaller root wins so the
    // root of a region is its first pixel).
    auto add = [&](std::int32_t from, std::int32_t to) {
        auto* slot = neighbour.data() + static_cast<std::size_t>(from) * n_neighbours;
        for (int j = 0; j < n_neighbours; ++j) {
            if (slot[j] < 0) {
                slot[j] = to;
                return;
            }
        }
    };
    add(a, b);
    add(b, a);
    const std::int32_t ra = find_root(parent, a), rb = find_root(parent, b);
    if (ra < rb) {
        parent[static_cast<std::size_t>(rb)] = ra;
    } else if (rb < ra) {
        parent[static_cast<std::size_t>(ra)] = rb;
    }
}

}  // namespace

void label_components(span<const std::int64_t> linear_index, std::int64_t n_y, std::int64_t n_z,
                      Components& out) {
    const std::size_t n = linear_index.size();
    if (n_y <= 0 || n_z <= 0) throw ParamError("label_components: image shape must be positive");
    if (n > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
        throw CapacityError("label_components: more than 2^31 pixels above threshold in one frame");
    for (std::size_t k = 0; k < n; ++k) {
        const std::int64_t v = linear_index[k];
        if (v < 0 || v >= n_y * n_z || (k > 0 && v <= linear_index[k - 1]))
            throw ParamError("label_components: linear_index[" + std::to_string(k) + "] = " + std::to_string(v) +
                             " is outside [0, " + std::to_string(n_y * n_z) +
                             ") or not strictly increasing");
    }
    out.neighbour.assign(n * n_neighbours, -1);
    std::vector<std::int32_t> parent(n);
    std::iota(parent.begin(), parent.end(), 0);

    // Sweep in row-major order. For pixel (z, y) the neighbours already seen are (z, y−1) and
    // (z−1, y−1..y+1). `up` walks the previous row's pixels in step with y.
    std::size_t row_begin = 0;       // first pixel of the current row
    std::size_t prev_begin = 0, prev_end = 0;  // pixels of row z−1 (empty if that row has none)
    std::int64_t current_row = -1;
    std::size_t up = 0;
    for (std::size_t k = 0; k < n; ++k) {
        const std::int64_t z = linear_index[k] / n_y;
        const std::int64_t y = linear_index[k] % n_y;
        if (z != current_row) {
            if (current_row >= 0 && z == current_row + 1) {
                prev_begin = row_begin;
                prev_end = k;
            } else {
                prev_begin = prev_end = k;  // previous row absent
            }
            row_begin = k;
            current_row = z;
            up = prev_begin;
        }
        const auto kk = static_cast<std::int32_t>(k);
        if (k > row_begin && linear_index[k - 1] == linear_index[k] - 1) link(out.neighbour, parent, kk, kk - 1);
        while (up < prev_end && linear_index[up] % n_y < y - 1) ++up;
        for (std::size_t u = up; u < prev_end && linear_index[u] % n_y <= y + 1; ++u)
            link(out.neighbour, parent, kk, static_cast<std::int32_t>(u));
    }

    // Number regions by their root (= first pixel), in increasing order.
    out.region_of.assign(n, -1);
    std::int32_t n_regions = 0;
    std::vector<std::int32_t> region_of_root(n, -1);
    for (std::size_t k = 0; k < n; ++k) {
        const std::int32_t r = find_root(parent, static_cast<std::int32_t>(k));
        auto& slot = region_of_root[static_cast<std::size_t>(r)];
        if (slot < 0) slot = n_regions++;
        out.region_of[k] = slot;
    }
    out.region_start.assign(static_cast<std::size_t>(n_regions) + 1, 0);
    for (std::size_t k = 0; k < n; ++k) ++out.region_start[static_cast<std::size_t>(out.region_of[k]) + 1];
    for (std::int32_t r = 0; r < n_regions; ++r)
        out.region_start[static_cast<std::size_t>(r) + 1] += out.region_start[static_cast<std::size_t>(r)];
    out.members.assign(n, 0);
    std::vector<std::int32_t> fill(out.region_start.begin(), out.region_start.end() - 1);
    for (std::size_t k = 0; k < n; ++k)
        out.members[static_cast<std::size_t>(fill[static_cast<std::size_t>(out.region_of[k])]++)] =
            static_cast<std::int32_t>(k);
}

std::vector<std::int32_t> regional_maxima(span<const std::int32_t> members, span<const double> value,
                                          span<const std::int32_t> neighbour) {
    std::vector<std::int32_t> maxima;
    for (const std::int32_t k : members) {
        const double v = value[static_cast<std::size_t>(k)];
        bool is_max = true;
        const std::int32_t* nb = neighbour.data() + static_cast<std::size_t>(k) * n_neighbours;
        for (int j = 0; j < n_neighbours && nb[j] >= 0; ++j) {
            if (value[static_cast<std::size_t>(nb[j])] > v) {
                is_max = false;
                break;
            }
        }
        if (is_max) maxima.push_back(k);
    }
    return maxima;
}

}  // namespace midas::ff
