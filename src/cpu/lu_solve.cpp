#include "cpu/lu_solve.hpp"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "cpu/parallel.hpp"

// LAPACK's Fortran interface (LP64: 32-bit ints, as Debian's OpenBLAS builds it). The trailing size_t
// is the hidden length of the character argument that gfortran-built LAPACKs expect; OpenBLAS's own
// C implementations ignore it.
extern "C" {
void sgetrf_(const int* m, const int* n, float* a, const int* lda, int* ipiv, int* info);
void dgetrf_(const int* m, const int* n, double* a, const int* lda, int* ipiv, int* info);
void sgetrs_(const char* trans, const int* n, const int* nrhs, const float* a, const int* lda, const int* ipiv, float* b,
             const int* ldb, int* info, size_t trans_length);
void dgetrs_(const char* trans, const int* n, const int* nrhs, const double* a, const int* lda, const int* ipiv, double* b,
             const int* ldb, int* info, size_t trans_length);
}

namespace dydx::cpu {

namespace {

template <class T>
void solve_with_factors(const T* a, const int* pivots, T* b, int n, int nrhs, bool transposed) {
  int info = 0;
  const int ld = std::max(n, 1);
  const char trans = transposed ? 'T' : 'N';
  if constexpr (std::is_same_v<T, float>) sgetrs_(&trans, &n, &nrhs, a, &ld, pivots, b, &ld, &info, 1);
  else dgetrs_(&trans, &n, &nrhs, a, &ld, pivots, b, &ld, &info, 1);
}

// A batch of systems splits by system once the whole batch is worth a thread's start (one system
// is O(n^3) against O(n^2) of setup). Below 16 x 16 it does not split at all: each LAPACK call takes
// OpenBLAS's buffer lock, and threads calling it for tiny systems queue on it (10^4 3 x 3 solves:
// 1.3 ms on one thread, 2.6 on two).
int64_t systems_per_task(int64_t batch, int64_t n, int64_t nrhs) {
  if (n < 16) return std::max<int64_t>(1, batch);
  return std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(1, n * n * (n + nrhs)));
}

}  // namespace

template <class T>
ZeroPivot lu_factor(T* a, int* pivots, int64_t batch, int64_t n) {
  if (batch == 0 || n == 0) return {};
  std::vector<int> info(static_cast<size_t>(batch), 0);
  parallel_for(batch, systems_per_task(batch, n, 0), [&](int64_t first, int64_t last) {
    const int size = static_cast<int>(n);
    for (int64_t i = first; i < last; ++i) {
      // info > 0: U(info, info) is exactly zero, and there is no solution to write.
      if constexpr (std::is_same_v<T, float>) sgetrf_(&size, &size, a + i * n * n, &size, pivots + i * n, &info[static_cast<size_t>(i)]);
      else dgetrf_(&size, &size, a + i * n * n, &size, pivots + i * n, &info[static_cast<size_t>(i)]);
    }
  });
  for (int64_t i = 0; i < batch; ++i)
    if (info[static_cast<size_t>(i)] != 0) return {i, info[static_cast<size_t>(i)]};
  return {};
}

template <class T>
void lu_solve_factored(const T* a, const int* pivots, T* b, int64_t batch, int64_t n, int64_t nrhs, bool transposed,
                       const int64_t* factor_of) {
  if (batch == 0 || n == 0 || nrhs == 0) return;
  parallel_for(batch, systems_per_task(batch, n, nrhs), [&](int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i) {
      const int64_t f = factor_of != nullptr ? factor_of[i] : i;
      solve_with_factors(a + f * n * n, pivots + f * n, b + i * n * nrhs, static_cast<int>(n), static_cast<int>(nrhs), transposed);
    }
  });
}

template ZeroPivot lu_factor<float>(float*, int*, int64_t, int64_t);
template ZeroPivot lu_factor<double>(double*, int*, int64_t, int64_t);
template void lu_solve_factored<float>(const float*, const int*, float*, int64_t, int64_t, int64_t, bool, const int64_t*);
template void lu_solve_factored<double>(const double*, const int*, double*, int64_t, int64_t, int64_t, bool, const int64_t*);

}  // namespace dydx::cpu
