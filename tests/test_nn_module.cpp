// nn::Module, holders and containers: registration and its errors, dotted names in libtorch's order,
// train/eval, to(dtype) keeping identity, zero_grad, printing, Sequential, ModuleList, Functional.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "dydx/dydx.hpp"
#include "test_util.hpp"

using namespace dydx;
using dydx::testing::error_of;

namespace {

struct NetImpl : nn::Module {
  NetImpl() {
    fc1 = register_module("fc1", nn::Linear(4, 8));
    fc2 = register_module("fc2", nn::Linear(nn::LinearOptions(8, 3).bias(false)));
    scale = register_parameter("scale", ones({3}));
    steps = register_buffer("steps", zeros({1}, kInt64));
  }
  Tensor forward(Tensor x) { return fc2(relu(fc1(x))) * scale; }
  nn::Linear fc1{nullptr}, fc2{nullptr};
  Tensor scale, steps;
};
DYDX_MODULE(Net);

struct OuterImpl : nn::Module {
  OuterImpl() {
    body = register_module("body", nn::Sequential(Net(), nn::Functional(dydx::tanh), nn::Linear(3, 2)));
    head = register_module("head", nn::Linear(2, 1));
  }
  Tensor forward(const Tensor& x) { return head(body(x)); }
  nn::Sequential body{nullptr};
  nn::Linear head{nullptr};
};
DYDX_MODULE(Outer);

std::string print(const nn::Module& m) {
  std::ostringstream s;
  s << m;
  return s.str();
}

}  // namespace

TEST(NnModule, NamesAndOrderAsLibtorch) {
  Outer net;
  const auto params = net->named_parameters();
  EXPECT_EQ(params.keys(), (std::vector<std::string>{"body.0.scale", "body.0.fc1.weight", "body.0.fc1.bias",
                                                     "body.0.fc2.weight", "body.2.weight", "body.2.bias",
                                                     "head.weight", "head.bias"}));
  EXPECT_EQ(net->parameters().size(), 8u);
  EXPECT_EQ(net->parameters(false).size(), 0u);
  EXPECT_EQ(net->named_buffers().keys(), std::vector<std::string>{"body.0.steps"});
  EXPECT_EQ(net->named_children().keys(), (std::vector<std::string>{"body", "head"}));
  EXPECT_EQ(net->children().size(), 2u);
  EXPECT_EQ(net->named_modules().keys(),
            (std::vector<std::string>{"", "body", "body.0", "body.0.fc1", "body.0.fc2", "body.1", "body.2", "head"}));
  EXPECT_EQ(net->modules(false).size(), 7u);
  EXPECT_EQ(net->modules().front().get(), net.get());
  // The dict holds handles to the very parameters: the member and the entry are one tensor.
  EXPECT_EQ(params["head.weight"].impl(), net->head->weight.impl());
  EXPECT_EQ(params[6].key(), "head.weight");
  EXPECT_TRUE(params.contains("body.0.fc2.weight"));
  EXPECT_FALSE(params.contains("body.0.fc2.bias"));  // undefined: left out, as libtorch
  EXPECT_EQ(error_of([&] { (void)params["nope"]; }), "Parameter 'nope' is not defined");
  EXPECT_EQ(error_of([&] { (void)params[8]; }), "Index 8 is out of bounds");
  size_t n = 0;
  for (const auto& p : net->named_parameters()) {
    EXPECT_TRUE(p.value().requires_grad()) << p.key();
    EXPECT_TRUE(p->is_leaf());
    ++n;
  }
  EXPECT_EQ(n, 8u);
  EXPECT_EQ(params["body.0.fc1.weight"].sizes(), IntArrayRef({8, 4}));
  // A module that is not held by a shared_ptr can still list its submodules.
  NetImpl plain;
  EXPECT_EQ(plain.modules(false).size(), 2u);
  EXPECT_NE(error_of([&] { plain.modules(); }).find("not owned by a std::shared_ptr"), std::string::npos);
  // as<>: the Impl behind a holder type.
  EXPECT_NE(net->head->as<nn::Linear>(), nullptr);
  EXPECT_EQ(net->head->as<nn::ReLU>(), nullptr);
}

TEST(NnModule, ForwardBackwardThroughUserModule) {
  manual_seed(0);
  Net net;
  Tensor x = randn({5, 4});
  Tensor y = net(x);
  EXPECT_EQ(y.sizes(), IntArrayRef({5, 3}));
  y.sum().backward();
  for (const auto& p : net->named_parameters()) EXPECT_TRUE(p->grad().defined()) << p.key();
  // The member call and operator() agree.
  EXPECT_TRUE(equal(net->forward(x), net(x)));
}

TEST(NnModule, TrainEvalPropagates) {
  Outer net;
  EXPECT_TRUE(net->is_training());
  net->eval();
  for (const auto& m : net->modules()) EXPECT_FALSE(m->is_training());
  net->body->train();
  EXPECT_FALSE(net->is_training());
  EXPECT_TRUE(net->body->is_training());
  EXPECT_TRUE(net->body[0]->is_training());
  net->train(true);
  for (const auto& m : net->modules()) EXPECT_TRUE(m->is_training());
}

TEST(NnModule, ToFloat64KeepsIdentity) {
  Net net;
  const Tensor w = net->fc1->weight;  // a handle held elsewhere, as an optimizer holds it
  const std::vector<float> before = w.to_vector<float>();
  net(ones({2, 4})).sum().backward();
  net->to(kFloat64);
  EXPECT_EQ(w.dtype(), kFloat64);
  EXPECT_EQ(net->fc1->weight.impl(), w.impl());
  EXPECT_TRUE(w.is_leaf());
  EXPECT_TRUE(w.requires_grad());
  EXPECT_EQ(w.grad().dtype(), kFloat64);
  const std::vector<double> after = w.to_vector<double>();
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(after[i], static_cast<double>(before[i]));
  for (const auto& p : net->parameters()) EXPECT_EQ(p.dtype(), kFloat64);
  EXPECT_EQ(net->steps.dtype(), kInt64);  // integer buffers keep their dtype
  Tensor y = net(ones({2, 4}, kFloat64));
  EXPECT_EQ(y.dtype(), kFloat64);
  y.sum().backward();
  EXPECT_NE(error_of([&] { net->to(kInt64); }).find("floating point"), std::string::npos);
  EXPECT_EQ(w.dtype(), kFloat64);
}

TEST(NnModule, ZeroGrad) {
  Net net;
  net(ones({2, 4})).sum().backward();
  const Tensor g = net->fc1->weight.grad();
  net->zero_grad();  // libtorch 1.13's default: zeroed in place
  EXPECT_TRUE(net->fc1->weight.grad().defined());
  EXPECT_EQ(net->fc1->weight.grad().impl(), g.impl());
  EXPECT_EQ(g.abs().sum().item<double>(), 0.0);
  net->zero_grad(/*set_to_none=*/true);
  for (const auto& p : net->parameters()) EXPECT_FALSE(p.grad().defined());
  net->zero_grad();  // undefined grads stay undefined
  for (const auto& p : net->parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(NnModule, PrintsAsLibtorch) {
  nn::Linear lin(3, 2);
  EXPECT_EQ(print(*lin), "dydx::nn::Linear(in_features=3, out_features=2, bias=true)");
  nn::Sequential seq(nn::Linear(nn::LinearOptions(3, 2).bias(false)), nn::ReLU(), nn::Functional(dydx::relu),
                     nn::Softmax(1), nn::LeakyReLU(), nn::ELU(), nn::Softplus(), nn::GELU(), nn::Tanh(), nn::Sigmoid(),
                     nn::SiLU(), nn::LogSoftmax(nn::LogSoftmaxOptions(-1)), nn::Flatten(), nn::Identity(),
                     nn::ReLU(nn::ReLUOptions(true)));
  EXPECT_EQ(print(*seq),
            "dydx::nn::Sequential(\n"
            "  (0): dydx::nn::Linear(in_features=3, out_features=2, bias=false)\n"
            "  (1): dydx::nn::ReLU()\n"
            "  (2): dydx::nn::Functional()\n"
            "  (3): dydx::nn::Softmax(dim=1)\n"
            "  (4): dydx::nn::LeakyReLU(negative_slope=0.01)\n"
            "  (5): dydx::nn::ELU(alpha=1)\n"
            "  (6): dydx::nn::Softplus(beta=1, threshold=20)\n"
            "  (7): dydx::nn::GELU()\n"
            "  (8): dydx::nn::Tanh()\n"
            "  (9): dydx::nn::Sigmoid()\n"
            "  (10): dydx::nn::SiLU()\n"
            "  (11): dydx::nn::LogSoftmax(dim=-1)\n"
            "  (12): dydx::nn::Flatten(start_dim=1, end_dim=-1)\n"
            "  (13): dydx::nn::Identity()\n"
            "  (14): dydx::nn::ReLU(inplace=true)\n"
            ")");
  Net net;
  EXPECT_EQ(print(*net),
            "(anonymous namespace)::NetImpl(\n"
            "  (fc1): dydx::nn::Linear(in_features=4, out_features=8, bias=true)\n"
            "  (fc2): dydx::nn::Linear(in_features=8, out_features=3, bias=false)\n"
            ")");
  std::ostringstream holder;
  holder << lin << " " << nn::Linear(nullptr);
  EXPECT_EQ(holder.str(), "dydx::nn::Linear(in_features=3, out_features=2, bias=true) nullptr");
  EXPECT_EQ(print(*nn::MSELoss()), "dydx::nn::MSELoss()");
  EXPECT_EQ(print(*nn::CrossEntropyLoss()), "dydx::nn::CrossEntropyLoss()");
  Outer outer;
  EXPECT_EQ(print(*outer),
            "(anonymous namespace)::OuterImpl(\n"
            "  (body): dydx::nn::Sequential(\n"
            "    (0): (anonymous namespace)::NetImpl(\n"
            "      (fc1): dydx::nn::Linear(in_features=4, out_features=8, bias=true)\n"
            "      (fc2): dydx::nn::Linear(in_features=8, out_features=3, bias=false)\n"
            "    )\n"
            "    (1): dydx::nn::Functional()\n"
            "    (2): dydx::nn::Linear(in_features=3, out_features=2, bias=true)\n"
            "  )\n"
            "  (head): dydx::nn::Linear(in_features=2, out_features=1, bias=true)\n"
            ")");
}

TEST(NnModule, RegistrationErrors) {
  struct Bad : nn::Module {
    using nn::Module::register_buffer;
    using nn::Module::register_module;
    using nn::Module::register_parameter;
  };
  Bad m;
  m.register_parameter("w", zeros({2}));
  EXPECT_EQ(error_of([&] { m.register_parameter("w", zeros({2})); }), "Parameter 'w' already defined");
  EXPECT_EQ(error_of([&] { m.register_parameter("", zeros({2})); }), "Parameter name must not be empty");
  EXPECT_EQ(error_of([&] { m.register_parameter("a.b", zeros({2})); }),
            "Parameter name must not contain a dot (got 'a.b')");
  EXPECT_EQ(error_of([&] { m.register_buffer("", zeros({2})); }), "Buffer name must not be empty");
  EXPECT_EQ(error_of([&] { m.register_buffer("x.y", zeros({2})); }), "Buffer name must not contain a dot (got 'x.y')");
  m.register_buffer("b", zeros({2}));
  EXPECT_EQ(error_of([&] { m.register_buffer("b", zeros({2})); }), "Buffer 'b' already defined");
  m.register_module("sub", nn::Linear(1, 1));
  EXPECT_EQ(error_of([&] { m.register_module("sub", nn::Linear(1, 1)); }), "Submodule 'sub' already defined");
  EXPECT_EQ(error_of([&] { m.register_module("", nn::Linear(1, 1)); }), "Submodule name must not be empty");
  EXPECT_EQ(error_of([&] { m.register_module("s.t", nn::Linear(1, 1)); }),
            "Submodule name must not contain a dot (got 's.t')");
  EXPECT_EQ(error_of([&] { m.register_module("empty", nn::Linear(nullptr)); }), "Accessing empty ModuleHolder");
  EXPECT_NE(error_of([&] { m.register_parameter("nonleaf", ones({2}, TensorOptions().requires_grad(true)) * 2); })
                .find("must be a leaf"),
            std::string::npos);
  EXPECT_NE(error_of([&] { m.register_parameter("ints", zeros({2}, kInt64)); }).find("cannot require grad"),
            std::string::npos);
  m.register_parameter("ints", zeros({2}, kInt64), /*requires_grad=*/false);
  // Nothing half-registered after the errors.
  EXPECT_EQ(m.named_parameters().keys(), (std::vector<std::string>{"w", "ints", "sub.weight", "sub.bias"}));
  EXPECT_EQ(m.named_buffers().keys(), std::vector<std::string>{"b"});
}

TEST(NnModule, NullHolder) {
  nn::Linear lin{nullptr};
  EXPECT_TRUE(lin.is_empty());
  EXPECT_FALSE(static_cast<bool>(lin));
  EXPECT_EQ(error_of([&] { lin->forward(ones({1, 1})); }), "Accessing empty ModuleHolder");
  EXPECT_EQ(error_of([&] { lin(ones({1, 1})); }), "Accessing empty ModuleHolder");
  EXPECT_EQ(error_of([&] { (void)lin.ptr(); }), "Accessing empty ModuleHolder");
  EXPECT_EQ(error_of([&] { nn::Sequential seq(lin); }).find("null") != std::string::npos ||
                error_of([&] { nn::Sequential seq(lin); }) == "Accessing empty ModuleHolder",
            true);
  lin = nn::Linear(2, 2);
  EXPECT_FALSE(lin.is_empty());
  nn::Linear copy = lin;  // holders share their module
  EXPECT_EQ(copy.get(), lin.get());
}

TEST(NnModule, LinearWrongInputSize) {
  nn::Linear lin(4, 5);
  EXPECT_EQ(error_of([&] { lin(ones({2, 3})); }), "linear: mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)");
  EXPECT_EQ(error_of([&] { lin(ones({2, 7, 3})); }), "linear: mat1 and mat2 shapes cannot be multiplied (14x3 and 4x5)");
  EXPECT_EQ(error_of([&] { lin(ones({3})); }), "linear: mat1 and mat2 shapes cannot be multiplied (1x3 and 4x5)");
  EXPECT_EQ(error_of([&] { lin(ones({})); }),
            "linear: both arguments to linear need to be at least 1D, but they are 0D and 2D");
  EXPECT_EQ(lin(ones({4})).sizes(), IntArrayRef({5}));
  EXPECT_EQ(lin(ones({0, 4})).sizes(), IntArrayRef({0, 5}));
  EXPECT_EQ(lin(ones({2, 3, 4})).sizes(), IntArrayRef({2, 3, 5}));
}

TEST(NnModule, SequentialBehaviour) {
  manual_seed(1);
  nn::Sequential seq(nn::Linear(4, 8), nn::Functional(dydx::relu), nn::Linear(8, 2));
  EXPECT_EQ(seq->size(), 3u);
  EXPECT_EQ(seq->named_parameters().keys(),
            (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
  Tensor x = randn({3, 4});
  auto l0 = seq->ptr<nn::LinearImpl>(0);
  auto& l2 = seq->at<nn::LinearImpl>(2);
  Tensor expected = l2.forward(relu(l0->forward(x)));
  EXPECT_TRUE(allclose(seq->forward(x), expected));
  EXPECT_TRUE(allclose(seq(x), expected));
  EXPECT_EQ(seq[0].get(), l0.get());
  EXPECT_EQ(seq->ptr<nn::ReLUImpl>(0), nullptr);
  EXPECT_NE(error_of([&] { seq->at<nn::ReLUImpl>(0); }).find("not of the requested type"), std::string::npos);
  EXPECT_NE(error_of([&] { (void)seq[3]; }).find("Index out of range"), std::string::npos);
  seq->push_back(nn::Tanh());
  seq->push_back("last", nn::Identity());
  EXPECT_EQ(seq->named_children().keys(), (std::vector<std::string>{"0", "1", "2", "3", "last"}));
  EXPECT_TRUE(allclose(seq(x), tanh(expected)));
  nn::Sequential empty;
  EXPECT_EQ(error_of([&] { empty(x); }), "Cannot call forward() on an empty Sequential");
  // Named entries, lambdas and bound arguments.
  nn::Sequential named({{"fc", nn::Linear(4, 3)}, {"act", nn::Functional([](Tensor t) { return t * 2; })},
                        {"sm", nn::Functional(dydx::softmax, 1)}});
  EXPECT_EQ(named->named_parameters().keys(), (std::vector<std::string>{"fc.weight", "fc.bias"}));
  Tensor y = named(x);
  EXPECT_TRUE(allclose(y.sum(1), ones({3})));
  // A module shared by two Sequentials is one module.
  nn::Linear shared(2, 2);
  nn::Sequential a(shared), b(shared, shared);
  EXPECT_EQ(a[0].get(), b[1].get());
  EXPECT_EQ(b->parameters().size(), 4u);  // as libtorch: listed once per path
}

TEST(NnModule, ModuleList) {
  nn::ModuleList list(nn::Linear(2, 3), nn::ReLU());
  list->push_back(nn::Linear(3, 1));
  EXPECT_EQ(list->size(), 3u);
  EXPECT_EQ(list->named_parameters().keys(),
            (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
  list->insert(1, nn::Tanh());
  EXPECT_EQ(list->named_parameters().keys(),
            (std::vector<std::string>{"0.weight", "0.bias", "3.weight", "3.bias"}));
  EXPECT_NE(list->ptr<nn::TanhImpl>(1), nullptr);
  size_t count = 0;
  for (const auto& m : *list) count += m != nullptr;
  EXPECT_EQ(count, 4u);
  EXPECT_NE(error_of([&] { (void)list[4]; }).find("Index out of range"), std::string::npos);
  EXPECT_NE(error_of([&] { list->insert(6, nn::Tanh()); }).find("Index out of range"), std::string::npos);
  std::ostringstream s;
  s << *list;
  EXPECT_EQ(s.str().substr(0, 23), "dydx::nn::ModuleList(\n ");
}

TEST(NnModule, OrderedDictAlone) {
  OrderedDict<std::string, int> d("Thing");
  d.insert("a", 1);
  d.insert("b", 2);
  EXPECT_EQ(d.size(), 2u);
  EXPECT_EQ(d["b"], 2);
  EXPECT_EQ(d.values(), (std::vector<int>{1, 2}));
  EXPECT_EQ(error_of([&] { d.insert("a", 3); }), "Thing 'a' already defined");
  d.erase("a");
  EXPECT_EQ(d.keys(), std::vector<std::string>{"b"});
  EXPECT_EQ(d[0].key(), "b");
  EXPECT_EQ(d.find("a"), nullptr);
}

TEST(NnModule, SharedParameterConvertedOnceAndViewsOwnTheirMemory) {
  nn::Linear lin(2, 2);
  nn::Sequential seq(lin, lin);  // one weight under "0.weight" and "1.weight"
  seq->to(kFloat64);
  EXPECT_EQ(lin->weight.dtype(), kFloat64);
  EXPECT_EQ(seq->named_parameters()["1.weight"].impl(), lin->weight.impl());
  EXPECT_EQ(seq(ones({1, 2}, kFloat64)).dtype(), kFloat64);
  // apply() visits every module with its dotted name.
  std::vector<std::string> names;
  seq->apply([&](const std::string& name, nn::Module&) { names.push_back(name); });
  EXPECT_EQ(names, (std::vector<std::string>{"", "0", "1"}));
  // unregister_module and replace_module keep the order of the rest.
  struct Holder : nn::Module {
    Holder() {
      register_module("a", nn::Linear(1, 1));
      register_module("b", nn::Tanh());
      register_module("c", nn::Linear(1, 2));
    }
    using nn::Module::replace_module;
  };
  auto h = std::make_shared<Holder>();
  h->replace_module("b", nn::Linear(1, 3));
  EXPECT_EQ(h->named_parameters().keys(),
            (std::vector<std::string>{"a.weight", "a.bias", "b.weight", "b.bias", "c.weight", "c.bias"}));
  h->unregister_module("a");
  EXPECT_EQ(h->named_children().keys(), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(error_of([&] { h->unregister_module("a"); }), "No Module with name `a` is registered");
  EXPECT_EQ(error_of([&] { h->replace_module("zz", nn::Tanh()); }), "Submodule 'zz' is not defined");
}

TEST(NnModule, LayoutsAndDtypesOfInputs) {
  manual_seed(16);
  nn::Linear lin(4, 3);
  Tensor base = randn({4, 5});
  Tensor transposed = base.t();  // [5, 4], not contiguous
  EXPECT_FALSE(transposed.is_contiguous());
  EXPECT_TRUE(allclose(lin(transposed), lin(transposed.contiguous())));
  Tensor row = randn({1, 4});
  EXPECT_TRUE(allclose(lin(row.expand({6, 4})), lin(row).expand({6, 3})));
  Tensor sliced = randn({8, 4}).slice(0, 1, 8, 3);  // rows 1, 4, 7
  EXPECT_TRUE(allclose(lin(sliced), lin(sliced.contiguous())));
  // Integer input: an error naming the mismatch, not a silent conversion.
  EXPECT_NE(error_of([&] { lin(ones({2, 4}, kInt64)); }), "no error");
  // A float64 input into float32 weights is an error as in PyTorch; after to(kFloat64) it works.
  EXPECT_NE(error_of([&] { lin(ones({2, 4}, kFloat64)); }), "no error");
  lin->to(kFloat64);
  EXPECT_EQ(lin(ones({2, 4}, kFloat64)).dtype(), kFloat64);
  // nan flows through, as in PyTorch.
  Tensor with_nan = ones({1, 4}, kFloat64);
  with_nan.index({0, 1}).fill_(std::nan(""));
  EXPECT_TRUE(std::isnan(lin(with_nan).sum().item<double>()));
}

namespace {
struct TwinImpl : nn::Cloneable<TwinImpl> {
  TwinImpl() { reset(); }
  void reset() override {
    fc = register_module("fc", nn::Linear(2, 2));
    gain = register_parameter("gain", ones({2}));
    seen = register_buffer("seen", zeros({1}));
  }
  Tensor forward(const Tensor& x) { return fc(x) * gain; }
  nn::Linear fc{nullptr};
  Tensor gain, seen;
};
DYDX_MODULE(Twin);
}  // namespace

TEST(NnModule, CloneIsDeep) {
  manual_seed(17);
  Twin twin;
  {
    NoGradGuard no_grad;
    twin->gain.fill_(3.0);
    twin->seen.fill_(5.0);
  }
  twin->fc->bias.set_requires_grad(false);  // frozen: stays frozen in the copy
  twin->to(kFloat64);
  auto copy = std::dynamic_pointer_cast<TwinImpl>(twin->clone());
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(copy->named_parameters().keys(), twin->named_parameters().keys());
  for (const auto& p : twin->named_parameters()) {
    const Tensor c = copy->named_parameters()[p.key()];
    EXPECT_NE(c.impl(), p.value().impl()) << p.key();
    EXPECT_TRUE(equal(c, p.value())) << p.key();
    EXPECT_EQ(c.dtype(), kFloat64);
    EXPECT_EQ(c.requires_grad(), p.value().requires_grad()) << p.key();
    EXPECT_TRUE(c.is_leaf());
  }
  EXPECT_NE(copy->fc.get(), twin->fc.get());
  // The members of the copy are its registered tensors.
  EXPECT_EQ(copy->fc->weight.impl(), copy->named_parameters()["fc.weight"].impl());
  EXPECT_EQ(copy->gain.impl(), copy->named_parameters()["gain"].impl());
  EXPECT_TRUE(equal(copy->seen, full({1}, 5.0, kFloat64)));
  Tensor x = randn({3, 2}, kFloat64);
  EXPECT_TRUE(equal(Twin(copy)(x), twin(x)));
  {
    NoGradGuard no_grad;
    copy->fc->weight.zero_();
  }
  EXPECT_FALSE(equal(copy->fc->weight, twin->fc->weight));
  // Containers and layers clone deeply too.
  nn::Sequential seq(nn::Linear(3, 4), nn::BatchNorm1d(4), nn::Functional(dydx::relu), nn::Linear(4, 2), Twin());
  seq(randn({5, 3}));  // one training batch: BatchNorm's running stats move
  seq->eval();
  auto seq_copy = nn::Sequential(std::dynamic_pointer_cast<nn::SequentialImpl>(seq->clone()));
  EXPECT_EQ(seq_copy->named_parameters().keys(), seq->named_parameters().keys());
  EXPECT_EQ(seq_copy->named_buffers().keys(), seq->named_buffers().keys());
  EXPECT_FALSE(seq_copy->is_training());
  EXPECT_NE(seq_copy[0].get(), seq[0].get());
  EXPECT_EQ(seq_copy[1]->as<nn::BatchNorm1d>()->num_batches_tracked.item<int64_t>(), 1);
  EXPECT_TRUE(equal(seq_copy[1]->as<nn::BatchNorm1d>()->running_mean, seq[1]->as<nn::BatchNorm1d>()->running_mean));
  Tensor in = randn({2, 3});
  EXPECT_TRUE(equal(seq_copy(in), seq(in)));
  nn::ModuleList list(nn::Linear(1, 1), nn::Conv2d(1, 1, 1));
  auto list_copy = std::dynamic_pointer_cast<nn::ModuleListImpl>(list->clone());
  EXPECT_EQ(list_copy->size(), 2u);
  EXPECT_NE(list_copy->ptr(1).get(), list->ptr(1).get());
  EXPECT_TRUE(equal(list_copy->at<nn::Conv2dImpl>(1).weight, list->at<nn::Conv2dImpl>(1).weight));
  // A module that is not Cloneable says so, as libtorch.
  Net net;
  EXPECT_NE(error_of([&] { net->clone(); }).find("clone() has not been implemented for (anonymous namespace)::NetImpl. "
                                                "Subclass dydx::nn::Cloneable<"),
            std::string::npos);
}
