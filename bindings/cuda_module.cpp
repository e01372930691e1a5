// bindings/cuda_module.cpp — midas._cuda: device queries and the resident CSR matrix.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <string>

#include "csr_device.hpp"
#include "midas/core/error.hpp"
#include "numpy_span.hpp"

namespace py = pybind11;
using midas::bind::carray;
using midas::bind::check_shape;
using midas::bind::cspan;

PYBIND11_MODULE(_cuda, m) {
    m.doc() = "midas CUDA kernels (private; use the midas.* Python API)";
    py::register_exception_translator([](std::exception_ptr p) {
        if (!p) return;
        try {
            std::rethrow_exception(p);
        } catch (const midas::ParamError& e) {
            PyErr_SetString(py::module_::import("midas.errors").attr("ParamError").ptr(), e.what());
        } catch (const midas::Error& e) {
            PyErr_SetString(py::module_::import("midas.errors").attr("MidasError").ptr(), e.what());
        }
    });
    m.def("device_count", [] {
        std::string msg;
        const int n = midas::cuda::device_count(msg);
        return py::make_tuple(n, msg);
    }, "(number of visible CUDA devices, runtime message when 0)");
    m.def("device_name", &midas::cuda::device_name, py::arg("index"), "Device name and compute capability.");
    py::class_<midas::cuda::CsrDeviceMatrix>(m, "CsrDeviceMatrix")
        .def(py::init([](const carray<std::int64_t>& indptr, const carray<std::int32_t>& indices,
                         const carray<float>& data, std::int64_t n_cols) {
                 check_shape(indptr, "indptr", {-1});
                 check_shape(indices, "indices", {-1});
                 check_shape(data, "data", {-1});
                 return std::make_unique<midas::cuda::CsrDeviceMatrix>(cspan(indptr), cspan(indices), cspan(data),
                                                                       n_cols);
             }),
             py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("n_cols"))
        .def_property_readonly("n_rows", &midas::cuda::CsrDeviceMatrix::n_rows)
        .def_property_readonly("n_cols", &midas::cuda::CsrDeviceMatrix::n_cols)
        .def("apply", [](midas::cuda::CsrDeviceMatrix& self, const carray<float>& x) {
                 check_shape(x, "x", {-1, self.n_cols()});
                 const std::int64_t n_frames = x.shape(0);
                 py::array_t<double> y({static_cast<py::ssize_t>(n_frames), static_cast<py::ssize_t>(self.n_rows())});
                 auto ys = midas::span<double>(y.mutable_data(), static_cast<std::size_t>(y.size()));
                 {
                     py::gil_scoped_release release;
                     self.apply(cspan(x), n_frames, ys);
                 }
                 return y;
             }, py::arg("x"), "y (n_frames, n_rows) float64 = A · x (n_frames, n_cols) float32.");
}
