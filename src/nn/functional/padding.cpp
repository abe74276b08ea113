// F::pad: PyTorch's checks, then a copy into a tensor filled with the value (kConstant) or one
// index_select per padded dim (kReflect, kReplicate, kCircular), so that every derivative, in both
// modes and at any order, follows from those ops' rules.
//
// A negative pad crops before anything is padded, in every mode; PyTorch's kernels index the same
// elements (its reflection and replication kernels shift by the crop; its circular one wraps what is
// left). For the index modes each padded dim of size n with pads (lo, hi) keeps its elements
// [max(-lo, 0), n - max(-hi, 0)), m of them, and output position i in [-max(lo, 0), m + max(hi, 0))
// of that kept run reads: reflect, |i| mirrored at both ends without repeating the edge; replicate,
// i clamped to [0, m); circular, i modulo m.
#include <algorithm>
#include <limits>
#include <vector>

#include "dydx/creation.hpp"
#include "dydx/error.hpp"
#include "dydx/nn/padding.hpp"
#include "dydx/ops.hpp"

namespace dydx::nn::functional {
namespace {

enum class Mode { constant, reflect, replicate, circular };
constexpr const char* kModeNames[] = {"constant", "reflect", "replicate", "circular"};

/// The size of dim d of input padded by (lo, hi), checked: a pad of int64's extremes must raise, not
/// wrap into a plausible size.
int64_t padded_size(const Tensor& input, int64_t d, int64_t lo, int64_t hi) {
  int64_t size = 0;
  const bool overflows = lo == std::numeric_limits<int64_t>::min() || hi == std::numeric_limits<int64_t>::min() ||
                         __builtin_add_overflow(input.size(d), lo, &size) || __builtin_add_overflow(size, hi, &size);
  DYDX_CHECK(!overflows, "pad: the size ", input.size(d), " of dimension ", d, " padded by (", lo, ", ", hi,
             ") overflows int64");
  return size;
}

/// The input position each output position of one padded dim reads (see the top of the file), as the
/// int64 index of index_select; allocated by dydx, so that a huge pad is a dydx::Error.
Tensor source_positions(Mode mode, int64_t n, int64_t lo, int64_t hi, int64_t out_size) {
  const int64_t first = std::max<int64_t>(-lo, 0), m = n - first - std::max<int64_t>(-hi, 0);
  const int64_t before = std::max<int64_t>(lo, 0);
  Tensor index = empty({out_size}, TensorOptions().dtype(kInt64));
  int64_t* positions = index.data_ptr<int64_t>();
  for (int64_t o = 0; o < out_size; ++o) {
    const int64_t i = o - before;
    int64_t k = i;
    if (mode == Mode::reflect) k = i < 0 ? -i : i >= m ? 2 * (m - 1) - i : i;
    else if (mode == Mode::replicate) k = std::clamp<int64_t>(i, 0, m - 1);
    else if (mode == Mode::circular) k = ((i % m) + m) % m;
    positions[o] = first + k;
  }
  return index;
}

/// The checks of the index modes, for the padded dim d (of the input's) with pads (lo, hi).
void check_index_mode(Mode mode, const Tensor& input, int64_t d, int64_t lo, int64_t hi) {
  const int64_t n = input.size(d);
  const int64_t m = n - std::max<int64_t>(-lo, 0) - std::max<int64_t>(-hi, 0);
  const int64_t before = std::max<int64_t>(lo, 0), after = std::max<int64_t>(hi, 0);
  const char* name = kModeNames[static_cast<int>(mode)];
  DYDX_CHECK(m >= 0, "pad: the negative padding (", lo, ", ", hi, ") crops more than the ", n,
             " elements of dimension ", d, " of input ", input.sizes());
  DYDX_CHECK(m > 0 || before + after == 0, "pad: ", name, " padding of dimension ", d, " of input ", input.sizes(),
             " needs elements to repeat, but none are left");
  if (mode == Mode::reflect)
    DYDX_CHECK(before < m && after < m, "pad: Argument #4: Padding size should be less than the corresponding input "
               "dimension, but got: padding (", lo, ", ", hi, ") at dimension ", d, " of input ", input.sizes());
  if (mode == Mode::circular)
    DYDX_CHECK(before <= m && after <= m, "pad: Padding value causes wrapping around more than once: padding (", lo,
               ", ", hi, ") at dimension ", d, " of input ", input.sizes());
}

Tensor pad_constant(const Tensor& input, const std::vector<int64_t>& pad, double value) {
  const int64_t dims = input.dim();
  Dims out_shape(input.sizes().begin(), input.sizes().end());
  for (size_t p = 0; p < pad.size() / 2; ++p) {
    const int64_t d = dims - 1 - static_cast<int64_t>(p), lo = pad[2 * p], hi = pad[2 * p + 1];
    out_shape[d] = padded_size(input, d, lo, hi);
    DYDX_CHECK(out_shape[d] >= 0, "pad: The input size ", input.size(d), ", plus negative padding ", lo, " and ", hi,
               " resulted in a negative output size, which is invalid. Check dimension ", d, " of your input.");
  }
  Tensor out = full(out_shape, value, TensorOptions().dtype(input.dtype()));
  // The part of the input that is kept, and where it goes.
  Tensor from = input, to = out;
  for (size_t p = 0; p < pad.size() / 2; ++p) {
    const int64_t d = dims - 1 - static_cast<int64_t>(p), lo = pad[2 * p], hi = pad[2 * p + 1];
    const int64_t kept = input.size(d) - std::max<int64_t>(-lo, 0) - std::max<int64_t>(-hi, 0);
    if (kept <= 0) return out;  // nothing of the input is left: all fill
    from = from.narrow(d, std::max<int64_t>(-lo, 0), kept);
    to = to.narrow(d, std::max<int64_t>(lo, 0), kept);
  }
  to.copy_(from);
  return out;
}

}  // namespace

Tensor pad(const Tensor& input, const PadFuncOptions& options) {
  DYDX_CHECK(input.defined(), "pad: the input is undefined");
  const std::vector<int64_t>& pad = options.pad();
  const auto mode = static_cast<Mode>(options.mode().index());
  const int64_t dims = input.dim(), padded = static_cast<int64_t>(pad.size() / 2);
  DYDX_CHECK(pad.size() % 2 == 0, "pad: Padding length must be divisible by 2, got ", pad.size(), " values");
  DYDX_CHECK(padded <= dims, "pad: Padding length too large: ", pad.size(), " values pad ", padded,
             " dims, and input ", input.sizes(), " has ", dims);
  if (mode == Mode::constant) return pad_constant(input, pad, options.value());

  const char* name = kModeNames[static_cast<int>(mode)];
  DYDX_CHECK(padded >= 1 && padded <= 3 && (dims == padded + 1 || dims == padded + 2),
             "pad: Only 2D, 3D, 4D, 5D padding with non-constant padding are supported for now: ", name,
             " padding of the last ", padded, " dims needs an input of ", padded + 1, " or ", padded + 2,
             " dims, got ", input.sizes());
  for (int64_t p = 0; p < padded; ++p) {
    padded_size(input, dims - 1 - p, pad[2 * p], pad[2 * p + 1]);
    check_index_mode(mode, input, dims - 1 - p, pad[2 * p], pad[2 * p + 1]);
  }
  Tensor out = input;
  for (int64_t p = 0; p < padded; ++p) {
    const int64_t d = dims - 1 - p;
    const int64_t lo = pad[2 * p], hi = pad[2 * p + 1];
    out = out.index_select(d, source_positions(mode, input.size(d), lo, hi, padded_size(input, d, lo, hi)));
  }
  return out;
}

}  // namespace dydx::nn::functional
