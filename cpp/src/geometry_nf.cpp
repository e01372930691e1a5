// Near-field projection: validation and batched OpenMP loops (math in nf_projection.hpp).
#include <cmath>
#include <limits>
#include <string>

#include "midas/core/error.hpp"
#include "midas/geometry/checks.hpp"
#include "midas/geometry/nf_projection.hpp"
#include "midas/geometry/rotation.hpp"

namespace midas::geometry {

namespace {

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

}  // namespace

NFProjector make_nf_projector(double lsd_um, double bc_y_px, double bc_z_px, double px_um, double tx_rad,
                              double ty_rad, double tz_rad) {
    auto positive = [](double v, const char* name) {
        if (!(std::isfinite(v) && v > 0.0))
            throw GeometryError(std::string("NF detector: ") + name + " = " + std::to_string(v) +
                                ", expected a finite value > 0");
    };
    auto finite = [](double v, const char* name) {
        if (!std::isfinite(v))
            throw GeometryError(std::string("NF detector: ") + name + " = " + std::to_string(v) +
                                ", expected a finite value");
    };
    positive(lsd_um, "lsd_um");
    positive(px_um, "px_um");
    finite(bc_y_px, "bc_y_px");
    finite(bc_z_px, "bc_z_px");
    finite(tx_rad, "tx_rad");
    finite(ty_rad, "ty_rad");
    finite(tz_rad, "tz_rad");
    NFProjector p{};
    // T_NF = Rz(tz)·Ry(ty)·Rx(tx)
    double rx[9], ry[9], rz[9];
    rot_x(tx_rad, rx);
    rot_y(ty_rad, ry);
    rot_z(tz_rad, rz);
    mat3_product(rz, ry, rx, p.t);
    for (int i = 0; i < 3; ++i) p.p0[i] = -lsd_um * p.t[3 * i];
    p.lsd_um = lsd_um;
    p.bc_y_px = bc_y_px;
    p.bc_z_px = bc_z_px;
    p.px_um = px_um;
    return p;
}

void nf_project(const NFProjector& p, span<const double> y_um, span<const double> z_um, span<double> y_px,
                span<double> z_px) {
    const std::size_t n = y_um.size();
    require_same_size(n, z_um.size(), "nf_project", "z_um");
    require_same_size(n, y_px.size(), "nf_project", "y_px");
    require_same_size(n, z_px.size(), "nf_project", "z_px");
    const auto count = static_cast<std::int64_t>(n);
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < count; ++i) {
        const auto k = static_cast<std::size_t>(i);
        double yy = nan;
        double zz = nan;
        if (!nf_project(p, y_um[k], z_um[k], yy, zz)) {
            yy = nan;
            zz = nan;
        }
        y_px[k] = yy;
        z_px[k] = zz;
    }
}

void nf_displace(span<const double> x_um, span<const double> y_um, span<const double> z_um,
                 span<const double> omega_rad, span<const double> y0_um, span<const double> z0_um,
                 double lsd_ref_um, double lsd_out_um, span<double> y_out_um, span<double> z_out_um) {
    const std::size_t n = x_um.size();
    const char* fn = "nf_displace";
    require_same_size(n, y_um.size(), fn, "y_um");
    require_same_size(n, z_um.size(), fn, "z_um");
    require_same_size(n, omega_rad.size(), fn, "omega_rad");
    require_same_size(n, y0_um.size(), fn, "y0_um");
    require_same_size(n, z0_um.size(), fn, "z0_um");
    require_same_size(n, y_out_um.size(), fn, "y_out_um");
    require_same_size(n, z_out_um.size(), fn, "z_out_um");
    if (!(std::isfinite(lsd_ref_um) && lsd_ref_um > 0.0))
        throw GeometryError("nf_displace: lsd_ref_um = " + std::to_string(lsd_ref_um) + ", expected > 0");
    if (!std::isfinite(lsd_out_um))
        throw GeometryError("nf_displace: lsd_out_um = " + std::to_string(lsd_out_um) + ", expected finite");
    const auto count = static_cast<std::int64_t>(n);
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < count; ++i) {
        const auto k = static_cast<std::size_t>(i);
        nf_displace(x_um[k], y_um[k], z_um[k], std::cos(omega_rad[k]), std::sin(omega_rad[k]), y0_um[k], z0_um[k],
                    lsd_ref_um, lsd_out_um, y_out_um[k], z_out_um[k]);
    }
}

}  // namespace midas::geometry
