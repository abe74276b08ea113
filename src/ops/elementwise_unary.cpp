// Elementwise functions: each gives its value on one element and its local derivative f'(x).
#include <cmath>

#include "cpu/unary_kernels.hpp"
#include "cpu/vec_math.hpp"
#include "ops/op_util.hpp"

namespace dydx {
namespace ops {
namespace {

enum class Reads { Input, Output, Nothing };

// Each op reads either its input x or its result out in derivative(); the other is undefined.
// Ops with SIMD math in cpu/vec_math.hpp also give forward_array, the same function on a contiguous
// run, bit for bit.
struct Exp {
  static constexpr const char* name = "exp";
  static constexpr const char* node = "ExpBackward0";
  static constexpr Reads reads = Reads::Output;
  static auto forward(auto x) { return cpu::vec::exp(x); }
  static void forward_array(const auto* x, auto* y, int64_t n) { cpu::vec::exp(x, y, n); }
  static Tensor derivative(const Tensor&, const Tensor& out) { return out; }
};
struct Log {
  static constexpr const char* name = "log";
  static constexpr const char* node = "LogBackward0";
  static constexpr Reads reads = Reads::Input;
  static auto forward(auto x) { return cpu::vec::log(x); }
  static void forward_array(const auto* x, auto* y, int64_t n) { cpu::vec::log(x, y, n); }
  static Tensor derivative(const Tensor& x, const Tensor&) { return 1.0 / x; }
};
struct Sqrt {
  static constexpr const char* name = "sqrt";
  static constexpr const char* node = "SqrtBackward0";
  static constexpr Reads reads = Reads::Output;
  static auto forward(auto x) { return std::sqrt(x); }
  static Tensor derivative(const Tensor&, const Tensor& out) { return 0.5 / out; }
};
struct Sin {
  static constexpr const char* name = "sin";
  static constexpr const char* node = "SinBackward0";
  static constexpr Reads reads = Reads::Input;
  static auto forward(auto x) { return cpu::vec::sin(x); }
  static void forward_array(const auto* x, auto* y, int64_t n) { cpu::vec::sin(x, y, n); }
  static Tensor derivative(const Tensor& x, const Tensor&) { return cos(x); }
};
struct Cos {
  static constexpr const char* name = "cos";
  static constexpr const char* node = "CosBackward0";
  static constexpr Reads reads = Reads::Input;
  static auto forward(auto x) { return cpu::vec::cos(x); }
  static void forward_array(const auto* x, auto* y, int64_t n) { cpu::vec::cos(x, y, n); }
  static Tensor derivative(const Tensor& x, const Tensor&) { return -sin(x); }
};
struct Tan {
  static constexpr const char* name = "tan";
  static constexpr const char* node = "TanBackward0";
  static constexpr Reads reads = Reads::Output;
  static auto forward(auto x) { return std::tan(x); }
  static Tensor derivative(const Tensor&, const Tensor& out) { return 1.0 + out * out; }
};
struct Tanh {
  static constexpr const char* name = "tanh";
  static constexpr const char* node = "TanhBackward0";
  static constexpr Reads reads = Reads::Output;
  static auto forward(auto x) { return cpu::vec::tanh(x); }
  static void forward_array(const auto* x, auto* y, int64_t n) { cpu::vec::tanh(x, y, n); }
  static Tensor derivative(const Tensor&, const Tensor& out) { return 1.0 - out * out; }
};
struct Sigmoid {
  static constexpr const char* name = "sigmoid";
  static constexpr const char* node = "SigmoidBackward0";
  static constexpr Reads reads = Reads::Output;
  static auto forward(auto x) { return cpu::vec::sigmoid(x); }
  static void forward_array(const auto* x, auto* y, int64_t n) { cpu::vec::sigmoid(x, y, n); }
  static Tensor derivative(const Tensor&, const Tensor& out) { return out * (1.0 - out); }
};
struct Relu {
  static constexpr const char* name = "relu";
  static constexpr const char* node = "ReluBackward0";
  static constexpr Reads reads = Reads::Output;
  static constexpr bool keeps_integers = true;
  // A nan stays nan, as in PyTorch.
  static auto forward(auto x) { return x > 0 || x != x ? x : decltype(x)(0); }
  // sign(out) is the 0/1 mask; being an op of out (with zero derivative) keeps double backward
  // connected to x, so grad of this gradient is zeros rather than an error, as in PyTorch.
  static Tensor derivative(const Tensor&, const Tensor& out) { return sign(out); }
};
struct Abs {
  static constexpr const char* name = "abs";
  static constexpr const char* node = "AbsBackward0";
  static constexpr Reads reads = Reads::Input;
  static constexpr bool keeps_integers = true;
  static auto forward(auto x) { return x < 0 ? -x : x; }
  static Tensor derivative(const Tensor& x, const Tensor&) { return sign(x); }
};

template <class Op>
void unary_vjp(Node& node, const Tensor& g, Tensor* grads) {
  Tensor saved = Op::reads == Reads::Nothing ? Tensor() : node.saved(0);
  Tensor x = Op::reads == Reads::Input ? saved : Tensor();
  Tensor out = Op::reads == Reads::Output ? saved : Tensor();
  grads[0] = g * Op::derivative(x, out);
}

template <class Op>
const OpInfo unary_info{Op::name, Op::node, &unary_vjp<Op>};

// Functions such as exp promote integers to the default float dtype; relu and abs keep them.
template <class Op>
constexpr bool keeps_integers() {
  if constexpr (requires { Op::keeps_integers; }) return Op::keeps_integers;
  return false;
}

template <class Op, class T>
constexpr bool has_array_forward = requires(const T* x, T* y) { Op::forward_array(x, y, int64_t{}); };

template <class Op>
Tensor unary(const Tensor& input) {
  Tensor x = keeps_integers<Op>() ? input : to_floating(input);
  Tensor out = detail::make_empty(x.sizes(), x.dtype());
  cpu::dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T> && has_array_forward<Op, T>)
      cpu::map1_array<T>(out, x, [](T v) { return Op::forward(v); },
                         [](const T* a, T* y, int64_t n) { Op::forward_array(a, y, n); });
    else if constexpr (std::is_floating_point_v<T> || keeps_integers<Op>())
      cpu::map1<T, T>(out, x, [](T v) { return static_cast<T>(Op::forward(v)); });
  });
  if (Node* node = record(unary_info<Op>, {&x}, out)) {
    if (Op::reads == Reads::Input) node->save(x);
    if (Op::reads == Reads::Output) node->save_output(out);
  }
  forward::propagate({&x}, out, [&](const TensorList& t) { return t[0] * Op::derivative(x, out); });
  return out;
}

// neg is linear: its transpose is itself.
void neg_vjp(Node&, const Tensor& g, Tensor* grads) { grads[0] = -g; }
const OpInfo neg_info{"neg", "NegBackward0", &neg_vjp};

// sign is piecewise constant: its derivative is zero wherever it exists.
void sign_vjp(Node&, const Tensor& g, Tensor* grads) { grads[0] = zeros_like(g); }
const OpInfo sign_info{"sign", "SignBackward0", &sign_vjp};

}  // namespace
}  // namespace ops

Tensor exp(const Tensor& x) { return ops::unary<ops::Exp>(x); }
Tensor log(const Tensor& x) { return ops::unary<ops::Log>(x); }
Tensor sqrt(const Tensor& x) { return ops::unary<ops::Sqrt>(x); }
Tensor sin(const Tensor& x) { return ops::unary<ops::Sin>(x); }
Tensor cos(const Tensor& x) { return ops::unary<ops::Cos>(x); }
Tensor tan(const Tensor& x) { return ops::unary<ops::Tan>(x); }
Tensor tanh(const Tensor& x) { return ops::unary<ops::Tanh>(x); }
Tensor sigmoid(const Tensor& x) { return ops::unary<ops::Sigmoid>(x); }
Tensor relu(const Tensor& x) { return ops::unary<ops::Relu>(x); }
Tensor abs(const Tensor& x) { return ops::unary<ops::Abs>(x); }

Tensor neg(const Tensor& x) {
  Tensor out = detail::make_empty(x.sizes(), x.dtype());
  cpu::dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cpu::map1<T, T>(out, x, [](T v) { return static_cast<T>(-v); });
  });
  ops::record(ops::neg_info, {&x}, out);
  forward::propagate({&x}, out, [](const TensorList& t) { return -t[0]; });
  return out;
}

Tensor sign(const Tensor& x) {
  Tensor out = detail::make_empty(x.sizes(), x.dtype());
  cpu::dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cpu::map1<T, T>(out, x, [](T v) { return static_cast<T>((v > 0) - (v < 0)); });
  });
  // Its tangent is zero, which no tangent at all stands for.
  ops::record(ops::sign_info, {&x}, out);
  return out;
}

}  // namespace dydx
