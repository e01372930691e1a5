// bindings/bind_forward.cpp — filled in by the forward work; empty binder until then.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void bind_forward(py::module_& m) { (void)m; }
