// midas/core/error.hpp — the one exception hierarchy of the C++ core.
//
// Every kernel reports failure by throwing one of these types; bindings/module.cpp
// translates each into the matching Python class of midas.errors in one place.
#pragma once

#include <stdexcept>
#include <string>

namespace midas {

/// Base of every error raised by the C++ core (Python: midas.errors.MidasError).
class Error : public std::runtime_error {
   public:
    using std::runtime_error::runtime_error;
};

/// Bad parameter value handed to a kernel (Python: midas.errors.ParamError).
class ParamError : public Error {
   public:
    using Error::Error;
};

/// Malformed or truncated data (Python: midas.errors.FormatError).
class FormatError : public Error {
   public:
    using Error::Error;
};

/// A geometric quantity that has no solution or is out of range (Python: midas.errors.GeometryError).
class GeometryError : public Error {
   public:
    using Error::Error;
};

/// An iterative solver that did not converge (Python: midas.errors.ConvergenceError).
class ConvergenceError : public Error {
   public:
    using Error::Error;
};

/// A fixed-capacity resource (GPU shared memory, index width) was exceeded
/// (Python: midas.errors.CapacityError).
class CapacityError : public Error {
   public:
    using Error::Error;
};

}  // namespace midas
