// bindings/bind_crystal.cpp — filled in by the crystal work; empty binder until then.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void bind_crystal(py::module_& m) { (void)m; }
