// bindings/bind_sparse.cpp — CSR sparse matrix × frames.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <vector>

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
                         const std::optional<carray<double>>& row_offset,
                         const std::optional<carray<std::int32_t>>& row_base,
                         const std::optional<carray<std::int16_t>>& step) {
    check_shape(indptr, "indptr", {-1});
    check_shape(indices, "indices", {-1});
    check_shape(data, "data", {-1});
    check_shape(x, "x", {-1, n_cols});
    midas::sparse::CsrView<Real> a{cspan(indptr), cspan(indices), cspan(data), indptr.size() - 1, n_cols};
    if (row_base.has_value() != step.has_value())
        throw midas::ParamError("csr_spmv: give both row_base and step, or neither");
    midas::sparse::ColumnSteps steps{};
    if (row_base) steps = midas::sparse::ColumnSteps{cspan(*row_base), cspan(*step)};
    const std::int64_t n_frames = x.shape(0);
    py::array_t<double> y({static_cast<py::ssize_t>(n_frames), static_cast<py::ssize_t>(a.n_rows)});
    auto ys = midas::span<double>(y.mutable_data(), static_cast<std::size_t>(y.size()));
    {
        py::gil_scoped_release release;
        if (validate) midas::sparse::validate(a);
        midas::sparse::csr_spmv_affine<Real, In>(a, cspan(x), n_frames,
                                                 row_scale ? cspan(*row_scale) : midas::span<const double>(),
                                                 row_offset ? cspan(*row_offset) : midas::span<const double>(), ys,
                                                 row_base ? &steps : nullptr);
    }
    return y;
}

template <class Real, class In>
void def_spmv(py::module_& m) {
    m.def("csr_spmv", &spmv<Real, In>, py::arg("indptr"), py::arg("indices"), py::arg("data"),
          py::arg("n_cols"), py::arg("x"), py::arg("validate") = true, py::arg("row_scale") = py::none(),
          py::arg("row_offset") = py::none(), py::arg("row_base") = py::none(), py::arg("step") = py::none(),
          "CSR matrix × frames: y (n_frames, n_rows) float64 = row_scale·(A·x − row_offset).");
}

template <class Real>
py::tuple column_steps(const carray<std::int64_t>& indptr, const carray<std::int32_t>& indices,
                       const carray<Real>& data, std::int64_t n_cols) {
    check_shape(indptr, "indptr", {-1});
    check_shape(indices, "indices", {-1});
    check_shape(data, "data", {indices.size()});
    midas::sparse::CsrView<Real> a{cspan(indptr), cspan(indices), cspan(data), indptr.size() - 1, n_cols};
    py::array_t<std::int32_t> base(a.n_rows);
    py::array_t<std::int16_t> step(indices.size());
    std::int64_t n_wide = 0;
    {
        py::gil_scoped_release release;
        midas::sparse::validate(a);
        n_wide = midas::sparse::csr_column_steps(
            a, midas::span<std::int32_t>(base.mutable_data(), static_cast<std::size_t>(a.n_rows)),
            midas::span<std::int16_t>(step.mutable_data(), static_cast<std::size_t>(indices.size())));
    }
    return py::make_tuple(base, step, n_wide);
}

template <class Real>
py::tuple transpose(const carray<std::int64_t>& indptr, const carray<std::int32_t>& indices, const carray<Real>& data,
                    std::int64_t n_cols) {
    check_shape(indptr, "indptr", {-1});
    check_shape(indices, "indices", {-1});
    check_shape(data, "data", {-1});
    midas::sparse::CsrView<Real> a{cspan(indptr), cspan(indices), cspan(data), indptr.size() - 1, n_cols};
    std::vector<std::int64_t> ip;
    std::vector<std::int32_t> ix;
    std::vector<Real> dt;
    {
        py::gil_scoped_release release;
        midas::sparse::validate(a);
        midas::sparse::csr_transpose(a, ip, ix, dt);
    }
    const auto n = static_cast<py::ssize_t>(ix.size());
    const auto rows = static_cast<py::ssize_t>(ip.size());
    return py::make_tuple(midas::bind::to_numpy(std::move(ip), {rows}), midas::bind::to_numpy(std::move(ix), {n}),
                          midas::bind::to_numpy(std::move(dt), {n}));
}

template <class Real, class In>
py::array_t<double> scatter_spmv(const carray<std::int64_t>& indptr_t, const carray<std::int32_t>& indices_t,
                                 const carray<Real>& data_t, std::int64_t n_rows, const carray<In>& x,
                                 const std::optional<carray<double>>& row_scale,
                                 const std::optional<carray<double>>& row_offset, std::int64_t n_chunks) {
    check_shape(indptr_t, "indptr_t", {-1});
    check_shape(x, "x", {-1, indptr_t.size() - 1});
    midas::sparse::CsrView<Real> at{cspan(indptr_t), cspan(indices_t), cspan(data_t), indptr_t.size() - 1, n_rows};
    const std::int64_t n_frames = x.shape(0);
    py::array_t<double> y({static_cast<py::ssize_t>(n_frames), static_cast<py::ssize_t>(n_rows)});
    auto ys = midas::span<double>(y.mutable_data(), static_cast<std::size_t>(y.size()));
    {
        py::gil_scoped_release release;
        midas::sparse::csr_scatter_spmv_affine<Real, In>(
            at, cspan(x), n_frames, row_scale ? cspan(*row_scale) : midas::span<const double>(),
            row_offset ? cspan(*row_offset) : midas::span<const double>(), n_chunks, ys);
    }
    return y;
}

template <class Real, class In>
void def_scatter(py::module_& m) {
    m.def("csr_scatter_spmv", &scatter_spmv<Real, In>, py::arg("indptr_t"), py::arg("indices_t"), py::arg("data_t"),
          py::arg("n_rows"), py::arg("x"), py::arg("row_scale") = py::none(), py::arg("row_offset") = py::none(),
          py::arg("n_chunks") = 64, "A·x from the transpose of A (scatter): y (n_frames, n_rows) float64.");
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
    m.def("csr_column_steps", &column_steps<float>, py::arg("indptr"), py::arg("indices"), py::arg("data"),
          py::arg("n_cols"), "(row_base int32, step int16, n_wide_rows): int16 column steps of a CSR matrix.");
    m.def("csr_column_steps", &column_steps<double>, py::arg("indptr"), py::arg("indices"), py::arg("data"),
          py::arg("n_cols"), "(row_base int32, step int16, n_wide_rows): int16 column steps of a CSR matrix.");
    m.def("csr_transpose", &transpose<float>, py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("n_cols"),
          "Transpose of a CSR matrix, as CSR (indptr, indices, data).");
    m.def("csr_transpose", &transpose<double>, py::arg("indptr"), py::arg("indices"), py::arg("data"),
          py::arg("n_cols"), "Transpose of a CSR matrix, as CSR (indptr, indices, data).");
    def_scatter<float, float>(m);
    def_scatter<float, double>(m);
    def_scatter<float, std::uint16_t>(m);
    def_scatter<float, std::int32_t>(m);
    def_scatter<float, std::uint32_t>(m);
    def_scatter<double, float>(m);
    def_scatter<double, double>(m);
    def_scatter<double, std::uint16_t>(m);
    def_scatter<double, std::int32_t>(m);
    def_scatter<double, std::uint32_t>(m);
}
