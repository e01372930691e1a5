// NF experiment validation, reflection sets, layout checks and the voxel simulation.
#include <atomic>
#include <cmath>
#include <string>

#include "midas/core/error.hpp"
#include "midas/nf/experiment.hpp"
#include "midas/nf/overlap.hpp"

namespace midas::nf {

namespace {

void require_finite(double v, const char* name) {
    if (!std::isfinite(v)) throw ParamError(std::string("NF experiment: ") + name + " = " + std::to_string(v) + " is not finite");
}

}  // namespace

Experiment make_experiment(const ExperimentSpec& spec) {
    const std::size_t nl = spec.lsd_um.size();
    if (nl == 0) throw ParamError("NF experiment: no detector distance given (Lsd list is empty)");
    if (spec.ybc_px.size() != nl || spec.zbc_px.size() != nl)
        throw ParamError("NF experiment: " + std::to_string(nl) + " Lsd values but " + std::to_string(spec.ybc_px.size()) +
                         " BC values; give one `BC y z` line per `Lsd` line");
    for (std::size_t l = 0; l < nl; ++l) {
        require_finite(spec.lsd_um[l], "Lsd");
        require_finite(spec.ybc_px[l], "BC y");
        require_finite(spec.zbc_px[l], "BC z");
        if (!(spec.lsd_um[l] > 0.0))
            throw ParamError("NF experiment: Lsd[" + std::to_string(l) + "] = " + std::to_string(spec.lsd_um[l]) + " µm, expected > 0");
    }
    for (double v : {spec.tx_deg, spec.ty_deg, spec.tz_deg, spec.px_um, spec.omega_start_deg, spec.omega_step_deg, spec.min_eta_deg, spec.wedge_deg})
        require_finite(v, "scalar");
    if (!(spec.px_um > 0.0)) throw ParamError("NF experiment: px = " + std::to_string(spec.px_um) + " µm, expected > 0");
    if (spec.n_y <= 0 || spec.n_z <= 0)
        throw ParamError("NF experiment: detector of " + std::to_string(spec.n_y) + " x " + std::to_string(spec.n_z) +
                         " pixels, expected positive NrPixelsY/NrPixelsZ");
    if (spec.n_frames <= 0) throw ParamError("NF experiment: " + std::to_string(spec.n_frames) + " frames, expected > 0");
    if (spec.omega_step_deg == 0.0) throw ParamError("NF experiment: OmegaStep is 0");
    if (spec.omega_ranges_deg.size() % 2 != 0 || spec.box_um.size() % 4 != 0)
        throw ParamError("NF experiment: OmegaRange needs 2 values and BoxSize 4 values per window");
    const std::size_t nw = spec.omega_ranges_deg.size() / 2;
    if (nw == 0) throw ParamError("NF experiment: no OmegaRange given");
    if (spec.box_um.size() / 4 != nw)
        throw ParamError("NF experiment: " + std::to_string(nw) + " OmegaRange lines but " + std::to_string(spec.box_um.size() / 4) +
                         " BoxSize lines; give one BoxSize per OmegaRange");
    Experiment e;
    e.spec = spec;
    e.n_layers = static_cast<std::int32_t>(nl);
    e.proj = geometry::make_nf_projector(spec.lsd_um[0], spec.ybc_px[0], spec.zbc_px[0], spec.px_um, spec.tx_deg * deg,
                                         spec.ty_deg * deg, spec.tz_deg * deg);
    e.wedge_rad = spec.wedge_deg * deg;
    e.cos_min_eta = std::cos(spec.min_eta_deg * deg);
    e.inv_px = 1.0 / spec.px_um;
    e.inv_lsd0 = 1.0 / spec.lsd_um[0];
    for (const double lsd : spec.lsd_um) e.lsd_ratio.push_back(lsd / spec.lsd_um[0]);
    return e;
}

HklSet make_hkls(span<const double> g_crystal, span<const double> theta_deg) {
    const std::size_t n = theta_deg.size();
    if (g_crystal.size() != 3 * n)
        throw ParamError("NF reflections: g has " + std::to_string(g_crystal.size()) + " values for " + std::to_string(n) +
                         " theta values, expected 3 per reflection");
    HklSet h;
    h.g_crystal.assign(g_crystal.begin(), g_crystal.end());
    h.v.resize(n);
    h.tan_2theta.resize(n);
    h.rho.resize(n);
    h.tan_2theta_over_rho.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        const double th = theta_deg[i];
        if (!(th > 0.0 && th < 45.0))
            throw ParamError("NF reflections: theta[" + std::to_string(i) + "] = " + std::to_string(th) + " deg, expected in (0, 45)");
        const double* g = &g_crystal[3 * i];
        const double len = std::sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2]);
        h.v[i] = std::sin(th * deg) * len;
        h.tan_2theta[i] = std::tan(2.0 * th * deg);
        if (!(len > 0.0)) throw ParamError("NF reflections: g[" + std::to_string(i) + "] is the zero vector");
        h.rho[i] = std::cos(th * deg) * len;
        h.tan_2theta_over_rho[i] = h.tan_2theta[i] / h.rho[i];
    }
    return h;
}

void check_layout_matches(const Experiment& e, const BitLayout& layout) {
    if (layout.n_layers != e.n_layers || layout.n_frames != e.spec.n_frames || layout.n_y != e.spec.n_y ||
        layout.n_z != e.spec.n_z)
        throw ParamError("NF bitmask shape (" + std::to_string(layout.n_layers) + ", " + std::to_string(layout.n_frames) + ", " +
                         std::to_string(layout.n_y) + ", " + std::to_string(layout.n_z) +
                         ") does not match the experiment (layers, frames, NrPixelsY, NrPixelsZ) = (" +
                         std::to_string(e.n_layers) + ", " + std::to_string(e.spec.n_frames) + ", " +
                         std::to_string(e.spec.n_y) + ", " + std::to_string(e.spec.n_z) + ")");
}

std::int64_t simulate_bits(const Experiment& e, const HklSet& h, span<const Triangle> voxels,
                           span<const double> orient_mats, span<std::uint32_t> words, const BitLayout& layout) {
    check_layout_matches(e, layout);
    check_layout(layout, words.size());
    if (orient_mats.size() != 9 * voxels.size())
        throw ParamError("NF simulation: " + std::to_string(voxels.size()) + " voxels but " +
                         std::to_string(orient_mats.size() / 9) + " orientation matrices");
    const auto nv = static_cast<std::int64_t>(voxels.size());
    std::int64_t hits = 0;
    std::uint32_t* w = words.data();
#pragma omp parallel reduction(+ : hits)
    {
        Workspace ws;
#pragma omp for schedule(dynamic, 8)
        for (std::int64_t i = 0; i < nv; ++i) {
            const double* u = &orient_mats[static_cast<std::size_t>(9 * i)];
            const std::size_t ns = compute_spots(e, h, u, ws.spots);
            for_each_hit<spot_stride>(e, voxels[static_cast<std::size_t>(i)],
                                      span<const double>(ws.spots.data(), spot_stride * ns), ws,
                         [&](std::int32_t l, std::int32_t f, std::int32_t y, std::int32_t z) {
                             set_bit_atomic(w, bit_index(layout, l, f, y, z));
                             ++hits;
                         });
        }
    }
    return hits;
}

}  // namespace midas::nf
