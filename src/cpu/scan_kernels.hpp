// Kernels along one dim of a dense block read as [outer, n, inner]: the inclusive scan (cumsum) and
// the reversal of dims (flip).
//
// A scan along the last dim (inner == 1) runs each row in order, four rows side by side; along an
// outer dim it keeps a row of running values across the inner dim, a block of columns at a time, so
// that the loop over columns vectorises and the running row stays in L1. Both split their work over
// the thread pool.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cpu/parallel.hpp"

namespace dydx::cpu {

/// The type a scan runs in: double for float (as PyTorch's CPU cumsum accumulates, so a
/// long float32 cumsum loses no more than its rounding of each result), uint64_t for int64 (a
/// wrapping sum or product, as two's complement gives it, without signed overflow), T otherwise.
template <class T>
using ScanAccumulator = std::conditional_t<std::is_same_v<T, float>, double,
                                           std::conditional_t<std::is_integral_v<T>, uint64_t, T>>;

/// out[o, i, c] = step(... step(identity, in[o, 0, c]) ..., in[o, i, c]) for dense in and out.
template <class T, class Step>
void scan_along(const T* in, T* out, int64_t outer, int64_t n, int64_t inner, Step step, T identity) {
  using Acc = ScanAccumulator<T>;
  if (outer == 0 || n == 0 || inner == 0) return;
  if (inner == 1) {
    parallel_for(outer, std::max<int64_t>(1, kElementwiseGrain / n), [&](int64_t first, int64_t last) {
      // Four rows at a time, interleaved: each row's running value is a chain of dependent adds (or
      // multiplies), so four independent chains keep the adder busy while each waits on its latency.
      constexpr int64_t kRows = 4;
      int64_t row = first;
      for (; row + kRows <= last; row += kRows) {
        Acc acc[kRows];
        std::fill(acc, acc + kRows, static_cast<Acc>(identity));
        for (int64_t i = 0; i < n; ++i)
          for (int64_t r = 0; r < kRows; ++r) {
            acc[r] = step(acc[r], static_cast<Acc>(in[(row + r) * n + i]));
            out[(row + r) * n + i] = static_cast<T>(acc[r]);
          }
      }
      for (; row < last; ++row) {
        const T* x = in + row * n;
        T* y = out + row * n;
        Acc acc = static_cast<Acc>(identity);
        for (int64_t i = 0; i < n; ++i) {
          acc = step(acc, static_cast<Acc>(x[i]));
          y[i] = static_cast<T>(acc);
        }
      }
    });
    return;
  }
  if (outer * inner <= 4) {
    // A few long columns (a [1M, 2] along dim 0): the running values in registers, a width known at
    // compile time, so that each step is a handful of adds and no loop of its own.
    const auto columns = [&]<int64_t W>(std::integral_constant<int64_t, W>) {
      for (int64_t o = 0; o < outer; ++o) {
        Acc acc[W];
        std::fill(acc, acc + W, static_cast<Acc>(identity));
        const T* x = in + o * n * W;
        T* y = out + o * n * W;
        for (int64_t i = 0; i < n; ++i)
          for (int64_t c = 0; c < W; ++c) {
            acc[c] = step(acc[c], static_cast<Acc>(x[i * W + c]));
            y[i * W + c] = static_cast<T>(acc[c]);
          }
      }
    };
    switch (inner) {
      case 2: columns(std::integral_constant<int64_t, 2>{}); return;
      case 3: columns(std::integral_constant<int64_t, 3>{}); return;
      case 4: columns(std::integral_constant<int64_t, 4>{}); return;
      default: break;
    }
  }
  constexpr int64_t kBlock = 256;
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  parallel_for(outer * blocks, std::max<int64_t>(1, kElementwiseGrain / (n * kBlock)), [&](int64_t first, int64_t last) {
    Acc acc[kBlock];
    for (int64_t task = first; task < last; ++task) {
      const int64_t o = task / blocks, c0 = task % blocks * kBlock, width = std::min(kBlock, inner - c0);
      std::fill(acc, acc + width, static_cast<Acc>(identity));
      for (int64_t i = 0; i < n; ++i) {
        const T* x = in + (o * n + i) * inner + c0;
        T* y = out + (o * n + i) * inner + c0;
        for (int64_t c = 0; c < width; ++c) {
          acc[c] = step(acc[c], static_cast<Acc>(x[c]));
          y[c] = static_cast<T>(acc[c]);
        }
      }
    }
  });
}

/// Copies a dense block of the given sizes with the marked dims reversed, into a dense out. The
/// caller merges neighbouring dims that are both flipped or both kept (and drops dims of size 1),
/// so rows are as long as they can be: each output row (the last dim) is a plain or reversed copy
/// of one input row.
template <class T>
void flip_copy(const T* in, T* out, const int64_t* sizes, const char* flipped, int64_t rank) {
  if (rank == 0) {
    out[0] = in[0];
    return;
  }
  const int64_t row = sizes[rank - 1];
  int64_t rows = 1;
  for (int64_t d = 0; d + 1 < rank; ++d) rows *= sizes[d];
  if (rows == 0 || row == 0) return;
  const bool reverse_rows = flipped[rank - 1];
  if (rank == 2 && !flipped[0] && reverse_rows && row <= 8) {
    // Short rows reversed in place of a dense run (flip(-1) of [n, 2], say): a row length known at
    // compile time lets GCC reverse several rows per vector, where the loop below took one at a time
    // (2.5 ms against PyTorch's 0.88 for [10^6, 2]).
    const auto reverse_short_rows = [&]<int64_t R>(std::integral_constant<int64_t, R>) {
      parallel_for(rows, std::max<int64_t>(1, kElementwiseGrain / R), [&](int64_t first, int64_t last) {
        const T* x = in + first * R;
        T* y = out + first * R;
        for (int64_t r = 0; r < last - first; ++r)
          for (int64_t i = 0; i < R; ++i) y[r * R + i] = x[r * R + R - 1 - i];
      });
    };
    switch (row) {
      case 2: return reverse_short_rows(std::integral_constant<int64_t, 2>{});
      case 3: return reverse_short_rows(std::integral_constant<int64_t, 3>{});
      case 4: return reverse_short_rows(std::integral_constant<int64_t, 4>{});
      case 5: return reverse_short_rows(std::integral_constant<int64_t, 5>{});
      case 6: return reverse_short_rows(std::integral_constant<int64_t, 6>{});
      case 7: return reverse_short_rows(std::integral_constant<int64_t, 7>{});
      case 8: return reverse_short_rows(std::integral_constant<int64_t, 8>{});
      default: break;  // row 1 never comes: dims of size 1 were dropped
    }
  }
  parallel_for(rows, std::max<int64_t>(1, kElementwiseGrain / row), [&](int64_t first, int64_t last) {
    for (int64_t r = first; r < last; ++r) {
      // The source row: r's index over the leading dims, reversed along the flipped ones (with one
      // leading dim, r itself or its mirror, without dividing).
      int64_t source = 0;
      if (rank == 2) {
        source = (flipped[0] ? sizes[0] - 1 - r : r) * row;
      } else {
        int64_t rest = r, stride = row;
        for (int64_t d = rank - 2; d >= 0; --d) {
          const int64_t i = rest % sizes[d];
          rest /= sizes[d];
          source += (flipped[d] ? sizes[d] - 1 - i : i) * stride;
          stride *= sizes[d];
        }
      }
      const T* x = in + source;
      T* y = out + r * row;
      if (row <= 8) {  // a short row in a plain loop, not a call per row
        if (reverse_rows)
          for (int64_t i = 0; i < row; ++i) y[i] = x[row - 1 - i];
        else
          for (int64_t i = 0; i < row; ++i) y[i] = x[i];
      } else if (reverse_rows) {
        std::reverse_copy(x, x + row, y);
      } else {
        std::memcpy(static_cast<void*>(y), static_cast<const void*>(x), sizeof(T) * row);
      }
    }
  });
}

}  // namespace dydx::cpu
