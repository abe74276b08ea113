// A libtorch training loop ported by replacing torch:: with dydx::: a small network of nn modules,
// Adam and cross entropy on a toy problem (is the point inside the unit circle?), then per-sample
// gradients of the loss with respect to the weights through func::functional_call and func::jacrev.
#include <iostream>
#include <unordered_map>

#include "dydx/dydx.hpp"

struct NetImpl : dydx::nn::Module {
  NetImpl() {
    fc1 = register_module("fc1", dydx::nn::Linear(2, 16));
    fc2 = register_module("fc2", dydx::nn::Linear(16, 2));
  }
  dydx::Tensor forward(dydx::Tensor x) { return fc2(dydx::tanh(fc1(x))); }
  dydx::nn::Linear fc1{nullptr}, fc2{nullptr};
};
DYDX_MODULE(Net);

int main() {
  dydx::manual_seed(0);
  Net net;
  std::cout << *net << "\n";
  const dydx::Tensor x = dydx::rand({256, 2}) * 2.4 - 1.2;
  // Class 1 inside the unit circle, 0 outside (int64 class indices, as cross_entropy takes them).
  const dydx::Tensor inside = (x * x).sum({1}) < 1;
  const dydx::Tensor labels = inside.to(dydx::kInt64);

  dydx::optim::Adam optimizer(net->parameters(), dydx::optim::AdamOptions(0.05));
  dydx::nn::CrossEntropyLoss criterion;
  for (int epoch = 0; epoch <= 200; ++epoch) {
    optimizer.zero_grad();
    dydx::Tensor loss = criterion(net(x), labels);
    loss.backward();
    optimizer.step();
    if (epoch % 50 == 0) std::cout << "epoch " << epoch << " loss " << loss.item<double>() << "\n";
  }

  // Per-sample gradients: the Jacobian of the per-sample losses with respect to every weight.
  const auto named = net->named_parameters();
  const std::vector<std::string> names = named.keys();
  dydx::TensorList weights;
  for (const auto& p : named) weights.push_back(p.value().detach());
  const dydx::Tensor batch = x.narrow(0, 0, 4), batch_labels = labels.narrow(0, 0, 4);
  auto per_sample_loss = [&](const dydx::TensorList& w) {
    std::unordered_map<std::string, dydx::Tensor> replaced;
    for (size_t i = 0; i < names.size(); ++i) replaced.emplace(names[i], w[i]);
    dydx::Tensor logits = dydx::func::functional_call(net, replaced, batch);
    return dydx::TensorList{dydx::nn::functional::cross_entropy(
        logits, batch_labels, dydx::nn::functional::CrossEntropyFuncOptions().reduction(dydx::kNone))};
  };
  const dydx::TensorList grads = dydx::func::jacrev(per_sample_loss, weights, {0, 1, 2, 3});
  for (size_t i = 0; i < names.size(); ++i)
    std::cout << "per-sample gradient of " << names[i] << ": " << grads[i].sizes() << "\n";
}
