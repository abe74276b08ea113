// The basis directions every Jacobian is built from, and the check of the chunk size they come in.
#include "transforms/basis.hpp"

#include "core/shape.hpp"
#include "dydx/creation.hpp"

namespace dydx::func::detail {

namespace {

// Directions [start, start + count) over n elements: [count, n], row i holding a 1 at start + i.
Tensor identity_rows(int64_t n, int64_t start, int64_t count, ScalarType dtype) {
  if (start == 0) return eye(count, n, dtype);  // the common case (every direction at once) in one op
  Tensor rows = zeros({count, n}, dtype);
  // The ones lie n + 1 apart in the fresh contiguous rows: one strided view sets them all.
  if (count > 0) rows.as_strided({count}, {n + 1}, start).fill_(1);
  return rows;
}

}  // namespace

void check_chunk_size(int64_t chunk_size, const char* op) {
  DYDX_CHECK(chunk_size >= 0, op, ": chunk_size must be positive (or 0 for a single chunk), got ", chunk_size);
}

Tensor basis_batch(const Tensor& like, int64_t start, int64_t count) {
  return identity_rows(like.numel(), start, count, like.dtype()).reshape(concat({count}, like.sizes()));
}

Tensor row_basis_batch(const Tensor& like, int64_t start, int64_t count) {
  const IntArrayRef sizes = like.sizes();
  const int64_t row_numel = dydx::detail::product(IntArrayRef(sizes.data() + 1, sizes.size() - 1));
  return identity_rows(row_numel, start, count, like.dtype())
      .unsqueeze(1)
      .expand({count, like.size(0), row_numel})
      .reshape(concat({count}, sizes));
}

Dims concat(IntArrayRef a, IntArrayRef b) {
  Dims out = a.dims();
  for (int64_t s : b) out.push_back(s);
  return out;
}

}  // namespace dydx::func::detail
