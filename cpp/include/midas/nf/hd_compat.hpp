// midas/nf/hd_compat.hpp — MIDAS_HD for the NF headers (the macro of midas/core/hd.hpp; a
// fallback definition keeps the NF kernels building on their own).
#pragma once

#if __has_include("midas/core/hd.hpp")
#include "midas/core/hd.hpp"
#endif
#ifndef MIDAS_HD
#if defined(__CUDACC__)
#define MIDAS_HD __host__ __device__
#else
#define MIDAS_HD
#endif
#endif
