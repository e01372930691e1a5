// midas/core/parallel.hpp — the only place that talks to the OpenMP runtime about thread counts.
#pragma once

namespace midas::parallel {

/// Number of threads a parallel region started now would use (1 without OpenMP).
[[nodiscard]] int max_threads();

/// Set the default thread count for later parallel regions (n >= 1; ignored without OpenMP).
void set_num_threads(int n);

/// True when the kernels were compiled with OpenMP.
[[nodiscard]] bool has_openmp();

/// Scoped thread-count override: restores the previous count when it goes out of scope.
class ThreadScope {
   public:
    explicit ThreadScope(int n);
    ~ThreadScope();
    ThreadScope(const ThreadScope&) = delete;
    ThreadScope& operator=(const ThreadScope&) = delete;

   private:
    int previous_;
};

}  // namespace midas::parallel
