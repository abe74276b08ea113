// Square linear systems by LAPACK's LU routines, which OpenBLAS carries: getrf factors A = P L U
// with partial pivoting, getrs solves with the factors. The same routines as PyTorch's CPU solve and
// inverse, so singular matrices are found where PyTorch finds them (an exactly zero pivot).
#pragma once

#include <cstdint>

namespace dydx::cpu {

/// The first system that had no solution: its index in the batch and the 1-based position of its zero
/// pivot (LAPACK's info); batch < 0 when every system was solved.
struct ZeroPivot {
  int64_t batch = -1;
  int64_t pivot = 0;
};

/// Factors `batch` n x n matrices stored column-major in place, each M = P L U at a + i n^2 with its
/// row interchanges at pivots + i n; the systems split across dydx's threads. Returns the first
/// singular one. A row-major A is a column-major M = A^T: its own memory is factored as it is. T is
/// float or double; n fits LAPACK's 32-bit ints (the caller checks).
template <class T>
ZeroPivot lu_factor(T* a, int* pivots, int64_t batch, int64_t n);

/// Solves M_f X = B, or M_f^T X = B where `transposed`, for systems i = 0..batch-1, each B n x nrhs
/// at b + i n nrhs overwritten by X, with the factors lu_factor left for matrix f = factor_of[i] (i
/// where factor_of is null: one A broadcast over many B reuses its one factorisation). A row-major A
/// factored as M = A^T solves A X = B transposed. Each system is one LAPACK call of nrhs columns, so
/// that its bits do not depend on the batch it is solved in (jacfwd's chunks, a loop against vmap).
template <class T>
void lu_solve_factored(const T* a, const int* pivots, T* b, int64_t batch, int64_t n, int64_t nrhs, bool transposed,
                       const int64_t* factor_of = nullptr);

}  // namespace dydx::cpu
