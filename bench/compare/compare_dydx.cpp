// dydx on the bench/compare workloads; compare_libtorch.cpp, peers_torch.py and peers_jax.py run the same cases
// under the same keys (compare_libtorch.cpp has no vmap family: libtorch's C++ API has no vmap). Usage: compare_dydx
// FAMILY [KEY_REGEX], FAMILY one of perop, seed, mlp (with pinn/f64/step), kernels, conv, train, vmap, taylor;
// prints JSON.
#include <dydx/dydx.hpp>

#include <cstdlib>
#include <functional>
#include <iostream>
#include <stdexcept>

#include "harness.hpp"

using namespace dydx;
using harness::Report;

namespace {

volatile const void* sink;  // results are stored here so that no call can be optimised away

// sin(0.37 * i + offset) in row-major order: see harness.hpp.
Tensor det(IntArrayRef shape, double offset, ScalarType dtype = kFloat32) {
  int64_t numel = 1;
  for (int64_t s : shape) numel *= s;
  return (arange(numel, dtype) * harness::kDetStep + offset).sin().reshape(shape);
}

double checksum(const Tensor& t) { return t.abs().sum().to(kFloat64).item<double>(); }

// Throws unless got is close to want (as torch.testing.assert_close), then returns got's checksum.
double checked(const Tensor& got, const Tensor& want, double rtol) {
  const double excess = ((got - want).abs() - (want.abs() * rtol + rtol)).max().to(kFloat64).item<double>();
  if (excess > 0) throw std::runtime_error("result differs from the closed form by " + std::to_string(excess));
  return checksum(got);
}

std::string short_name(ScalarType t) { return t == kFloat32 ? "f32" : "f64"; }

// Five tiny ops forward and backward: the time is almost all framework overhead, not arithmetic.
void perop(Report& r) {
  Tensor a = tensor({1.5}).requires_grad_(true);
  Tensor b = tensor({0.5}).requires_grad_(true);
  r.run("perop", "fwd_bwd", [&](bool check) {
    // Dropping the old grads (as zero_grad(set_to_none=True)) keeps every call identical.
    a.set_grad(Tensor());
    b.set_grad(Tensor());
    ((a * b + a).sin() * b).sum().backward();
    sink = a.grad().impl().get();
    return check ? checksum(a.grad()) + checksum(b.grad()) : 0.0;
  });
}

// The seed: y = (x^3) W with x [m,1], W [1,n]; dy[b]/dx[b] for every row b, forward included.
void seed(Report& r) {
  const int64_t shapes[][2] = {{2, 2}, {1000, 16}, {100000, 64}, {1000000, 64}};
  for (ScalarType dt : {kFloat32, kFloat64}) {
    for (const auto& shape : shapes) {
      const int64_t m = shape[0], n = shape[1];  // not a structured binding: clang 14 cannot capture one
      const std::string key = "seed/" + short_name(dt) + "/" + std::to_string(m) + "x" + std::to_string(n);
      if (!r.wants(key)) continue;
      Tensor x = det({m, 1}, 0, dt), W = det({1, n}, 1, dt);
      auto f = [&](const Tensor& xi) { return matmul(xi.pow(3), W); };
      r.run(key, "batch_jacobian", [&](bool check) {
        Tensor J = func::batch_jacobian(f, x);  // [m, n, 1]
        sink = J.impl().get();
        return check ? checked(J.reshape({m, n}), x.pow(2) * W * 3.0, dt == kFloat32 ? 1e-4 : 1e-10) : 0.0;
      });
      const func::Compiled compiled = func::compile([&](const Tensor& xs) { return func::batch_jacobian(f, xs); });
      r.run(key, "compiled", [&](bool check) {
        Tensor J = compiled(x);
        sink = J.impl().get();
        return check ? checked(J.reshape({m, n}), x.pow(2) * W * 3.0, dt == kFloat32 ? 1e-4 : 1e-10) : 0.0;
      });
    }
  }
}

// The physics-informed network's MLP, 2 -> 64 -> 64 -> 64 -> 3 with tanh; weights and inputs from det().
struct Mlp {
  TensorList params;  // W0, b0, W1, b1, ...
  explicit Mlp(bool requires_grad) {
    for (int l = 0; l < 4; ++l) {
      const int64_t in = harness::kMlpSizes[l], out = harness::kMlpSizes[l + 1];
      params.push_back((det({in, out}, l + 1) * (1.0 / std::sqrt(static_cast<double>(in)))).requires_grad_(requires_grad));
      params.push_back((det({out}, l + 11) * 0.1).requires_grad_(requires_grad));
    }
  }
  Tensor operator()(const Tensor& x) const {
    Tensor h = x;
    for (int l = 0; l < 4; ++l) {
      h = linear(h, params[2 * l].t(), params[2 * l + 1]);  // each tool's fused layer (linear: addmm)
      if (l < 3) h = tanh(h);
    }
    return h;
  }
};

void mlp(Report& r) {
  const Mlp f(false), trained(true);
  for (int64_t B : {10000, 100000}) {
    const std::string b = "/" + std::to_string(B);
    Tensor x = det({B, 2}, 0);
    Tensor target = det({B, 3}, 5);
    r.run("mlp/forward" + b, "forward", [&](bool check) {
      NoGradGuard no_grad;
      Tensor y = f(x);
      sink = y.impl().get();
      return check ? checksum(y) : 0.0;
    });
    // func::compile: each layer's bias and tanh computed with its product, a block of rows at a time.
    const func::Compiled compiled_f = func::compile([&f](const Tensor& in) { return f(in); });
    r.run("mlp/forward" + b, "compiled", [&](bool check) {
      NoGradGuard no_grad;
      Tensor y = compiled_f(x);
      sink = y.impl().get();
      return check ? checksum(y) : 0.0;
    });
    r.run("mlp/jacobian" + b, "batch_jacobian", [&](bool check) {
      Tensor J = func::batch_jacobian(f, x);  // [B, 3, 2]
      sink = J.impl().get();
      return check ? checksum(J) : 0.0;
    });
    // func::compile of the whole transform: its forward-mode steps replayed, elementwise runs fused.
    const func::Compiled compiled_jacobian = func::compile([&f](const Tensor& in) { return func::batch_jacobian(f, in); });
    r.run("mlp/jacobian" + b, "compiled", [&](bool check) {
      Tensor J = compiled_jacobian(x);
      sink = J.impl().get();
      return check ? checksum(J) : 0.0;
    });
    r.run("mlp/laplacian" + b, "laplacian", [&](bool check) {
      Tensor L = func::laplacian(f, x);  // [B, 3]
      sink = L.impl().get();
      return check ? checksum(L) : 0.0;
    });
    const func::Compiled compiled_laplacian = func::compile([&f](const Tensor& in) { return func::laplacian(f, in); });
    r.run("mlp/laplacian" + b, "compiled", [&](bool check) {
      Tensor L = compiled_laplacian(x);
      sink = L.impl().get();
      return check ? checksum(L) : 0.0;
    });
    // One training step of the network: the gradient of a mean-squared Laplacian residual w.r.t. the weights and
    // biases. The last bias shifts f by a constant, so the Laplacian does not depend on it (allow_unused).
    r.run("mlp/train" + b, "laplacian_grad", [&](bool check) {
      Tensor loss = (func::laplacian(trained, x) - target).pow(2).mean();
      TensorList g = grad({loss}, trained.params, {}, std::nullopt, false, /*allow_unused=*/true);
      sink = g[0].impl().get();
      double sum = 0;
      if (check)
        for (const Tensor& gi : g) sum += gi.defined() ? checksum(gi) : 0.0;
      return sum;
    });
  }
}

// One training step of examples/pinn_poisson.cpp's physics-informed network, 2 -> 32 -> 32 -> 1 tanh in float64
// (weights [out, in] as Linear stores them, from det()): the loss mean((laplacian(u) + f)^2) over the 32 x 32 cell
// centres of the unit square, f = 2 pi^2 sin(pi x) sin(pi y), plus 100 mean(u^2) over 32 points per edge; its
// gradient; and an Adam update (lr 1e-3). The weights move with every call, as in training; the checksum is the
// first call's loss, from the same weights in every tool.
void pinn(Report& r) {
  if (!r.wants("pinn/f64/step")) return;
  const int64_t sizes[] = {2, 32, 32, 1}, n = 32;
  TensorList params;
  for (int l = 0; l < 3; ++l) {
    params.push_back((det({sizes[l + 1], sizes[l]}, l + 1, kFloat64) / std::sqrt(static_cast<double>(sizes[l]))).requires_grad_(true));
    params.push_back((det({sizes[l + 1]}, l + 11, kFloat64) * 0.1).requires_grad_(true));
  }
  auto u = [&](const Tensor& x) {
    Tensor h = x;
    for (int l = 0; l < 3; ++l) {
      h = linear(h, params[2 * l], params[2 * l + 1]);
      if (l < 2) h = tanh(h);
    }
    return h;
  };
  Tensor c = (arange(n, kFloat64) + 0.5) / static_cast<double>(n), zero = zeros({n}, kFloat64), one = ones({n}, kFloat64);
  Tensor interior = stack({c.unsqueeze(1).expand({n, n}).reshape({-1}), c.unsqueeze(0).expand({n, n}).reshape({-1})}, 1);
  Tensor boundary = cat({stack({c, zero}, 1), stack({c, one}, 1), stack({zero, c}, 1), stack({one, c}, 1)}, 0);
  const double pi = 3.141592653589793;
  Tensor f = ((interior.select(1, 0) * pi).sin() * (interior.select(1, 1) * pi).sin() * (2 * pi * pi)).unsqueeze(1);
  optim::Adam adam(params, optim::AdamOptions(1e-3));
  r.run("pinn/f64/step", "forward_laplacian_adam", [&](bool check) {
    adam.zero_grad();
    Tensor loss = (func::laplacian(u, interior) + f).pow(2).mean() + u(boundary).pow(2).mean() * 100.0;
    loss.backward();
    adam.step();
    sink = params[0].impl().get();
    return check ? loss.item<double>() : 0.0;
  });
  // func::compile of the loss and its gradients: the forward Laplacian's steps and the backward pass through them
  // replayed as one program; Adam outside, from the same starting weights.
  const TensorList start = [&] {
    TensorList copies;
    for (int l = 0; l < 3; ++l) {
      copies.push_back(det({sizes[l + 1], sizes[l]}, l + 1, kFloat64) / std::sqrt(static_cast<double>(sizes[l])));
      copies.push_back(det({sizes[l + 1]}, l + 11, kFloat64) * 0.1);
    }
    return copies;
  }();
  {
    NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) params[i].copy_(start[i]);
  }
  optim::Adam compiled_adam(params, optim::AdamOptions(1e-3));
  const func::Compiled loss_and_gradients = func::compile([&](const TensorList&) {
    const Tensor loss = (func::laplacian(u, interior) + f).pow(2).mean() + u(boundary).pow(2).mean() * 100.0;
    TensorList out = grad({loss}, params);
    out.insert(out.begin(), loss.detach());
    return out;
  });
  r.run("pinn/f64/step", "compiled", [&](bool check) {
    const TensorList out = loss_and_gradients(TensorList{interior});
    for (size_t i = 0; i < params.size(); ++i) params[i].set_grad(out[i + 1]);
    compiled_adam.step();
    sink = params[0].impl().get();
    return check ? out[0].item<double>() : 0.0;
  });
  if (loss_and_gradients.stats().replays == 0) std::cerr << "pinn compiled ran eagerly: " << loss_and_gradients.stats().eager_reason << "\n";
}

void kernels(Report& r) {
  NoGradGuard no_grad;
  if (r.wants("chain")) {
    Tensor x = (det({harness::kChainNumel}, 0) + 1.0) * 0.5;
    auto chain = [](const Tensor& x) {
      Tensor t = x.exp();
      t = t.sin();
      t = t * x;
      t = t + x;
      t = t.tanh();
      t = t.sigmoid();
      t = t.cos();
      t = t - x;
      t = t.abs();
      return t.sqrt();
    };
    // func::compile: the ten ops in one pass over tiles that stay in cache.
    const func::Compiled compiled_chain = func::compile(chain);
    r.run("chain", "compiled", [&](bool check) {
      Tensor t = compiled_chain(x);
      sink = t.impl().get();
      return check ? checksum(t) : 0.0;
    });
    r.run("chain", "eager", [&](bool check) {
      Tensor t = chain(x);
      sink = t.impl().get();
      return check ? checksum(t) : 0.0;
    });
  }
  // One elementwise function on an MLP hidden layer's worth of values (harness::kActivationShape).
  for (const harness::Activation& a : harness::kActivations) {
    const std::string key = std::string("act/") + a.name;
    if (!r.wants(key)) continue;
    Tensor x = det({harness::kActivationShape[0], harness::kActivationShape[1]}, 0) * harness::kActivationScale;
    if (a.positive) x = x.abs();
    const std::string name = a.name;
    const auto f = [name](const Tensor& t) -> Tensor {
      if (name == "exp") return t.exp();
      if (name == "expm1") return t.expm1();
      if (name == "log1p") return t.log1p();
      if (name == "sin") return t.sin();
      if (name == "tan") return t.tan();
      if (name == "tanh") return t.tanh();
      if (name == "sigmoid") return t.sigmoid();
      if (name == "softplus") return softplus(t);
      if (name == "silu") return silu(t);
      if (name == "gelu") return gelu(t);
      if (name == "softmax") return softmax(t, 1);
      if (name == "log_softmax") return log_softmax(t, 1);
      if (name == "logsumexp") return logsumexp(t, {1});
      return t.erf();
    };
    r.run(key, "eager", [&, f](bool check) {
      Tensor y = f(x);
      sink = y.impl().get();
      return check ? checksum(y) : 0.0;
    });
  }
  // The gradient of a loss with respect to its input (harness::kGradients).
  for (const char* g : harness::kGradients) {
    const std::string key = std::string("grad/") + g;
    if (!r.wants(key)) continue;
    const Tensor x = (det({harness::kActivationShape[0], harness::kActivationShape[1]}, 0) * harness::kActivationScale)
                         .requires_grad_();
    AutoGradMode grad_mode(true);
    const Tensor target = det({harness::kActivationShape[0], harness::kActivationShape[1]}, 1);
    const Tensor labels = arange(harness::kActivationShape[0], kInt64).fmod(harness::kActivationShape[1]);
    const std::string name = g;
    const auto loss = [name, target, labels](const Tensor& t) -> Tensor {
      namespace F = nn::functional;
      if (name == "silu") return silu(t).sum();
      if (name == "gelu") return gelu(t).sum();
      if (name == "tanh") return t.tanh().sum();
      if (name == "sigmoid") return t.sigmoid().sum();
      if (name == "softplus") return softplus(t).sum();
      if (name == "clamp") return t.clamp(-1.0, 1.0).sum();
      if (name == "square") return t.pow(2).sum();
      if (name == "mse_loss") return F::mse_loss(t, target);
      if (name == "cross_entropy") return F::cross_entropy(t, labels);
      return (F::layer_norm(t, F::LayerNormFuncOptions({harness::kActivationShape[1]})) * target).sum();
    };
    r.run(key, "backward", [&, loss](bool check) {
      Tensor dx = grad({loss(x)}, {x})[0];
      sink = dx.impl().get();
      return check ? checksum(dx) : 0.0;
    });
    // func::compile of the gradient: the backward pass's steps replayed with the forward's, the loss's
    // value (which no output needs) never computed, elementwise runs fused.
    const Tensor x_value = x.detach();
    const func::Compiled compiled = func::compile([loss](const Tensor& in) { return func::grad(loss)(in); });
    r.run(key, "compiled", [&](bool check) {
      Tensor dx = compiled(x_value);
      sink = dx.impl().get();
      return check ? checksum(dx) : 0.0;
    });
  }
  if (r.wants("sum/dim0") || r.wants("sum/dim1") || r.wants("mean/dim0") || r.wants("mean/dim1")) {
    Tensor A = det({harness::kReduceN, harness::kReduceN}, 0);
    for (int64_t dim : {0, 1}) {
      const std::string d = "/dim" + std::to_string(dim);
      r.run("sum" + d, "sum", [&](bool check) {
        Tensor s = A.sum({dim});
        sink = s.impl().get();
        return check ? checksum(s) : 0.0;
      });
      r.run("mean" + d, "mean", [&](bool check) {
        Tensor s = A.mean({dim});
        sink = s.impl().get();
        return check ? checksum(s) : 0.0;
      });
    }
  }
  for (ScalarType dt : {kFloat32, kFloat64}) {
    const std::string key = "gemm/" + short_name(dt);
    if (!r.wants(key)) continue;
    const int64_t n = harness::kGemmN;
    Tensor A = det({n, n}, 0, dt), B = det({n, n}, 1, dt);
    r.run(key, "matmul", [&](bool check) {
      Tensor C = matmul(A, B);
      sink = C.impl().get();
      return check ? checksum(C) : 0.0;
    });
  }
}

// A small CNN's two convolutions, forward and backward (loss = sum of the output): batch 32, 1 -> 16 channels
// on 28 x 28 and 16 -> 32 on 14 x 14, kernel 3, padding 1, f32; the second layer's input needs its gradient too.
void conv(Report& r) {
  for (const harness::ConvLayer& layer : harness::kConvLayers) {
    const int64_t c = layer.channels, oc = layer.out_channels, hw = layer.size;  // not a structured binding: clang 14 cannot capture one
    const std::string key = "conv/" + std::to_string(c) + "x" + std::to_string(oc) + "x" + std::to_string(hw);
    if (!r.wants(key)) continue;
    Tensor x = det({harness::kConvBatch, c, hw, hw}, 0).requires_grad_(c > 1);
    Tensor w = (det({oc, c, 3, 3}, 1) * 0.3).requires_grad_(), b = (det({oc}, 2) * 0.1).requires_grad_();
    r.run(key, "fwd_bwd", [&](bool check) {
      x.set_grad(Tensor());
      w.set_grad(Tensor());
      b.set_grad(Tensor());
      conv2d(x, w, b, 1, 1).sum().backward();
      sink = w.grad().impl().get();
      return check ? checksum(w.grad()) + checksum(b.grad()) + (c > 1 ? checksum(x.grad()) : 0.0) : 0.0;
    });
  }
}

// The train family: one classification training step of a small CNN and of an MLP, written as a libtorch program
// (nn::Sequential of nn modules, F::cross_entropy on class indices, backward, optim::Adam); compare_libtorch.cpp
// is the same program in torch::. The weights are set from det() rather than the random initialisers, so that all
// four tools start from the same numbers: parameter i (in parameters() order) is det(shape, 21 + i), scaled by
// 1/sqrt(fan_in) for weights and by 0.1 for biases.
void set_weights(nn::Module& model) {
  NoGradGuard no_grad;
  TensorList params = model.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor& p = params[i];
    const double scale = p.dim() > 1 ? 1.0 / std::sqrt(static_cast<double>(p.numel() / p.size(0))) : 0.1;
    p.copy_(det(p.sizes(), 21.0 + static_cast<double>(i)) * scale);
  }
}

// zero_grad, forward, cross_entropy, backward, Adam step (lr 1e-3); the weights move with every call, as in
// training. The checksum is the first call's loss plus the sum of |gradient| over all parameters, both from the
// weights every tool starts with.
void train_step(Report& r, const std::string& key, nn::Sequential& model, const Tensor& x) {
  set_weights(*model);
  const Tensor labels = arange(x.size(0), kLong).fmod(harness::kClasses);
  optim::Adam adam(model->parameters(), optim::AdamOptions(1e-3));
  r.run(key, "module_adam", [&](bool check) {
    adam.zero_grad();
    Tensor loss = nn::functional::cross_entropy(model->forward(x), labels);
    loss.backward();
    double sum = 0;
    if (check) {
      sum = loss.item<double>();
      for (const Tensor& p : model->parameters()) sum += checksum(p.grad());
    }
    adam.step();
    sink = loss.impl().get();
    return sum;
  });
  // func::compile of the loss and its gradients in the parameters (the backward pass replayed with the forward,
  // bias and activation fused into the products); the gradients go to .grad and Adam steps outside, from the
  // same starting weights.
  set_weights(*model);
  const TensorList params = model->parameters();
  optim::Adam compiled_adam(params, optim::AdamOptions(1e-3));
  const func::Compiled loss_and_gradients = func::compile([&model, &params, &labels](const TensorList& in) {
    const Tensor loss = nn::functional::cross_entropy(model->forward(in[0]), labels);
    TensorList out = grad({loss}, params);
    out.insert(out.begin(), loss.detach());
    return out;
  });
  r.run(key, "compiled", [&](bool check) {
    const TensorList out = loss_and_gradients(TensorList{x});
    for (size_t i = 0; i < params.size(); ++i) params[i].set_grad(out[i + 1]);
    double sum = 0;
    if (check) {
      sum = out[0].item<double>();
      for (size_t i = 1; i < out.size(); ++i) sum += checksum(out[i]);
    }
    compiled_adam.step();
    sink = out[0].impl().get();
    return sum;
  });
  if (loss_and_gradients.stats().replays == 0) std::cerr << key << " compiled ran eagerly: " << loss_and_gradients.stats().eager_reason << "\n";
}

void train(Report& r) {
  if (r.wants("train/cnn")) {
    nn::Sequential cnn(nn::Conv2d(nn::Conv2dOptions(1, 16, 3).padding(1)), nn::ReLU(), nn::MaxPool2d(2),
                       nn::Conv2d(nn::Conv2dOptions(16, 32, 3).padding(1)), nn::ReLU(), nn::MaxPool2d(2),
                       nn::Flatten(), nn::Linear(32 * 7 * 7, harness::kClasses));
    train_step(r, "train/cnn", cnn, det({harness::kTrainCnnBatch, 1, 28, 28}, 0));
  }
  if (r.wants("train/mlp")) {
    const auto& n = harness::kTrainMlpSizes;
    nn::Sequential mlp(nn::Linear(n[0], n[1]), nn::ReLU(), nn::Linear(n[1], n[2]), nn::ReLU(), nn::Linear(n[2], n[3]));
    train_step(r, "train/mlp", mlp, det({harness::kTrainMlpBatch, n[0]}, 0));
  }
}

// ---- the vmap family: per-sample gradients, the empirical NTK, vmap(jacrev) against batch_jacobian ----------------

// Parameters [W, b, ...] in torch's layout from det(), as the train family sets them: parameter i is
// det(shape, 21 + i), times 1/sqrt(fan_in) for weights and 0.1 for biases.
TensorList det_params(const std::vector<std::vector<int64_t>>& shapes) {
  TensorList params;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const std::vector<int64_t>& shape = shapes[i];
    double fan_in = 1;
    for (size_t d = 1; d < shape.size(); ++d) fan_in *= static_cast<double>(shape[d]);
    params.push_back(det(shape, 21.0 + static_cast<double>(i)) * (shape.size() > 1 ? 1.0 / std::sqrt(fan_in) : 0.1));
  }
  return params;
}

// Labels i % 10 as one-hot rows [B, 10] (float): the per-sample loss -sum(onehot * log_softmax(logits)) is the
// cross-entropy at the label, written without an index op so that every tool computes the same arithmetic.
Tensor one_hot_labels(int64_t B) {
  const Tensor labels = arange(B, kLong).fmod(harness::kClasses);
  return (arange(harness::kClasses, kLong).unsqueeze(0) == labels.unsqueeze(1)).to(kFloat32);
}

// One sample's logits [10]: the MLP on x [784], the CNN on x [1, 28, 28]; p = {W0, b0, W1, b1}.
Tensor persample_mlp(const TensorList& p, const Tensor& x) { return linear(relu(linear(x, p[0], p[1])), p[2], p[3]); }
Tensor persample_cnn(const TensorList& p, const Tensor& x) {
  const Tensor h = max_pool2d(relu(conv2d(x, p[0], p[1], 1, 1)), 2);  // [8, 14, 14]
  return linear(h.reshape({-1}), p[2], p[3]);
}

// Per-sample gradients of the loss w.r.t. every parameter: vmap(grad(loss, params), in_dims (None x 4, 0, 0)),
// [B, ...parameter shape] for each parameter. The checked call also computes the first and the last sample's
// gradients alone (grad without vmap) and throws unless they match rows 0 and B-1.
void persample_case(Report& r, const std::string& net, const std::vector<std::vector<int64_t>>& shapes,
                    Tensor (*logits)(const TensorList&, const Tensor&), const std::vector<int64_t>& sample_shape) {
  for (int64_t B : harness::kPerSampleBatches) {
    const std::string key = "persample/" + net + "/B" + std::to_string(B);
    if (!r.wants(key)) continue;
    std::vector<int64_t> x_shape = {B};
    x_shape.insert(x_shape.end(), sample_shape.begin(), sample_shape.end());
    TensorList inputs = det_params(shapes);  // W0, b0, W1, b1, x, onehot
    inputs.push_back(det(x_shape, 0));
    inputs.push_back(one_hot_labels(B));
    const func::Function loss = [logits](const TensorList& in) {
      return TensorList{-(log_softmax(logits(in, in[4]), -1) * in[5]).sum()};
    };
    const std::vector<int64_t> params = {0, 1, 2, 3};
    const func::Function per_sample =
        func::vmap(func::grad(loss, params), {std::nullopt, std::nullopt, std::nullopt, std::nullopt, 0, 0});
    r.run(key, "vmap_grad", [&](bool check) {
      const TensorList g = per_sample(inputs);
      sink = g[0].impl().get();
      if (!check) return 0.0;
      for (int64_t s : {int64_t{0}, B - 1}) {
        TensorList one(inputs.begin(), inputs.begin() + 4);
        one.push_back(inputs[4][s]);
        one.push_back(inputs[5][s]);
        const TensorList want = func::grad(loss, params)(one);
        for (size_t i = 0; i < want.size(); ++i) checked(g[i][s], want[i], 1e-4);
      }
      double sum = 0;
      for (const Tensor& gi : g) sum += checksum(gi);
      return sum;
    });
  }
}

void persample(Report& r) {
  const auto& m = harness::kPerSampleMlpSizes;
  persample_case(r, "mlp", {{m[1], m[0]}, {m[1]}, {m[2], m[1]}, {m[2]}}, persample_mlp, {m[0]});
  const int64_t c = harness::kPerSampleCnnChannels;
  persample_case(r, "cnn", {{c, 1, 3, 3}, {c}, {harness::kClasses, c * 14 * 14}, {harness::kClasses}}, persample_cnn,
                 {1, 28, 28});
}

// The empirical NTK of an MLP between x1 [N, 16] and x2 [M, 16], as functorch's NTK tutorial computes it: the
// per-sample Jacobians of the logits w.r.t. every parameter, vmap(jacrev(f, params), in_dims (None x 6, 0)), each
// flattened to [N * 10, numel] and contracted with the other batch's: sum over parameters of J1 J2^T, as
// [N, M, 10, 10]. The checked call compares K[0, 0] with the same contraction of two plain jacrev calls.
void ntk(Report& r) {
  if (!r.wants("ntk/mlp")) return;
  const auto& n = harness::kNtkSizes;
  TensorList params = det_params({{n[1], n[0]}, {n[1]}, {n[2], n[1]}, {n[2]}, {n[3], n[2]}, {n[3]}});
  const int64_t N = harness::kNtkBatch1, M = harness::kNtkBatch2, out = n[3];
  const Tensor x1 = det({N, n[0]}, 0), x2 = det({M, n[0]}, 1);
  const func::Function f = [](const TensorList& in) {
    Tensor h = in[6];
    for (int l = 0; l < 3; ++l) {
      h = linear(h, in[2 * l], in[2 * l + 1]);
      if (l < 2) h = tanh(h);
    }
    return TensorList{h};
  };
  const std::vector<int64_t> argnums = {0, 1, 2, 3, 4, 5};
  const func::Function jac = func::vmap(func::jacrev(f, argnums), {std::nullopt, std::nullopt, std::nullopt,
                                                                   std::nullopt, std::nullopt, std::nullopt, 0});
  auto with = [&](const Tensor& x) {
    TensorList in = params;
    in.push_back(x);
    return in;
  };
  // sum over parameters of a [rows1, numel] @ b [rows2, numel]^T
  auto contract = [](const TensorList& a, const TensorList& b, int64_t rows1, int64_t rows2) {
    Tensor K;
    for (size_t p = 0; p < a.size(); ++p) {
      const Tensor term = matmul(a[p].reshape({rows1, -1}), b[p].reshape({rows2, -1}).t());
      K = K.defined() ? K + term : term;
    }
    return K;
  };
  r.run("ntk/mlp", "vmap_jacrev", [&](bool check) {
    const Tensor K = contract(jac(with(x1)), jac(with(x2)), N * out, M * out).reshape({N, out, M, out}).permute({0, 2, 1, 3});
    sink = K.impl().get();
    if (!check) return 0.0;
    const Tensor want = contract(func::jacrev(f, argnums)(with(x1[0])), func::jacrev(f, argnums)(with(x2[0])), out, out);
    checked(K[0][0], want, 1e-4);
    return checksum(K);
  });
}

// dydx only: the same per-sample Jacobian of a row-wise f by vmap(jacrev(f)), vmap(jacfwd(f)) and
// func::batch_jacobian(f, x), on the mlp family's MLP (x [B, 2]) and on the seed (x [m, 1], y = x^3 W).
void vmap_vs_batch_jacobian(Report& r, const std::string& key, const func::UnaryFunction& f, const Tensor& x) {
  if (!r.wants(key)) return;
  const Tensor want = func::batch_jacobian(f, x);
  r.run(key, "batch_jacobian", [&](bool check) {
    const Tensor J = func::batch_jacobian(f, x);
    sink = J.impl().get();
    return check ? checksum(J) : 0.0;
  });
  for (bool reverse : {true, false}) {
    const func::UnaryFunction jac = func::vmap(reverse ? func::jacrev(f) : func::jacfwd(f));
    r.run(key, reverse ? "vmap_jacrev" : "vmap_jacfwd", [&](bool check) {
      const Tensor J = jac(x);
      sink = J.impl().get();
      return check ? checked(J, want, 1e-4) : 0.0;
    });
  }
}

void vmap_family(Report& r) {
  persample(r);
  ntk(r);
  const Mlp mlp(false);
  for (int64_t B : {10000, 100000})
    vmap_vs_batch_jacobian(r, "vmap_vs_batch_jacobian/mlp/" + std::to_string(B), mlp, det({B, 2}, 0));
  const int64_t m = 100000, n = 64;
  const Tensor W = det({1, n}, 1);
  vmap_vs_batch_jacobian(r, "vmap_vs_batch_jacobian/seed/100000x64",
                         [&](const Tensor& xi) { return matmul(xi.pow(3), W); }, det({m, 1}, 0));
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return harness::quoted(v ? v : "");
}

// ---- the taylor family: PDE operators of the collapsed-Taylor paper's MLP (Dangel et al. 2025) ----------------

// tanh D -> 768 -> 768 -> 512 -> 512 -> 1 in float32, [W, b] x 5 from det_params, applied to rows x [B, D].
struct TaylorMlp {
  TensorList p;
  explicit TaylorMlp(int64_t d) {
    const int64_t sizes[] = {d, 768, 768, 512, 512, 1};
    std::vector<std::vector<int64_t>> shapes;
    for (int l = 0; l < 5; ++l) {
      shapes.push_back({sizes[l + 1], sizes[l]});
      shapes.push_back({sizes[l + 1]});
    }
    p = det_params(shapes);
  }
  Tensor operator()(const Tensor& x) const {
    Tensor h = x;
    for (int l = 0; l < 5; ++l) {
      h = linear(h, p[2 * l], p[2 * l + 1]);
      if (l < 4) h = tanh(h);
    }
    return h;
  }
};

// The trace of each row's Hessian by nested first-order AD (reverse over forward, batch_hessian): [B, 1].
Tensor hessian_trace(const func::UnaryFunction& f, const Tensor& x) {
  return einsum("bjii->bj", {func::batch_hessian(f, x)});
}

// One row of the taylor family: the nested-AD method first, unless nested is empty (its checked call keeps its
// result, the reference for the operator's check, so that no extra nested call is made), then the operator.
void taylor_case(Report& r, const std::string& key, const std::string& op_name, double rtol,
                 const std::function<Tensor()>& nested, const std::function<Tensor()>& op) {
  Tensor want;  // stays undefined where the nested method does not run (skipped, or memory mode measures another)
  if (nested) r.run(key, "nested_hessian_trace", [&](bool check) {
    const Tensor L = nested();
    sink = L.impl().get();
    if (check) want = L;
    return check ? checksum(L) : 0.0;
  });
  r.run(key, op_name, [&](bool check) {
    const Tensor L = op();
    sink = L.impl().get();
    return !check ? 0.0 : want.defined() ? checked(L, want, rtol) : checksum(L);
  });
}

void taylor_family(Report& r) {
  // Memory mode (bench/taylor/memory.py): the block cache is emptied and the peak counter reset before the measured
  // call, whose exact peak of live tensor bytes beyond those live before it is reported beside the resident set's.
  static int64_t live_before = 0;
  r.memory_hooks(
      [] {
        empty_cache();
        reset_peak_memory();
        live_before = memory_stats().live_bytes;
      },
      [] { return ", \"dydx_peak_bytes\": " + std::to_string(memory_stats().peak_bytes - live_before); });
  const TaylorMlp f50(50), f5(5);
  for (int64_t B : harness::taylor_batches(false)) {
    const std::string b = "/B" + std::to_string(B);
    if (r.wants("taylor/laplacian/D50" + b)) {
      const Tensor x = det({B, 50}, 3);
      taylor_case(r, "taylor/laplacian/D50" + b, "laplacian", 1e-3, [&] { return hessian_trace(f50, x); },
                  [&] { return func::laplacian(f50, x); });
    }
    // tr(sigma sigma^T H) for sigma [50, 25] (rank 25 of 50), in every tool the Laplacian of z -> f(x + sigma z)
    // at z = 0 for the references.
    if (r.wants("taylor/weighted_laplacian/D50" + b)) {
      const Tensor x = det({B, 50}, 3), sigma = det({50, 25}, 7) * 0.2;
      const func::UnaryFunction along = [&x, &sigma, &f50](const Tensor& z) { return f50(x + matmul(z, sigma.t())); };
      taylor_case(r, "taylor/weighted_laplacian/D50" + b, "weighted_laplacian", 1e-3,
                  [&] { return hessian_trace(along, zeros({B, 25})); },
                  [&] { return func::weighted_laplacian(f50, x, sigma); });
    }
  }
  const func::UnaryFunction nested_laplacian = [&f5](const Tensor& z) { return hessian_trace(f5, z); };
  for (int64_t B : harness::taylor_batches(true)) {
    const std::string key = "taylor/biharmonic/D5/B" + std::to_string(B);
    if (!r.wants(key)) continue;
    const Tensor x = det({B, 5}, 3);
    // The operator's check is then its checksum against the peers'; memory mode makes one call, so it keeps it.
    if (B > harness::kTaylorNestedBiharmonicMaxB && !r.memory_mode()) {
      r.skip(key, "nested_hessian_trace", "over 5 s a call above " +
                                              std::to_string(harness::kTaylorNestedBiharmonicMaxB) + " rows");
      taylor_case(r, key, "biharmonic", 1e-2, nullptr, [&] { return func::biharmonic(f5, x); });
      continue;
    }
    taylor_case(r, key, "biharmonic", 1e-2, [&] { return hessian_trace(nested_laplacian, x); },
                [&] { return func::biharmonic(f5, x); });
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: compare_dydx perop|seed|mlp|kernels|conv|train|vmap|taylor [KEY_REGEX]\n";
    return 2;
  }
  const std::string family = argv[1];
  Report report("dydx", argc > 2 ? argv[2] : ".");
  report.meta("DYDX_NUM_THREADS", env("DYDX_NUM_THREADS"));
  report.meta("OPENBLAS_NUM_THREADS", env("OPENBLAS_NUM_THREADS"));
  report.meta("blas_kernel", harness::quoted(blas_kernel()));  // which OpenBLAS kernels dydx's products ran, and who chose them
  if (family == "perop") perop(report);
  else if (family == "seed") seed(report);
  else if (family == "mlp") {
    mlp(report);
    pinn(report);
  }
  else if (family == "kernels") kernels(report);
  else if (family == "conv") conv(report);
  else if (family == "train") train(report);
  else if (family == "vmap") vmap_family(report);
  else if (family == "taylor") taylor_family(report);
  else {
    std::cerr << "unknown family " << family << "\n";
    return 2;
  }
  report.print();
  return 0;
}
