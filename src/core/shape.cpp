// Shape arithmetic: dim wrapping, broadcasting, strides and view compatibility.
#include "core/shape.hpp"

#include "dydx/error.hpp"

namespace dydx::detail {

int64_t wrap_dim(int64_t dim, int64_t rank, const char* op) {
  int64_t r = rank == 0 ? 1 : rank;  // a 0-D tensor accepts dim 0 and -1, as in PyTorch
  if (!(dim >= -r && dim < r))
    fail_with<IndexError>(op, ": dim ", dim, " is out of range for a tensor of rank ", rank, " (expected a dim in [", -r, ", ",
                          r - 1, "])");
  return dim < 0 ? dim + r : dim;
}

int64_t product(IntArrayRef sizes) {
  int64_t n = 1;
  for (int64_t s : sizes)
    DYDX_CHECK(!__builtin_mul_overflow(n, s, &n), "shape ", sizes, ": the number of elements overflows int64");
  return n;
}

void contiguous_strides(IntArrayRef sizes, Dims& strides) {
  strides.resize(sizes.size());
  int64_t running = 1;
  for (size_t i = sizes.size(); i-- > 0;) {
    strides[i] = running;
    DYDX_CHECK(!__builtin_mul_overflow(running, std::max<int64_t>(sizes[i], 1), &running), "shape ", sizes,
               ": the strides overflow int64");
  }
}

Dims contiguous_strides(IntArrayRef sizes) {
  Dims strides;
  contiguous_strides(sizes, strides);
  return strides;
}

bool is_contiguous(IntArrayRef sizes, IntArrayRef strides) {
  int64_t expected = 1;
  for (size_t i = sizes.size(); i-- > 0;) {
    if (sizes[i] == 0) return true;
    if (sizes[i] == 1) continue;
    if (strides[i] != expected) return false;
    expected *= sizes[i];
  }
  return true;
}

Dims broadcast_shapes(IntArrayRef a, IntArrayRef b, const char* op) {
  size_t rank = std::max(a.size(), b.size());
  Dims out(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    int64_t sa = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t sb = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    DYDX_CHECK(sa == sb || sa == 1 || sb == 1, op, ": shapes ", a, " and ", b,
               " cannot be broadcast (", sa, " != ", sb, " at dim ", i, ")");
    out[i] = sa == 1 ? sb : sa;
  }
  return out;
}

void check_sizes(IntArrayRef sizes, const char* op) {
  for (int64_t s : sizes) DYDX_CHECK(s >= 0, op, ": negative size ", s, " in shape ", sizes);
  // Checked here, naming the op, rather than deep inside product() or contiguous_strides(): the
  // element count and the contiguous strides (zeros count as ones) must fit in int64.
  int64_t count = 1;
  for (int64_t s : sizes)
    DYDX_CHECK(!__builtin_mul_overflow(count, std::max<int64_t>(s, 1), &count), op, ": shape ", sizes,
               " is too large: its number of elements overflows int64");
}

Dims infer_size(IntArrayRef sizes, int64_t numel, const char* op) {
  Dims out = sizes.dims();
  int64_t known = 1;
  std::optional<size_t> infer;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      DYDX_CHECK(!infer, op, ": only one dimension can be inferred in shape ", sizes);
      infer = i;
    } else {
      DYDX_CHECK(out[i] >= 0, op, ": invalid size ", out[i], " in shape ", sizes);
      DYDX_CHECK(!__builtin_mul_overflow(known, out[i], &known), op, ": shape ", sizes, " overflows int64");
    }
  }
  if (infer) {
    DYDX_CHECK(known != 0 && numel % known == 0, op, ": shape ", sizes, " is invalid for input of size ", numel);
    out[*infer] = numel / known;
  } else {
    DYDX_CHECK(known == numel, op, ": shape ", sizes, " is invalid for input of size ", numel);
  }
  check_sizes(out, op);  // an empty input can take a shape whose strides would overflow: [0, 2^62, 4]
  return out;
}

// Walks the old shape in chunks of dims that are contiguous with each other; each chunk must map
// onto a run of new dims with the same element count (the rule PyTorch's computeStride uses).
std::optional<Dims> view_strides(IntArrayRef sizes, IntArrayRef strides, IntArrayRef new_sizes) {
  Dims out(new_sizes.size(), 0);
  if (product(sizes) == 0 || sizes.empty()) return contiguous_strides(new_sizes);
  int64_t view_d = static_cast<int64_t>(new_sizes.size()) - 1;
  int64_t chunk_base_stride = strides.empty() ? 1 : strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
    tensor_numel *= sizes[d];
    if (d == 0 || (sizes[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_sizes[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= new_sizes[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

}  // namespace dydx::detail
