// bindings/module.cpp — creates midas._core, calls one binder per concept and registers the
// single C++ -> Python exception translation. No logic lives here.
#include <pybind11/pybind11.h>

#include "midas/core/error.hpp"

namespace py = pybind11;

void bind_core(py::module_& m);
void bind_sparse(py::module_& m);
void bind_geometry(py::module_& m);
void bind_crystal(py::module_& m);
void bind_forward(py::module_& m);
void bind_integration(py::module_& m);
void bind_ff_peaks(py::module_& m);
void bind_ff_index(py::module_& m);

PYBIND11_MODULE(_core, m) {
    m.doc() = "midas compiled kernels (private; use the midas.* Python API)";
    py::register_exception_translator([](std::exception_ptr p) {
        if (!p) return;
        auto raise = [](const char* cls, const std::exception& e) {
            PyErr_SetString(py::module_::import("midas.errors").attr(cls).ptr(), e.what());
        };
        try {
            std::rethrow_exception(p);
        } catch (const midas::ParamError& e) {
            raise("ParamError", e);
        } catch (const midas::FormatError& e) {
            raise("FormatError", e);
        } catch (const midas::GeometryError& e) {
            raise("GeometryError", e);
        } catch (const midas::ConvergenceError& e) {
            raise("ConvergenceError", e);
        } catch (const midas::CapacityError& e) {
            raise("CapacityError", e);
        } catch (const midas::Error& e) {
            raise("MidasError", e);
        }
    });
    bind_core(m);
    bind_sparse(m);
    bind_geometry(m);
    bind_crystal(m);
    bind_forward(m);
    bind_integration(m);
    bind_ff_peaks(m);
    bind_ff_index(m);
}
