// forward_ff.cpp — batched far-field spot prediction (OpenMP over grains).
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "midas/core/error.hpp"
#include "midas/forward/ff_spots.hpp"

namespace midas::ff {

namespace {

constexpr double deg = M_PI / 180.0;

void check_inputs(const FFSpotInputs& in, const FFSpotConfig& cfg) {
    const std::size_t n_grains = in.orient.size() / 9;
    if (in.orient.size() != n_grains * 9)
        throw ParamError("predict_ff_spots: orient has " + std::to_string(in.orient.size()) +
                         " values, expected a multiple of 9 (G, 3, 3)");
    if (in.pos_um.size() != n_grains * 3)
        throw ParamError("predict_ff_spots: pos_um has " + std::to_string(in.pos_um.size()) +
                         " values, expected G × 3 = " + std::to_string(n_grains * 3));
    if (in.b_matrix.size() != n_grains * 9)
        throw ParamError("predict_ff_spots: b_matrix has " + std::to_string(in.b_matrix.size()) +
                         " values, expected G × 9 = " + std::to_string(n_grains * 9));
    const std::size_t n_hkl = in.hkl.size() / 3;
    if (in.hkl.size() != n_hkl * 3)
        throw ParamError("predict_ff_spots: hkl has " + std::to_string(in.hkl.size()) +
                         " values, expected a multiple of 3 (H, 3)");
    if (in.ring_nr.size() != n_hkl || in.row_id.size() != n_hkl)
        throw ParamError("predict_ff_spots: ring_nr/row_id have " + std::to_string(in.ring_nr.size()) + "/" +
                         std::to_string(in.row_id.size()) + " entries, expected H = " + std::to_string(n_hkl));
    if (!(cfg.wavelength_A > 0.0) || !std::isfinite(cfg.wavelength_A))
        throw ParamError("predict_ff_spots: wavelength_A = " + std::to_string(cfg.wavelength_A) +
                         ", expected a finite value > 0");
    if (!(cfg.lsd_um > 0.0) || !std::isfinite(cfg.lsd_um))
        throw ParamError("predict_ff_spots: lsd_um = " + std::to_string(cfg.lsd_um) +
                         ", expected a finite value > 0");
    const std::size_t n_windows = cfg.omega_windows_deg.size() / 2;
    if (cfg.omega_windows_deg.size() != n_windows * 2 || cfg.boxes_um.size() != n_windows * 4)
        throw ParamError("predict_ff_spots: omega_windows_deg has " + std::to_string(cfg.omega_windows_deg.size()) +
                         " values and boxes_um " + std::to_string(cfg.boxes_um.size()) +
                         ", expected W × 2 and W × 4");
}

bool in_some_window(const FFSpotConfig& cfg, double omega_deg, double y0, double z0) {
    const std::size_t n_windows = cfg.omega_windows_deg.size() / 2;
    if (n_windows == 0) return true;
    for (std::size_t k = 0; k < n_windows; ++k) {
        const double lo = cfg.omega_windows_deg[2 * k], hi = cfg.omega_windows_deg[2 * k + 1];
        const double* box = cfg.boxes_um.data() + 4 * k;
        if (lo < omega_deg && omega_deg < hi && box[0] < y0 && y0 < box[1] && box[2] < z0 && z0 < box[3])
            return true;
    }
    return false;
}

/// All spots of one grain, appended to `out` in (reflection, solution) order.
void grain_spots(const FFSpotInputs& in, const FFSpotConfig& cfg, std::size_t g, std::vector<FFSpot>& out) {
    const double* u = in.orient.data() + 9 * g;
    const double* b = in.b_matrix.data() + 9 * g;
    const double* pos = in.pos_um.data() + 3 * g;
    const std::size_t n_hkl = in.hkl.size() / 3;
    const double wedge_rad = cfg.wedge_deg * deg;
    std::int32_t solution_nr = 0;
    for (std::size_t h = 0; h < n_hkl; ++h) {
        const double* m = in.hkl.data() + 3 * h;
        double gc[3], gs[3];
        for (int i = 0; i < 3; ++i) gc[i] = b[3 * i] * m[0] + b[3 * i + 1] * m[1] + b[3 * i + 2] * m[2];
        for (int i = 0; i < 3; ++i) gs[i] = u[3 * i] * gc[0] + u[3 * i + 1] * gc[1] + u[3 * i + 2] * gc[2];
        const double g_len = std::sqrt(gc[0] * gc[0] + gc[1] * gc[1] + gc[2] * gc[2]);
        const double sin_theta = 0.5 * cfg.wavelength_A * g_len;
        if (!(sin_theta > 0.0) || sin_theta >= 1.0) continue;
        const double theta = std::asin(sin_theta);
        const double radius_um = cfg.lsd_um * std::tan(2.0 * theta);
        const OmegaSolutions sols = bragg_omegas(gs[0], gs[1], gs[2], sin_theta);
        for (int k = 0; k < sols.n; ++k) {
            const std::int32_t this_nr = solution_nr++;
            const double w = sols.omega_rad[k];
            const double cw = std::cos(w), sw = std::sin(w);
            const double eta0 = geometry::eta_from_yz(sw * gs[0] + cw * gs[1], gs[2]);
            double w_obs = w, eta = eta0;
            if (!observed_with_wedge(cfg.wedge_model, eta0, 2.0 * theta, w, wedge_rad, &w_obs, &eta)) continue;
            const double eta_deg = eta / deg;
            if (std::fabs(eta_deg) < cfg.min_eta_deg || 180.0 - std::fabs(eta_deg) < cfg.min_eta_deg) continue;
            const double y0 = -radius_um * std::sin(eta);
            const double z0 = radius_um * std::cos(eta);
            const double w_obs_deg = w_obs / deg;
            if (!in_some_window(cfg, w_obs_deg, y0, z0)) continue;
            const double co = std::cos(w_obs), so = std::sin(w_obs);
            const double p_lab[3] = {co * pos[0] - so * pos[1], so * pos[0] + co * pos[1], pos[2]};
            FFSpot s;
            s.grain = static_cast<std::int32_t>(g);
            s.row = in.row_id[h];
            s.solution = k;
            s.solution_nr = this_nr;
            s.ring_nr = in.ring_nr[h];
            s.omega_deg = w_obs_deg;
            s.omega_raw_deg = w / deg;
            s.eta_deg = eta_deg;
            s.tth_deg = 2.0 * theta / deg;
            s.y0_um = y0;
            s.z0_um = z0;
            displace_spot(cfg.displacement, p_lab, cfg.lsd_um, y0, z0, &s.y_um, &s.z_um);
            out.push_back(s);
        }
    }
}

}  // namespace

std::vector<FFSpot> predict_ff_spots(const FFSpotInputs& in, const FFSpotConfig& cfg) {
    check_inputs(in, cfg);
    const auto n_grains = static_cast<std::ptrdiff_t>(in.orient.size() / 9);
    std::vector<std::vector<FFSpot>> per_grain(static_cast<std::size_t>(n_grains));
#pragma omp parallel for schedule(dynamic, 8)
    for (std::ptrdiff_t g = 0; g < n_grains; ++g) {
        auto& v = per_grain[static_cast<std::size_t>(g)];
        v.reserve(2 * (in.hkl.size() / 3));
        grain_spots(in, cfg, static_cast<std::size_t>(g), v);
    }
    std::size_t total = 0;
    for (const auto& v : per_grain) total += v.size();
    std::vector<FFSpot> out;
    out.reserve(total);
    for (auto& v : per_grain) {
        out.insert(out.end(), v.begin(), v.end());
        std::vector<FFSpot>().swap(v);
    }
    return out;
}

}  // namespace midas::ff
