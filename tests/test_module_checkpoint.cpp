// dydx::save(module, path) / dydx::load(module, path): a module's parameters and buffers in a
// safetensors file under their dotted names; a file of another model (missing or unexpected keys,
// other shapes or dtypes) raises, listing every key at fault, and loads nothing.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>
#include <dydx/serialize.hpp>

#include <filesystem>
#include <string>
#include <unistd.h>

#include "test_util.hpp"

using namespace dydx;
using dydx::testing::ThrowsWith;

namespace {

struct NetImpl : nn::Module {
  explicit NetImpl(int64_t hidden = 8) {
    fc1 = register_module("fc1", nn::Linear(4, hidden));
    fc2 = register_module("fc2", nn::Linear(nn::LinearOptions(hidden, 3).bias(false)));
    steps = register_buffer("steps", zeros({1}, kInt64));
  }
  Tensor forward(Tensor x) { return fc2(relu(fc1(x))); }
  nn::Linear fc1{nullptr}, fc2{nullptr};
  Tensor steps;
};
DYDX_MODULE(Net);

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("dydx_" + std::to_string(::getpid()) + "_" + name + ".safetensors"))
      .string();
}

std::vector<std::vector<double>> values_of(const nn::Module& m) {
  std::vector<std::vector<double>> out;
  for (const auto& item : m.named_parameters()) out.push_back(item.value().to_vector<double>());
  for (const auto& item : m.named_buffers()) out.push_back(item.value().to_vector<double>());
  return out;
}

}  // namespace

TEST(ModuleCheckpoint, RoundTripIntoAnotherInstance) {
  const std::string path = temp_path("net");
  Net a, b;
  a->steps.fill_(7);
  save(a, path, {{"epoch", "2"}});
  const SafetensorsFile raw = read_safetensors(path);
  EXPECT_TRUE(raw.tensors.count("fc1.weight"));
  EXPECT_TRUE(raw.tensors.count("fc1.bias"));
  EXPECT_TRUE(raw.tensors.count("fc2.weight"));
  EXPECT_FALSE(raw.tensors.count("fc2.bias"));
  EXPECT_EQ(raw.tensors.at("steps").item<int64_t>(), 7);
  EXPECT_EQ(raw.metadata.at("epoch"), "2");
  EXPECT_EQ(raw.metadata.at("format"), "pt");

  const Tensor weight_handle = b->fc1->weight;
  load(b, path);
  EXPECT_EQ(values_of(*a), values_of(*b));
  // In place: the module's own handles see the values, and they stay trainable leaves.
  EXPECT_EQ(weight_handle.impl(), b->fc1->weight.impl());
  EXPECT_TRUE(b->fc1->weight.requires_grad());
  EXPECT_TRUE(b->fc1->weight.is_leaf());
  const Tensor x = randn({2, 4});
  EXPECT_EQ(a(x).to_vector<double>(), b(x).to_vector<double>());
  std::filesystem::remove(path);
}

TEST(ModuleCheckpoint, AnotherModelRaisesListingTheKeysAndLoadsNothing) {
  const std::string path = temp_path("wrong");
  Net small(5);
  save(small, path);
  Net b;
  const auto before = values_of(*b);
  EXPECT_TRUE(ThrowsWith([&] { load(b, path); },
                         {"load(module)", path, "nothing was loaded", "wrong shape or dtype",
                          "fc1.weight (file [5,4] float32, module [8,4] float32)", "fc1.bias", "fc2.weight"}));
  EXPECT_EQ(values_of(*b), before);

  // Missing and unexpected keys, a wrong dtype.
  std::map<std::string, Tensor> tensors = load_safetensors(path);
  Net c;
  std::map<std::string, Tensor> edited;
  for (const auto& item : c->named_parameters()) edited[item.key()] = item.value().detach().clone();
  edited.erase("fc2.weight");
  edited["fc3.weight"] = zeros({1});
  edited["steps"] = zeros({1}, kFloat64);
  save_safetensors(edited, path);
  const auto before_c = values_of(*c);
  EXPECT_TRUE(ThrowsWith([&] { load(c, path); },
                         {"missing keys [fc2.weight]", "unexpected keys [fc3.weight]",
                          "steps (file [1] float64, module [1] int64)"}));
  EXPECT_EQ(values_of(*c), before_c);
  EXPECT_TRUE(ThrowsWith([&] { load(c, temp_path("absent")); }, {"cannot open"}));
  std::filesystem::remove(path);
}

// A model and its optimizer checkpointed together continue training exactly.
TEST(ModuleCheckpoint, ModelAndOptimizerResumeTraining) {
  const std::string model_path = temp_path("model"), opt_path = temp_path("adam");
  manual_seed(3);
  const Tensor x = randn({16, 4}), y = randn({16, 3});
  Net a;
  optim::Adam opt_a(a->parameters(), optim::AdamOptions(1e-2));
  auto train = [&](Net& net, optim::Adam& opt) {
    opt.zero_grad();
    nn::functional::mse_loss(net(x), y).backward();
    opt.step();
  };
  for (int i = 0; i < 3; ++i) train(a, opt_a);
  save(a, model_path);
  save(opt_a, opt_path);
  Net b;
  optim::Adam opt_b(b->parameters(), optim::AdamOptions(1));
  load(b, model_path);
  load(opt_b, opt_path);
  for (int i = 0; i < 3; ++i) {
    train(a, opt_a);
    train(b, opt_b);
  }
  EXPECT_EQ(values_of(*a), values_of(*b));
  std::filesystem::remove(model_path);
  std::filesystem::remove(opt_path);
}
