// bindings/numpy_span.hpp — NumPy array <-> midas::span conversion with shape checks.
//
// The only pybind11-aware helpers in the project. Every binder accepts
// py::array_t<T, c_style | forcecast>, checks shapes here, then hands spans to the kernels.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "midas/core/error.hpp"
#include "midas/core/span.hpp"

namespace midas::bind {

namespace py = pybind11;

template <class T>
using carray = py::array_t<T, py::array::c_style | py::array::forcecast>;

/// Check that `a` has exactly the given shape; -1 matches any length. Throws midas::ParamError
/// naming the argument and both shapes.
template <class T>
void check_shape(const carray<T>& a, const char* name, std::initializer_list<py::ssize_t> shape) {
    auto describe = [&]() {
        std::string got = "(";
        for (py::ssize_t i = 0; i < a.ndim(); ++i) got += (i ? ", " : "") + std::to_string(a.shape(i));
        got += ")";
        std::string want = "(";
        std::size_t i = 0;
        for (auto s : shape) want += (i++ ? ", " : "") + (s < 0 ? std::string("N") : std::to_string(s));
        want += ")";
        return std::string(name) + " has shape " + got + ", expected " + want;
    };
    if (a.ndim() != static_cast<py::ssize_t>(shape.size())) throw ParamError(describe());
    py::ssize_t i = 0;
    for (auto s : shape) {
        if (s >= 0 && a.shape(i) != s) throw ParamError(describe());
        ++i;
    }
}

template <class T>
span<const T> cspan(const carray<T>& a) {
    return span<const T>(a.data(), static_cast<std::size_t>(a.size()));
}

template <class T>
span<T> mspan(carray<T>& a) {
    return span<T>(a.mutable_data(), static_cast<std::size_t>(a.size()));
}

/// Move a std::vector into a NumPy array that owns it (capsule-backed, no copy).
template <class T, class Alloc>
py::array_t<T> to_numpy(std::vector<T, Alloc>&& v, std::vector<py::ssize_t> shape) {
    auto* heap = new std::vector<T, Alloc>(std::move(v));
    py::capsule owner(heap, [](void* p) { delete static_cast<std::vector<T, Alloc>*>(p); });
    return py::array_t<T>(shape, heap->data(), owner);
}

}  // namespace midas::bind
