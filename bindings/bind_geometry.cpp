// bindings/bind_geometry.cpp — filled in by the geometry work; empty binder until then.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void bind_geometry(py::module_& m) { (void)m; }
