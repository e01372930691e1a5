// bindings/bind_crystal.cpp — misorientation kernels (array conversion only).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <vector>

#include "midas/crystal/misorientation.hpp"
#include "numpy_span.hpp"

namespace py = pybind11;
using midas::bind::carray;
using midas::bind::check_shape;
using midas::bind::cspan;
using midas::bind::to_numpy;

namespace {

py::tuple misorientation_pairs(const carray<double>& om_a, const carray<double>& om_b, const carray<double>& sym,
                               bool with_axis) {
    check_shape(om_a, "om_a", {-1, 3, 3});
    check_shape(om_b, "om_b", {-1, 3, 3});
    check_shape(sym, "symmetry", {-1, 4});
    const auto n_a = static_cast<std::size_t>(om_a.shape(0));
    const auto n_b = static_cast<std::size_t>(om_b.shape(0));
    const std::size_t n = n_a > n_b ? n_a : n_b;
    std::vector<double> angle(n);
    std::vector<double> axis(with_axis ? 3 * n : 0);
    {
        py::gil_scoped_release release;
        midas::crystallography::misorientation_pairs(cspan(om_a), n_a, cspan(om_b), n_b, cspan(sym),
                                                     midas::span<double>(angle.data(), angle.size()),
                                                     midas::span<double>(axis.data(), axis.size()));
    }
    py::object ax = py::none();
    if (with_axis) ax = to_numpy(std::move(axis), {static_cast<py::ssize_t>(n), 3});
    return py::make_tuple(to_numpy(std::move(angle), {static_cast<py::ssize_t>(n)}), ax);
}

py::array_t<double> misorientation_all_pairs(const carray<double>& om_a, const carray<double>& om_b,
                                             const carray<double>& sym) {
    check_shape(om_a, "om_a", {-1, 3, 3});
    check_shape(om_b, "om_b", {-1, 3, 3});
    check_shape(sym, "symmetry", {-1, 4});
    const auto n_a = static_cast<std::size_t>(om_a.shape(0));
    const auto n_b = static_cast<std::size_t>(om_b.shape(0));
    std::vector<double> angle(n_a * n_b);
    {
        py::gil_scoped_release release;
        midas::crystallography::misorientation_all_pairs(cspan(om_a), n_a, cspan(om_b), n_b, cspan(sym),
                                                         midas::span<double>(angle.data(), angle.size()));
    }
    return to_numpy(std::move(angle), {static_cast<py::ssize_t>(n_a), static_cast<py::ssize_t>(n_b)});
}

}  // namespace

void bind_crystal(py::module_& m) {
    m.def("misorientation_pairs", &misorientation_pairs, py::arg("om_a"), py::arg("om_b"), py::arg("symmetry"),
          py::arg("return_axis") = false, "Element-wise misorientation: (angle_rad (N,), axis (N, 3) or None).");
    m.def("misorientation_all_pairs", &misorientation_all_pairs, py::arg("om_a"), py::arg("om_b"),
          py::arg("symmetry"), "All-pairs misorientation angle_rad (N_a, N_b).");
}
