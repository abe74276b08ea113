// Free-function ops and operators, spelled as in libtorch (torch::matmul -> dydx::matmul).
#pragma once

#include <optional>
#include <string_view>
#include <tuple>

#include "dydx/tensor.hpp"

namespace dydx {

// Arithmetic. Every binary op broadcasts by NumPy's rules and promotes dtypes as PyTorch does.
Tensor add(const Tensor& a, const Tensor& b, Scalar alpha = 1);
Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha = 1);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
/// a / b rounded as rounding_mode says: "floor" (toward -inf, Python's //) or "trunc" (toward 0, C's /);
/// nullopt is true division. With a mode the result keeps the promoted dtype (integers stay integers;
/// an integer divisor of 0 raises) and every derivative is zero, as PyTorch's.
Tensor div(const Tensor& a, const Tensor& b, std::optional<std::string_view> rounding_mode);
Tensor div(const Tensor& a, Scalar b, std::optional<std::string_view> rounding_mode);
/// div(a, b, "floor"), as torch.floor_divide (PyTorch 1.13 and later).
Tensor floor_divide(const Tensor& a, const Tensor& b);
Tensor floor_divide(const Tensor& a, Scalar b);
Tensor floor_divide(Scalar a, const Tensor& b);
Tensor neg(const Tensor& x);
Tensor pow(const Tensor& base, Scalar exponent);
Tensor pow(const Tensor& base, const Tensor& exponent);
Tensor pow(Scalar base, const Tensor& exponent);
/// atan2(a, b): the angle of the point (b, a) in (-pi, pi]; integers compute in the default float dtype.
Tensor atan2(const Tensor& a, const Tensor& b);
/// sqrt(a^2 + b^2) without overflow or underflow in the squares (floating dtypes only).
Tensor hypot(const Tensor& a, const Tensor& b);
/// The elementwise larger (smaller) of a and b, nan if either is; at a tie the gradient is split in halves.
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
/// The remainder of a / b with the sign of a, as C's fmod; an integer divisor of zero is an error.
Tensor fmod(const Tensor& a, const Tensor& b);
Tensor fmod(const Tensor& a, Scalar b);
/// The remainder of a / b with the sign of b (Python's %, libtorch's operator%): a - floor(a / b) b;
/// an integer divisor of zero is an error.
Tensor remainder(const Tensor& a, const Tensor& b);
Tensor remainder(const Tensor& a, Scalar b);
Tensor remainder(Scalar a, const Tensor& b);

// Elementwise functions.
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor tan(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor abs(const Tensor& x);
/// log(1 + x) and e^x - 1, accurate near 0.
Tensor log1p(const Tensor& x);
Tensor expm1(const Tensor& x);
Tensor erf(const Tensor& x);
/// Inverse trigonometric and hyperbolic functions (libm's values; d/dx as PyTorch's).
Tensor asin(const Tensor& x);
Tensor acos(const Tensor& x);
Tensor atan(const Tensor& x);
Tensor sinh(const Tensor& x);
Tensor cosh(const Tensor& x);
Tensor asinh(const Tensor& x);
Tensor acosh(const Tensor& x);
Tensor atanh(const Tensor& x);
/// 1 / x and 1 / sqrt(x).
Tensor reciprocal(const Tensor& x);
Tensor rsqrt(const Tensor& x);
/// x^2, as pow(x, 2) (PowBackward0).
Tensor square(const Tensor& x);
Tensor log2(const Tensor& x);
Tensor log10(const Tensor& x);
/// 2^x.
Tensor exp2(const Tensor& x);
/// 1 - erf(x), accurate where erf(x) is near 1.
Tensor erfc(const Tensor& x);
/// Rounding to an integer (round: halves to even, as torch.round); integer tensors keep their values
/// and dtype. Their gradient is zero.
Tensor floor(const Tensor& x);
Tensor ceil(const Tensor& x);
Tensor round(const Tensor& x);
Tensor trunc(const Tensor& x);
/// x - trunc(x), floating dtypes only; its gradient passes through.
Tensor frac(const Tensor& x);
/// torch.nan_to_num: nans, +inf and -inf replaced by nan (0 by default), posinf and neginf (by default
/// the dtype's largest and lowest finite values), each cast to x's dtype; the gradient passes where x
/// is finite. Integer and bool tensors come back copied.
Tensor nan_to_num(const Tensor& x, std::optional<double> nan = 0.0, std::optional<double> posinf = std::nullopt,
                  std::optional<double> neginf = std::nullopt);
/// torch.clamp: min(max(x, min), max) with either bound optional (not both); a nan stays nan, and
/// the gradient passes where min <= x <= max. Integer tensors stay integer unless a bound is floating.
Tensor clamp(const Tensor& x, const std::optional<Scalar>& min, const std::optional<Scalar>& max = std::nullopt);
/// torch.clamp_min and torch.clamp_max: clamp with the one bound, except that a nan bound makes every
/// element nan (as PyTorch's, where clamp with one nan bound changes nothing).
Tensor clamp_min(const Tensor& x, Scalar min);
Tensor clamp_max(const Tensor& x, Scalar max);
/// An alias of clamp.
Tensor clip(const Tensor& x, const std::optional<Scalar>& min, const std::optional<Scalar>& max = std::nullopt);
/// clamp with tensor bounds (broadcast with x; the result dtype is PyTorch's result_type of the three):
/// nan if any operand is, max where min > max. Gradients as PyTorch's: x's where min <= x <= max,
/// min's where x < min < max, max's where x > max or max < min; none where the result is nan.
/// (An absent bound is std::nullopt or an undefined tensor; the min is a tensor or nullopt, so that
/// clamp(x, nullopt, nullopt) stays the scalar form's call and its error.)
Tensor clamp(const Tensor& x, const Tensor& min, const std::optional<Tensor>& max = std::nullopt);
Tensor clamp(const Tensor& x, std::nullopt_t, const Tensor& max);
Tensor clamp_min(const Tensor& x, const Tensor& min);
Tensor clamp_max(const Tensor& x, const Tensor& max);
Tensor clip(const Tensor& x, const Tensor& min, const std::optional<Tensor>& max = std::nullopt);
Tensor clip(const Tensor& x, std::nullopt_t, const Tensor& max);
/// round to `decimals` places (negative: to tens, hundreds...), as torch.round(x, decimals=): x scaled by
/// 10^decimals in x's dtype, rounded half to even, scaled back. Floating tensors; zero gradient.
Tensor round(const Tensor& x, int64_t decimals);
/// start + weight (end - start), by PyTorch's formula (end - (end - start)(1 - weight) for weight >= 0.5,
/// so weight 1 gives end exactly). Floating tensors of one dtype, broadcast together. Each product and
/// sum rounds (PyTorch's kernel fuses them: results may differ from its by an ulp).
Tensor lerp(const Tensor& start, const Tensor& end, Scalar weight);
Tensor lerp(const Tensor& start, const Tensor& end, const Tensor& weight);
/// log(e^a + e^b) and log2(2^a + 2^b) without overflow; equal infinities give themselves. Integer
/// operands compute in the default float dtype.
Tensor logaddexp(const Tensor& a, const Tensor& b);
Tensor logaddexp2(const Tensor& a, const Tensor& b);
/// x log(y), and 0 where x == 0 unless y is nan (an entropy's p log p at p = 0); gradients as PyTorch's
/// (x's is log y, but 0 where x == 0 and y <= 0; y's is x / y).
Tensor xlogy(const Tensor& x, const Tensor& y);
Tensor xlogy(Scalar x, const Tensor& y);
Tensor xlogy(const Tensor& x, Scalar y);
/// log(x / (1 - x)); with eps >= 0, x first moved into [eps, 1 - eps] (zero gradient outside; an eps above
/// 0.5, an empty interval, moves every x to 1 - eps, as PyTorch's vectorised kernel).
Tensor logit(const Tensor& x, std::optional<double> eps = std::nullopt);

// Activations (torch::nn::functional's, also in torch:: as here); floating dtypes only.
/// x * sigmoid(x).
Tensor silu(const Tensor& x);
/// log(1 + e^(beta x)) / beta, and x where beta x > threshold.
Tensor softplus(const Tensor& x, Scalar beta = 1, Scalar threshold = 20);
/// x Phi(x); approximate = "tanh" for PyTorch's tanh approximation.
Tensor gelu(const Tensor& x, std::string_view approximate = "none");
/// x for x > 0, alpha (e^x - 1) elsewhere.
Tensor elu(const Tensor& x, Scalar alpha = 1);
/// x for x > 0, negative_slope * x elsewhere.
Tensor leaky_relu(const Tensor& x, Scalar negative_slope = 0.01);
/// min(max(x, min_val), max_val), as torch::hardtanh. Integer tensors stay integers: an integer bound
/// is exact, a floating one truncated, and a bound that int64 cannot hold (nan, +-inf, 1e20) raises
/// PyTorch's "value cannot be converted to type int64_t without overflow"; for float32 a finite bound
/// beyond float's range raises likewise. A nan bound makes every element nan, and min_val > max_val
/// gives max_val. The gradient passes strictly between the bounds: zero at them, at nan, and
/// everywhere when a bound is nan.
Tensor hardtanh(const Tensor& x, Scalar min_val = -1, Scalar max_val = 1);
/// hardtanh(x, 0, 6), as PyTorch defines it (grad_fn HardtanhBackward0).
Tensor relu6(const Tensor& x);
/// min(max(x + 3, 0), 6) / 6.
Tensor hardsigmoid(const Tensor& x);
/// x min(max(x + 3, 0), 6) / 6.
Tensor hardswish(const Tensor& x);
/// scale elu(x, alpha) with PyTorch's constants (grad_fn EluBackward0, as PyTorch's).
Tensor selu(const Tensor& x);
/// x tanh(softplus(x)).
Tensor mish(const Tensor& x);
/// log(sigmoid(x)), computed as min(x, 0) - log1p(e^-|x|).
Tensor logsigmoid(const Tensor& x);
/// The in-place forms (torch::hardtanh_, relu6_, hardsigmoid_, hardswish_, selu_, mish_, silu_, elu_,
/// leaky_relu_): x = f(x), with the checks of the in-place methods (a leaf that requires grad raises;
/// nothing is written when f raises). The node recorded is the out-of-place op's, over a copy of x's
/// old values where it needs them, so that backward through a written non-leaf gives f's gradient.
Tensor& hardtanh_(Tensor& x, Scalar min_val = -1, Scalar max_val = 1);
Tensor& relu6_(Tensor& x);
Tensor& hardsigmoid_(Tensor& x);
Tensor& hardswish_(Tensor& x);
Tensor& selu_(Tensor& x);
Tensor& mish_(Tensor& x);
Tensor& silu_(Tensor& x);
Tensor& elu_(Tensor& x, Scalar alpha = 1);
Tensor& leaky_relu_(Tensor& x, Scalar negative_slope = 0.01);
/// Picks a where the bool cond is true and b elsewhere; differentiable in a and b, not in cond.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// Linear algebra.
/// torch.matmul: 1-D, 2-D and batched N-D products with broadcast batch dims.
Tensor matmul(const Tensor& a, const Tensor& b);
/// torch::flatten, torch::unflatten and torch::movedim: the Tensor methods of the same names.
inline Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1) { return x.flatten(start_dim, end_dim); }
inline Tensor unflatten(const Tensor& x, int64_t dim, IntArrayRef sizes) { return x.unflatten(dim, sizes); }
inline Tensor movedim(const Tensor& x, IntArrayRef source, IntArrayRef destination) { return x.movedim(source, destination); }
inline Tensor movedim(const Tensor& x, int64_t source, int64_t destination) { return x.movedim(source, destination); }
/// torch::roll: Tensor::roll.
inline Tensor roll(const Tensor& x, IntArrayRef shifts, IntArrayRef dims = {}) { return x.roll(shifts, dims); }
/// A 2-D matrix product.
Tensor mm(const Tensor& a, const Tensor& b);
/// The dot product of two vectors (a 0-d result), and a matrix times a vector: matmul's 1-D by 1-D and
/// 2-D by 1-D cases, with PyTorch's nodes (DotBackward0, MvBackward0).
Tensor dot(const Tensor& a, const Tensor& b);
Tensor mv(const Tensor& a, const Tensor& v);
/// The outer product of two vectors, [n] by [m] to [n, m]: a as a column times b, as PyTorch composes it
/// (so its node is MulBackward0, and integer and bool vectors promote as mul's).
Tensor outer(const Tensor& a, const Tensor& b);
/// The Kronecker product: result[i_0 * b_0 + j_0, ...] = a[i_0, ...] * b[j_0, ...], the shorter shape
/// padded with leading 1s (shape [a_0 b_0, a_1 b_1, ...]); dtypes promote as mul's.
Tensor kron(const Tensor& a, const Tensor& b);
/// How cdist computes p = 2 distances: through one matmul (fast, but it loses digits for close rows:
/// |a|^2 + |b|^2 - 2 a.b cancels), from each difference, or by PyTorch's default rule (the product
/// where P or R is above 25).
enum class CdistMode { by_size, product, differences };
/// torch.cdist: the p-norm distance between each row of x1 [*, P, M] and each row of x2 [*, R, M], as
/// [*, P, R] (batch dims broadcast). The gradient is 0 where a distance is 0 (for p <= 1 by sign(0)
/// = 0); for p = inf it is split among tied coordinates (PyTorch gives each the whole).
Tensor cdist(const Tensor& x1, const Tensor& x2, double p = 2.0, CdistMode mode = CdistMode::by_size);
/// torch.diff: the n-th forward difference along dim of x with prepend and append joined at its ends
/// (each x's shape but along dim); bool tensors differ by xor. n <= 0 gives x itself (with prepend and
/// append joined), n at least the length an empty result.
Tensor diff(const Tensor& x, int64_t n = 1, int64_t dim = -1, const std::optional<Tensor>& prepend = std::nullopt,
            const std::optional<Tensor>& append = std::nullopt);
/// A batched product of [B,n,k] by [B,k,m].
Tensor bmm(const Tensor& a, const Tensor& b);
/// torch.addmm: beta * input + alpha * (mat1 @ mat2), for 2-D mat1 [n,k] and mat2 [k,m] and an input
/// that broadcasts to [n,m]. A bias row ([m] or [1,m]) with beta = alpha = 1 is added inside the product.
Tensor addmm(const Tensor& input, const Tensor& mat1, const Tensor& mat2, Scalar beta = 1, Scalar alpha = 1);
/// torch.nn.functional.linear: input @ weight^T + bias, for weight [out_features, in_features] and an
/// optional bias [out_features]; input is [*, in_features].
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor());

// Reductions.
Tensor sum(const Tensor& x);
Tensor sum(const Tensor& x, IntArrayRef dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, IntArrayRef dims, bool keepdim = false);
Tensor max(const Tensor& x);
std::tuple<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor min(const Tensor& x);
std::tuple<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim = false);
/// The maximum or minimum over dims (all of them if none are given), the values alone, as torch.amax:
/// a nan is the extreme of its slice; the gradient is shared evenly between the elements equal to the
/// result (a slice holding a nan gets nan, as PyTorch's).
Tensor amax(const Tensor& x, IntArrayRef dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, IntArrayRef dims = {}, bool keepdim = false);
/// The index (int64) of the first maximum or minimum along dim (a nan counts as the extreme), or in the
/// flattened tensor without a dim (keepdim then keeps every dim, of size 1). Not differentiable.
Tensor argmax(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor argmin(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
/// torch.sort: x's values along dim in ascending (or descending) order, and their indices (int64). A nan
/// sorts above every number (last ascending, first descending); equal values keep their order (the
/// sort is stable, stable or not: PyTorch leaves the order of ties to the implementation when it is
/// not asked for a stable one). The gradient goes back to where each value came from.
std::tuple<Tensor, Tensor> sort(const Tensor& x, int64_t dim = -1, bool descending = false);
std::tuple<Tensor, Tensor> sort(const Tensor& x, std::optional<bool> stable, int64_t dim = -1, bool descending = false);
/// sort's indices alone (not differentiable).
Tensor argsort(const Tensor& x, int64_t dim = -1, bool descending = false);
/// sort's values along dim 0.
Tensor msort(const Tensor& x);
/// torch.topk: the k largest (or smallest) values along dim with their indices, in order (sorted or
/// not: they always come sorted here); a nan counts as the largest; of equal values the first wins.
std::tuple<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim = -1, bool largest = true, bool sorted = true);
/// torch.kthvalue: the k-th smallest value along dim (k from 1) and its index; a nan counts as the
/// largest; of equal values, the one a stable sort puts at place k.
std::tuple<Tensor, Tensor> kthvalue(const Tensor& x, int64_t k, int64_t dim = -1, bool keepdim = false);
/// torch.median: the lower of the two middle values (the ((n - 1) / 2 + 1)-th smallest); a nan in the
/// row makes it nan (its index the row's first nan). Over every element the value alone, its gradient
/// shared evenly between the elements equal to it (as PyTorch's); an empty float tensor's is nan.
Tensor median(const Tensor& x);
std::tuple<Tensor, Tensor> median(const Tensor& x, int64_t dim, bool keepdim = false);
/// median over the values that are not nan (nan where every one is).
Tensor nanmedian(const Tensor& x);
std::tuple<Tensor, Tensor> nanmedian(const Tensor& x, int64_t dim, bool keepdim = false);
/// The product of every element (a 0-d result, 1 for an empty tensor) or along dim. In dtype if
/// given (x cast to it first), else int64 for int64 and bool inputs (a wrapping product) and x's dtype
/// otherwise, as PyTorch. A floating product has no intermediate overflow or underflow (it carries
/// its exponent apart), so it is in range wherever the exact product is; float32 is multiplied in
/// double and rounded once. An integer result has no gradient. The derivatives divide by nothing:
/// exact with zeros in x, and in range wherever the exact ones are.
Tensor prod(const Tensor& x, std::optional<ScalarType> dtype = std::nullopt);
Tensor prod(const Tensor& x, int64_t dim, bool keepdim = false, std::optional<ScalarType> dtype = std::nullopt);
/// The running sum or product along dim (inclusive: element i of the result combines elements 0..i).
/// In dtype if given (x cast to it first), else int64 for int64 and bool inputs and x's dtype
/// otherwise, as PyTorch. A float32 scan accumulates in double, as PyTorch's CPU kernels do; a
/// floating running product carries its exponent apart, so none of its values overflows or
/// underflows where the exact one does not, and its derivatives divide by nothing. An integer or
/// bool result has no gradient (an int64 product wraps).
Tensor cumsum(const Tensor& x, int64_t dim, std::optional<ScalarType> dtype = std::nullopt);
Tensor cumprod(const Tensor& x, int64_t dim, std::optional<ScalarType> dtype = std::nullopt);
/// exp(x) / sum(exp(x)) along dim, computed stably (the row's maximum subtracted first); floating dtypes only.
Tensor softmax(const Tensor& x, int64_t dim);
/// log(softmax(x, dim)), computed as x - max - log(sum(exp(x - max))) without forming softmax.
Tensor log_softmax(const Tensor& x, int64_t dim);
/// log(sum(exp(x))) over dims (every dim when empty), stably: all -inf gives -inf, a +inf gives inf,
/// a nan gives nan. Integers compute in the default float dtype.
Tensor logsumexp(const Tensor& x, IntArrayRef dims, bool keepdim = false);
/// torch.var / torch.std over every dim or along dims (an empty list means every dim), dividing the
/// sum of squared deviations by n - 1 (unbiased) or n, or by max(0, n - correction) in the correction
/// form; a literal correction must be spelled std::optional<int64_t>(2), as in libtorch (2 alone
/// converts to bool). Floating dtypes only; corrected two-pass in double, so no catastrophic
/// cancellation. std's gradient is 0 where std is 0, as PyTorch 1.13's.
inline Tensor var(const Tensor& x) { return x.var(); }
template <std::same_as<bool> B>  // exactly a bool: var(x, {1}) is dim 1
Tensor var(const Tensor& x, B unbiased) { return x.var(unbiased); }
Tensor var(const Tensor& x, IntArrayRef dims, bool unbiased = true, bool keepdim = false);
Tensor var(const Tensor& x, IntArrayRef dims, std::optional<int64_t> correction, bool keepdim = false);
inline Tensor std(const Tensor& x) { return x.std(); }
template <std::same_as<bool> B>
Tensor std(const Tensor& x, B unbiased) { return x.std(unbiased); }
Tensor std(const Tensor& x, IntArrayRef dims, bool unbiased = true, bool keepdim = false);
Tensor std(const Tensor& x, IntArrayRef dims, std::optional<int64_t> correction, bool keepdim = false);
/// (var, mean) and (std, mean) over dims, as torch.var_mean and torch.std_mean.
std::tuple<Tensor, Tensor> var_mean(const Tensor& x, IntArrayRef dims, bool unbiased = true, bool keepdim = false);
std::tuple<Tensor, Tensor> std_mean(const Tensor& x, IntArrayRef dims, bool unbiased = true, bool keepdim = false);
/// torch.norm for vectors: (sum |x|^p)^(1/p) over every dim or along dims; p = inf / -inf is the
/// largest / smallest |x|, p = 0 counts the nonzeros. An empty reduction gives 0. The gradient is
/// PyTorch's: 0 where the norm is 0 (p >= 1), split evenly among ties for +-inf.
Tensor norm(const Tensor& x, Scalar p = 2);
Tensor norm(const Tensor& x, Scalar p, IntArrayRef dims, bool keepdim = false);
namespace linalg {
/// torch.linalg.vector_norm: norm with ord and dims (empty: every dim), its own grad_fn name.
Tensor vector_norm(const Tensor& x, Scalar ord = 2, IntArrayRef dims = {}, bool keepdim = false);
/// torch.linalg.solve: X with A X = B, for A [..., n, n] and B [..., n, k], or B [..., n] (a vector:
/// B of one dim, or with A's batch dims and n alone, PyTorch's rule), batch dims broadcast; by LU with
/// partial pivoting. A matrix with an exactly zero pivot raises ("... the input matrix is singular").
/// Differentiable in A and B to any order (LinalgSolveExBackward0). left = false solves X A = B.
Tensor solve(const Tensor& A, const Tensor& B, bool left = true);
/// torch.linalg.inv: A^{-1} for A [..., n, n] (LinalgInvExBackward0); a singular matrix raises.
Tensor inv(const Tensor& A);
}  // namespace linalg
/// torch.inverse: linalg::inv.
Tensor inverse(const Tensor& A);
/// torch.einsum: sums of products of the operands' elements over the equation's subscripts
/// ("ij,jk->ik", implicit output "ij,jk", "...", repeated subscripts for diagonals), contracted
/// pairwise from left to right through bmm, so derivatives of every order come from views and bmm.
Tensor einsum(std::string_view equation, const TensorList& operands);
/// self + value * tensor1 * tensor2 and self + value * tensor1 / tensor2, all three broadcast.
Tensor addcmul(const Tensor& self, const Tensor& tensor1, const Tensor& tensor2, Scalar value = 1);
Tensor addcdiv(const Tensor& self, const Tensor& tensor1, const Tensor& tensor2, Scalar value = 1);

// Normalisation (nn::functional's spellings are in dydx/nn/normalization.hpp).
/// torch::layer_norm: (x - mean) / sqrt(var + eps) over the last normalized_shape.size() dims (which
/// must be normalized_shape), var biased, then * weight + bias (each of normalized_shape and the
/// input's dtype, optional). One fused pass forward; grad_fn NativeLayerNormBackward0.
Tensor layer_norm(const Tensor& input, IntArrayRef normalized_shape, const Tensor& weight = {}, const Tensor& bias = {},
                  double eps = 1e-5, bool cudnn_enable = true);
/// torch::batch_norm over dim 1 (channels) of [N, C, *]: training normalises by the batch's mean and
/// biased var and updates the running stats (when given) in place, without grad, with momentum and
/// the unbiased var; evaluation normalises by the running stats.
Tensor batch_norm(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps, bool cudnn_enabled = true);

/// Sums x down to a shape it broadcasts from; the inverse of expand.
Tensor sum_to(const Tensor& x, IntArrayRef shape);

// Matrix structure (the last two dims, or dim1 and dim2, are a matrix's rows and columns).
/// The elements (i, i + offset) of dims dim1 and dim2 (i - offset rows down for a negative offset),
/// as a view whose last dim is the diagonal; empty for an offset beyond the matrix.
Tensor diagonal(const Tensor& x, int64_t offset = 0, int64_t dim1 = 0, int64_t dim2 = 1);
/// A vector placed on `diagonal` of a square matrix of zeros, or a matrix's diagonal copied (1-D).
Tensor diag(const Tensor& x, int64_t diagonal = 0);
/// The sum of a matrix's main diagonal (any shape, not only square), of x's dtype; not bool.
Tensor trace(const Tensor& x);
/// A copy of x (at least 2-D, batched over leading dims) with the elements above `diagonal` (tril)
/// or below it (triu) zeroed; diagonal 0 is the main one, positive ones lie above it.
Tensor tril(const Tensor& x, int64_t diagonal = 0);
Tensor triu(const Tensor& x, int64_t diagonal = 0);

// Joining.
Tensor cat(const TensorList& tensors, int64_t dim = 0);
Tensor stack(const TensorList& tensors, int64_t dim = 0);
/// Tensor::split, split_with_sizes, chunk and unbind as free functions (torch::split, ...).
TensorList split(const Tensor& x, int64_t split_size, int64_t dim = 0);
TensorList split(const Tensor& x, IntArrayRef split_sizes, int64_t dim = 0);
TensorList split_with_sizes(const Tensor& x, IntArrayRef split_sizes, int64_t dim = 0);
TensorList chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);
TensorList unbind(const Tensor& x, int64_t dim = 0);
/// A copy of x with its elements in reverse order along each of dims (wrapped; each at most once).
Tensor flip(const Tensor& x, IntArrayRef dims);

// Arranging (numpy's names, as torch's; each a view or a join, differentiable as those are).
/// x expanded to size (-1 keeps a dim), as Tensor::expand.
Tensor broadcast_to(const Tensor& x, IntArrayRef size);
/// The tensors expanded to their common broadcast shape (views).
TensorList broadcast_tensors(const TensorList& tensors);
/// Views with at least 1, 2 or 3 dims: a 0-D x becomes [1], [1, 1] or [1, 1, 1]; [n] becomes [1, n]
/// at least 2-D and [1, n, 1] at least 3-D; [m, n] becomes [m, n, 1] at least 3-D.
Tensor atleast_1d(const Tensor& x);
Tensor atleast_2d(const Tensor& x);
Tensor atleast_3d(const Tensor& x);
TensorList atleast_1d(const TensorList& tensors);
TensorList atleast_2d(const TensorList& tensors);
TensorList atleast_3d(const TensorList& tensors);
/// cat of the tensors made at least 1-D along dim 1 (dim 0 for 1-D ones), at least 2-D along dim 0
/// (vstack, row_stack), at least 3-D along dim 2 (dstack); column_stack joins along dim 1 with 0-D and
/// 1-D tensors as columns [n, 1]. A non-empty list.
Tensor hstack(const TensorList& tensors);
Tensor vstack(const TensorList& tensors);
Tensor row_stack(const TensorList& tensors);
Tensor dstack(const TensorList& tensors);
Tensor column_stack(const TensorList& tensors);
/// transpose and movedim by numpy's names.
Tensor swapaxes(const Tensor& x, int64_t axis0, int64_t axis1);
Tensor swapdims(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor moveaxis(const Tensor& x, IntArrayRef source, IntArrayRef destination);
Tensor moveaxis(const Tensor& x, int64_t source, int64_t destination);
/// x flipped along dim 1 (at least 2-D) or dim 0 (at least 1-D).
Tensor fliplr(const Tensor& x);
Tensor flipud(const Tensor& x);
/// x repeated dims[d] times along each dim, dims padded with leading 1s to x's rank (a copy).
Tensor tile(const Tensor& x, IntArrayRef dims);
/// Views along dim: `sections` pieces whose sizes differ by one at most (the longer first); or the
/// pieces between consecutive `indices`, each a Python slice (negative indices count from the end;
/// past the end or behind the previous index, an empty piece), and the rest; or, from an int64
/// tensor, its 0-D value as sections or its 1-D values as indices.
TensorList tensor_split(const Tensor& x, int64_t sections, int64_t dim = 0);
TensorList tensor_split(const Tensor& x, IntArrayRef indices, int64_t dim = 0);
TensorList tensor_split(const Tensor& x, const Tensor& indices_or_sections, int64_t dim = 0);
/// gather along dim after broadcasting x and indices (of x's rank) against each other in every other
/// dim; with no dim, gather of the flattened tensors.
Tensor take_along_dim(const Tensor& x, const Tensor& indices, std::optional<int64_t> dim = std::nullopt);

// Indexing. Indices are int64 tensors; an index out of range (negative ones included) raises.
/// out[i][j][k] = input[index[i][j][k]][j][k] for dim 0 (and so on): index has input's rank, and
/// index.size(d) <= input.size(d) for d != dim; the result has index's shape.
Tensor gather(const Tensor& input, int64_t dim, const Tensor& index);
/// A copy of self with src[i][j][k] added at [index[i][j][k]][j][k] for dim 0 (and so on); duplicate
/// indices add up. index has self's and src's rank, index.size(d) <= src.size(d) for every d and
/// <= self.size(d) for d != dim. gather's transpose.
Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);
/// The slices of input along dim at a 1-D index, in its order (repeats allowed).
Tensor index_select(const Tensor& input, int64_t dim, const Tensor& index);
/// input with value wherever mask (broadcast with it; bool, or any dtype with nonzero = true) is set;
/// differentiable in input, with zero gradient where filled.
Tensor masked_fill(const Tensor& input, const Tensor& mask, Scalar value);
/// A copy of self with src[i][j][k] (or value) written at [index[i][j][k]][j][k] for dim 0 (and so
/// on); shape rules as scatter_add's. Where an index repeats, the last write in index order wins
/// (PyTorch leaves that unspecified). Gradients: self's is zero where written, src's is gather.
Tensor scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);
Tensor scatter(const Tensor& self, int64_t dim, const Tensor& index, Scalar value);
/// self with values (broadcast to the indexed shape) written, or added with accumulate, at
/// self[indices] (see Tensor::index); duplicates add up with accumulate.
Tensor index_put(const Tensor& self, const std::vector<indexing::TensorIndex>& indices, const Tensor& values,
                 bool accumulate = false);
/// The coordinates of the nonzero elements, [count, input.dim()] int64, in row-major order.
Tensor nonzero(const Tensor& input);
/// The elements of input where the bool mask (broadcast with it) is true, as a 1-D tensor.
Tensor masked_select(const Tensor& input, const Tensor& mask);

// Comparisons: bool tensors of the broadcast shape, compared in the operands' promoted dtype (an
// int64 tensor against a float32 one compares in float32, as PyTorch); nan is unequal to
// everything. They carry no gradient.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, Scalar b);
Tensor ne(const Tensor& a, Scalar b);
Tensor lt(const Tensor& a, Scalar b);
Tensor le(const Tensor& a, Scalar b);
Tensor gt(const Tensor& a, Scalar b);
Tensor ge(const Tensor& a, Scalar b);
/// torch.isnan, isinf and isfinite: bool; integer and bool tensors are never nan or infinite.
Tensor isnan(const Tensor& x);
Tensor isinf(const Tensor& x);
Tensor isfinite(const Tensor& x);
// Logical ops: any dtype, nonzero (nan included) meaning true; bool results.
Tensor logical_not(const Tensor& x);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_xor(const Tensor& a, const Tensor& b);
// Bitwise ops on bool and int64 tensors (floating ones raise), in the promoted dtype: on bool they
// are the logical ones.
Tensor bitwise_not(const Tensor& x);
Tensor bitwise_and(const Tensor& a, const Tensor& b);
Tensor bitwise_or(const Tensor& a, const Tensor& b);
Tensor bitwise_xor(const Tensor& a, const Tensor& b);
/// a << b and a >> b on int64 tensors (bool operands promote to int64 against an integer): a left shift
/// by 64 or more, or by a negative amount, gives 0; a right shift gives a's sign (0 or -1) there, as
/// PyTorch 2 defines them (1.13 left them to the CPU, which takes the amount modulo 64).
Tensor bitwise_left_shift(const Tensor& a, const Tensor& b);
Tensor bitwise_left_shift(const Tensor& a, Scalar b);
Tensor bitwise_left_shift(Scalar a, const Tensor& b);
Tensor bitwise_right_shift(const Tensor& a, const Tensor& b);
Tensor bitwise_right_shift(const Tensor& a, Scalar b);
Tensor bitwise_right_shift(Scalar a, const Tensor& b);
/// Whether any (all) elements are nonzero: a 0-d bool tensor, or one per slice along dim.
Tensor any(const Tensor& x);
Tensor any(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor all(const Tensor& x);
Tensor all(const Tensor& x, int64_t dim, bool keepdim = false);
/// -1, 0 or 1 by the sign of each element; differentiable, with zero gradient.
Tensor sign(const Tensor& x);

// Operators.
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, Scalar b);
Tensor operator+(Scalar a, const Tensor& b);
Tensor operator-(const Tensor& a, Scalar b);
Tensor operator-(Scalar a, const Tensor& b);
Tensor operator*(const Tensor& a, Scalar b);
Tensor operator*(Scalar a, const Tensor& b);
Tensor operator/(const Tensor& a, Scalar b);
Tensor operator/(Scalar a, const Tensor& b);
inline Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
inline Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }
inline Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
inline Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
inline Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
inline Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
inline Tensor operator==(const Tensor& a, Scalar b) { return eq(a, b); }
inline Tensor operator!=(const Tensor& a, Scalar b) { return ne(a, b); }
inline Tensor operator<(const Tensor& a, Scalar b) { return lt(a, b); }
inline Tensor operator<=(const Tensor& a, Scalar b) { return le(a, b); }
inline Tensor operator>(const Tensor& a, Scalar b) { return gt(a, b); }
inline Tensor operator>=(const Tensor& a, Scalar b) { return ge(a, b); }
// A scalar on the left compares as the mirrored comparison: 0 < x is x > 0.
inline Tensor operator==(Scalar a, const Tensor& b) { return eq(b, a); }
inline Tensor operator!=(Scalar a, const Tensor& b) { return ne(b, a); }
inline Tensor operator<(Scalar a, const Tensor& b) { return gt(b, a); }
inline Tensor operator<=(Scalar a, const Tensor& b) { return ge(b, a); }
inline Tensor operator>(Scalar a, const Tensor& b) { return lt(b, a); }
inline Tensor operator>=(Scalar a, const Tensor& b) { return le(b, a); }
inline Tensor operator%(const Tensor& a, const Tensor& b) { return remainder(a, b); }
inline Tensor operator%(const Tensor& a, Scalar b) { return remainder(a, b); }
inline Tensor operator%(Scalar a, const Tensor& b) { return remainder(a, b); }
inline Tensor operator~(const Tensor& x) { return bitwise_not(x); }
inline Tensor operator&(const Tensor& a, const Tensor& b) { return bitwise_and(a, b); }
inline Tensor operator|(const Tensor& a, const Tensor& b) { return bitwise_or(a, b); }
inline Tensor operator^(const Tensor& a, const Tensor& b) { return bitwise_xor(a, b); }
Tensor operator&(const Tensor& a, Scalar b);
inline Tensor operator<<(const Tensor& a, const Tensor& b) { return bitwise_left_shift(a, b); }
inline Tensor operator>>(const Tensor& a, const Tensor& b) { return bitwise_right_shift(a, b); }
inline Tensor operator<<(const Tensor& a, Scalar b) { return bitwise_left_shift(a, b); }
inline Tensor operator>>(const Tensor& a, Scalar b) { return bitwise_right_shift(a, b); }
Tensor operator|(const Tensor& a, Scalar b);
Tensor operator^(const Tensor& a, Scalar b);

/// True when both have the same shape (no broadcasting) and every element is equal after type
/// promotion, as torch.equal: nan equals nothing, and -0 equals 0.
bool equal(const Tensor& a, const Tensor& b);
/// torch.isclose: a bool tensor of the broadcast shape (the operands' dtypes must be the same), true
/// where a == b (equal infinities included) or |a - b| is finite and <= atol + rtol * |b|;
/// two nans are close only with equal_nan. Integers are compared in the default float dtype unless
/// both tolerances are zero. rtol and atol must be >= 0.
Tensor isclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8, bool equal_nan = false);
/// torch.allclose: whether isclose holds everywhere over the broadcast shape.
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8, bool equal_nan = false);


/// torch::dropout: F::dropout with training = train (see nn/functional.hpp).
Tensor dropout(const Tensor& input, double p, bool train);
Tensor dropout(const Tensor& input, double p, bool train, const Generator& generator);

}  // namespace dydx
