// align_to (batched.hpp): an argument of an op laid out as a given batch, for in-place ops and
// index_put, whose result keeps the layout of one input instead of the broadcast one.
#include "vmap/batched.hpp"

#include "dydx/ops.hpp"

namespace dydx::vmap {

Tensor align_to(const Tensor& other, uint32_t level, int64_t rank, int64_t bdim) {
  const Arg a = unwrap(other, level);
  if (a.bdim) return pad_sample_rank(batch_first(a), rank).movedim(0, bdim);
  // Unbatched: its dims pair with the sample's last other.dim() dims, which sit after the batch
  // dim (physical dims bdim+1...) only when rank - other.dim() >= bdim; else a size-1 batch dim goes in.
  if (rank - other.dim() >= bdim) return other;
  Dims sizes(static_cast<size_t>(rank - other.dim()), 1);
  for (int64_t s : other.sizes()) sizes.push_back(s);
  return other.reshape(sizes).unsqueeze(bdim);
}

}  // namespace dydx::vmap
