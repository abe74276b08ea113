// Tensor's own members: geometry queries and element access. Its autograd members live in
// src/autograd/tensor_autograd.cpp.
#include "dydx/tensor.hpp"

#include <sstream>

#include "core/shape.hpp"
#include "compile/trace.hpp"
#include "core/tensor_factory.hpp"
#include "cpu/cpu_kernels.hpp"
#include "dydx/creation.hpp"

namespace dydx {

using detail::TensorImpl;

TensorImpl& Tensor::impl_ref() const {
  DYDX_CHECK(impl_ != nullptr, "tensor: the tensor is undefined (default-constructed or an unused gradient)");
  return *impl_;
}

int64_t Tensor::size(int64_t dim) const {
  const auto& impl = impl_ref();
  if (impl.sizes.empty()) detail::fail_with<IndexError>("size: a 0-D tensor has no dim ", dim);
  return impl.sizes[detail::wrap_dim(dim, this->dim(), "size")];
}

int64_t Tensor::stride(int64_t dim) const {
  const auto& impl = impl_ref();
  if (impl.sizes.empty()) detail::fail_with<IndexError>("stride: a 0-D tensor has no dim ", dim);
  return impl.strides[detail::wrap_dim(dim, this->dim(), "stride")];
}

bool Tensor::is_contiguous() const { return detail::is_contiguous(impl_ref().sizes, impl_ref().strides); }

std::string Tensor::shape_string() const {
  std::ostringstream os;
  os << sizes();
  return os.str();
}

namespace {
template <class T>
constexpr ScalarType dtype_of() {
  if constexpr (std::is_same_v<T, float>) return kFloat32;
  if constexpr (std::is_same_v<T, double>) return kFloat64;
  if constexpr (std::is_same_v<T, bool>) return kBool;
  return kInt64;
}
}  // namespace

template <class T>
T* Tensor::data_ptr() const {
  const auto& impl = impl_ref();
  DYDX_CHECK(impl.dtype == dtype_of<T>(), "data_ptr: expected a tensor of dtype ", dtype_of<T>(),
             " but it has dtype ", impl.dtype);
  return reinterpret_cast<T*>(impl.data_bytes());
}

template <class T>
T Tensor::item() const {
  const auto& impl = impl_ref();
  // As functorch: a sample's value is not one number of the batch, so control flow on it can't be vmapped.
  DYDX_CHECK(!impl.batched, "vmap: item() was called on a tensor inside vmap (shape ", impl.sizes,
             "); each sample has its own value, so data-dependent control flow cannot be vmapped. Use where() "
             "instead, or call item() outside vmap");
  DYDX_CHECK(impl.numel == 1, "item: a tensor with ", impl.numel, " elements cannot be converted to a scalar");
  // Under func::compile, a value read here steers f (control flow, a scalar operand, a check) as it was at the
  // recording; a replay would not read it again.
  if (compile::detail::recording()) [[unlikely]]
    compile::detail::refuse("f reads a tensor's value with item() (control flow or a scalar taken from a value would "
                            "stay as it was at the recording)");
  return cpu::dispatch_with_bool(impl.dtype, [&](auto tag) {
    using S = decltype(tag);
    const S value = *reinterpret_cast<const S*>(impl.data_bytes());
    // As libtorch's item<int64_t>(): a floating value outside int64's range (nan, inf) is an error,
    // not the INT64_MIN that an elementwise cast to int64 gives.
    if constexpr (std::is_same_v<T, int64_t> && std::is_floating_point_v<S>)
      DYDX_CHECK(detail::fits_int64(static_cast<double>(value)), "item: value ", value,
                 " cannot be converted to type int64 without overflow");
    return cpu::convert<T>(value);
  });
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  const auto& impl = impl_ref();
  DYDX_CHECK(!impl.batched, "vmap: to_vector() was called on a tensor inside vmap (shape ", impl.sizes,
             "); its values differ per sample. Return it from f instead");
  // As item(): values read here would stay as they were at func::compile's recording.
  if (compile::detail::recording()) [[unlikely]]
    compile::detail::refuse("f reads a tensor's values with to_vector() (what is computed from them would stay as it "
                            "was at the recording)");
  std::vector<T> out(impl.numel);
  Tensor dst = from_blob(out.data(), impl.sizes, dtype_of<T>());
  detail::copy_values(dst, *this);
  return out;
}

#define DYDX_INSTANTIATE(T)                     \
  template T* Tensor::data_ptr<T>() const;      \
  template T Tensor::item<T>() const;           \
  template std::vector<T> Tensor::to_vector<T>() const;
DYDX_INSTANTIATE(float)
DYDX_INSTANTIATE(double)
DYDX_INSTANTIATE(int64_t)
#undef DYDX_INSTANTIATE
// No to_vector<bool>: std::vector<bool> packs bits and has no data() to copy into.
template bool* Tensor::data_ptr<bool>() const;
template bool Tensor::item<bool>() const;

}  // namespace dydx
