// ω bookkeeping, timing correction and wedge: batched OpenMP loops (math in omega.hpp).
#include <cmath>
#include <limits>
#include <string>

#include "midas/core/error.hpp"
#include "midas/geometry/checks.hpp"
#include "midas/geometry/omega.hpp"

namespace midas::geometry {

namespace {

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

void require_step(double step_deg, const char* fn) {
    if (!(std::isfinite(step_deg) && step_deg != 0.0))
        throw ParamError(std::string(fn) + ": OmegaStep = " + std::to_string(step_deg) +
                         ", expected a finite non-zero step");
}

template <class F>
void for_each_index(std::size_t n, F&& f) {
    const auto count = static_cast<std::int64_t>(n);
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < count; ++i) f(static_cast<std::size_t>(i));
}

template <class Solve>
std::int64_t wedge_batch(const char* fn, span<const double> eta_rad, span<const double> tth_rad,
                         span<const double> omega_rad, double wedge_rad, span<double> omega_out_rad,
                         span<double> eta_out_rad, Solve solve) {
    const std::size_t n = eta_rad.size();
    require_same_size(n, tth_rad.size(), fn, "tth_rad");
    require_same_size(n, omega_rad.size(), fn, "omega_rad");
    require_same_size(n, omega_out_rad.size(), fn, "omega_out_rad");
    require_same_size(n, eta_out_rad.size(), fn, "eta_out_rad");
    if (!(std::isfinite(wedge_rad) && std::fabs(wedge_rad) < half_pi))
        throw GeometryError(std::string(fn) + ": wedge = " + std::to_string(wedge_rad) +
                            " rad, expected |wedge| < π/2");
    const auto count = static_cast<std::int64_t>(n);
    std::int64_t failed = 0;
#pragma omp parallel for schedule(static) reduction(+ : failed)
    for (std::int64_t i = 0; i < count; ++i) {
        const auto k = static_cast<std::size_t>(i);
        double w = nan;
        double e = nan;
        if (!solve(eta_rad[k], tth_rad[k], omega_rad[k], wedge_rad, w, e)) {
            w = nan;
            e = nan;
            ++failed;
        }
        omega_out_rad[k] = w;
        eta_out_rad[k] = e;
    }
    return failed;
}

}  // namespace

void frame_to_omega_deg(span<const double> frame, double start_deg, double step_deg, double offset,
                        span<double> omega_deg) {
    require_same_size(frame.size(), omega_deg.size(), "frame_to_omega_deg", "omega_deg");
    require_step(step_deg, "frame_to_omega_deg");
    for_each_index(frame.size(),
                   [&](std::size_t k) { omega_deg[k] = frame_to_omega_deg(frame[k], start_deg, step_deg, offset); });
}

void omega_to_frame_coord(span<const double> omega_deg, double start_deg, double step_deg, double offset,
                          span<double> frame) {
    require_same_size(omega_deg.size(), frame.size(), "omega_to_frame_coord", "frame");
    require_step(step_deg, "omega_to_frame_coord");
    for_each_index(omega_deg.size(),
                   [&](std::size_t k) { frame[k] = omega_to_frame_coord(omega_deg[k], start_deg, step_deg, offset); });
}

void omega_to_frame_index(span<const double> omega_deg, double start_deg, double step_deg,
                          span<std::int64_t> frame) {
    require_same_size(omega_deg.size(), frame.size(), "omega_to_frame_index", "frame");
    require_step(step_deg, "omega_to_frame_index");
    for (std::size_t k = 0; k < omega_deg.size(); ++k)
        if (!std::isfinite(omega_deg[k]))
            throw ParamError("omega_to_frame_index: omega_deg[" + std::to_string(k) + "] = " +
                             std::to_string(omega_deg[k]) + " is not finite");
    for_each_index(omega_deg.size(),
                   [&](std::size_t k) { frame[k] = omega_to_frame_index(omega_deg[k], start_deg, step_deg); });
}

void wrap_deg(span<const double> a_deg, span<double> out_deg) {
    require_same_size(a_deg.size(), out_deg.size(), "wrap_deg", "out_deg");
    for_each_index(a_deg.size(), [&](std::size_t k) { out_deg[k] = wrap_deg(a_deg[k]); });
}

void timing_corrected_omega_deg(span<const double> omega_deg, span<const double> z_px, double n_z,
                                double step_deg, double t_int_s, double t_gap_s, span<double> out_deg) {
    const char* fn = "timing_corrected_omega_deg";
    require_same_size(omega_deg.size(), z_px.size(), fn, "z_px");
    require_same_size(omega_deg.size(), out_deg.size(), fn, "out_deg");
    if (!(n_z > 0.0)) throw ParamError(std::string(fn) + ": NrPixelsZ = " + std::to_string(n_z) + ", expected > 0");
    if (!(t_int_s >= 0.0 && t_gap_s >= 0.0 && t_int_s + t_gap_s > 0.0))
        throw ParamError(std::string(fn) + ": tInt = " + std::to_string(t_int_s) + " s, tGap = " +
                         std::to_string(t_gap_s) + " s, expected both >= 0 with a positive sum");
    for_each_index(omega_deg.size(), [&](std::size_t k) {
        out_deg[k] = timing_corrected_omega_deg(omega_deg[k], z_px[k], n_z, step_deg, t_int_s, t_gap_s);
    });
}

std::int64_t wedge_apply(span<const double> eta_rad, span<const double> tth_rad, span<const double> omega_rad,
                         double wedge_rad, span<double> omega_out_rad, span<double> eta_out_rad) {
    return wedge_batch("wedge_apply", eta_rad, tth_rad, omega_rad, wedge_rad, omega_out_rad, eta_out_rad,
                       [](double e, double t, double w, double wd, double& wo, double& eo) {
                           return wedge_apply(e, t, w, wd, wo, eo);
                       });
}

std::int64_t wedge_correct(span<const double> eta_rad, span<const double> tth_rad, span<const double> omega_rad,
                           double wedge_rad, span<double> omega_out_rad, span<double> eta_out_rad) {
    return wedge_batch("wedge_correct", eta_rad, tth_rad, omega_rad, wedge_rad, omega_out_rad, eta_out_rad,
                       [](double e, double t, double w, double wd, double& wo, double& eo) {
                           return wedge_correct(e, t, w, wd, wo, eo);
                       });
}

}  // namespace midas::geometry
