#include "midas/core/parallel.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace midas::parallel {

int max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void set_num_threads(int n) {
#ifdef _OPENMP
    if (n >= 1) omp_set_num_threads(n);
#else
    (void)n;
#endif
}

bool has_openmp() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

ThreadScope::ThreadScope(int n) : previous_(max_threads()) {
    if (n >= 1) set_num_threads(n);
}
ThreadScope::~ThreadScope() { set_num_threads(previous_); }

}  // namespace midas::parallel
