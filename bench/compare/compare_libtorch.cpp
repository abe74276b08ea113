// libtorch (C++) on the bench/compare workloads, under the keys of compare_dydx.cpp.
// Usage: compare_libtorch FAMILY [KEY_REGEX], FAMILY one of perop, seed, mlp, kernels, conv, train; prints
// JSON.
#include <torch/torch.h>

#include <cstdlib>
#include <iostream>
#include <stdexcept>

#include "harness.hpp"

using harness::Report;
using torch::Tensor;
using torch::indexing::Slice;

namespace {

volatile const void* sink;  // results are stored here so that no call can be optimised away

// sin(0.37 * i + offset) in row-major order: see harness.hpp.
Tensor det(at::IntArrayRef shape, double offset, torch::Dtype dtype = torch::kFloat32) {
  int64_t numel = 1;
  for (int64_t s : shape) numel *= s;
  return (torch::arange(numel, dtype) * harness::kDetStep + offset).sin().reshape(shape);
}

double checksum(const Tensor& t) { return t.abs().sum().to(torch::kFloat64).item<double>(); }

double checked(const Tensor& got, const Tensor& want, double rtol) {
  if (!torch::allclose(got, want, rtol, rtol)) throw std::runtime_error("result differs from the closed form");
  return checksum(got);
}

void perop(Report& r) {
  Tensor a = torch::tensor({1.5f}).requires_grad_(true);
  Tensor b = torch::tensor({0.5f}).requires_grad_(true);
  r.run("perop", "fwd_bwd", [&](bool check) {
    a.mutable_grad().reset();
    b.mutable_grad().reset();
    ((a * b + a).sin() * b).sum().backward();
    sink = a.grad().data_ptr();
    return check ? checksum(a.grad()) + checksum(b.grad()) : 0.0;
  });
}

void seed(Report& r) {
  const int64_t shapes[][2] = {{2, 2}, {1000, 16}, {100000, 64}, {1000000, 64}};
  for (torch::Dtype dt : {torch::kFloat32, torch::kFloat64}) {
    const double rtol = dt == torch::kFloat32 ? 1e-4 : 1e-10;
    for (const auto& shape : shapes) {
      const int64_t m = shape[0], n = shape[1];  // not a structured binding: clang 14 cannot capture one
      const std::string key = std::string("seed/") + (dt == torch::kFloat32 ? "f32/" : "f64/") + std::to_string(m) +
                              "x" + std::to_string(n);
      if (!r.wants(key)) continue;
      Tensor x0 = det({m, 1}, 0, dt), W = det({1, n}, 1, dt);
      Tensor want = x0.pow(2) * W * 3.0;
      // The seed's way: one reverse pass per output column, columns concatenated.
      if (m > harness::kSeedGradLoopMaxM) {
        r.skip(key, "grad_loop", "over 5 s per call: n reverse passes over [m,n]");
      } else {
        r.run(key, "grad_loop", [&](bool check) {
          Tensor x = x0.clone().requires_grad_(true);
          Tensor y = torch::matmul(x.pow(3), W);
          std::vector<Tensor> columns;
          for (int64_t j = 0; j < n; ++j)
            columns.push_back(torch::autograd::grad({y.index({Slice(), j})}, {x}, {torch::ones({m}, dt)},
                                                    /*retain_graph=*/true)[0]);
          Tensor J = torch::cat(columns, 1);
          sink = J.data_ptr();
          return check ? checked(J, want, rtol) : 0.0;
        });
      }
      // x widened to [m,n], an elementwise product, one reverse pass.
      r.run(key, "expand_trick", [&](bool check) {
        Tensor x = x0.expand({m, n}).contiguous().requires_grad_(true);
        Tensor y = x.pow(3) * W;
        Tensor J = torch::autograd::grad({y}, {x}, {torch::ones_like(y)})[0];
        sink = J.data_ptr();
        return check ? checked(J, want, rtol) : 0.0;
      });
      // One forward-mode pass with tangent 1 per row. libtorch 1.13 exposes forward AD in C++ only through
      // enter_dual_level and the internal ops at::_make_dual / at::_unpack_dual (what Python's fwAD wraps).
      r.run(key, "forward_ad", [&](bool check) {
        const uint64_t level = torch::autograd::forward_ad::enter_dual_level();
        Tensor x = at::_make_dual(x0, torch::ones_like(x0), static_cast<int64_t>(level));
        Tensor y = torch::matmul(x.pow(3), W);
        Tensor J = std::get<1>(at::_unpack_dual(y, static_cast<int64_t>(level))).clone();
        torch::autograd::forward_ad::exit_dual_level(level);
        sink = J.data_ptr();
        return check ? checked(J, want, rtol) : 0.0;
      });
    }
  }
}

struct Mlp {
  std::vector<Tensor> params;  // W0, b0, W1, b1, ...
  explicit Mlp(bool requires_grad) {
    for (int l = 0; l < 4; ++l) {
      const int64_t in = harness::kMlpSizes[l], out = harness::kMlpSizes[l + 1];
      params.push_back((det({in, out}, l + 1) / std::sqrt(static_cast<double>(in))).requires_grad_(requires_grad));
      params.push_back((det({out}, l + 11) * 0.1).requires_grad_(requires_grad));
    }
  }
  Tensor operator()(const Tensor& x) const {
    Tensor h = x;
    for (int l = 0; l < 4; ++l) {
      h = torch::linear(h, params[2 * l].t(), params[2 * l + 1]);  // each tool's fused layer (linear: addmm)
      if (l < 3) h = torch::tanh(h);
    }
    return h;
  }
};

// The Laplacian [B,3] by nested reverse passes: per output j, one grad for d f_j/dx [B,2] (create_graph), then
// per input k one more for d2 f_j/dx_k2. create_graph on the second pass too when the result is differentiated.
Tensor nested_laplacian(const Mlp& f, const Tensor& x0, bool create_graph) {
  Tensor x = x0.detach().requires_grad_(true);
  Tensor y = f(x);
  const int64_t B = x.size(0);
  Tensor ones = torch::ones({B});
  std::vector<Tensor> columns;
  for (int64_t j = 0; j < 3; ++j) {
    Tensor g = torch::autograd::grad({y.select(1, j)}, {x}, {ones}, true, true)[0];
    Tensor lap;
    for (int64_t k = 0; k < 2; ++k) {
      Tensor h = torch::autograd::grad({g.select(1, k)}, {x}, {ones}, true, create_graph)[0].select(1, k);
      lap = k == 0 ? h : lap + h;
    }
    columns.push_back(lap);
  }
  return torch::stack(columns, 1);
}

void mlp(Report& r) {
  const Mlp f(false), trained(true);
  for (int64_t B : {10000, 100000}) {
    const std::string b = "/" + std::to_string(B);
    Tensor x0 = det({B, 2}, 0);
    Tensor target = det({B, 3}, 5);
    r.run("mlp/forward" + b, "forward", [&](bool check) {
      torch::NoGradGuard no_grad;
      Tensor y = f(x0);
      sink = y.data_ptr();
      return check ? checksum(y) : 0.0;
    });
    // libtorch 1.13's C++ grad has no is_grads_batched, so one reverse pass per output.
    r.run("mlp/jacobian" + b, "grad_loop", [&](bool check) {
      Tensor x = x0.detach().requires_grad_(true);
      Tensor y = f(x);
      std::vector<Tensor> rows;
      for (int64_t j = 0; j < 3; ++j)
        rows.push_back(torch::autograd::grad({y.select(1, j)}, {x}, {torch::ones({B})}, true)[0]);
      Tensor J = torch::stack(rows, 1);  // [B, 3, 2]
      sink = J.data_ptr();
      return check ? checksum(J) : 0.0;
    });
    r.run("mlp/laplacian" + b, "nested_grad", [&](bool check) {
      Tensor L = nested_laplacian(f, x0, false);
      sink = L.data_ptr();
      return check ? checksum(L) : 0.0;
    });
    r.run("mlp/train" + b, "nested_grad", [&](bool check) {
      Tensor loss = (nested_laplacian(trained, x0, true) - target).pow(2).mean();
      std::vector<Tensor> g = torch::autograd::grad({loss}, trained.params, {}, false, false, /*allow_unused=*/true);
      sink = g[0].data_ptr();
      double sum = 0;
      if (check)
        for (const Tensor& gi : g) sum += gi.defined() ? checksum(gi) : 0.0;
      return sum;
    });
  }
}

// One training step of the physics-informed network of examples/pinn_poisson.cpp, as compare_dydx.cpp's pinn():
// the Laplacian by nested reverse passes (create_graph), as PINN code in PyTorch computes it.
void pinn(Report& r) {
  if (!r.wants("pinn/f64/step")) return;
  const int64_t sizes[] = {2, 32, 32, 1}, n = 32;
  std::vector<Tensor> params;
  for (int l = 0; l < 3; ++l) {
    params.push_back((det({sizes[l + 1], sizes[l]}, l + 1, torch::kFloat64) / std::sqrt(static_cast<double>(sizes[l]))).requires_grad_(true));
    params.push_back((det({sizes[l + 1]}, l + 11, torch::kFloat64) * 0.1).requires_grad_(true));
  }
  auto u = [&](const Tensor& x) {
    Tensor h = x;
    for (int l = 0; l < 3; ++l) {
      h = torch::linear(h, params[2 * l], params[2 * l + 1]);
      if (l < 2) h = torch::tanh(h);
    }
    return h;
  };
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  Tensor c = (torch::arange(n, f64) + 0.5) / static_cast<double>(n), zero = torch::zeros({n}, f64), one = torch::ones({n}, f64);
  Tensor interior = torch::stack({c.unsqueeze(1).expand({n, n}).reshape({-1}), c.unsqueeze(0).expand({n, n}).reshape({-1})}, 1);
  Tensor boundary = torch::cat({torch::stack({c, zero}, 1), torch::stack({c, one}, 1), torch::stack({zero, c}, 1), torch::stack({one, c}, 1)}, 0);
  const double pi = 3.141592653589793;
  Tensor f = ((interior.select(1, 0) * pi).sin() * (interior.select(1, 1) * pi).sin() * (2 * pi * pi)).unsqueeze(1);
  torch::optim::Adam adam(params, torch::optim::AdamOptions(1e-3));
  r.run("pinn/f64/step", "nested_grad_adam", [&](bool check) {
    adam.zero_grad();
    Tensor x = interior.detach().requires_grad_(true);
    Tensor du = torch::autograd::grad({u(x).sum()}, {x}, {}, true, true)[0];
    Tensor lap;
    for (int64_t k = 0; k < 2; ++k) {
      Tensor h = torch::autograd::grad({du.select(1, k).sum()}, {x}, {}, true, true)[0].select(1, k).unsqueeze(1);
      lap = k == 0 ? h : lap + h;
    }
    Tensor loss = (lap + f).pow(2).mean() + u(boundary).pow(2).mean() * 100.0;
    loss.backward();
    adam.step();
    sink = params[0].data_ptr();
    return check ? loss.item<double>() : 0.0;
  });
}

void kernels(Report& r) {
  torch::NoGradGuard no_grad;
  if (r.wants("chain")) {
    Tensor x = (det({harness::kChainNumel}, 0) + 1.0) * 0.5;
    r.run("chain", "eager", [&](bool check) {
      Tensor t = x.exp();
      t = t.sin();
      t = t * x;
      t = t + x;
      t = t.tanh();
      t = t.sigmoid();
      t = t.cos();
      t = t - x;
      t = t.abs();
      t = t.sqrt();
      sink = t.data_ptr();
      return check ? checksum(t) : 0.0;
    });
  }
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
      if (name == "softplus") return torch::nn::functional::softplus(t);
      if (name == "silu") return torch::nn::functional::silu(t);
      if (name == "gelu") return torch::gelu(t);
      if (name == "softmax") return torch::softmax(t, 1);
      if (name == "log_softmax") return torch::log_softmax(t, 1);
      if (name == "logsumexp") return torch::logsumexp(t, {1});
      return t.erf();
    };
    r.run(key, "eager", [&, f](bool check) {
      Tensor y = f(x);
      sink = y.data_ptr();
      return check ? checksum(y) : 0.0;
    });
  }
  // The gradient of a loss with respect to its input (harness::kGradients).
  for (const char* g : harness::kGradients) {
    const std::string key = std::string("grad/") + g;
    if (!r.wants(key)) continue;
    const Tensor x = (det({harness::kActivationShape[0], harness::kActivationShape[1]}, 0) * harness::kActivationScale)
                         .requires_grad_();
    torch::AutoGradMode grad_mode(true);
    const Tensor target = det({harness::kActivationShape[0], harness::kActivationShape[1]}, 1);
    const Tensor labels = torch::arange(harness::kActivationShape[0], torch::kLong).fmod(harness::kActivationShape[1]);
    const std::string name = g;
    const auto loss = [name, target, labels](const Tensor& t) -> Tensor {
      namespace F = torch::nn::functional;
      if (name == "silu") return F::silu(t).sum();
      if (name == "gelu") return torch::gelu(t).sum();
      if (name == "tanh") return t.tanh().sum();
      if (name == "sigmoid") return t.sigmoid().sum();
      if (name == "softplus") return F::softplus(t).sum();
      if (name == "clamp") return t.clamp(-1.0, 1.0).sum();
      if (name == "square") return t.pow(2).sum();
      if (name == "mse_loss") return F::mse_loss(t, target);
      if (name == "cross_entropy") return F::cross_entropy(t, labels);
      return (F::layer_norm(t, F::LayerNormFuncOptions({harness::kActivationShape[1]})) * target).sum();
    };
    r.run(key, "backward", [&, loss](bool check) {
      Tensor dx = torch::autograd::grad({loss(x)}, {x})[0];
      sink = dx.data_ptr();
      return check ? checksum(dx) : 0.0;
    });
  }
  if (r.wants("sum/dim0") || r.wants("sum/dim1") || r.wants("mean/dim0") || r.wants("mean/dim1")) {
    Tensor A = det({harness::kReduceN, harness::kReduceN}, 0);
    for (int64_t dim : {0, 1}) {
      const std::string d = "/dim" + std::to_string(dim);
      r.run("sum" + d, "sum", [&](bool check) {
        Tensor s = A.sum(dim);
        sink = s.data_ptr();
        return check ? checksum(s) : 0.0;
      });
      r.run("mean" + d, "mean", [&](bool check) {
        Tensor s = A.mean(dim);
        sink = s.data_ptr();
        return check ? checksum(s) : 0.0;
      });
    }
  }
  for (torch::Dtype dt : {torch::kFloat32, torch::kFloat64}) {
    const std::string key = dt == torch::kFloat32 ? "gemm/f32" : "gemm/f64";
    if (!r.wants(key)) continue;
    const int64_t n = harness::kGemmN;
    Tensor A = det({n, n}, 0, dt), B = det({n, n}, 1, dt);
    r.run(key, "matmul", [&](bool check) {
      Tensor C = torch::matmul(A, B);
      sink = C.data_ptr();
      return check ? checksum(C) : 0.0;
    });
  }
}

void conv(Report& r) {
  for (const harness::ConvLayer& layer : harness::kConvLayers) {
    const int64_t c = layer.channels, oc = layer.out_channels, hw = layer.size;  // not a structured binding: clang 14 cannot capture one
    const std::string key = "conv/" + std::to_string(c) + "x" + std::to_string(oc) + "x" + std::to_string(hw);
    if (!r.wants(key)) continue;
    Tensor x = det({harness::kConvBatch, c, hw, hw}, 0).requires_grad_(c > 1);
    Tensor w = (det({oc, c, 3, 3}, 1) * 0.3).requires_grad_(), b = (det({oc}, 2) * 0.1).requires_grad_();
    r.run(key, "fwd_bwd", [&](bool check) {
      x.mutable_grad().reset();
      w.mutable_grad().reset();
      b.mutable_grad().reset();
      torch::conv2d(x, w, b, 1, 1).sum().backward();
      sink = w.grad().data_ptr();
      return check ? checksum(w.grad()) + checksum(b.grad()) + (c > 1 ? checksum(x.grad()) : 0.0) : 0.0;
    });
  }
}

// The train family, as compare_dydx.cpp's train(): the same program in torch::, weights from det().
void set_weights(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  std::vector<Tensor> params = model.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor& p = params[i];
    const double scale = p.dim() > 1 ? 1.0 / std::sqrt(static_cast<double>(p.numel() / p.size(0))) : 0.1;
    p.copy_(det(p.sizes(), 21.0 + static_cast<double>(i)) * scale);
  }
}

void train_step(Report& r, const std::string& key, torch::nn::Sequential& model, const Tensor& x) {
  set_weights(*model);
  const Tensor labels = torch::arange(x.size(0), torch::kLong).fmod(harness::kClasses);
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(1e-3));
  r.run(key, "module_adam", [&](bool check) {
    adam.zero_grad();
    Tensor loss = torch::nn::functional::cross_entropy(model->forward(x), labels);
    loss.backward();
    double sum = 0;
    if (check) {
      sum = loss.item<double>();
      for (const Tensor& p : model->parameters()) sum += checksum(p.grad());
    }
    adam.step();
    sink = loss.data_ptr();
    return sum;
  });
}

void train(Report& r) {
  namespace nn = torch::nn;
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

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: compare_libtorch perop|seed|mlp|kernels|conv|train [KEY_REGEX]\n";
    return 2;
  }
  const std::string family = argv[1];
  Report report("libtorch", argc > 2 ? argv[2] : ".");
  report.meta("version", harness::quoted(TORCH_VERSION));
  // libtorch's own thread count is recorded, not set: its default is what a user gets.
  report.meta("num_threads", std::to_string(torch::get_num_threads()));
  if (family == "perop") perop(report);
  else if (family == "seed") seed(report);
  else if (family == "mlp") {
    mlp(report);
    pinn(report);
  }
  else if (family == "kernels") kernels(report);
  else if (family == "conv") conv(report);
  else if (family == "train") train(report);
  else {
    std::cerr << "unknown family " << family << "\n";
    return 2;
  }
  report.print();
  return 0;
}
