// bindings/bind_geometry.cpp — detector geometry (FF model, NF projection, ω helpers).
// Array conversion only: the Python wrappers in midas.geometry check and normalise inputs.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cmath>
#include <optional>
#include <vector>

#include "midas/core/error.hpp"
#include "midas/geometry/ff_detector.hpp"
#include "midas/geometry/nf_projection.hpp"
#include "midas/geometry/omega.hpp"
#include "numpy_span.hpp"

namespace py = pybind11;
using midas::bind::carray;
using midas::bind::check_shape;
using midas::bind::cspan;
using midas::bind::mspan;
namespace geo = midas::geometry;

namespace {

using Array = carray<double>;

Array new_like(py::ssize_t n) { return Array(std::vector<py::ssize_t>{n}); }

geo::FFDetector make_ff(double lsd_um, double bc_y_px, double bc_z_px, double px_y_um, double px_z_um,
                        double tx_rad, double ty_rad, double tz_rad, const std::array<double, 15>& p,
                        double rho_d_um, double parallax_um, int n_panels_y, int n_panels_z,
                        const std::optional<Array>& panels) {
    geo::FFDetector d;
    d.lsd_um = lsd_um;
    d.bc_y_px = bc_y_px;
    d.bc_z_px = bc_z_px;
    d.px_y_um = px_y_um;
    d.px_z_um = px_z_um;
    d.tx_rad = tx_rad;
    d.ty_rad = ty_rad;
    d.tz_rad = tz_rad;
    for (int k = 0; k < 15; ++k) d.p[k] = p[static_cast<std::size_t>(k)];
    d.rho_d_um = rho_d_um;
    d.parallax_um = parallax_um;
    if (panels.has_value()) {
        // rows: y_min, y_max, z_min, z_max (inclusive px), dY px, dZ px, dθ rad, dLsd µm, dP2
        check_shape(*panels, "panels", {-1, 9});
        const auto a = panels->unchecked<2>();
        d.n_panels_y = n_panels_y;
        d.n_panels_z = n_panels_z;
        d.panels.resize(static_cast<std::size_t>(a.shape(0)));
        for (py::ssize_t k = 0; k < a.shape(0); ++k) {
            geo::FFPanel& q = d.panels[static_cast<std::size_t>(k)];
            q.y_min_px = a(k, 0);
            q.y_max_px = a(k, 1);
            q.z_min_px = a(k, 2);
            q.z_max_px = a(k, 3);
            q.centre_y_px = 0.5 * (q.y_min_px + q.y_max_px);
            q.centre_z_px = 0.5 * (q.z_min_px + q.z_max_px);
            q.d_y_px = a(k, 4);
            q.d_z_px = a(k, 5);
            q.cos_theta = std::cos(a(k, 6));
            q.sin_theta = std::sin(a(k, 6));
            q.d_lsd_um = a(k, 7);
            q.d_p2 = a(k, 8);
        }
    }
    (void)geo::make_ff_model(d);  // validate now, with the GIL held, so errors surface early
    return d;
}

py::tuple ff_pixel_to_ideal(const geo::FFDetector& det, const carray<double>& y_px, const carray<double>& z_px) {
    check_shape(y_px, "y_px", {-1});
    check_shape(z_px, "z_px", {y_px.shape(0)});
    const py::ssize_t n = y_px.shape(0);
    Array r = new_like(n), eta = new_like(n), tth = new_like(n), y = new_like(n), z = new_like(n);
    auto rs = mspan(r), es = mspan(eta), ts = mspan(tth), ys = mspan(y), zs = mspan(z);
    {
        py::gil_scoped_release release;
        geo::pixel_to_ideal(det, cspan(y_px), cspan(z_px), rs, es, ts, ys, zs);
    }
    return py::make_tuple(r, eta, tth, y, z);
}

py::tuple ff_pixel_grid(const geo::FFDetector& det, std::int64_t n_y, std::int64_t n_z) {
    if (n_y <= 0 || n_z <= 0) throw midas::ParamError("pixel_grid: n_y and n_z must be > 0");
    Array r(std::vector<py::ssize_t>{n_z, n_y});
    Array eta(std::vector<py::ssize_t>{n_z, n_y});
    auto rs = mspan(r), es = mspan(eta);
    {
        py::gil_scoped_release release;
        geo::pixel_grid_to_ideal(det, n_y, n_z, rs, es);
    }
    return py::make_tuple(r, eta);
}

py::tuple ff_ideal_to_pixel(const geo::FFDetector& det, const carray<double>& y_um, const carray<double>& z_um) {
    check_shape(y_um, "y_um", {-1});
    check_shape(z_um, "z_um", {y_um.shape(0)});
    const py::ssize_t n = y_um.shape(0);
    Array yp = new_like(n), zp = new_like(n);
    auto ys = mspan(yp), zs = mspan(zp);
    std::int64_t failed = 0;
    {
        py::gil_scoped_release release;
        failed = geo::ideal_to_pixel(det, cspan(y_um), cspan(z_um), ys, zs);
    }
    return py::make_tuple(yp, zp, failed);
}

Array ff_ideal_jacobian(const geo::FFDetector& det, const carray<double>& y_px, const carray<double>& z_px) {
    check_shape(y_px, "y_px", {-1});
    check_shape(z_px, "z_px", {y_px.shape(0)});
    const py::ssize_t n = y_px.shape(0);
    Array jac(std::vector<py::ssize_t>{n, 2, 2});
    auto js = mspan(jac);
    {
        py::gil_scoped_release release;
        geo::ideal_jacobian(det, cspan(y_px), cspan(z_px), js);
    }
    return jac;
}

py::tuple nf_project_points(const geo::NFProjector& proj, const carray<double>& y_um, const carray<double>& z_um) {
    check_shape(y_um, "y_um", {-1});
    check_shape(z_um, "z_um", {y_um.shape(0)});
    const py::ssize_t n = y_um.shape(0);
    Array yp = new_like(n), zp = new_like(n);
    auto ys = mspan(yp), zs = mspan(zp);
    {
        py::gil_scoped_release release;
        geo::nf_project(proj, cspan(y_um), cspan(z_um), ys, zs);
    }
    return py::make_tuple(yp, zp);
}

py::tuple nf_displace_points(const carray<double>& x_um, const carray<double>& y_um, const carray<double>& z_um,
                             const carray<double>& omega_rad, const carray<double>& y0_um,
                             const carray<double>& z0_um, double lsd_ref_um, double lsd_out_um) {
    check_shape(x_um, "x_um", {-1});
    const py::ssize_t n = x_um.shape(0);
    check_shape(y_um, "y_um", {n});
    check_shape(z_um, "z_um", {n});
    check_shape(omega_rad, "omega_rad", {n});
    check_shape(y0_um, "y0_um", {n});
    check_shape(z0_um, "z0_um", {n});
    Array yo = new_like(n), zo = new_like(n);
    auto ys = mspan(yo), zs = mspan(zo);
    {
        py::gil_scoped_release release;
        geo::nf_displace(cspan(x_um), cspan(y_um), cspan(z_um), cspan(omega_rad), cspan(y0_um), cspan(z0_um),
                         lsd_ref_um, lsd_out_um, ys, zs);
    }
    return py::make_tuple(yo, zo);
}

/// One float64 array in, one out, through a batched kernel `fn(in_span, out_span)`.
template <class Kernel>
Array map_array(const carray<double>& in, const char* name, Kernel fn) {
    check_shape(in, name, {-1});
    Array out = new_like(in.shape(0));
    auto os = mspan(out);
    {
        py::gil_scoped_release release;
        fn(cspan(in), os);
    }
    return out;
}

Array frame_to_omega(const carray<double>& frame, double start_deg, double step_deg, double offset) {
    return map_array(frame, "frame", [&](auto i, auto o) { geo::frame_to_omega_deg(i, start_deg, step_deg, offset, o); });
}

Array omega_to_frame_coord(const carray<double>& omega_deg, double start_deg, double step_deg, double offset) {
    return map_array(omega_deg, "omega_deg",
                     [&](auto i, auto o) { geo::omega_to_frame_coord(i, start_deg, step_deg, offset, o); });
}

carray<std::int64_t> omega_to_frame_index(const carray<double>& omega_deg, double start_deg, double step_deg) {
    check_shape(omega_deg, "omega_deg", {-1});
    carray<std::int64_t> out(std::vector<py::ssize_t>{omega_deg.shape(0)});
    auto os = mspan(out);
    {
        py::gil_scoped_release release;
        geo::omega_to_frame_index(cspan(omega_deg), start_deg, step_deg, os);
    }
    return out;
}

Array wrap_angles(const carray<double>& a_deg) {
    return map_array(a_deg, "a_deg", [](auto i, auto o) { geo::wrap_deg(i, o); });
}

Array timing_correct(const carray<double>& omega_deg, const carray<double>& z_px, double n_z, double step_deg,
                     double t_int_s, double t_gap_s) {
    check_shape(omega_deg, "omega_deg", {-1});
    check_shape(z_px, "z_px", {omega_deg.shape(0)});
    Array out = new_like(omega_deg.shape(0));
    auto os = mspan(out);
    {
        py::gil_scoped_release release;
        geo::timing_corrected_omega_deg(cspan(omega_deg), cspan(z_px), n_z, step_deg, t_int_s, t_gap_s, os);
    }
    return out;
}

template <bool Apply>
py::tuple wedge(const carray<double>& eta_rad, const carray<double>& tth_rad, const carray<double>& omega_rad,
                double wedge_rad) {
    check_shape(eta_rad, "eta_rad", {-1});
    const py::ssize_t n = eta_rad.shape(0);
    check_shape(tth_rad, "tth_rad", {n});
    check_shape(omega_rad, "omega_rad", {n});
    Array wo = new_like(n), eo = new_like(n);
    auto ws = mspan(wo), es = mspan(eo);
    std::int64_t failed = 0;
    {
        py::gil_scoped_release release;
        if constexpr (Apply)
            failed = geo::wedge_apply(cspan(eta_rad), cspan(tth_rad), cspan(omega_rad), wedge_rad, ws, es);
        else
            failed = geo::wedge_correct(cspan(eta_rad), cspan(tth_rad), cspan(omega_rad), wedge_rad, ws, es);
    }
    return py::make_tuple(wo, eo, failed);
}

}  // namespace

void bind_geometry(py::module_& m) {
    py::class_<geo::FFDetector>(m, "FFDetectorKernel")
        .def(py::init(&make_ff), py::arg("lsd_um"), py::arg("bc_y_px"), py::arg("bc_z_px"), py::arg("px_y_um"),
             py::arg("px_z_um"), py::arg("tx_rad"), py::arg("ty_rad"), py::arg("tz_rad"), py::arg("p"),
             py::arg("rho_d_um"), py::arg("parallax_um"), py::arg("n_panels_y") = 0, py::arg("n_panels_z") = 0,
             py::arg("panels") = py::none(), "Validated FF detector in kernel units.");
    m.def("ff_pixel_to_ideal", &ff_pixel_to_ideal, py::arg("det"), py::arg("y_px"), py::arg("z_px"),
          "(r_um, eta_rad, tth_rad, y_um, z_um) of N pixels.");
    m.def("ff_pixel_grid", &ff_pixel_grid, py::arg("det"), py::arg("n_y"), py::arg("n_z"),
          "(r_um, eta_rad), each (n_z, n_y), of every pixel centre.");
    m.def("ff_ideal_to_pixel", &ff_ideal_to_pixel, py::arg("det"), py::arg("y_um"), py::arg("z_um"),
          "(y_px, z_px, n_failed): Newton inverse, NaN where no solution.");
    m.def("ff_ideal_jacobian", &ff_ideal_jacobian, py::arg("det"), py::arg("y_px"), py::arg("z_px"),
          "Analytic d(y_um, z_um)/d(y_px, z_px), (N, 2, 2).");

    py::class_<geo::NFProjector>(m, "NFProjector")
        .def(py::init(&geo::make_nf_projector), py::arg("lsd_um"), py::arg("bc_y_px"), py::arg("bc_z_px"),
             py::arg("px_um"), py::arg("tx_rad"), py::arg("ty_rad"), py::arg("tz_rad"),
             "Validated projector of one NF distance.");
    m.def("nf_project", &nf_project_points, py::arg("projector"), py::arg("y_um"), py::arg("z_um"),
          "(y_px, z_px) of N points of the ideal plane; NaN where no intersection.");
    m.def("nf_displace", &nf_displace_points, py::arg("x_um"), py::arg("y_um"), py::arg("z_um"),
          py::arg("omega_rad"), py::arg("y0_um"), py::arg("z0_um"), py::arg("lsd_ref_um"), py::arg("lsd_out_um"),
          "(y_um, z_um) of N displaced rays on the plane at lsd_out_um.");
    m.def("frame_to_omega", &frame_to_omega, py::arg("frame"), py::arg("start_deg"), py::arg("step_deg"),
          py::arg("offset"), "omega_deg = start + (frame + offset)·step.");
    m.def("omega_to_frame_coord", &omega_to_frame_coord, py::arg("omega_deg"), py::arg("start_deg"),
          py::arg("step_deg"), py::arg("offset"), "frame = (omega − start)/step − offset.");
    m.def("omega_to_frame_index", &omega_to_frame_index, py::arg("omega_deg"), py::arg("start_deg"),
          py::arg("step_deg"), "floor((omega − start)/step), int64.");
    m.def("wrap_deg", &wrap_angles, py::arg("a_deg"), "Angles wrapped into (−180, 180].");
    m.def("timing_corrected_omega", &timing_correct, py::arg("omega_deg"), py::arg("z_px"), py::arg("n_z"),
          py::arg("step_deg"), py::arg("t_int_s"), py::arg("t_gap_s"), "Rolling-readout ω correction.");
    m.def("wedge_apply", &wedge<true>, py::arg("eta_rad"), py::arg("tth_rad"), py::arg("omega_rad"),
          py::arg("wedge_rad"), "(omega_rad, eta_rad, n_failed) with the wedge.");
    m.def("wedge_correct", &wedge<false>, py::arg("eta_rad"), py::arg("tth_rad"), py::arg("omega_rad"),
          py::arg("wedge_rad"), "(omega_rad, eta_rad, n_failed) without the wedge.");
}
