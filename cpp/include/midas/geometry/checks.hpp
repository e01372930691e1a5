// midas/geometry/checks.hpp — argument checks shared by the batched geometry kernels (host only).
#pragma once

#include <cstddef>
#include <string>

#include "midas/core/error.hpp"

namespace midas::geometry {

/// Throw midas::ParamError unless `got == n`, naming the function and the argument.
inline void require_same_size(std::size_t n, std::size_t got, const char* fn, const char* what) {
    if (got != n)
        throw ParamError(std::string(fn) + ": " + what + " has " + std::to_string(got) + " values, expected " +
                         std::to_string(n));
}

}  // namespace midas::geometry
