// cuda/csr_spmv.cu — launch code and kernel for the resident CSR matrix × frames product.
#include <cuda_runtime.h>

#include <string>

#include "csr_device.hpp"
#include "midas/core/error.hpp"

namespace midas::cuda {
namespace {

void check(cudaError_t status, const char* what) {
    if (status != cudaSuccess)
        throw midas::Error(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(status));
}

constexpr int warp_size = 32;
constexpr int rows_per_block = 8;  // one warp per row, 8 warps per block

// One warp per (row, frame): lanes stride over the row's entries, then a fixed-order
// shuffle reduction. The summation order is fixed by the launch shape, so results are
// reproducible run to run.
__global__ void csr_spmv_warp(const std::int64_t* __restrict__ indptr,
                              const std::int32_t* __restrict__ indices,
                              const float* __restrict__ data, const float* __restrict__ x,
                              double* __restrict__ y, std::int64_t n_rows, std::int64_t n_cols) {
    const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * rows_per_block + threadIdx.y;
    const std::int64_t frame = blockIdx.y;
    if (row >= n_rows) return;
    const float* xf = x + frame * n_cols;
    double acc = 0.0;
    for (std::int64_t k = indptr[row] + threadIdx.x; k < indptr[row + 1]; k += warp_size)
        acc += static_cast<double>(data[k]) * static_cast<double>(__ldg(xf + indices[k]));
    for (int offset = warp_size / 2; offset > 0; offset /= 2)
        acc += __shfl_down_sync(0xffffffffu, acc, offset);
    if (threadIdx.x == 0) y[frame * n_rows + row] = acc;
}

}  // namespace

int device_count(std::string& message) {
    int n = 0;
    const cudaError_t status = cudaGetDeviceCount(&n);
    if (status != cudaSuccess) {
        message = cudaGetErrorString(status);
        cudaGetLastError();  // clear the sticky error
        return 0;
    }
    if (n == 0) message = "the CUDA runtime reports no devices";
    return n;
}

std::string device_name(int index) {
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, index), "cudaGetDeviceProperties");
    return std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ")";
}

CsrDeviceMatrix::CsrDeviceMatrix(span<const std::int64_t> indptr, span<const std::int32_t> indices,
                                 span<const float> data, std::int64_t n_cols)
    : n_rows_(static_cast<std::int64_t>(indptr.size()) - 1),
      n_cols_(n_cols),
      nnz_(static_cast<std::int64_t>(indices.size())) {
    if (n_rows_ < 0 || data.size() != indices.size())
        throw midas::ParamError("CsrDeviceMatrix: inconsistent CSR arrays");
    check(cudaMalloc(&d_indptr_, indptr.size() * sizeof(std::int64_t)), "cudaMalloc(indptr)");
    check(cudaMalloc(&d_indices_, (indices.size() + 1) * sizeof(std::int32_t)), "cudaMalloc(indices)");
    check(cudaMalloc(&d_data_, (data.size() + 1) * sizeof(float)), "cudaMalloc(data)");
    check(cudaMemcpy(d_indptr_, indptr.data(), indptr.size() * sizeof(std::int64_t), cudaMemcpyHostToDevice),
          "upload indptr");
    check(cudaMemcpy(d_indices_, indices.data(), indices.size() * sizeof(std::int32_t), cudaMemcpyHostToDevice),
          "upload indices");
    check(cudaMemcpy(d_data_, data.data(), data.size() * sizeof(float), cudaMemcpyHostToDevice), "upload data");
}

CsrDeviceMatrix::~CsrDeviceMatrix() {
    cudaFree(d_indptr_);
    cudaFree(d_indices_);
    cudaFree(d_data_);
    cudaFree(d_x_);
    cudaFree(d_y_);
}

void CsrDeviceMatrix::ensure_frame_buffers(std::int64_t n_frames) {
    if (n_frames <= frames_capacity_) return;
    cudaFree(d_x_);
    cudaFree(d_y_);
    d_x_ = nullptr;
    d_y_ = nullptr;
    check(cudaMalloc(&d_x_, static_cast<std::size_t>(n_frames * n_cols_) * sizeof(float)), "cudaMalloc(frames)");
    check(cudaMalloc(&d_y_, static_cast<std::size_t>(n_frames * n_rows_) * sizeof(double)), "cudaMalloc(result)");
    frames_capacity_ = n_frames;
}

void CsrDeviceMatrix::apply(span<const float> x, std::int64_t n_frames, span<double> y) {
    if (x.size() != static_cast<std::size_t>(n_frames * n_cols_) ||
        y.size() != static_cast<std::size_t>(n_frames * n_rows_))
        throw midas::ParamError("CsrDeviceMatrix::apply: frame or result size does not match the matrix");
    if (n_frames == 0 || n_rows_ == 0) return;
    ensure_frame_buffers(n_frames);
    check(cudaMemcpy(d_x_, x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice), "upload frames");
    const dim3 block(warp_size, rows_per_block);
    const dim3 grid(static_cast<unsigned>((n_rows_ + rows_per_block - 1) / rows_per_block),
                    static_cast<unsigned>(n_frames));
    csr_spmv_warp<<<grid, block>>>(d_indptr_, d_indices_, d_data_, d_x_, d_y_, n_rows_, n_cols_);
    check(cudaGetLastError(), "csr_spmv_warp launch");
    check(cudaMemcpy(y.data(), d_y_, y.size() * sizeof(double), cudaMemcpyDeviceToHost), "download result");
}

}  // namespace midas::cuda
