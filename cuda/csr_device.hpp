// cuda/csr_device.hpp — a CSR matrix resident on the GPU and its product with frames.
//
// Host-only header (no CUDA types), so pybind11 bindings compiled by the host compiler can use
// it. The CPU twin with the same semantics is midas::sparse::csr_spmv (cpp/include/midas/sparse/csr.hpp).
#pragma once

#include <cstdint>
#include <string>

#include "midas/core/span.hpp"

namespace midas::cuda {

/// Number of visible CUDA devices; 0 when none (or no driver). `message` receives the runtime's
/// explanation when the count is 0.
[[nodiscard]] int device_count(std::string& message);

/// Name and compute capability of device `index` ("NVIDIA H100 80GB HBM3 (sm_90)").
[[nodiscard]] std::string device_name(int index);

/// A float32 CSR matrix uploaded once and kept on the device across many frames.
class CsrDeviceMatrix {
   public:
    /// Uploads the matrix. Throws midas::Error when no device is usable or memory runs out.
    CsrDeviceMatrix(span<const std::int64_t> indptr, span<const std::int32_t> indices,
                    span<const float> data, std::int64_t n_cols);
    ~CsrDeviceMatrix();
    CsrDeviceMatrix(const CsrDeviceMatrix&) = delete;
    CsrDeviceMatrix& operator=(const CsrDeviceMatrix&) = delete;

    /// y (n_frames, n_rows) float64 = A · x (n_frames, n_cols) float32, row sums in double.
    void apply(span<const float> x, std::int64_t n_frames, span<double> y);

    [[nodiscard]] std::int64_t n_rows() const { return n_rows_; }
    [[nodiscard]] std::int64_t n_cols() const { return n_cols_; }

   private:
    void ensure_frame_buffers(std::int64_t n_frames);
    std::int64_t n_rows_ = 0, n_cols_ = 0, nnz_ = 0, frames_capacity_ = 0;
    std::int64_t* d_indptr_ = nullptr;
    std::int32_t* d_indices_ = nullptr;
    float* d_data_ = nullptr;
    float* d_x_ = nullptr;
    double* d_y_ = nullptr;
};

}  // namespace midas::cuda
