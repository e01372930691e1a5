// midas/core/hd.hpp — MIDAS_HD: marks per-element math that both the C++ kernels and the CUDA
// kernels compile (`__host__ __device__` under nvcc, nothing otherwise).
//
// Functions marked MIDAS_HD must stay free of exceptions, std::optional, heap allocation and
// I/O: they report "no solution" through a bool return value. Validation that may throw lives
// in host-only functions (see e.g. midas/geometry/ff_detector.hpp make_ff_model).
#pragma once

#if defined(__CUDACC__)
#define MIDAS_HD __host__ __device__
#else
#define MIDAS_HD
#endif
