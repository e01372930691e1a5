// bindings/bind_sparse.cpp — CSR sparse matrix × frames.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>

#include "midas/sparse/csr.hpp"
#include "numpy_span.hpp"

namespace py = pybind11;
using midas::bind::carray;
using midas::bind::check_shape;
using midas::bind::cspan;

namespace {

template <class Real, class In>
py::array_t<double> spmv(const carray<std::int64_t>& indptr, const carray<std::int32_t>& indices,
                         const carray<Real>& data, std::int64_t n_cols, const carray<In>& x,
                         bool validate, const std::optional<carray<double>>& row_scale,
                         const std::optional<carray<double>>& row_offset) {
    check_shape(indptr, "indptr", {-1});
    check_shape(indices, "indices", {-1});
    check_shape(data, "data", {-1});
    check_shape(x, "x", {-1, n_cols});
    midas::sparse::CsrView<Real> a{cspan(indptr), cspan(indices), cspan(data), indptr.size() - 1, n_cols};
    const std::int64_t n_frames = x.shape(0);
    py::array_t<double> y({static_cast<py::ssize_t>(n_frames), static_cast<py::ssize_t>(a.n_rows)});
    auto ys = midas::span<double>(y.mutable_data(), static_cast<std::size_t>(y.size()));
    {
        py::gil_scoped_release release;
        if (validate) midas::sparse::validate(a);
        midas::sparse::csr_spmv_affine<Real, In>(a, cspan(x), n_frames,
                                                 row_scale ? cspan(*row_scale) : midas::span<const double>(),
                                                 row_offset ? cspan(*row_offset) : midas::span<const double>(), ys);
    }
    return y;
}

template <class Real, class In>
void def_spmv(py::module_& m) {
    m.def("csr_spmv", &spmv<Real, In>, py::arg("indptr"), py::arg("indices"), py::arg("data"),
          py::arg("n_cols"), py::arg("x"), py::arg("validate") = true, py::arg("row_scale") = py::none(),
          py::arg("row_offset") = py::none(),
          "CSR matrix × frames: y (n_frames, n_rows) float64 = row_scale·(A·x − row_offset).");
}

}  // namespace

void bind_sparse(py::module_& m) {
    // float32 matrix entries first: the integration layout.
    def_spmv<float, float>(m);
    def_spmv<float, double>(m);
    def_spmv<float, std::uint16_t>(m);
    def_spmv<float, std::int32_t>(m);
    def_spmv<float, std::uint32_t>(m);
    def_spmv<double, float>(m);
    def_spmv<double, double>(m);
    def_spmv<double, std::uint16_t>(m);
    def_spmv<double, std::int32_t>(m);
    def_spmv<double, std::uint32_t>(m);
}
