// nn layers against PyTorch 1.13: small networks of every layer (Linear, the activations, Conv1d,
// Conv2d, pooling, Flatten/Unflatten, LayerNorm, BatchNorm in train and eval mode) are built with
// dydx::nn, given the weights PyTorch used (nn_goldens.txt, from make_nn_goldens.py), and their
// outputs, input gradients, parameter gradients and running statistics compared. Also: default
// initialisation bounds, BatchNorm's buffers and modes, loss modules against their functions,
// layer errors.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "dydx/dydx.hpp"
#include "test_util.hpp"
#include "golden_text.hpp"

using namespace dydx;
using dydx::testing::error_of;
namespace F = dydx::nn::functional;
using dydx::testing::golden_lines;
using dydx::testing::golden_tensor;

namespace {

/// The network make_nn_goldens.py builds under this name, spelled with dydx::nn.
nn::Sequential build(const std::string& name) {
  using namespace dydx::nn;
  if (name == "mlp") return Sequential(Linear(4, 8), ReLU(), Linear(8, 3), Tanh());
  if (name == "activations")
    return Sequential(Linear(3, 6), GELU(), Linear(6, 6), GELU(GELUOptions().approximate("tanh")), Linear(6, 6), SiLU(),
                      Linear(6, 6), ELU(ELUOptions().alpha(0.5)), Linear(6, 6),
                      LeakyReLU(LeakyReLUOptions().negative_slope(0.2)), Linear(6, 6),
                      Softplus(SoftplusOptions().beta(2).threshold(1)), Linear(6, 6), Sigmoid(), Linear(6, 4),
                      Softmax(1), Linear(LinearOptions(4, 4).bias(false)), LogSoftmax(-1));
  if (name == "cnn")
    return Sequential(Conv2d(Conv2dOptions(2, 4, 3).padding(1)), ReLU(), MaxPool2d(2),
                      Conv2d(Conv2dOptions(4, 4, 3).padding(1).groups(2)), Tanh(),
                      Conv2d(Conv2dOptions(4, 3, {2, 3}).stride({1, 2}).bias(false)), AdaptiveAvgPool2d(AdaptiveAvgPool2dOptions({2, 1})),
                      Flatten(), Linear(6, 2));
  if (name == "cnn_avgpool")
    return Sequential(Conv2d(Conv2dOptions(1, 2, 3).padding(1).dilation(1)), AvgPool2d(2),
                      Conv2d(Conv2dOptions(2, 2, 2).dilation(2)), MaxPool2d(MaxPool2dOptions(2).stride(1)),
                      Flatten(FlattenOptions().start_dim(0)));
  if (name == "conv1d")
    return Sequential(Conv1d(Conv1dOptions(3, 4, 3).stride(2).padding(1)), Tanh(),
                      Conv1d(Conv1dOptions(4, 2, 2).dilation(2)), Flatten(), Linear(6, 2));
  if (name == "layernorm")
    return Sequential(Linear(5, 6), LayerNorm(std::vector<int64_t>{6}), Tanh(), Linear(6, 6),
                      LayerNorm(LayerNormOptions({6}).elementwise_affine(false)), Unflatten(UnflattenOptions(1, {2, 3})),
                      LayerNorm(LayerNormOptions({2, 3}).eps(1e-3)));
  if (name == "batchnorm1d_train") return Sequential(Linear(4, 5), BatchNorm1d(5), Tanh());
  if (name == "batchnorm1d_3d_train")
    return Sequential(BatchNorm1d(BatchNormOptions(3).momentum(std::nullopt).affine(false)));
  if (name == "batchnorm2d_train") return Sequential(Conv2d(2, 3, 3), BatchNorm2d(BatchNormOptions(3).momentum(0.3)));
  if (name == "batchnorm1d_eval") return Sequential(Linear(3, 4), BatchNorm1d(BatchNormOptions(4).eps(1e-3)));
  if (name == "batchnorm2d_no_stats") return Sequential(BatchNorm2d(BatchNormOptions(2).track_running_stats(false)));
  ADD_FAILURE() << "no network called " << name;
  return Sequential();
}

struct Record {
  std::string kind, name;
  Tensor value;
};

struct Case {
  std::string name;
  bool train = true;
  std::vector<Record> records;
  Tensor find(const std::string& kind, const std::string& name = "") const {
    for (const auto& r : records)
      if (r.kind == kind && r.name == name) return r.value;
    ADD_FAILURE() << "no " << kind << " " << name;
    return Tensor();
  }
};

std::vector<Case> read_goldens() {
  std::vector<Case> cases;
  for (const std::string& text : golden_lines("nn_goldens.txt")) {
    std::stringstream line(text);
    std::string kind;
    line >> kind;
    if (kind == "case") {
      Case c;
      std::string mode;
      line >> c.name >> mode;
      c.train = mode == "train";
      cases.push_back(c);
    } else if (kind == "end") {
      continue;
    } else {
      Record r{kind, "", {}};
      if (kind == "param" || kind == "buffer" || kind == "grad" || kind == "buffer_after") line >> r.name;
      std::string shape, values;
      line >> shape >> values;
      r.value = golden_tensor(shape, values);
      cases.back().records.push_back(r);
    }
  }
  return cases;
}

std::string print(const nn::Module& m) {
  std::ostringstream s;
  s << m;
  return s.str();
}

}  // namespace

TEST(NnGoldens, EveryNetworkMatchesPyTorch) {
  const std::vector<Case> cases = read_goldens();
  ASSERT_EQ(cases.size(), 11u);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    nn::Sequential net = build(c.name);
    net->to(kFloat64);
    net->train(c.train);
    // Same names, in the same order, as PyTorch's named_parameters() and named_buffers().
    std::vector<std::string> param_names, buffer_names;
    for (const auto& r : c.records) {
      if (r.kind == "param") param_names.push_back(r.name);
      if (r.kind == "buffer") buffer_names.push_back(r.name);
    }
    ASSERT_EQ(net->named_parameters().keys(), param_names);
    ASSERT_EQ(net->named_buffers().keys(), buffer_names);
    {
      NoGradGuard no_grad;
      for (auto& p : net->named_parameters()) p.value().copy_(c.find("param", p.key()));
      for (auto& b : net->named_buffers()) b.value().copy_(c.find("buffer", b.key()));
    }
    Tensor x = c.find("input").clone().requires_grad_();
    Tensor y = net(x);
    const Tensor expected = c.find("output");
    ASSERT_EQ(y.sizes(), expected.sizes());
    EXPECT_TRUE(allclose(y, expected, 1e-10, 1e-12)) << "output";
    (y * c.find("cotangent")).sum().backward();
    EXPECT_TRUE(allclose(x.grad(), c.find("grad_input"), 1e-9, 1e-11)) << "input gradient";
    for (const auto& p : net->named_parameters())
      EXPECT_TRUE(allclose(p.value().grad(), c.find("grad", p.key()), 1e-9, 1e-11)) << "gradient of " << p.key();
    for (const auto& b : net->named_buffers()) {
      const Tensor after = c.find("buffer_after", b.key());
      EXPECT_TRUE(allclose(b.value().to(kFloat64), after, 1e-10, 1e-12)) << "buffer " << b.key();
    }
  }
}

TEST(NnLayers, LinearDefaultInitialisation) {
  manual_seed(7);
  nn::Linear lin(50, 40);
  const double bound = 1.0 / std::sqrt(50.0);  // kaiming_uniform_(a = sqrt(5)) on fan_in 50
  EXPECT_EQ(lin->weight.dtype(), kFloat32);
  EXPECT_LE(lin->weight.abs().max().item<double>(), bound);
  EXPECT_GT(lin->weight.abs().max().item<double>(), 0.95 * bound);
  EXPECT_LE(lin->bias.abs().max().item<double>(), bound);
  // Uniform on +-bound: variance bound^2 / 3.
  const Tensor w = lin->weight.detach().to(kFloat64);
  const double var = ((w - w.mean()) * (w - w.mean())).mean().item<double>();
  EXPECT_NEAR(var, bound * bound / 3, 0.1 * bound * bound / 3);
  EXPECT_NEAR(w.mean().item<double>(), 0.0, 0.05 * bound);
  EXPECT_TRUE(lin->weight.is_leaf());
  EXPECT_TRUE(lin->weight.requires_grad());
  // reset_parameters draws again.
  const Tensor before = lin->weight.clone();
  lin->reset_parameters();
  EXPECT_FALSE(equal(before, lin->weight));
  // Zero features: no division by zero, empty parameters.
  nn::Linear empty_in(0, 3);
  EXPECT_EQ(empty_in->weight.sizes(), IntArrayRef({3, 0}));
  EXPECT_TRUE(equal(empty_in(zeros({2, 0})), empty_in->bias.expand({2, 3})));
}

TEST(NnLayers, ConvDefaultInitialisationAndPrinting) {
  manual_seed(8);
  nn::Conv2d conv(nn::Conv2dOptions(4, 6, {3, 5}).stride(2).padding(1).groups(2));
  EXPECT_EQ(conv->weight.sizes(), IntArrayRef({6, 2, 3, 5}));
  const double bound = 1.0 / std::sqrt(2.0 * 3 * 5);  // fan_in = in / groups * kh * kw
  EXPECT_LE(conv->weight.abs().max().item<double>(), bound);
  EXPECT_GT(conv->weight.abs().max().item<double>(), 0.9 * bound);
  EXPECT_LE(conv->bias.abs().max().item<double>(), bound);
  EXPECT_EQ(print(*conv), "dydx::nn::Conv2d(4, 6, kernel_size=[3, 5], stride=[2, 2], padding=[1, 1], groups=2)");
  EXPECT_EQ(print(*nn::Conv2d(1, 2, 3)), "dydx::nn::Conv2d(1, 2, kernel_size=[3, 3], stride=[1, 1])");
  EXPECT_EQ(print(*nn::Conv1d(nn::Conv1dOptions(1, 2, 3).padding(kSame).dilation(2).bias(false))),
            "dydx::nn::Conv1d(1, 2, kernel_size=[3], stride=[1], padding='same', dilation=[2], bias=false)");
  EXPECT_EQ(print(*nn::MaxPool2d(2)),
            "dydx::nn::MaxPool2d(kernel_size=[2, 2], stride=[2, 2], padding=[0, 0], dilation=[1, 1], ceil_mode=false)");
  EXPECT_EQ(print(*nn::AvgPool2d(nn::AvgPool2dOptions(3).stride(1))),
            "dydx::nn::AvgPool2d(kernel_size=[3, 3], stride=[1, 1], padding=[0, 0])");
  EXPECT_EQ(print(*nn::AdaptiveAvgPool2d(1)), "dydx::nn::AdaptiveAvgPool2d(output_size=[1, 1])");
  EXPECT_EQ(print(*nn::LayerNorm(std::vector<int64_t>{4})), "dydx::nn::LayerNorm([4], eps=1e-05, elementwise_affine=true)");
  EXPECT_EQ(print(*nn::BatchNorm2d(16)),
            "dydx::nn::BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=true, track_running_stats=true)");
  EXPECT_EQ(print(*nn::Unflatten(nn::UnflattenOptions(1, {2, 3}))), "dydx::nn::Unflatten(dim=1, unflattened_size={2, 3})");
}

TEST(NnLayers, LayerErrors) {
  EXPECT_NE(error_of([] { nn::Conv2d(nn::Conv2dOptions(3, 4, 3).groups(2)); }).find("in_channels must be divisible by groups"),
            std::string::npos);
  EXPECT_NE(error_of([] { nn::Conv2d(nn::Conv2dOptions(4, 3, 3).groups(2)); }).find("out_channels must be divisible by groups"),
            std::string::npos);
  EXPECT_NE(error_of([] { nn::Conv2d(nn::Conv2dOptions(4, 4, 3).stride(2).padding(kSame)); }).find("'same'"),
            std::string::npos);
  EXPECT_NE(error_of([] { nn::Conv2d(0, 4, 3); }).find("must be positive"), std::string::npos);
  nn::Conv2d conv(3, 4, 3);
  EXPECT_NE(error_of([&] { conv(ones({1, 2, 5, 5})); }).find("conv2d"), std::string::npos);
  nn::BatchNorm2d bn(3);
  EXPECT_EQ(error_of([&] { bn(ones({3, 5, 5})); }), "nn::BatchNorm2d: expected 4D input (got 3D input)");
  nn::BatchNorm1d bn1(3);
  EXPECT_EQ(error_of([&] { bn1(ones({2, 3, 4, 5})); }), "nn::BatchNorm1d: expected 2D or 3D input (got 4D input)");
  EXPECT_NE(error_of([&] { bn1(ones({2, 4})); }).find("expected input with 3 channels"), std::string::npos);
  // A rejected input leaves the running stats and the batch count alone.
  EXPECT_EQ(error_of([&] { bn1(ones({1, 3})); }),
            "batch_norm: Expected more than 1 value per channel when training, got input size [1,3]");
  EXPECT_EQ(bn1->num_batches_tracked.item<int64_t>(), 0);
  EXPECT_TRUE(equal(bn1->running_mean, zeros({3})));
  bn1->eval();  // in eval mode one sample is fine
  EXPECT_EQ(bn1(ones({1, 3})).sizes(), IntArrayRef({1, 3}));
  EXPECT_NE(error_of([] { nn::GELU(nn::GELUOptions().approximate("fast")); }).find("approximate"), std::string::npos);
  nn::LayerNorm ln(std::vector<int64_t>{4});
  EXPECT_NE(error_of([&] { ln(ones({2, 3})); }).find("layer_norm"), std::string::npos);
}

TEST(NnLayers, BatchNormBuffersAndModes) {
  nn::BatchNorm1d bn(2);
  EXPECT_EQ(bn->named_buffers().keys(),
            (std::vector<std::string>{"running_mean", "running_var", "num_batches_tracked"}));
  EXPECT_EQ(bn->num_batches_tracked.dtype(), kInt64);
  Tensor x = tensor({{1.0, 2.0}, {3.0, 6.0}});
  Tensor y = bn(x);
  EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 1);
  EXPECT_TRUE(allclose(bn->running_mean, tensor({0.2, 0.4})));
  // Eval: the running stats normalise, nothing is updated.
  bn->eval();
  Tensor z = bn(x);
  EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 1);
  EXPECT_TRUE(allclose(z, (x - bn->running_mean) / (bn->running_var + 1e-5).sqrt(), 1e-5, 1e-6));
  // to(kFloat64) converts the statistics but not the counter.
  bn->to(kFloat64);
  EXPECT_EQ(bn->running_var.dtype(), kFloat64);
  EXPECT_EQ(bn->num_batches_tracked.dtype(), kInt64);
  nn::BatchNorm1d plain(nn::BatchNormOptions(2).affine(false).track_running_stats(false));
  EXPECT_EQ(plain->parameters().size(), 0u);
  EXPECT_EQ(plain->buffers().size(), 0u);
  EXPECT_TRUE(allclose(plain(x), tensor({{-1.0, -1.0}, {1.0, 1.0}}), 1e-4, 1e-5));
}

TEST(NnLayers, LossModulesAreTheirFunctions) {
  manual_seed(9);
  Tensor a = randn({4, 3}), b = randn({4, 3}), p = rand({4, 3}), t = gt(rand({4, 3}), full({4, 3}, 0.5)).to(kFloat32);
  Tensor cls = tensor({0, 2, 1, 2});
  Tensor w = tensor({0.5, 1.0, 2.0});
  EXPECT_TRUE(equal(nn::MSELoss()(a, b), F::mse_loss(a, b)));
  EXPECT_TRUE(equal(nn::MSELoss(nn::MSELossOptions(kSum))(a, b), F::mse_loss(a, b, kSum)));
  EXPECT_TRUE(equal(nn::L1Loss()(a, b), F::l1_loss(a, b)));
  EXPECT_TRUE(equal(nn::SmoothL1Loss(nn::SmoothL1LossOptions().beta(0.5))(a, b),
                    F::smooth_l1_loss(a, b, F::SmoothL1LossFuncOptions().beta(0.5))));
  EXPECT_TRUE(equal(nn::HuberLoss(nn::HuberLossOptions().delta(0.3))(a, b),
                    F::huber_loss(a, b, F::HuberLossFuncOptions().delta(0.3))));
  EXPECT_TRUE(equal(nn::BCELoss()(p, t), F::binary_cross_entropy(p, t)));
  EXPECT_TRUE(equal(nn::BCEWithLogitsLoss(nn::BCEWithLogitsLossOptions().pos_weight(w))(a, t),
                    F::binary_cross_entropy_with_logits(a, t, F::BinaryCrossEntropyWithLogitsFuncOptions().pos_weight(w))));
  EXPECT_TRUE(equal(nn::NLLLoss()(a.log_softmax(1), cls), F::nll_loss(a.log_softmax(1), cls)));
  nn::CrossEntropyLoss ce(nn::CrossEntropyLossOptions().weight(w).label_smoothing(0.1));
  EXPECT_TRUE(equal(ce(a, cls), F::cross_entropy(a, cls, F::CrossEntropyFuncOptions().weight(w).label_smoothing(0.1))));
  EXPECT_EQ(ce->named_buffers().keys(), std::vector<std::string>{"weight"});
  ce->to(kFloat64);  // the class weights are a buffer, so they follow the module's dtype
  EXPECT_EQ(ce->weight.dtype(), kFloat64);
  EXPECT_TRUE(allclose(ce(a.to(kFloat64), cls),
                       F::cross_entropy(a.to(kFloat64), cls,
                                        F::CrossEntropyFuncOptions().weight(w.to(kFloat64)).label_smoothing(0.1))));
}

// A libtorch training loop, ported by replacing torch:: with dydx::.
TEST(NnLayers, TrainingLoopAsLibtorch) {
  manual_seed(10);
  struct ClassifierImpl : dydx::nn::Module {
    ClassifierImpl() {
      conv = register_module("conv", dydx::nn::Conv2d(dydx::nn::Conv2dOptions(1, 4, 3).padding(1)));
      bn = register_module("bn", dydx::nn::BatchNorm2d(4));
      fc = register_module("fc", dydx::nn::Linear(4 * 2 * 2, 3));
    }
    dydx::Tensor forward(dydx::Tensor x) {
      x = dydx::relu(bn(conv(x)));
      x = dydx::nn::functional::max_pool2d(x, dydx::nn::functional::MaxPool2dFuncOptions(2));
      return fc(x.flatten(1));
    }
    dydx::nn::Conv2d conv{nullptr};
    dydx::nn::BatchNorm2d bn{nullptr};
    dydx::nn::Linear fc{nullptr};
  };
  auto model = std::make_shared<ClassifierImpl>();
  dydx::optim::Adam optimizer(model->parameters(), dydx::optim::AdamOptions(1e-2));
  dydx::nn::CrossEntropyLoss criterion;
  Tensor x = randn({12, 1, 4, 4});
  Tensor target = tensor({0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2});
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    optimizer.zero_grad();
    Tensor loss = criterion(model->forward(x), target);
    loss.backward();
    optimizer.step();
    if (step == 0) first = loss.item<double>();
    last = loss.item<double>();
  }
  EXPECT_LT(last, 0.5 * first);
  model->eval();
  EXPECT_EQ(model->forward(x).sizes(), IntArrayRef({12, 3}));
}

TEST(NnLayers, DropoutTrainAndEval) {
  manual_seed(14);
  nn::Dropout drop(0.25);
  EXPECT_EQ(print(*drop), "dydx::nn::Dropout(p=0.25, inplace=false)");
  Tensor x = ones({200, 100});
  Tensor y = drop(x);
  // Each element is 0 or 1 / (1 - p); about p of them are 0.
  const double zeros_fraction = eq(y, zeros_like(y)).to(kFloat64).mean().item<double>();
  EXPECT_NEAR(zeros_fraction, 0.25, 0.02);
  EXPECT_TRUE(allclose(y.max(), full({}, 1.0 / 0.75)));
  drop->eval();
  EXPECT_TRUE(equal(drop(x), x));
  EXPECT_NE(error_of([] { nn::Dropout(1.5); }).find("dropout probability has to be between 0 and 1, but got 1.5"),
            std::string::npos);
  nn::Sequential seq(nn::Linear(3, 3), nn::Dropout());
  EXPECT_EQ(print(*seq[1]), "dydx::nn::Dropout(p=0.5, inplace=false)");
  seq->eval();
  Tensor in = ones({2, 3});
  EXPECT_TRUE(equal(seq(in), seq[0]->as<nn::Linear>()->forward(in)));
}
