// Internal constructors: fresh contiguous tensors, aliases of existing storage, and value copies.
#include "core/tensor_factory.hpp"

#include <vector>

#include "core/object_pool.hpp"
#include "core/shape.hpp"
#include "cpu/cpu_kernels.hpp"
#include "cpu/transpose_copy.hpp"

namespace dydx::detail {

namespace {
Tensor allocate_contiguous(IntArrayRef sizes, ScalarType dtype, const char* op) {
  const int64_t numel = product(sizes);  // checked for overflow
  int64_t nbytes = 0;
  DYDX_CHECK(!__builtin_mul_overflow(numel, static_cast<int64_t>(element_size(dtype)), &nbytes), op,
             ": cannot allocate a tensor of shape ", sizes, " and dtype ", dtype, ": its storage size (", numel, " elements of ",
             element_size(dtype), " bytes) overflows int64");
  std::shared_ptr<Storage> storage;
  try {
    storage = Storage::allocate(static_cast<size_t>(nbytes));
  } catch (const Error&) {
    // allocate() knows only a byte count; the caller's name and shape say which request it was.
    detail::fail(op, ": cannot allocate a tensor of shape ", sizes, " and dtype ", dtype, ": out of memory allocating ", nbytes,
                 " bytes");
  }
  auto impl = make_pooled<TensorImpl>();
  impl->numel = numel;
  impl->sizes.assign(sizes.begin(), sizes.end());
  contiguous_strides(sizes, impl->strides);
  impl->dtype = dtype;
  impl->storage = std::move(storage);
  return Tensor(std::move(impl));
}

}  // namespace

Tensor make_empty(IntArrayRef sizes, ScalarType dtype, const char* op) {
  check_sizes(sizes, op);  // negative sizes and an element count past int64, named as op's
  return allocate_contiguous(sizes, dtype, op);
}

// An op's result: its sizes are non-negative already, and the rare overflowing count is caught by
// product(), so the per-op path skips check_sizes' extra pass.
Tensor make_empty(IntArrayRef sizes, ScalarType dtype) { return allocate_contiguous(sizes, dtype, "allocate"); }

Tensor make_alias(const Tensor& src, Dims sizes, Dims strides, int64_t offset) {
  const auto& s = *src.impl();
  // A view of a tensor inside vmap must come from a batching rule: this one would see one sample's
  // geometry over the whole batch's storage.
  if (s.batched) [[unlikely]] throw_batched_data();
  auto impl = make_pooled<TensorImpl>();
  impl->storage = s.storage;
  impl->numel = product(sizes);
  impl->sizes = std::move(sizes);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = s.dtype;
  impl->base = s.base ? s.base : src.impl();
  impl->view_version = impl->storage->version.load();
  impl->tangent_version = impl->view_version;
  return Tensor(std::move(impl));
}

namespace {

// A copy into a fresh contiguous tensor from a source whose last two dims are swapped in memory
// (t().contiguous(), mT().contiguous(), a column-major matrix made row-major), of 4- or 8-byte
// elements and the same dtype, large enough for blocks to pay: copied block by block
// (cpu/transpose_copy.hpp). False where it does not apply; src and dst sharing memory never does.
bool copied_as_transpose(const Tensor& dst, const Tensor& src) {
  // src must be dst's own shape: copy_ passes a source that it broadcasts to dst, whose matrices the
  // loop below would count from src alone.
  if (dst.dtype() != src.dtype() || element_size(dst.dtype()) < 4 || src.dim() < 2 || !dst.is_contiguous() ||
      src.sizes() != dst.sizes())
    return false;
  const int64_t rows = src.size(-2), cols = src.size(-1), ld = src.stride(-1);
  if (src.stride(-2) != 1 || rows < 16 || cols < 16 || ld < rows) return false;
  // Memory that both may reach (one storage, or two that wrap the same user memory) takes the plain
  // loop, whose element order the callers' overlap handling expects.
  const Storage& in = *src.impl()->storage;
  const Storage& out = *dst.impl()->storage;
  const auto* in_begin = static_cast<const char*>(in.data);
  const auto* out_begin = static_cast<const char*>(out.data);
  if (in_begin < out_begin + out.nbytes && out_begin < in_begin + in.nbytes) return false;
  // Each matrix's offset in src, for its leading dims of any strides.
  const int64_t lead = src.dim() - 2;
  const int64_t batch = src.numel() / (rows * cols);
  std::vector<int64_t> offsets(static_cast<size_t>(batch));
  Dims index(static_cast<size_t>(lead), 0);
  for (int64_t i = 0; i < batch; ++i) {
    int64_t offset = src.storage_offset();
    for (int64_t d = 0; d < lead; ++d) offset += index[d] * src.stride(d);
    offsets[static_cast<size_t>(i)] = offset;
    for (int64_t d = lead - 1; d >= 0 && ++index[d] == src.size(d); --d) index[d] = 0;
  }
  cpu::dispatch(dst.dtype(), [&](auto tag) {  // float, double, int64 (bool was left out above)
    using T = decltype(tag);
    const T* base = static_cast<const T*>(src.impl()->storage->data);
    cpu::transpose_copy<T>(dst.data_ptr<T>(), base, offsets.data(), batch, rows, cols, ld);
  });
  return true;
}

}  // namespace

void copy_values(const Tensor& dst, const Tensor& src) {
  if (copied_as_transpose(dst, src)) return;
  cpu::dispatch_with_bool(dst.dtype(), [&](auto out_tag) {
    using TOut = decltype(out_tag);
    cpu::dispatch_with_bool(src.dtype(), [&](auto in_tag) {
      using TIn = decltype(in_tag);
      cpu::map1<TOut, TIn>(dst, src, [](TIn v) { return cpu::convert<TOut>(v); });
    });
  });
}

}  // namespace dydx::detail
