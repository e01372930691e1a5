// bindings/bind_geometry.cpp — detector geometry (FF model, NF projection, ω helpers).
// Array conversion only: the Python wrappers in midas.geometry check and normalise inputs.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <vector>

#include "midas/core/error.hpp"
#include "midas/geometry/ff_detector.hpp"
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
                        double rho_d_um, double parallax_um) {
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

}  // namespace

void bind_geometry(py::module_& m) {
    py::class_<geo::FFDetector>(m, "FFDetectorKernel")
        .def(py::init(&make_ff), py::arg("lsd_um"), py::arg("bc_y_px"), py::arg("bc_z_px"), py::arg("px_y_um"),
             py::arg("px_z_um"), py::arg("tx_rad"), py::arg("ty_rad"), py::arg("tz_rad"), py::arg("p"),
             py::arg("rho_d_um"), py::arg("parallax_um"), "Validated FF detector in kernel units.");
    m.def("ff_pixel_to_ideal", &ff_pixel_to_ideal, py::arg("det"), py::arg("y_px"), py::arg("z_px"),
          "(r_um, eta_rad, tth_rad, y_um, z_um) of N pixels.");
    m.def("ff_pixel_grid", &ff_pixel_grid, py::arg("det"), py::arg("n_y"), py::arg("n_z"),
          "(r_um, eta_rad), each (n_z, n_y), of every pixel centre.");
    m.def("ff_ideal_to_pixel", &ff_ideal_to_pixel, py::arg("det"), py::arg("y_um"), py::arg("z_um"),
          "(y_px, z_px, n_failed): Newton inverse, NaN where no solution.");
    m.def("ff_ideal_jacobian", &ff_ideal_jacobian, py::arg("det"), py::arg("y_px"), py::arg("z_px"),
          "Analytic d(y_um, z_um)/d(y_px, z_px), (N, 2, 2).");
}
