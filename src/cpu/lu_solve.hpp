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

/// Solves M X = B, or M^T X = B where `transposed`, for `batch` systems stored column-major, each M
/// n x n at a + i n^2 (overwritten by its LU factors) and each B n x nrhs at b + i n nrhs (overwritten
/// by X); the systems split across dydx's threads. A row-major A is a column-major M = A^T, so A X = B
/// is the transposed solve with A's own memory. T is float or double; n and nrhs fit LAPACK's 32-bit
/// ints (the caller checks).
/// With `pivots` (batch n ints), each system's row interchanges are kept there for
/// lu_solve_factored.
template <class T>
ZeroPivot lu_solve(T* a, T* b, int64_t batch, int64_t n, int64_t nrhs, bool transposed, int* pivots = nullptr);

/// Systems solved with the factors and pivots lu_solve left (a gradient's solve with the transpose:
/// no second factorisation), each B n x nrhs at b + i n nrhs; with `shared`, the one factorisation at
/// a for every system (one A for a batch of B). Every system was solvable there. Each system is one
/// LAPACK call of nrhs columns, as lu_solve's, so that a system's bits do not depend on the batch it
/// is solved in (jacfwd's chunks, a loop against vmap).
template <class T>
void lu_solve_factored(const T* a, const int* pivots, T* b, int64_t batch, int64_t n, int64_t nrhs, bool transposed,
                       bool shared = false);

}  // namespace dydx::cpu
