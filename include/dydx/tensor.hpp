// Tensor: a reference-counted handle to a strided, typed array that records autograd history.
#pragma once

#include <concepts>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <string>
#include <tuple>
#include <vector>

#include "dydx/detail/tensor_impl.hpp"
#include "dydx/dtype.hpp"
#include "dydx/error.hpp"
#include "dydx/generator.hpp"
#include "dydx/indexing.hpp"
#include "dydx/small_vector.hpp"

namespace dydx {

class Tensor;
using TensorList = std::vector<Tensor>;
/// A tensor hook: returns a replacement gradient, or an undefined tensor to keep the incoming one.
using TensorHook = std::function<Tensor(const Tensor&)>;

/// A tensor: shape, strides and offset over shared storage, with an element type and autograd state.
/// Copying a Tensor copies the handle, never the data, exactly as in libtorch.
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<detail::TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  const std::shared_ptr<detail::TensorImpl>& impl() const { return impl_; }
  detail::TensorImpl& impl_ref() const;  // throws on an undefined tensor

  // ---- geometry -------------------------------------------------------------------------
  IntArrayRef sizes() const { return impl_ref().sizes; }
  IntArrayRef strides() const { return impl_ref().strides; }
  /// Size of one dim; negative dims count from the end.
  int64_t size(int64_t dim) const;
  int64_t stride(int64_t dim) const;
  int64_t dim() const { return static_cast<int64_t>(impl_ref().sizes.size()); }
  int64_t ndimension() const { return dim(); }
  int64_t numel() const { return impl_ref().numel; }
  int64_t storage_offset() const { return impl_ref().offset; }
  ScalarType dtype() const { return impl_ref().dtype; }
  ScalarType scalar_type() const { return impl_ref().dtype; }
  bool is_floating_point() const { return dydx::is_floating_point(dtype()); }
  bool is_contiguous() const;
  /// The version counter shared with every view; in-place ops bump it.
  int64_t _version() const { return impl_ref().storage->version.load(); }

  // ---- element access -------------------------------------------------------------------
  /// Pointer to the first element; T must match dtype().
  template <class T>
  T* data_ptr() const;
  /// The value of a one-element tensor, converted to T.
  template <class T>
  T item() const;
  /// All elements in row-major order, converted to T.
  template <class T>
  std::vector<T> to_vector() const;

  // ---- autograd -------------------------------------------------------------------------
  /// Marks a leaf as requiring grad. Errors for non-leaves and non-floating dtypes.
  Tensor& requires_grad_(bool requires_grad = true);
  Tensor& set_requires_grad(bool requires_grad) { return requires_grad_(requires_grad); }
  bool requires_grad() const;
  bool is_leaf() const { return grad_fn() == nullptr; }
  /// The accumulated gradient of a leaf (or of a non-leaf after retain_grad()); undefined if none.
  Tensor grad() const;
  /// The gradient slot itself, so that it can be reset or replaced.
  void set_grad(const Tensor& grad) const;
  void retain_grad() const;
  bool retains_grad() const { return impl_ref().retains_grad; }
  /// The node that created this tensor; null for leaves.
  const std::shared_ptr<autograd::Node>& grad_fn() const;
  Tensor detach() const;
  Tensor& detach_();
  /// Computes the gradient of this tensor with respect to the graph leaves, as torch.Tensor.backward.
  void backward(const Tensor& gradient = {}, std::optional<bool> retain_graph = std::nullopt,
                bool create_graph = false, const TensorList& inputs = {}) const;
  /// Registers a hook called with this tensor's gradient during backward; returns its handle.
  unsigned register_hook(TensorHook hook) const;
  /// Same, for a hook that only observes the gradient.
  template <class F>
    requires std::is_void_v<std::invoke_result_t<F, const Tensor&>>
  unsigned register_hook(F observer) const {
    return register_hook(TensorHook([observer](const Tensor& g) {
      observer(g);
      return Tensor();
    }));
  }
  /// Registers a hook called with this leaf once backward has accumulated its gradient into .grad,
  /// as torch.Tensor.register_post_accumulate_grad_hook: it sees the whole .grad, where register_hook
  /// sees the incoming gradient before the sum. Runs in passes that accumulate (backward, not grad()).
  /// Returns a handle for remove_hook.
  unsigned register_post_accumulate_grad_hook(std::function<void(const Tensor&)> hook) const;
  /// Removes a hook registered by either function.
  void remove_hook(unsigned handle) const;

  // ---- views (no copy) ------------------------------------------------------------------
  Tensor select(int64_t dim, int64_t index) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  /// Consecutive pieces along dim, views: of split_size (the last shorter), of the given sizes (which
  /// sum to the dim's size), ceil(size / chunks) each (so possibly fewer than chunks), or each index
  /// with the dim removed (unbind); as PyTorch's, with its errors.
  std::vector<Tensor> split(int64_t split_size, int64_t dim = 0) const;
  std::vector<Tensor> split(IntArrayRef split_sizes, int64_t dim = 0) const;
  std::vector<Tensor> split_with_sizes(IntArrayRef split_sizes, int64_t dim = 0) const;
  std::vector<Tensor> chunk(int64_t chunks, int64_t dim = 0) const;
  std::vector<Tensor> unbind(int64_t dim = 0) const;
  Tensor slice(int64_t dim = 0, std::optional<int64_t> start = std::nullopt,
               std::optional<int64_t> end = std::nullopt, int64_t step = 1) const;
  /// Indexing as x[...] in Python: integers, Slice, None, Ellipsis, and tensors (advanced indexing:
  /// int64 tensors are positions, broadcast together; floating tensors are masks, see indexing.hpp).
  Tensor index(const std::vector<indexing::TensorIndex>& indices) const;
  Tensor operator[](int64_t index) const { return select(0, index); }
  Tensor t() const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor permute(IntArrayRef dims) const;
  Tensor expand(IntArrayRef sizes) const;
  Tensor expand_as(const Tensor& other) const { return expand(other.sizes()); }
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  /// A view with the new shape; errors when the strides do not allow one (use reshape).
  Tensor view(IntArrayRef sizes) const;
  /// A view when the strides allow one, otherwise a copy. One size may be -1.
  Tensor reshape(IntArrayRef sizes) const;
  /// Dims start_dim..end_dim merged into one (a view where the strides allow, as reshape); a 0-D
  /// tensor becomes 1-D.
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  /// Dim `dim` split into `sizes` (one of them may be -1, inferred), always a view.
  Tensor unflatten(int64_t dim, IntArrayRef sizes) const;
  /// The dims in source moved to the positions in destination, the others keeping their order (a view).
  Tensor movedim(IntArrayRef source, IntArrayRef destination) const;
  Tensor movedim(int64_t source, int64_t destination) const { return movedim(IntArrayRef({source}), IntArrayRef({destination})); }
  /// numpy's names of expand, transpose and movedim, and the arrangements of dydx/ops.hpp.
  Tensor broadcast_to(IntArrayRef size) const;
  Tensor swapaxes(int64_t axis0, int64_t axis1) const;
  Tensor swapdims(int64_t dim0, int64_t dim1) const;
  Tensor moveaxis(IntArrayRef source, IntArrayRef destination) const;
  Tensor moveaxis(int64_t source, int64_t destination) const;
  Tensor fliplr() const;
  Tensor flipud() const;
  Tensor tile(IntArrayRef dims) const;
  std::vector<Tensor> tensor_split(int64_t sections, int64_t dim = 0) const;
  std::vector<Tensor> tensor_split(IntArrayRef indices, int64_t dim = 0) const;
  std::vector<Tensor> tensor_split(const Tensor& indices_or_sections, int64_t dim = 0) const;
  Tensor take_along_dim(const Tensor& indices, std::optional<int64_t> dim = std::nullopt) const;
  Tensor as_strided(IntArrayRef sizes, IntArrayRef strides, std::optional<int64_t> storage_offset = std::nullopt) const;
  /// The diagonal of dims dim1 and dim2 as a view (see dydx::diagonal).
  Tensor diagonal(int64_t offset = 0, int64_t dim1 = 0, int64_t dim2 = 1) const;
  Tensor contiguous() const;
  Tensor clone() const;
  /// torch's repeat: a copy tiled sizes[d] times along each dim; sizes has at least dim() entries
  /// (the extra ones add leading dims), none negative.
  Tensor repeat(IntArrayRef sizes) const;
  /// torch's roll: a copy with the elements moved shifts[i] places along dims[i] (wrapping round;
  /// negative and large shifts modulo the size). With no dims, the flattened tensor rolls by the one
  /// shift and takes the shape back.
  Tensor roll(IntArrayRef shifts, IntArrayRef dims = {}) const;
  Tensor to(ScalarType dtype) const;

  // ---- math -----------------------------------------------------------------------------
  Tensor add(const Tensor& other, Scalar alpha = 1) const;
  Tensor sub(const Tensor& other, Scalar alpha = 1) const;
  Tensor mul(const Tensor& other) const;
  Tensor div(const Tensor& other) const;
  Tensor div(const Tensor& other, std::optional<std::string_view> rounding_mode) const;
  Tensor div(Scalar other, std::optional<std::string_view> rounding_mode) const;
  Tensor floor_divide(const Tensor& other) const;
  Tensor floor_divide(Scalar other) const;
  Tensor neg() const;
  Tensor pow(Scalar exponent) const;
  Tensor pow(const Tensor& exponent) const;
  Tensor atan2(const Tensor& other) const;
  Tensor hypot(const Tensor& other) const;
  Tensor maximum(const Tensor& other) const;
  Tensor minimum(const Tensor& other) const;
  Tensor fmod(const Tensor& other) const;
  Tensor fmod(Scalar other) const;
  Tensor remainder(const Tensor& other) const;
  Tensor remainder(Scalar other) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor sin() const;
  Tensor cos() const;
  Tensor tan() const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor relu() const;
  Tensor abs() const;
  Tensor log1p() const;
  Tensor expm1() const;
  Tensor erf() const;
  Tensor asin() const;
  Tensor acos() const;
  Tensor atan() const;
  Tensor sinh() const;
  Tensor cosh() const;
  Tensor asinh() const;
  Tensor acosh() const;
  Tensor atanh() const;
  Tensor reciprocal() const;
  Tensor rsqrt() const;
  Tensor log2() const;
  Tensor log10() const;
  Tensor exp2() const;
  Tensor erfc() const;
  Tensor floor() const;
  Tensor ceil() const;
  Tensor round() const;
  Tensor round(int64_t decimals) const;
  Tensor trunc() const;
  Tensor frac() const;
  Tensor square() const;
  Tensor clamp(const std::optional<Scalar>& min, const std::optional<Scalar>& max = std::nullopt) const;
  Tensor clamp_min(Scalar min) const;
  Tensor clamp_max(Scalar max) const;
  Tensor clamp(const Tensor& min, const std::optional<Tensor>& max = std::nullopt) const;
  Tensor clamp(std::nullopt_t, const Tensor& max) const;
  Tensor clamp_min(const Tensor& min) const;
  Tensor clamp_max(const Tensor& max) const;
  Tensor lerp(const Tensor& end, Scalar weight) const;
  Tensor lerp(const Tensor& end, const Tensor& weight) const;
  Tensor logaddexp(const Tensor& other) const;
  Tensor logaddexp2(const Tensor& other) const;
  Tensor xlogy(const Tensor& other) const;
  Tensor xlogy(Scalar other) const;
  Tensor logit(std::optional<double> eps = std::nullopt) const;
  Tensor bitwise_left_shift(const Tensor& other) const;
  Tensor bitwise_right_shift(const Tensor& other) const;
  Tensor diff(int64_t n = 1, int64_t dim = -1, const std::optional<Tensor>& prepend = std::nullopt,
              const std::optional<Tensor>& append = std::nullopt) const;
  Tensor nan_to_num(std::optional<double> nan = 0.0, std::optional<double> posinf = std::nullopt,
                    std::optional<double> neginf = std::nullopt) const;
  Tensor& nan_to_num_(std::optional<double> nan = 0.0, std::optional<double> posinf = std::nullopt,
                      std::optional<double> neginf = std::nullopt);
  Tensor clip(const std::optional<Scalar>& min, const std::optional<Scalar>& max = std::nullopt) const;
  Tensor clip(const Tensor& min, const std::optional<Tensor>& max = std::nullopt) const;
  Tensor clip(std::nullopt_t, const Tensor& max) const;
  Tensor matmul(const Tensor& other) const;
  Tensor mm(const Tensor& other) const;
  Tensor dot(const Tensor& other) const;
  Tensor mv(const Tensor& vec) const;
  Tensor outer(const Tensor& vec2) const;
  Tensor inverse() const;
  Tensor sum() const;
  Tensor sum(IntArrayRef dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(IntArrayRef dims, bool keepdim = false) const;
  Tensor max() const;
  std::tuple<Tensor, Tensor> max(int64_t dim, bool keepdim = false) const;
  Tensor amax(IntArrayRef dims = {}, bool keepdim = false) const;
  std::tuple<Tensor, Tensor> sort(int64_t dim = -1, bool descending = false) const;
  std::tuple<Tensor, Tensor> sort(std::optional<bool> stable, int64_t dim = -1, bool descending = false) const;
  Tensor argsort(int64_t dim = -1, bool descending = false) const;
  Tensor msort() const;
  std::tuple<Tensor, Tensor> topk(int64_t k, int64_t dim = -1, bool largest = true, bool sorted = true) const;
  std::tuple<Tensor, Tensor> kthvalue(int64_t k, int64_t dim = -1, bool keepdim = false) const;
  Tensor median() const;
  std::tuple<Tensor, Tensor> median(int64_t dim, bool keepdim = false) const;
  Tensor nanmedian() const;
  std::tuple<Tensor, Tensor> nanmedian(int64_t dim, bool keepdim = false) const;
  Tensor amin(IntArrayRef dims = {}, bool keepdim = false) const;
  Tensor argmax(std::optional<int64_t> dim = std::nullopt, bool keepdim = false) const;
  Tensor argmin(std::optional<int64_t> dim = std::nullopt, bool keepdim = false) const;
  Tensor prod(std::optional<ScalarType> dtype = std::nullopt) const;
  Tensor prod(int64_t dim, bool keepdim = false, std::optional<ScalarType> dtype = std::nullopt) const;
  Tensor cumsum(int64_t dim, std::optional<ScalarType> dtype = std::nullopt) const;
  Tensor cumprod(int64_t dim, std::optional<ScalarType> dtype = std::nullopt) const;
  /// In place: dtype, if given, must be self's (as PyTorch); an int64 self keeps its dtype.
  Tensor& cumsum_(int64_t dim, std::optional<ScalarType> dtype = std::nullopt);
  Tensor& cumprod_(int64_t dim, std::optional<ScalarType> dtype = std::nullopt);
  Tensor flip(IntArrayRef dims) const;
  Tensor min() const;
  std::tuple<Tensor, Tensor> min(int64_t dim, bool keepdim = false) const;
  /// var and std over every dim, or along dims (see dydx::var). The whole-tensor form takes exactly a
  /// bool, so that x.var({1}) or x.var(1) means dim 1, never unbiased = true.
  Tensor var() const { return var(IntArrayRef(), true, false); }
  template <std::same_as<bool> B>
  Tensor var(B unbiased) const { return var(IntArrayRef(), unbiased, false); }
  Tensor var(IntArrayRef dims, bool unbiased = true, bool keepdim = false) const;
  Tensor var(IntArrayRef dims, std::optional<int64_t> correction, bool keepdim = false) const;
  Tensor std() const { return std(IntArrayRef(), true, false); }
  template <std::same_as<bool> B>
  Tensor std(B unbiased) const { return std(IntArrayRef(), unbiased, false); }
  Tensor std(IntArrayRef dims, bool unbiased = true, bool keepdim = false) const;
  Tensor std(IntArrayRef dims, std::optional<int64_t> correction, bool keepdim = false) const;
  Tensor norm(Scalar p = 2) const;
  Tensor norm(Scalar p, IntArrayRef dims, bool keepdim = false) const;
  Tensor addcmul(const Tensor& tensor1, const Tensor& tensor2, Scalar value = 1) const;
  Tensor addcdiv(const Tensor& tensor1, const Tensor& tensor2, Scalar value = 1) const;
  Tensor softmax(int64_t dim) const;
  Tensor log_softmax(int64_t dim) const;
  Tensor logsumexp(IntArrayRef dims, bool keepdim = false) const;
  Tensor gather(int64_t dim, const Tensor& index) const;
  Tensor scatter_add(int64_t dim, const Tensor& index, const Tensor& src) const;
  Tensor index_select(int64_t dim, const Tensor& index) const;
  Tensor masked_fill(const Tensor& mask, Scalar value) const;
  Tensor scatter(int64_t dim, const Tensor& index, const Tensor& src) const;
  Tensor scatter(int64_t dim, const Tensor& index, Scalar value) const;
  /// self with values written (or added, accumulate) at the indexed positions; see index().
  Tensor index_put(const std::vector<indexing::TensorIndex>& indices, const Tensor& values, bool accumulate = false) const;
  Tensor masked_select(const Tensor& mask) const;
  Tensor nonzero() const;
  Tensor diag(int64_t diagonal = 0) const;
  Tensor trace() const;
  Tensor tril(int64_t diagonal = 0) const;
  Tensor triu(int64_t diagonal = 0) const;

  // ---- comparisons and logic (bool results; see ops.hpp) ---------------------------------
  Tensor eq(const Tensor& other) const;
  Tensor ne(const Tensor& other) const;
  Tensor lt(const Tensor& other) const;
  Tensor le(const Tensor& other) const;
  Tensor gt(const Tensor& other) const;
  Tensor ge(const Tensor& other) const;
  Tensor eq(Scalar other) const;
  Tensor ne(Scalar other) const;
  Tensor lt(Scalar other) const;
  Tensor le(Scalar other) const;
  Tensor gt(Scalar other) const;
  Tensor ge(Scalar other) const;
  Tensor isnan() const;
  Tensor isinf() const;
  Tensor isfinite() const;
  Tensor logical_not() const;
  Tensor logical_and(const Tensor& other) const;
  Tensor logical_or(const Tensor& other) const;
  Tensor logical_xor(const Tensor& other) const;
  Tensor bitwise_not() const;
  Tensor any() const;
  Tensor any(int64_t dim, bool keepdim = false) const;
  Tensor all() const;
  Tensor all(int64_t dim, bool keepdim = false) const;

  // ---- in place -------------------------------------------------------------------------
  Tensor& add_(const Tensor& other, Scalar alpha = 1);
  Tensor& add_(Scalar other);
  Tensor& sub_(const Tensor& other, Scalar alpha = 1);
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(Scalar other);
  Tensor& div_(const Tensor& other);
  Tensor& zero_();
  Tensor& fill_(Scalar value);
  Tensor& copy_(const Tensor& src);
  Tensor& scatter_(int64_t dim, const Tensor& index, const Tensor& src);
  Tensor& scatter_(int64_t dim, const Tensor& index, Scalar value);
  /// self[indices] = values (or += with accumulate, duplicates adding up), as x[mask] = v in Python.
  Tensor& index_put_(const std::vector<indexing::TensorIndex>& indices, const Tensor& values, bool accumulate = false);
  Tensor& index_put_(const std::vector<indexing::TensorIndex>& indices, Scalar value);
  /// Fills self with 1 (probability p) or 0; not differentiable.
  Tensor& bernoulli_(double p = 0.5);
  Tensor& bernoulli_(double p, const Generator& generator);
  /// self += value * tensor1 * tensor2 (addcmul_) or value * tensor1 / tensor2 (addcdiv_, floating only),
  /// in place; the product broadcasts to self's shape.
  Tensor& addcmul_(const Tensor& tensor1, const Tensor& tensor2, Scalar value = 1);
  Tensor& addcdiv_(const Tensor& tensor1, const Tensor& tensor2, Scalar value = 1);
  // Elementwise functions in place: the out-of-place result written into self, with PyTorch's
  // checks (a leaf that requires grad raises; an integer tensor takes no floating result).
  Tensor& exp_();
  Tensor& log_();
  Tensor& sqrt_();
  Tensor& sin_();
  Tensor& cos_();
  Tensor& tan_();
  Tensor& tanh_();
  Tensor& sigmoid_();
  Tensor& relu_();
  Tensor& abs_();
  Tensor& neg_();
  Tensor& log1p_();
  Tensor& expm1_();
  Tensor& erf_();
  Tensor& asin_();
  Tensor& acos_();
  Tensor& atan_();
  Tensor& sinh_();
  Tensor& cosh_();
  Tensor& asinh_();
  Tensor& acosh_();
  Tensor& atanh_();
  Tensor& reciprocal_();
  Tensor& rsqrt_();
  Tensor& log2_();
  Tensor& log10_();
  Tensor& exp2_();
  Tensor& erfc_();
  Tensor& floor_();
  Tensor& ceil_();
  Tensor& round_();
  Tensor& trunc_();
  Tensor& frac_();
  Tensor& square_();
  Tensor& clamp_(const std::optional<Scalar>& min, const std::optional<Scalar>& max = std::nullopt);
  Tensor& clamp_min_(Scalar min);
  Tensor& clamp_max_(Scalar max);
  Tensor& clamp_(const Tensor& min, const std::optional<Tensor>& max = std::nullopt);
  Tensor& clamp_(std::nullopt_t, const Tensor& max);
  Tensor& clamp_min_(const Tensor& min);
  Tensor& clamp_max_(const Tensor& max);
  Tensor& lerp_(const Tensor& end, Scalar weight);
  Tensor& lerp_(const Tensor& end, const Tensor& weight);
  Tensor& clip_(const std::optional<Scalar>& min, const std::optional<Scalar>& max = std::nullopt);
  Tensor& clip_(const Tensor& min, const std::optional<Tensor>& max = std::nullopt);
  Tensor& clip_(std::nullopt_t, const Tensor& max);
  /// self = tril(self) or triu(self), zeroing the elements outside the band in place.
  Tensor& tril_(int64_t diagonal = 0);
  Tensor& triu_(int64_t diagonal = 0);

  Tensor& operator+=(const Tensor& other) { return add_(other); }
  Tensor& operator+=(Scalar other) { return add_(other); }
  Tensor& operator-=(const Tensor& other) { return sub_(other); }
  Tensor& operator*=(const Tensor& other) { return mul_(other); }
  Tensor& operator*=(Scalar other) { return mul_(other); }
  Tensor& operator/=(const Tensor& other) { return div_(other); }

  /// The shape as error messages write it: "[2,3]".
  std::string shape_string() const;

 private:
  std::shared_ptr<detail::TensorImpl> impl_;
};

}  // namespace dydx
