// Internal constructors: fresh contiguous tensors, aliases of existing storage, and value copies.
#include "core/tensor_factory.hpp"

#include "core/object_pool.hpp"
#include "core/shape.hpp"
#include "cpu/cpu_kernels.hpp"

namespace dydx::detail {

Tensor make_empty(IntArrayRef sizes, ScalarType dtype) {
  auto impl = make_pooled<TensorImpl>();
  impl->numel = product(sizes);  // checked for overflow first
  impl->sizes.assign(sizes.begin(), sizes.end());
  contiguous_strides(sizes, impl->strides);
  impl->dtype = dtype;
  int64_t nbytes = 0;
  DYDX_CHECK(!__builtin_mul_overflow(impl->numel, static_cast<int64_t>(element_size(dtype)), &nbytes),
             "empty: storage size calculation overflowed for shape ", sizes);
  impl->storage = Storage::allocate(static_cast<size_t>(nbytes));
  return Tensor(std::move(impl));
}

Tensor make_alias(const Tensor& src, Dims sizes, Dims strides, int64_t offset) {
  const auto& s = *src.impl();
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

void copy_values(const Tensor& dst, const Tensor& src) {
  cpu::dispatch_with_bool(dst.dtype(), [&](auto out_tag) {
    using TOut = decltype(out_tag);
    cpu::dispatch_with_bool(src.dtype(), [&](auto in_tag) {
      using TIn = decltype(in_tag);
      cpu::map1<TOut, TIn>(dst, src, [](TIn v) { return cpu::convert<TOut>(v); });
    });
  });
}

}  // namespace dydx::detail
