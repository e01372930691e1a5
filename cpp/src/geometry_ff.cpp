// Far-field detector model: validation and the batched OpenMP loops (math in ff_detector.hpp).
#include <cmath>
#include <limits>
#include <string>

#include "midas/core/error.hpp"
#include "midas/geometry/checks.hpp"
#include "midas/geometry/ff_detector.hpp"
#include "midas/geometry/rotation.hpp"

namespace midas::geometry {

namespace {

constexpr double nan = std::numeric_limits<double>::quiet_NaN();
constexpr double deg_to_rad = pi / 180.0;

void require_positive(double v, const char* name) {
    if (!(std::isfinite(v) && v > 0.0))
        throw GeometryError(std::string("FF detector: ") + name + " = " + std::to_string(v) +
                            ", expected a finite value > 0");
}

void require_finite(double v, const std::string& name) {
    if (!std::isfinite(v))
        throw GeometryError("FF detector: " + name + " = " + std::to_string(v) + ", expected a finite value");
}

/// Panels must form an n_panels_y × n_panels_z grid (id = iy·n_panels_z + iz) of finite,
/// non-empty rectangles whose columns and rows are ordered and disjoint, with a unit rotation.
void check_panels(const FFDetector& det) {
    if (det.panels.empty()) return;
    const int ny = det.n_panels_y;
    const int nz = det.n_panels_z;
    if (ny < 1 || nz < 1 || det.panels.size() != static_cast<std::size_t>(ny) * static_cast<std::size_t>(nz))
        throw GeometryError("FF detector: " + std::to_string(det.panels.size()) + " panels for a grid of " +
                            std::to_string(ny) + " × " + std::to_string(nz) + ", expected n_panels_y·n_panels_z");
    for (std::size_t k = 0; k < det.panels.size(); ++k) {
        const FFPanel& p = det.panels[k];
        const double v[] = {p.y_min_px, p.y_max_px, p.z_min_px, p.z_max_px, p.centre_y_px, p.centre_z_px, p.d_y_px,
                            p.d_z_px, p.cos_theta, p.sin_theta, p.d_lsd_um, p.d_p2};
        for (double x : v) require_finite(x, "panel " + std::to_string(k) + " parameter");
        if (!(p.y_max_px >= p.y_min_px && p.z_max_px >= p.z_min_px))
            throw GeometryError("FF detector: panel " + std::to_string(k) + " is empty (Y " +
                                std::to_string(p.y_min_px) + ".." + std::to_string(p.y_max_px) + ", Z " +
                                std::to_string(p.z_min_px) + ".." + std::to_string(p.z_max_px) + ")");
        if (std::fabs(p.cos_theta * p.cos_theta + p.sin_theta * p.sin_theta - 1.0) > 1e-9)
            throw GeometryError("FF detector: panel " + std::to_string(k) + " rotation (cos, sin) = (" +
                                std::to_string(p.cos_theta) + ", " + std::to_string(p.sin_theta) +
                                ") is not a unit vector");
        const std::size_t iy = k / static_cast<std::size_t>(nz);
        const std::size_t iz = k % static_cast<std::size_t>(nz);
        const FFPanel& row0 = det.panels[iy * static_cast<std::size_t>(nz)];
        const FFPanel& col0 = det.panels[iz];
        if (p.y_min_px != row0.y_min_px || p.y_max_px != row0.y_max_px || p.z_min_px != col0.z_min_px ||
            p.z_max_px != col0.z_max_px)
            throw GeometryError("FF detector: panel " + std::to_string(k) + " is not on the panel grid");
        if (iz > 0 && !(p.z_min_px > det.panels[k - 1].z_max_px))
            throw GeometryError("FF detector: panel " + std::to_string(k) + " overlaps panel " +
                                std::to_string(k - 1) + " along Z");
        if (iy > 0 && !(p.y_min_px > det.panels[k - static_cast<std::size_t>(nz)].y_max_px))
            throw GeometryError("FF detector: panel " + std::to_string(k) + " overlaps panel " +
                                std::to_string(k - static_cast<std::size_t>(nz)) + " along Y");
    }
}

}  // namespace

FFModel make_ff_model(const FFDetector& det) {
    require_positive(det.lsd_um, "lsd_um");
    require_positive(det.px_y_um, "px_y_um");
    require_positive(det.px_z_um, "px_z_um");
    require_positive(det.rho_d_um, "rho_d_um");
    require_finite(det.bc_y_px, "bc_y_px");
    require_finite(det.bc_z_px, "bc_z_px");
    require_finite(det.tx_rad, "tx_rad");
    require_finite(det.ty_rad, "ty_rad");
    require_finite(det.tz_rad, "tz_rad");
    require_finite(det.parallax_um, "parallax_um");
    for (int k = 0; k < n_distortion_coefficients; ++k) require_finite(det.p[k], "p" + std::to_string(k));

    FFModel m{};
    // T = Rx(tx)·Ry(ty)·Rz(tz)
    double rx[9], ry[9], rz[9];
    rot_x(det.tx_rad, rx);
    rot_y(det.ty_rad, ry);
    rot_z(det.tz_rad, rz);
    mat3_product(rx, ry, rz, m.t);
    m.lsd_um = det.lsd_um;
    m.bc_y_px = det.bc_y_px;
    m.bc_z_px = det.bc_z_px;
    m.px_y_um = det.px_y_um;
    m.px_z_um = det.px_z_um;
    m.inv_rho_d = 1.0 / det.rho_d_um;
    m.parallax_um = det.parallax_um;
    // The p-layout of upstream MIDAS (upstream_facts.md §2.3): {coefficient, power of ρ, fold, phase}.
    struct Term {
        int coef, power, fold, phase;  // phase = -1: no phase
    };
    constexpr Term terms[n_distortion_terms] = {
        {0, 2, 2, 6},    // p0 ρ² cos(2η' + p6)
        {1, 4, 4, 3},    // p1 ρ⁴ cos(4η' + p3)
        {2, 2, 0, -1},   // p2 ρ²
        {4, 6, 0, -1},   // p4 ρ⁶
        {5, 4, 0, -1},   // p5 ρ⁴
        {7, 4, 1, 8},    // p7 ρ⁴ cos(η' + p8)
        {9, 3, 3, 10},   // p9 ρ³ cos(3η' + p10)
        {11, 5, 5, 12},  // p11 ρ⁵ cos(5η' + p12)
        {13, 6, 6, 14},  // p13 ρ⁶ cos(6η' + p14)
    };
    for (int k = 0; k < n_distortion_terms; ++k) {
        m.coef[k] = det.p[terms[k].coef];
        m.power[k] = terms[k].power;
        m.fold[k] = terms[k].fold;
        const double phase_rad = terms[k].phase >= 0 ? det.p[terms[k].phase] * deg_to_rad : 0.0;
        m.cos_phase[k] = std::cos(phase_rad);
        m.sin_phase[k] = std::sin(phase_rad);
    }
    check_panels(det);
    m.panels = det.panels.empty() ? nullptr : det.panels.data();
    m.n_panels_y = det.panels.empty() ? 0 : det.n_panels_y;
    m.n_panels_z = det.panels.empty() ? 0 : det.n_panels_z;
    return m;
}

void pixel_to_ideal(const FFDetector& det, span<const double> y_px, span<const double> z_px, span<double> r_um,
                    span<double> eta_rad, span<double> tth_rad, span<double> y_um, span<double> z_um) {
    const std::size_t n = y_px.size();
    const char* fn = "pixel_to_ideal";
    require_same_size(n, z_px.size(), fn, "z_px");
    require_same_size(n, r_um.size(), fn, "r_um");
    require_same_size(n, eta_rad.size(), fn, "eta_rad");
    require_same_size(n, tth_rad.size(), fn, "tth_rad");
    require_same_size(n, y_um.size(), fn, "y_um");
    require_same_size(n, z_um.size(), fn, "z_um");
    const FFModel m = make_ff_model(det);
    const auto count = static_cast<std::int64_t>(n);
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < count; ++i) {
        IdealPoint p{nan, nan, nan, nan, nan};
        pixel_to_ideal(m, y_px[static_cast<std::size_t>(i)], z_px[static_cast<std::size_t>(i)], p);
        const auto k = static_cast<std::size_t>(i);
        r_um[k] = p.r_um;
        eta_rad[k] = p.eta_rad;
        tth_rad[k] = p.tth_rad;
        y_um[k] = p.y_um;
        z_um[k] = p.z_um;
    }
}

void pixel_grid_to_ideal(const FFDetector& det, std::int64_t n_y, std::int64_t n_z, span<double> r_um,
                         span<double> eta_rad) {
    if (n_y <= 0 || n_z <= 0)
        throw ParamError("pixel_grid_to_ideal: detector size (n_y, n_z) = (" + std::to_string(n_y) + ", " +
                         std::to_string(n_z) + "), expected positive");
    const auto n = static_cast<std::size_t>(n_y * n_z);
    require_same_size(n, r_um.size(), "pixel_grid_to_ideal", "r_um");
    require_same_size(n, eta_rad.size(), "pixel_grid_to_ideal", "eta_rad");
    const FFModel m = make_ff_model(det);
#pragma omp parallel for schedule(static)
    for (std::int64_t z = 0; z < n_z; ++z) {
        for (std::int64_t y = 0; y < n_y; ++y) {
            const auto k = static_cast<std::size_t>(z * n_y + y);
            CorrectedPolar cp{nan, nan, nan, nan, nan};
            pixel_to_corrected_polar(m, static_cast<double>(y), static_cast<double>(z), cp);
            r_um[k] = cp.r_um;
            eta_rad[k] = cp.eta_rad;
        }
    }
}

std::int64_t ideal_to_pixel(const FFDetector& det, span<const double> y_um, span<const double> z_um,
                            span<double> y_px, span<double> z_px) {
    const std::size_t n = y_um.size();
    require_same_size(n, z_um.size(), "ideal_to_pixel", "z_um");
    require_same_size(n, y_px.size(), "ideal_to_pixel", "y_px");
    require_same_size(n, z_px.size(), "ideal_to_pixel", "z_px");
    const FFModel m = make_ff_model(det);
    const auto count = static_cast<std::int64_t>(n);
    std::int64_t failed = 0;
#pragma omp parallel for schedule(static) reduction(+ : failed)
    for (std::int64_t i = 0; i < count; ++i) {
        const auto k = static_cast<std::size_t>(i);
        double yy = nan;
        double zz = nan;
        if (!(std::isfinite(y_um[k]) && std::isfinite(z_um[k]) && ideal_to_pixel(m, y_um[k], z_um[k], yy, zz))) {
            yy = nan;
            zz = nan;
            ++failed;
        }
        y_px[k] = yy;
        z_px[k] = zz;
    }
    return failed;
}

void ideal_jacobian(const FFDetector& det, span<const double> y_px, span<const double> z_px, span<double> jac) {
    const std::size_t n = y_px.size();
    require_same_size(n, z_px.size(), "ideal_jacobian", "z_px");
    require_same_size(4 * n, jac.size(), "ideal_jacobian", "jac");
    const FFModel m = make_ff_model(det);
    const auto count = static_cast<std::int64_t>(n);
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < count; ++i) {
        const auto k = static_cast<std::size_t>(i);
        double f[2];
        double j[4] = {nan, nan, nan, nan};
        ideal_yz_jacobian(m, y_px[k], z_px[k], f, j);
        for (int q = 0; q < 4; ++q) jac[4 * k + static_cast<std::size_t>(q)] = j[q];
    }
}

}  // namespace midas::geometry
