// bindings/bind_sparse.cpp — CSR sparse matrix × frames.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <vector>

#include "midas/sparse/banded.hpp"
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

template <class Real>
py::dict banded(const carray<std::int64_t>& indptr, const carray<std::int32_t>& indices, const carray<Real>& data,
                std::int64_t n_cols, std::int64_t band_cols) {
    check_shape(indptr, "indptr", {-1});
    check_shape(indices, "indices", {-1});
    check_shape(data, "data", {indices.size()});
    midas::sparse::CsrView<Real> a{cspan(indptr), cspan(indices), cspan(data), indptr.size() - 1, n_cols};
    midas::sparse::BandedCsr<Real> b;
    {
        py::gil_scoped_release release;
        b = midas::sparse::make_banded(a, band_cols);
    }
    using midas::bind::to_numpy;
    const auto n_seg = static_cast<py::ssize_t>(b.seg_slot.size());
    const auto nnz = static_cast<py::ssize_t>(b.data.size());
    py::dict d;
    d["band_ptr"] = to_numpy(std::move(b.band_ptr), {static_cast<py::ssize_t>(b.band_ptr.size())});
    d["seg_ptr"] = to_numpy(std::move(b.seg_ptr), {n_seg + 1});
    d["row_seg_ptr"] = to_numpy(std::move(b.row_seg_ptr), {static_cast<py::ssize_t>(a.n_rows + 1)});
    d["seg_slot"] = to_numpy(std::move(b.seg_slot), {n_seg});
    d["data"] = to_numpy(std::move(b.data), {nnz});
    d["offset"] = to_numpy(std::move(b.offset), {nnz});
    return d;
}

template <class Real, class In>
py::array_t<double> banded_spmv(const carray<std::int64_t>& band_ptr, const carray<std::int64_t>& seg_ptr,
                                const carray<std::int64_t>& row_seg_ptr, const carray<std::int32_t>& seg_slot,
                                const carray<Real>& data, const carray<std::uint16_t>& offset, std::int64_t n_cols,
                                std::int64_t band_cols, const carray<In>& x,
                                const std::optional<carray<double>>& row_scale,
                                const std::optional<carray<double>>& row_offset, bool simd) {
    check_shape(row_seg_ptr, "row_seg_ptr", {-1});
    check_shape(x, "x", {-1, n_cols});
    const std::int64_t n_rows = row_seg_ptr.size() - 1;
    midas::sparse::BandedView<Real> a{n_rows,           n_cols,          band_cols,   cspan(band_ptr), cspan(seg_ptr),
                                      cspan(row_seg_ptr), cspan(seg_slot), cspan(data), cspan(offset)};
    const std::int64_t n_frames = x.shape(0);
    py::array_t<double> y({static_cast<py::ssize_t>(n_frames), static_cast<py::ssize_t>(n_rows)});
    auto ys = midas::span<double>(y.mutable_data(), static_cast<std::size_t>(y.size()));
    {
        py::gil_scoped_release release;
        midas::sparse::banded_spmv_affine<Real, In>(a, cspan(x), n_frames,
                                                    row_scale ? cspan(*row_scale) : midas::span<const double>(),
                                                    row_offset ? cspan(*row_offset) : midas::span<const double>(), ys,
                                                    simd);
    }
    return y;
}

template <class Real, class In>
void def_banded_spmv(py::module_& m) {
    m.def("banded_spmv", &banded_spmv<Real, In>, py::arg("band_ptr"), py::arg("seg_ptr"), py::arg("row_seg_ptr"),
          py::arg("seg_slot"), py::arg("data"), py::arg("offset"), py::arg("n_cols"), py::arg("band_cols"), py::arg("x"),
          py::arg("row_scale") = py::none(), py::arg("row_offset") = py::none(), py::arg("simd") = true,
          "A·x from the banded copy of A: y (n_frames, n_rows) float64 = row_scale·(A·x − row_offset).");
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
    m.def("csr_banded", &banded<float>, py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("n_cols"),
          py::arg("band_cols"), "Column-band-major copy of a CSR matrix (dict of arrays).");
    m.def("csr_banded", &banded<double>, py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("n_cols"),
          py::arg("band_cols"), "Column-band-major copy of a CSR matrix (dict of arrays).");
    def_banded_spmv<float, float>(m);
    def_banded_spmv<float, double>(m);
    def_banded_spmv<float, std::uint16_t>(m);
    def_banded_spmv<float, std::int32_t>(m);
    def_banded_spmv<float, std::uint32_t>(m);
    def_banded_spmv<double, float>(m);
    def_banded_spmv<double, double>(m);
    def_banded_spmv<double, std::uint16_t>(m);
    def_banded_spmv<double, std::int32_t>(m);
    def_banded_spmv<double, std::uint32_t>(m);
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
