#include "cpu/lu_solve.hpp"

#include <algorithm>
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
int factor_and_solve(T* a, T* b, int n, int nrhs, int* pivots) {
  int info = 0;
  const int ld = std::max(n, 1);
  if constexpr (std::is_same_v<T, float>) sgetrf_(&n, &n, a, &ld, pivots, &info);
  else dgetrf_(&n, &n, a, &ld, pivots, &info);
  if (info != 0) return info;  // U(info, info) is exactly zero: no solution to write
  const char no_transpose = 'N';
  if constexpr (std::is_same_v<T, float>) sgetrs_(&no_transpose, &n, &nrhs, a, &ld, pivots, b, &ld, &info, 1);
  else dgetrs_(&no_transpose, &n, &nrhs, a, &ld, pivots, b, &ld, &info, 1);
  return info;
}

}  // namespace

template <class T>
ZeroPivot lu_solve(T* a, T* b, int64_t batch, int64_t n, int64_t nrhs) {
  if (batch == 0 || n == 0) return {};
  std::vector<int> info(static_cast<size_t>(batch), 0);
  // One system is O(n^3) against O(n^2) of setup: a batch of systems splits by system once the
  // whole batch is worth a thread's start.
  const int64_t work = std::max<int64_t>(1, n * n * (n + nrhs));
  parallel_for(batch, std::max<int64_t>(1, (int64_t{1} << 16) / work), [&](int64_t first, int64_t last) {
    std::vector<int> pivots(static_cast<size_t>(n));
    for (int64_t i = first; i < last; ++i)
      info[static_cast<size_t>(i)] = factor_and_solve(a + i * n * n, b + i * n * nrhs, static_cast<int>(n),
                                                      static_cast<int>(nrhs), pivots.data());
  });
  for (int64_t i = 0; i < batch; ++i)
    if (info[static_cast<size_t>(i)] != 0) return {i, info[static_cast<size_t>(i)]};
  return {};
}

template ZeroPivot lu_solve<float>(float*, float*, int64_t, int64_t, int64_t);
template ZeroPivot lu_solve<double>(double*, double*, int64_t, int64_t, int64_t);

}  // namespace dydx::cpu
