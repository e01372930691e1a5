// bindings/bind_core.cpp — build information and thread control.
#include <pybind11/pybind11.h>

#include "midas/core/parallel.hpp"

namespace py = pybind11;

#ifndef MIDAS_CXX_COMPILER
#define MIDAS_CXX_COMPILER "unknown"
#endif
#ifndef MIDAS_BUILT_WITH_CUDA
#define MIDAS_BUILT_WITH_CUDA 0
#endif

void bind_core(py::module_& m) {
    m.def("compiler", [] { return std::string(MIDAS_CXX_COMPILER); }, "C++ compiler that built _core.");
    m.def("has_openmp", &midas::parallel::has_openmp, "True when _core was built with OpenMP.");
    m.def("cuda_configured", [] { return static_cast<bool>(MIDAS_BUILT_WITH_CUDA); },
          "True when the build also produced midas._cuda.");
    m.def("max_threads", &midas::parallel::max_threads, "Threads a parallel kernel would use now.");
    m.def("set_num_threads", &midas::parallel::set_num_threads, py::arg("n_threads"),
          "Set the OpenMP thread count for later kernels.");
}
