// A libtorch program, written as a libtorch user writes one: a small CNN and an MLP built from
// torch::nn modules, trained a few steps with cross_entropy and Adam. tests/CMakeLists.txt compiles
// it twice: as it is against libtorch (where libtorch is installed), and against dydx after the port
// a user makes, replacing `torch::` with `dydx::` (with the header and TORCH_MODULE spelled dydx's).
// Both print the same losses and gradient norms; the dydx build's output is compared with what
// libtorch printed (train_small_models.expected, regenerated from the libtorch build).
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <iostream>

// Weights set by a formula rather than the random initialisers, so both libraries start equal.
void set_weights(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  double phase = 0.3;
  for (auto& named : module.named_parameters()) {
    torch::Tensor p = named.value();
    auto values = torch::sin(torch::arange(p.numel(), torch::TensorOptions().dtype(torch::kFloat64)) * 0.37 + phase);
    p.copy_((values * 0.2).reshape(p.sizes()).to(p.dtype()));
    phase += 1.1;
  }
}

struct NetImpl : torch::nn::Module {
  NetImpl() {
    conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3).padding(1)));
    conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(4, 8, 3).stride(1).padding(1)));
    fc = register_module("fc", torch::nn::Linear(8 * 2 * 2, 10));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(conv1->forward(x)), 2);
    x = torch::nn::functional::avg_pool2d(torch::relu(conv2->forward(x)), torch::nn::functional::AvgPool2dFuncOptions(2));
    x = x.flatten(1);
    return fc->forward(x);
  }
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(Net);

template <class Model>
void train(const char* name, Model& model, const torch::Tensor& inputs, const torch::Tensor& labels) {
  set_weights(*model);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-2));
  for (int step = 0; step < 5; ++step) {
    optimizer.zero_grad();
    torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(inputs), labels);
    loss.backward();
    double grad_norm = 0;
    for (const auto& p : model->parameters()) grad_norm += p.grad().pow(2).sum().template item<double>();
    optimizer.step();
    std::printf("%s step %d loss %.5f grad_norm %.5f\n", name, step, loss.template item<double>(), std::sqrt(grad_norm));
  }
}

int main() {
  auto float_options = torch::TensorOptions().dtype(torch::kFloat32);
  torch::Tensor images = torch::cos(torch::arange(6 * 1 * 8 * 8, float_options) * 0.05).reshape({6, 1, 8, 8});
  torch::Tensor labels = torch::arange(6, torch::TensorOptions().dtype(torch::kLong));

  Net cnn;
  train("cnn", cnn, images, labels);

  torch::nn::Sequential mlp(torch::nn::Flatten(), torch::nn::Linear(64, 32), torch::nn::Tanh(), torch::nn::Linear(32, 10));
  train("mlp", mlp, images, labels);
  std::cout << "parameters: cnn " << cnn->parameters().size() << ", mlp " << mlp->parameters().size() << "\n";

  // Masks and comparisons, as a libtorch user writes them: bool tensors from comparisons, counted,
  // combined, used to index, to select and to fill.
  torch::NoGradGuard no_grad;
  torch::Tensor logits = mlp->forward(images);
  torch::Tensor positive = logits > 0;
  torch::Tensor confident = logits.abs() >= 0.5;
  torch::Tensor predicted_right = std::get<1>(logits.max(1)) == labels;
  std::printf("masks: bool %d, positive %lld, confident and positive %lld, neither %lld, right %lld, any %d all %d\n",
              positive.scalar_type() == torch::kBool ? 1 : 0, static_cast<long long>(positive.sum().item<int64_t>()),
              static_cast<long long>((positive & confident).sum().item<int64_t>()),
              static_cast<long long>((~positive).logical_and(confident.logical_not()).sum().item<int64_t>()),
              static_cast<long long>(predicted_right.sum().item<int64_t>()), confident.any().item<bool>() ? 1 : 0,
              confident.all().item<bool>() ? 1 : 0);
  std::printf("masked: kept %.5f, where %.5f, filled %.5f, rows %lld\n", logits.index({positive}).sum().item<double>(),
              torch::where(positive, logits, torch::zeros_like(logits)).sum().item<double>(),
              logits.masked_fill(confident, 1.0).sum().item<double>(),
              static_cast<long long>(logits.index({positive.any(1)}).size(0)));
}
