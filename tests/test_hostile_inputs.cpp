// A bad-input campaign over the whole public API: every row is one hostile call and what PyTorch 1.13
// does with it. A row either raises dydx::Error whose message names the op and the fault, or gives
// PyTorch's result (values, NaNs, signed zeros and dtype included). No row may crash, hang or trip
// ASan/UBSan; in-place rows that raise also check that they changed nothing.
//
// How to add a row: pick its class (the RELIABILITY.md table counts rows per class), write the call
// as a lambda returning a Tensor (or a string, for printing), and say what PyTorch does:
// raises({"op", "shape"}), gives(shape, values, dtype) or prints("text"). Check the expectation
// against PyTorch 1.13 first. The test Counts lists the classes and their sizes.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace dydx {
namespace {

using indexing::Ellipsis;
using indexing::None;
using indexing::Slice;

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();

using Outcome = std::variant<Tensor, std::string>;

struct Expectation {
  enum Kind { kRaises, kGives, kPrints } kind;
  explicit Expectation(Kind k) : kind(k) {}
  std::vector<std::string> mentions;  // kRaises: substrings the message must hold
  std::vector<int64_t> shape;         // kGives
  std::vector<double> values;         // kGives, row-major; NaN matches NaN, zeros match their sign
  ScalarType dtype = kFloat32;        // kGives
  std::string text;                   // kPrints
};

Expectation raises(std::vector<std::string> mentions) {
  Expectation e(Expectation::kRaises);
  e.mentions = std::move(mentions);
  return e;
}
Expectation gives(std::vector<int64_t> shape, std::vector<double> values, ScalarType dtype = kFloat32) {
  Expectation e(Expectation::kGives);
  e.shape = std::move(shape);
  e.values = std::move(values);
  e.dtype = dtype;
  return e;
}
Expectation prints(std::string text) {
  Expectation e(Expectation::kPrints);
  e.text = std::move(text);
  return e;
}

struct Row {
  std::string cls;   // the class of hostile input, for the RELIABILITY.md table
  std::string name;  // unique within the table
  std::function<Outcome()> call;
  Expectation expect;
};

/// A non-tensor result (a size, a flag) as a float64 0-d tensor, so that rows can compare it.
Tensor number(double v) { return tensor(v, dtype(kFloat64)); }
Tensor leaf(const NestedList& values) { return tensor(values).requires_grad_(); }

/// Runs write, which must raise, and rethrows its error after checking that target kept its values
/// and version: an op that raises changes nothing.
Tensor unchanged_on_raise(const Tensor& target, const std::function<void()>& write) {
  const std::vector<double> before = target.to_vector<double>();
  const int64_t version = target._version();
  try {
    write();
  } catch (const Error&) {
    const std::vector<double> after = target.to_vector<double>();
    const bool same = std::memcmp(before.data(), after.data(), before.size() * sizeof(double)) == 0;
    if (!same || target._version() != version) throw std::logic_error("the op changed its target before raising");
    throw;
  }
  return target;
}

/// The gradient of x after backward of loss.
Tensor grad_after(const Tensor& x, const Tensor& loss) {
  loss.backward();
  return x.grad();
}

bool same_value(double got, double want) {
  if (std::isnan(want)) return std::isnan(got);
  if (want == 0) return got == 0 && std::signbit(got) == std::signbit(want);
  if (std::isinf(want)) return got == want;
  return std::abs(got - want) <= 1e-5 * (1 + std::abs(want));
}

std::vector<Row> hostile_rows();

::testing::AssertionResult meets(const Row& row) {
  Outcome outcome;
  try {
    outcome = row.call();
  } catch (const Error& e) {
    const std::string message = e.what();
    if (row.expect.kind != Expectation::kRaises)
      return ::testing::AssertionFailure() << "raised where PyTorch gives a result: " << message;
    for (const std::string& part : row.expect.mentions)
      if (message.find(part) == std::string::npos)
        return ::testing::AssertionFailure() << "'" << part << "' missing from: " << message;
    return ::testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw something other than dydx::Error: " << e.what();
  }
  if (row.expect.kind == Expectation::kRaises) {
    ::testing::AssertionResult failure = ::testing::AssertionFailure();
    failure << "no error raised; got ";
    if (const Tensor* t = std::get_if<Tensor>(&outcome))
      failure << (t->defined() ? to_string(*t) : std::string("an undefined tensor"));
    else
      failure << std::get<std::string>(outcome);
    return failure;
  }
  if (row.expect.kind == Expectation::kPrints) {
    const std::string* text = std::get_if<std::string>(&outcome);
    if (!text) return ::testing::AssertionFailure() << "expected text, got a tensor";
    if (*text != row.expect.text)
      return ::testing::AssertionFailure() << "printed\n" << *text << "\ninstead of\n" << row.expect.text;
    return ::testing::AssertionSuccess();
  }
  const Tensor* t = std::get_if<Tensor>(&outcome);
  if (!t || !t->defined()) return ::testing::AssertionFailure() << "expected a tensor, got none";
  const std::vector<int64_t> shape(t->sizes().begin(), t->sizes().end());
  if (shape != row.expect.shape || t->dtype() != row.expect.dtype)
    return ::testing::AssertionFailure() << "shape " << t->shape_string() << " dtype " << t->dtype()
                                         << " differ from the expected dtype " << row.expect.dtype << ": "
                                         << to_string(*t);
  const std::vector<double> got = t->to_vector<double>();
  if (got.size() != row.expect.values.size())
    return ::testing::AssertionFailure() << got.size() << " values, expected " << row.expect.values.size();
  for (size_t i = 0; i < got.size(); ++i)
    if (!same_value(got[i], row.expect.values[i]))
      return ::testing::AssertionFailure() << "element " << i << " is " << got[i] << ", PyTorch gives "
                                           << row.expect.values[i] << ": " << to_string(*t);
  return ::testing::AssertionSuccess();
}

/// The table, built once: gtest asks for it per test and per test name.
const std::vector<Row>& table() {
  static const std::vector<Row> rows = hostile_rows();
  return rows;
}

/// The classes in table order; one test per class keeps the suite's test count (and its process starts) small.
std::vector<std::string> classes() {
  std::vector<std::string> names;
  for (const Row& row : table())
    if (names.empty() || names.back() != row.cls) names.push_back(row.cls);
  return names;
}

class HostileInput : public ::testing::TestWithParam<std::string> {};

TEST_P(HostileInput, RaisesAClearErrorOrGivesPyTorchsResult) {
  for (const Row& row : table()) {
    if (row.cls != GetParam()) continue;
    const bool grad_mode = is_grad_enabled();
    const int threads = get_num_threads();
    EXPECT_TRUE(meets(row)) << row.cls << " / " << row.name;
    // A row that raises midway must not leave thread state behind.
    EXPECT_EQ(is_grad_enabled(), grad_mode) << "grad mode leaked from " << row.name;
    EXPECT_EQ(get_num_threads(), threads) << "thread count leaked from " << row.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, HostileInput, ::testing::ValuesIn(classes()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

// The table's size per class, printed for RELIABILITY.md; names must be unique and the campaign
// must keep at least 200 distinct calls.
TEST(HostileInputTable, CountsPerClass) {
  std::map<std::string, std::pair<int, int>> per_class;  // class -> (raises, gives)
  std::map<std::string, int> names;
  const std::vector<Row>& rows = table();
  for (const Row& row : rows) {
    auto& counts = per_class[row.cls];
    (row.expect.kind == Expectation::kRaises ? counts.first : counts.second) += 1;
    EXPECT_EQ(++names[row.cls + "/" + row.name], 1) << "duplicate row " << row.cls << "/" << row.name;
  }
  for (const auto& [cls, counts] : per_class)
    std::printf("%-22s %4d rows: %3d clear errors, %3d PyTorch's result\n", cls.c_str(),
                counts.first + counts.second, counts.first, counts.second);
  std::printf("%-22s %4zu rows\n", "total", rows.size());
  EXPECT_GE(rows.size(), 200u);
}

// ---- sweeps over int64's edges ---------------------------------------------------------------------

/// Dims, indices, sizes, strides and offsets at and near int64's edges, and the small ones between.
const std::vector<int64_t> kEdges = {kI64Min, kI64Min + 1, -(int64_t(1) << 62), -(int64_t(1) << 31), -5, -4, -3, -2, -1,
                                     0, 1, 2, 3, 4, 5, int64_t(1) << 31, int64_t(1) << 62, kI64Max - 1, kI64Max};

/// Inputs of every layout: 0-D, empty, contiguous, transposed, expanded and sliced.
std::vector<Tensor> sweep_inputs() {
  return {tensor(2.0),
          zeros({0}),
          arange(3.0),
          arange(6.0).view({2, 3}),
          zeros({2, 0, 3}),
          arange(6.0).view({2, 3}).t(),
          arange(3.0).expand({2, 3}),
          arange(12.0).view({3, 4}).slice(1, 1, 4, 2)};
}

/// Counts calls, and checks that each either gives a tensor all of whose elements can be read
/// (under ASan, a view reaching outside its storage fails here) or raises a dydx::Error naming op.
struct Sweep {
  int64_t calls = 0, errors = 0;
  /// also: other texts the message may name instead of op: for creation functions, the shape whose
  /// bytes overflow (the allocator reports it, as PyTorch's does); for index, the select or slice that failed.
  void attempt(const std::string& op, const std::function<Tensor()>& call, const std::vector<std::string>& also = {}) {
    ++calls;
    try {
      const Tensor out = call();
      int64_t expected = 1;
      for (int64_t size : out.sizes()) EXPECT_FALSE(__builtin_mul_overflow(expected, size, &expected)) << op;
      EXPECT_EQ(out.numel(), expected) << op;
      // A huge result can only be a view with zero strides (expand); reading it all would take hours.
      if (expected <= (1 << 20)) EXPECT_EQ(static_cast<int64_t>(out.to_vector<double>().size()), expected) << op;
    } catch (const Error& e) {
      ++errors;
      const std::string message = e.what();
      bool named = message.find(op) != std::string::npos;
      for (const std::string& other : also) named = named || message.find(other) != std::string::npos;
      EXPECT_TRUE(named) << "message does not name " << op << ": " << message;
    }
  }
};

TEST(HostileInputSweep, ViewsAndReductionsOverInt64Edges) {
  Sweep sweep;
  std::mt19937_64 random(10);
  auto edge = [&] { return kEdges[random() % kEdges.size()]; };
  for (const Tensor& x : sweep_inputs()) {
    for (int64_t d : kEdges) {
      sweep.attempt("size", [&] { return number(x.size(d)); });
      sweep.attempt("stride", [&] { return number(x.stride(d)); });
      sweep.attempt("unsqueeze", [&] { return x.unsqueeze(d); });
      sweep.attempt("squeeze", [&] { return x.squeeze(d); });
      sweep.attempt("sum", [&] { return x.sum({d}); });
      sweep.attempt("mean", [&] { return x.mean({d}, true); });
      sweep.attempt("max", [&] { return std::get<0>(x.max(d)); });
      sweep.attempt("min", [&] { return std::get<1>(x.min(d, true)); });
      sweep.attempt("cat", [&] { return cat({x, x}, d); });
      sweep.attempt("stack", [&] { return stack({x, x}, d); });
      for (int64_t i : kEdges) {
        sweep.attempt("select", [&] { return x.select(d, i); });
        sweep.attempt("transpose", [&] { return x.transpose(d, i); });
        sweep.attempt("sum", [&] { return x.sum({d, i}); });
      }
    }
    for (int n = 0; n < 400; ++n) {
      const int64_t d = edge(), a = edge(), b = edge(), c = edge();
      sweep.attempt("narrow", [&] { return x.narrow(d, a, b); });
      sweep.attempt("slice", [&] { return x.slice(d, a, b, c); });
      sweep.attempt("permute", [&] { return x.permute({a, b}); });
    }
  }
  std::printf("views and reductions: %lld calls, %lld raised\n", static_cast<long long>(sweep.calls),
              static_cast<long long>(sweep.errors));
  EXPECT_GT(sweep.errors, 0);
  EXPECT_LT(sweep.errors, sweep.calls);
}

TEST(HostileInputSweep, ShapesStridesAndOffsetsOverInt64Edges) {
  Sweep sweep;
  std::mt19937_64 random(11);
  auto edge = [&] { return kEdges[random() % kEdges.size()]; };
  // Small sizes and strides too, so that some as_strided views are valid and get read.
  auto small = [&] { return static_cast<int64_t>(random() % 4); };
  auto either = [&] { return random() % 2 ? edge() : small(); };
  // Sizes for functions that allocate: 2^31 elements would be a valid 8 GiB tensor, so it becomes int64's maximum.
  auto alloc_size = [&] {
    const int64_t v = either();
    return v == (int64_t(1) << 31) ? kI64Max : v;
  };
  for (const Tensor& x : sweep_inputs()) {
    for (int n = 0; n < 300; ++n) {
      const int64_t a = either(), b = either(), c = either(), d = either(), e = either();
      sweep.attempt("expand", [&] { return x.expand({a, b, c}); });
      sweep.attempt("view", [&] { return x.view({a, b}); });
      sweep.attempt("reshape", [&] { return x.reshape({a, b, c}); });
      sweep.attempt("as_strided", [&] { return x.as_strided({a, b}, {c, d}, e); });
      sweep.attempt("as_strided", [&] { return x.as_strided({a}, {b}); });
      const int64_t rows = alloc_size(), cols = alloc_size();
      // Each names itself, whether the element count or the byte count overflows.
      sweep.attempt("zeros", [&] { return zeros({rows, cols}); });
      sweep.attempt("full", [&] { return full({rows}, 1.0, kInt64); });
      sweep.attempt("eye", [&] { return eye(rows, cols); });
      sweep.attempt("sum_to", [&] { return sum_to(x, {a, b}); });
    }
  }
  std::printf("shapes, strides and offsets: %lld calls, %lld raised\n", static_cast<long long>(sweep.calls),
              static_cast<long long>(sweep.errors));
  EXPECT_GT(sweep.errors, 0);
  EXPECT_LT(sweep.errors, sweep.calls);
}

TEST(HostileInputSweep, IndexListsOverInt64Edges) {
  Sweep sweep;
  std::mt19937_64 random(12);
  auto edge = [&] { return kEdges[random() % kEdges.size()]; };
  auto maybe = [&]() -> std::optional<int64_t> {
    if (random() % 3 == 0) return std::nullopt;
    return edge();
  };
  for (const Tensor& x : sweep_inputs()) {
    for (int n = 0; n < 600; ++n) {
      std::vector<indexing::TensorIndex> indices;
      const int count = static_cast<int>(random() % 5);
      for (int i = 0; i < count; ++i) {
        switch (random() % 4) {
          case 0: indices.emplace_back(edge()); break;
          case 1: indices.emplace_back(Slice(maybe(), maybe(), maybe())); break;
          case 2: indices.emplace_back(None); break;
          default: indices.emplace_back(Ellipsis); break;
        }
      }
      sweep.attempt("index", [&] { return x.index(indices); }, {"select", "slice"});
    }
  }
  std::printf("index lists: %lld calls, %lld raised\n", static_cast<long long>(sweep.calls),
              static_cast<long long>(sweep.errors));
  EXPECT_GT(sweep.errors, 0);
  EXPECT_LT(sweep.errors, sweep.calls);
}

// ---- the rows, one function per class ------------------------------------------------------------

namespace {

// Every public function given a default-constructed Tensor where it needs one.
std::vector<Row> undefined_rows() {
  const std::string c = "undefined tensor";
  auto u = [] { return Tensor(); };
  return {
      {c, "size", [=] { return number(u().size(0)); }, raises({"undefined"})},
      {c, "stride", [=] { return number(u().stride(0)); }, raises({"undefined"})},
      {c, "is_contiguous", [=] { return number(u().is_contiguous()); }, raises({"undefined"})},
      {c, "storage_offset", [=] { return number(u().storage_offset()); }, raises({"undefined"})},
      {c, "_version", [=] { return number(u()._version()); }, raises({"undefined"})},
      {c, "to_vector", [=] { return number(u().to_vector<float>().size()); }, raises({"undefined"})},
      {c, "set_grad", [=] { u().set_grad(ones({1})); return Tensor(); }, raises({"undefined"})},
      {c, "retain_grad", [=] { u().retain_grad(); return Tensor(); }, raises({"undefined"})},
      {c, "backward", [=] { u().backward(); return Tensor(); }, raises({"undefined"})},
      {c, "register_hook", [=] { return number(u().register_hook([](const Tensor&) {})); }, raises({"undefined"})},
      {c, "select", [=] { return u().select(0, 0); }, raises({"undefined"})},
      {c, "narrow", [=] { return u().narrow(0, 0, 1); }, raises({"undefined"})},
      {c, "slice", [=] { return u().slice(0, 0, 1); }, raises({"undefined"})},
      {c, "index", [=] { return u().index({0}); }, raises({"undefined"})},
      {c, "t", [=] { return u().t(); }, raises({"undefined"})},
      {c, "transpose", [=] { return u().transpose(0, 1); }, raises({"undefined"})},
      {c, "permute", [=] { return u().permute({0}); }, raises({"undefined"})},
      {c, "expand", [=] { return u().expand({2}); }, raises({"undefined"})},
      {c, "unsqueeze", [=] { return u().unsqueeze(0); }, raises({"undefined"})},
      {c, "squeeze", [=] { return u().squeeze(); }, raises({"undefined"})},
      {c, "reshape", [=] { return u().reshape({-1}); }, raises({"undefined"})},
      {c, "as_strided", [=] { return u().as_strided({1}, {1}); }, raises({"undefined"})},
      {c, "contiguous", [=] { return u().contiguous(); }, raises({"undefined"})},
      {c, "to", [=] { return u().to(kFloat64); }, raises({"undefined"})},
      {c, "pow scalar", [=] { return pow(u(), 2.0); }, raises({"undefined"})},
      {c, "scalar pow", [=] { return pow(2.0, u()); }, raises({"undefined"})},
      {c, "log", [=] { return log(u()); }, raises({"undefined"})},
      {c, "relu", [=] { return relu(u()); }, raises({"undefined"})},
      {c, "where cond", [=] { return where(u(), ones({2}), ones({2})); }, raises({"undefined"})},
      {c, "where b", [=] { return where(ones({2}), ones({2}), u()); }, raises({"undefined"})},
      {c, "mm", [=] { return mm(ones({2, 2}), u()); }, raises({"undefined"})},
      {c, "bmm", [=] { return bmm(u(), ones({1, 2, 2})); }, raises({"undefined"})},
      {c, "addmm input", [=] { return addmm(u(), ones({2, 2}), ones({2, 2})); }, raises({"undefined"})},
      {c, "linear weight", [=] { return linear(ones({2, 2}), u()); }, raises({"undefined"})},
      {c, "linear without bias", [] { return linear(ones({1, 2}), ones({3, 2})); }, gives({1, 3}, {2, 2, 2})},
      {c, "sum dims", [=] { return u().sum({0}); }, raises({"undefined"})},
      {c, "mean", [=] { return u().mean(); }, raises({"undefined"})},
      {c, "max", [=] { return u().max(); }, raises({"undefined"})},
      {c, "min dim", [=] { return std::get<0>(u().min(0)); }, raises({"undefined"})},
      {c, "sum_to", [=] { return sum_to(u(), {1}); }, raises({"undefined"})},
      {c, "stack", [=] { return stack({ones({2}), u()}); }, raises({"stack", "undefined", "entry 1"})},
      {c, "cat first", [=] { return cat({u(), ones({2})}); }, raises({"cat", "undefined"})},
      {c, "gt", [=] { return gt(u(), ones({1})); }, raises({"undefined"})},
      {c, "eq", [=] { return eq(ones({1}), u()); }, raises({"undefined"})},
      {c, "sign", [=] { return sign(u()); }, raises({"undefined"})},
      {c, "add_ into", [=] { Tensor t = u(); return t.add_(ones({1})); }, raises({"undefined"})},
      {c, "add_ from", [=] { Tensor t = ones({2}); return unchanged_on_raise(t, [&] { t.add_(u()); }); },
       raises({"undefined"})},
      {c, "fill_", [=] { Tensor t = u(); return t.fill_(1.0); }, raises({"undefined"})},
      {c, "copy_ from", [=] { Tensor t = ones({2}); return unchanged_on_raise(t, [&] { t.copy_(u()); }); },
       raises({"undefined"})},
      {c, "zeros_like", [=] { return zeros_like(u()); }, raises({"undefined"})},
      {c, "full_like", [=] { return full_like(u(), 1.0); }, raises({"undefined"})},
      {c, "autograd::grad output", [=] {
         Tensor x = leaf({1.0});
         return grad({u()}, {x})[0];
       }, raises({"undefined"})},
      {c, "autograd::grad input", [=] {
         Tensor x = leaf({1.0});
         return grad({x.sum()}, {u()})[0];
       }, raises({"undefined"})},
      {c, "autograd::backward", [=] { backward({u()}); return Tensor(); }, raises({"undefined"})},
      {c, "make_dual primal", [=] {
         forward_ad::DualLevel level;
         return forward_ad::make_dual(u(), ones({1}));
       }, raises({"make_dual", "defined"})},
      {c, "make_dual tangent", [=] {
         forward_ad::DualLevel level;
         return forward_ad::make_dual(ones({1}), u());
       }, raises({"make_dual", "defined"})},
      {c, "unpack_dual", [=] {
         forward_ad::DualLevel level;
         return forward_ad::unpack_dual(u()).primal;
       }, raises({"undefined"})},
      {c, "func::jvp primal", [=] { return func::jvp([](const Tensor& x) { return x; }, u(), ones({1})).first; },
       raises({"jvp", "defined"})},
      {c, "func::vjp primal", [=] { return func::vjp([](const Tensor& x) { return x; }, u()).first; },
       raises({"undefined"})},
      {c, "func::grad input", [=] { return func::grad([](const Tensor& x) { return x.sum(); })(u()); },
       raises({"undefined"})},
      {c, "func::jacrev input", [=] { return func::jacrev([](const Tensor& x) { return x; })(u()); },
       raises({"undefined"})},
      {c, "func::jacfwd input", [=] { return func::jacfwd([](const Tensor& x) { return x; })(u()); },
       raises({"undefined"})},
      {c, "func::batch_jacobian input", [=] { return func::batch_jacobian([](const Tensor& x) { return x; }, u()); },
       raises({"undefined"})},
  };
}

// Tensors with no elements: reductions give PyTorch's identities, products give zeros, and the few
// ops that need an element say so.
std::vector<Row> zero_size_rows() {
  const std::string c = "zero-size tensor";
  return {
      {c, "sum", [] { return zeros({0, 3}).sum(); }, gives({}, {0})},
      {c, "sum over the empty dim", [] { return ones({0, 3}).sum({0}); }, gives({3}, {0, 0, 0})},
      {c, "sum over the full dim", [] { return ones({0, 3}).sum({1}); }, gives({0}, {})},
      {c, "mean", [] { return ones({0}).mean(); }, gives({}, {kNan})},
      {c, "mean over the empty dim", [] { return ones({0, 2}).mean({0}); }, gives({2}, {kNan, kNan})},
      {c, "max", [] { return ones({0}).max(); }, raises({"max", "numel() == 0"})},
      {c, "min", [] { return ones({0, 2}).min(); }, raises({"min", "numel() == 0"})},
      {c, "max over the empty dim", [] { return std::get<0>(ones({0, 3}).max(0)); }, raises({"max", "dim 0", "non-zero size"})},
      {c, "max over a full dim", [] { return std::get<1>(ones({0, 3}).max(1)); }, gives({0}, {}, kInt64)},
      {c, "int sum", [] { return zeros({0}, kInt64).sum(); }, gives({}, {0}, kInt64)},
      {c, "matmul [0,3]@[3,2]", [] { return matmul(ones({0, 3}), ones({3, 2})); }, gives({0, 2}, {})},
      {c, "matmul empty inner dim", [] { return matmul(ones({2, 0}), ones({0, 3})); }, gives({2, 3}, {0, 0, 0, 0, 0, 0})},
      {c, "mm [3,0]@[0,0]", [] { return mm(ones({3, 0}), ones({0, 0})); }, gives({3, 0}, {})},
      {c, "bmm empty batch", [] { return bmm(ones({0, 2, 3}), ones({0, 3, 4})); }, gives({0, 2, 4}, {})},
      {c, "addmm empty inner dim", [] { return addmm(ones({2, 2}), ones({2, 0}), ones({0, 2}), 3, 5); },
       gives({2, 2}, {3, 3, 3, 3})},
      {c, "linear no rows", [] { return linear(ones({0, 3}), ones({2, 3}), ones({2})); }, gives({0, 2}, {})},
      {c, "linear no features", [] { return linear(ones({2, 0}), ones({1, 0}), full({1}, 7.0)); }, gives({2, 1}, {7, 7})},
      {c, "cat skips legacy [0]", [] { return cat({zeros({0}), ones({2, 2})}); }, gives({2, 2}, {1, 1, 1, 1})},
      {c, "cat [0,3] and [1,3]", [] { return cat({zeros({0, 3}), ones({1, 3})}); }, gives({1, 3}, {1, 1, 1})},
      {c, "stack empties", [] { return stack({zeros({0}), zeros({0})}, 1); }, gives({0, 2}, {})},
      {c, "exp", [] { return exp(zeros({0, 2})); }, gives({0, 2}, {})},
      {c, "broadcast with 1", [] { return ones({2, 0}) + ones({2, 1}); }, gives({2, 0}, {})},
      {c, "broadcast with 2", [] { return ones({2, 0}) + ones({2, 2}); }, raises({"add", "[2,0]", "[2,2]"})},
      {c, "where", [] { return where(ones({0, 1}, kBool), ones({3}), ones({1})); }, gives({0, 3}, {})},
      {c, "item", [] { return number(ones({0}).item<float>()); }, raises({"item", "0 elements"})},
      {c, "view to -1", [] { return ones({0, 3}).view({-1}); }, gives({0}, {})},
      {c, "view ambiguous -1", [] { return ones({0}).view({0, -1}); }, raises({"view", "[0,-1]", "size 0"})},
      {c, "reshape ambiguous -1", [] { return ones({0, 4}).reshape({-1, 0}); }, raises({"reshape", "[-1,0]", "size 0"})},
      {c, "expand 1 to 0", [] { return ones({1, 2}).expand({0, 2}); }, gives({0, 2}, {})},
      {c, "select", [] { return ones({0, 2}).select(0, 0); }, raises({"select", "index 0", "size 0"})},
      {c, "narrow of length 0", [] { return ones({0}).narrow(0, 0, 0); }, gives({0}, {})},
      {c, "backward", [] {
         Tensor x = zeros({0, 2}).requires_grad_();
         return grad_after(x, (x * 3.0).sum());
       }, gives({0, 2}, {})},
      {c, "func::grad", [] { return func::grad([](const Tensor& x) { return (x * x).sum(); })(zeros({0})); }, gives({0}, {})},
      {c, "func::jacfwd", [] { return func::jacfwd([](const Tensor& x) { return x * 2.0; })(zeros({0})); }, gives({0, 0}, {})},
      {c, "func::jacrev", [] { return func::jacrev([](const Tensor& x) { return x.sum(); })(zeros({0})); }, gives({0}, {})},
      {c, "func::hessian", [] { return func::hessian([](const Tensor& x) { return (x * x).sum(); })(zeros({0})); },
       gives({0, 0}, {})},
      {c, "batch_jacobian of no rows", [] { return func::batch_jacobian([](const Tensor& x) { return x * 2.0; }, zeros({0, 3})); },
       gives({0, 3, 3}, {})},
      {c, "arange(5, 5)", [] { return arange(5, 5); }, gives({0}, {}, kInt64)},
      {c, "linspace of 0 steps", [] { return linspace(0, 1, 0); }, gives({0}, {})},
      {c, "eye(0)", [] { return eye(0); }, gives({0, 0}, {})},
      {c, "rand", [] { return rand({0, 3}); }, gives({0, 3}, {})},
      {c, "tensor of no values", [] { return tensor(std::vector<double>{}); }, gives({0}, {})},
      {c, "from_blob of null memory", [] { return from_blob(nullptr, {0, 4}).clone(); }, gives({0, 4}, {})},
      {c, "to_vector", [] { return number(ones({3, 0}).to_vector<double>().size()); }, gives({}, {0}, kFloat64)},
      {c, "gt", [] { return gt(ones({0}), ones({1})); }, gives({0}, {}, kBool)},
  };
}

// 0-d tensors: they broadcast, and accept dim 0 and -1 where PyTorch wraps dims for rank 0.
std::vector<Row> zero_dim_rows() {
  const std::string c = "0-d tensor";
  auto s = [] { return tensor(2.0); };
  return {
      {c, "size(0)", [=] { return number(s().size(0)); }, raises({"size", "0-D", "dim 0"})},
      {c, "stride(-1)", [=] { return number(s().stride(-1)); }, raises({"stride", "0-D", "dim -1"})},
      {c, "select", [=] { return s().select(0, 0); }, raises({"select", "0-D"})},
      {c, "narrow", [=] { return s().narrow(0, 0, 1); }, raises({"narrow", "0-D"})},
      {c, "slice", [=] { return s().slice(0, 0, 1); }, raises({"slice", "0-D"})},
      {c, "operator[]", [=] { return s()[0]; }, raises({"select", "0-D"})},
      {c, "t", [=] { return s().t(); }, gives({}, {2})},
      {c, "transpose(0, -1)", [=] { return s().transpose(0, -1); }, gives({}, {2})},
      {c, "transpose(0, 1)", [=] { return s().transpose(0, 1); }, raises({"transpose", "1", "[-1, 0]"})},
      {c, "permute({})", [=] { return s().permute({}); }, gives({}, {2})},
      {c, "unsqueeze(-1)", [=] { return s().unsqueeze(-1); }, gives({1}, {2})},
      {c, "unsqueeze(1)", [=] { return s().unsqueeze(1); }, raises({"unsqueeze", "1"})},
      {c, "squeeze(0)", [=] { return s().squeeze(0); }, gives({}, {2})},
      {c, "squeeze(1)", [=] { return s().squeeze(1); }, raises({"squeeze", "1"})},
      {c, "view as [1,1]", [=] { return s().view({1, 1}); }, gives({1, 1}, {2})},
      {c, "view [1,1] as 0-d", [] { return full({1, 1}, 3.0).view({}); }, gives({}, {3})},
      {c, "expand", [=] { return s().expand({3}); }, gives({3}, {2, 2, 2})},
      {c, "sum({0})", [=] { return s().sum({0}); }, gives({}, {2})},
      {c, "sum({1})", [=] { return s().sum({1}); }, raises({"sum", "1"})},
      {c, "max(0)", [=] { return std::get<1>(s().max(0)); }, gives({}, {0}, kInt64)},
      {c, "max(1)", [=] { return std::get<0>(s().max(1)); }, raises({"max", "1"})},
      {c, "matmul", [=] { return matmul(s(), ones({3})); }, raises({"matmul", "at least 1-D", "0-D"})},
      {c, "mm", [=] { return mm(s(), ones({1, 1})); }, raises({"mm", "[]"})},
      {c, "cat", [=] { return cat({s()}); }, raises({"cat", "zero-dimensional"})},
      {c, "stack", [=] { return stack({s(), s()}); }, gives({2}, {2, 2})},
      {c, "index None", [=] { return s().index({None}); }, gives({1}, {2})},
      {c, "index Ellipsis", [=] { return s().index({Ellipsis}); }, gives({}, {2})},
      {c, "float64 0-d does not promote float32", [] { return ones({2}) + tensor(1.5, dtype(kFloat64)); }, gives({2}, {2.5, 2.5})},
      {c, "float64 0-d promotes int64", [] { return tensor({1, 2}) + tensor(1.5, dtype(kFloat64)); },
       gives({2}, {2.5, 3.5}, kFloat64)},
      {c, "int 0-d with float32", [] { return tensor(1) + ones({1}); }, gives({1}, {2})},
      {c, "backward", [] {
         Tensor x = leaf(3.0);
         return grad_after(x, x * x);
       }, gives({}, {6})},
      {c, "func::jacrev", [] { return func::jacrev([](const Tensor& x) { return x * x; })(tensor(3.0)); }, gives({}, {6})},
      {c, "func::hessian", [] { return func::hessian([](const Tensor& x) { return x * x * x; })(tensor(2.0)); }, gives({}, {12})},
      {c, "full({})", [] { return full({}, 7.0); }, gives({}, {7})},
      {c, "linspace of 1 step", [] { return linspace(5, 1, 1); }, gives({1}, {5})},
  };
}

}  // namespace

namespace {

// Negative, out-of-range, repeated and extreme (int64 min/max) dims and indices.
std::vector<Row> dim_and_index_rows() {
  const std::string c = "dims and indices";
  auto a = [] { return arange(4.0); };
  auto m = [] { return arange(6.0).view({2, 3}); };
  return {
      {c, "size(2)", [=] { return number(m().size(2)); }, raises({"size", "2", "[-2, 1]"})},
      {c, "size(int64 min)", [=] { return number(m().size(kI64Min)); }, raises({"size", "-9223372036854775808"})},
      {c, "stride(-3)", [=] { return number(m().stride(-3)); }, raises({"stride", "-3"})},
      {c, "select(-1, -1)", [=] { return m().select(-1, -1); }, gives({2}, {2, 5})},
      {c, "select index -3", [=] { return m().select(0, -3); }, raises({"select", "index -3", "size 2"})},
      {c, "select index int64 max", [=] { return a().select(0, kI64Max); }, raises({"select", "9223372036854775807"})},
      {c, "select index int64 min", [=] { return a().select(0, kI64Min); }, raises({"select", "-9223372036854775808"})},
      {c, "select dim int64 min", [=] { return a().select(kI64Min, 0); }, raises({"select", "-9223372036854775808"})},
      {c, "narrow negative start", [=] { return a().narrow(0, -1, 1); }, gives({1}, {3})},
      {c, "narrow negative length", [=] { return a().narrow(0, 0, -1); }, raises({"narrow", "-1"})},
      {c, "narrow length int64 max", [=] { return a().narrow(0, 1, kI64Max); }, raises({"narrow", "9223372036854775807", "(4)"})},
      {c, "narrow start int64 max", [=] { return a().narrow(0, kI64Max, 1); }, raises({"narrow", "9223372036854775807"})},
      {c, "narrow start int64 min", [=] { return a().narrow(0, kI64Min, 1); }, raises({"narrow", "-9223372036854775808"})},
      {c, "slice int64 extremes", [=] { return a().slice(0, kI64Min, kI64Max); }, gives({4}, {0, 1, 2, 3})},
      {c, "slice start past end", [=] { return a().slice(0, 3, 1); }, gives({0}, {})},
      {c, "slice out-of-range bounds", [=] { return a().slice(0, -100, 100); }, gives({4}, {0, 1, 2, 3})},
      {c, "slice step 0", [=] { return a().slice(0, 0, 4, 0); }, raises({"slice", "step", "0"})},
      {c, "slice step -1", [=] { return a().slice(0, 0, 4, -1); }, raises({"slice", "step", "-1"})},
      {c, "slice step int64 max", [=] { return a().slice(0, 1, std::nullopt, kI64Max); }, gives({1}, {1})},
      {c, "slice step int64 max of stride 3", [=] { return m().t().slice(1, 0, std::nullopt, kI64Max); },
       gives({3, 1}, {0, 1, 2})},
      {c, "slice dim 1 of 1-D", [=] { return a().slice(1); }, raises({"slice", "1"})},
      {c, "index slice step 0", [=] { return a().index({Slice(None, None, 0)}); }, raises({"step", "0"})},
      {c, "index two ellipses", [=] { return a().index({Ellipsis, Ellipsis}); }, raises({"index", "ellipsis"})},
      {c, "index None Ellipsis int", [=] { return m().index({None, Ellipsis, -1}); }, gives({1, 2}, {2, 5})},
      {c, "index Slice extremes", [=] { return a().index({Slice(kI64Min, kI64Max, 2)}); }, gives({2}, {0, 2})},
      {c, "index negative slice", [=] { return a().index({Slice(-2)}); }, gives({2}, {2, 3})},
      {c, "index int64 min", [=] { return a().index({kI64Min}); }, raises({"select", "-9223372036854775808"})},
      {c, "transpose int64 max", [=] { return m().transpose(kI64Max, 0); }, raises({"transpose", "9223372036854775807"})},
      {c, "transpose(-1, -2)", [=] { return m().transpose(-1, -2); }, gives({3, 2}, {0, 3, 1, 4, 2, 5})},
      {c, "permute negative", [=] { return m().permute({-1, 0}); }, gives({3, 2}, {0, 3, 1, 4, 2, 5})},
      {c, "permute out of range", [=] { return m().permute({0, 2}); }, raises({"permute", "2"})},
      {c, "permute int64 min", [=] { return m().permute({kI64Min, 0}); }, raises({"permute", "-9223372036854775808"})},
      {c, "permute -1 and 1", [=] { return m().permute({-1, 1}); }, raises({"permute", "repeated"})},
      {c, "unsqueeze(3) of 2-D", [=] { return m().unsqueeze(3); }, raises({"unsqueeze", "3"})},
      {c, "unsqueeze(-4) of 2-D", [=] { return m().unsqueeze(-4); }, raises({"unsqueeze", "-4"})},
      {c, "unsqueeze(-3) of 2-D", [=] { return m().unsqueeze(-3).sum({0}); }, gives({2, 3}, {0, 1, 2, 3, 4, 5})},
      {c, "squeeze(int64 max)", [=] { return m().squeeze(kI64Max); }, raises({"squeeze", "9223372036854775807"})},
      {c, "squeeze dim not 1", [=] { return m().squeeze(0); }, gives({2, 3}, {0, 1, 2, 3, 4, 5})},
      {c, "sum dim int64 min", [=] { return m().sum({kI64Min}); }, raises({"sum", "-9223372036854775808"})},
      {c, "sum dims -1 and 1", [=] { return m().sum({1, -1}); }, raises({"sum", "dim 1", "multiple times"})},
      {c, "sum({-1, -2})", [=] { return m().sum({-1, -2}); }, gives({}, {15})},
      {c, "sum({}) sums all", [=] { return m().sum(IntArrayRef{}); }, gives({}, {15})},
      {c, "mean dims repeated", [=] { return m().mean({0, 0}); }, raises({"mean", "dim 0", "multiple times"})},
      {c, "max dim int64 max", [=] { return std::get<0>(m().max(kI64Max)); }, raises({"max", "9223372036854775807"})},
      {c, "min dim -3", [=] { return std::get<0>(m().min(-3)); }, raises({"min", "-3"})},
      {c, "min dim -1 keepdim", [=] { return std::get<1>(m().min(-1, true)); }, gives({2, 1}, {0, 0}, kInt64)},
      {c, "cat dim -1", [=] { return cat({m(), m()}, -1).sum({0}); }, gives({6}, {3, 5, 7, 3, 5, 7})},
      {c, "cat dim int64 min", [=] { return cat({m()}, kI64Min); }, raises({"cat", "-9223372036854775808"})},
      {c, "stack dim -2", [=] { return stack({a(), a()}, -2); }, gives({2, 4}, {0, 1, 2, 3, 0, 1, 2, 3})},
      {c, "stack dim 2 of 1-D", [=] { return stack({a(), a()}, 3); }, raises({"stack", "3"})},
      {c, "expand -1 kept dim", [=] { return m().expand({2, -1, -1}).sum({0}); }, gives({2, 3}, {0, 2, 4, 6, 8, 10})},
      {c, "expand -1 new dim", [=] { return m().expand({-1, 2, 3}); }, raises({"expand", "-1"})},
      {c, "expand -2", [=] { return m().expand({-2, 3}); }, raises({"expand", "-2"})},
      {c, "expand fewer dims", [=] { return m().expand({3}); }, raises({"expand", "sizes provided (1)", "dimensions in the tensor (2)"})},
      {c, "view -1 twice", [=] { return m().view({-1, -1}); }, raises({"view", "only one dimension can be inferred"})},
      {c, "view -2", [=] { return m().view({-2, -3}); }, raises({"view", "-2"})},
      {c, "reshape -2", [=] { return m().reshape({3, -2}); }, raises({"reshape", "-2"})},
      {c, "as_strided negative stride", [=] { return a().as_strided({2}, {-1}); }, raises({"as_strided", "-1"})},
      {c, "as_strided negative size", [=] { return a().as_strided({-2}, {1}); }, raises({"as_strided", "-2"})},
      {c, "as_strided negative offset", [=] { return a().as_strided({2}, {1}, -1); }, raises({"as_strided", "-1"})},
      {c, "copy of an empty view with a huge stride", [=] { return a().as_strided({0, 2}, {1, kI64Max - 1}).clone(); },
       gives({0, 2}, {})},
      {c, "as_strided empty past the end", [=] { return a().as_strided({0}, {1}, 5); }, gives({0}, {})},
      {c, "sum_to bigger", [=] { return sum_to(m(), {3, 3}); }, raises({"sum_to", "[3,3]", "[2,3]"})},
      {c, "sum_to higher rank", [=] { return sum_to(a(), {1, 4}); }, raises({"sum_to", "[1,4]", "[4]"})},
      {c, "sum_to [1,3]", [=] { return sum_to(m(), {1, 3}); }, gives({1, 3}, {3, 5, 7})},
      {c, "sum_to []", [=] { return sum_to(m(), {}); }, gives({}, {15})},
  };
}

// Sizes whose element count or byte count overflows int64, or is too large to allocate.
std::vector<Row> huge_size_rows() {
  const std::string c = "huge sizes";
  const int64_t big = int64_t(1) << 62;
  return {
      {c, "zeros int64 max", [] { return zeros({kI64Max}); }, raises({"zeros", "storage size", "[9223372036854775807]"})},
      {c, "zeros bytes overflow", [=] { return zeros({big}); }, raises({"zeros", "storage size", "[4611686018427387904]"})},
      {c, "ones 2^60 elements", [] { return ones({int64_t(1) << 60}); }, raises({"ones", "out of memory", "4611686018427387904 bytes"})},
      {c, "empty of 2^62 x 0", [=] { return number(empty({kI64Max, 0}).size(0)); }, gives({}, {9.223372036854775807e18}, kFloat64)},
      {c, "full 2^31 x 2^31", [] { return full({int64_t(1) << 31, int64_t(1) << 31}, 1.0); }, raises({"full", "storage size", "[2147483648,2147483648]"})},
      {c, "rand 2^40 x 2^40", [] { return rand({int64_t(1) << 40, int64_t(1) << 40}); }, raises({"rand", "[1099511627776,1099511627776]", "overflows int64"})},
      {c, "randn negative", [] { return randn({-1}); }, raises({"randn", "-1"})},
      {c, "eye int64 max", [] { return eye(kI64Max); }, raises({"eye", "[9223372036854775807,9223372036854775807]", "overflows int64"})},
      {c, "eye 2^32", [] { return eye(int64_t(1) << 32); }, raises({"eye", "[4294967296,4294967296]", "overflows int64"})},
      {c, "eye negative", [] { return eye(-1); }, raises({"eye", "-1"})},
      {c, "eye negative m", [] { return eye(2, -1); }, raises({"eye", "-1"})},
      {c, "arange 1e18", [] { return arange(0.0, 1e18); }, raises({"arange", "out of memory", "4000000000000000000 bytes"})},
      {c, "arange tiny step", [] { return arange(0.0, 1.0, 1e-300); }, raises({"arange", "1e-300", "too many elements"})},
      {c, "linspace int64 max steps", [] { return linspace(0, 1, kI64Max); }, raises({"linspace", "storage size", "[9223372036854775807]"})},
      {c, "expand to 2^62 x 2^62", [=] { return ones({1, 1}).expand({big, big}); }, raises({"expand", "[4611686018427387904,4611686018427387904]", "overflows int64"})},
      {c, "view int64 max x 2", [] { return ones({4}).view({kI64Max, 2}); }, raises({"view", "[9223372036854775807,2]", "4"})},
      // The split sizes' product was a signed overflow (UBSan); PyTorch 1.13 words it so.
      {c, "unflatten int64 max x 2", [] { return ones({3, 4}).unflatten(1, {kI64Max, 2}); },
       raises({"unflatten", "[9223372036854775807,2]", "don't multiply up to the size of dim 1 (4)"})},
      {c, "unflatten -1 x int64 max x 2", [] { return ones({3, 4}).unflatten(1, {-1, kI64Max, 2}); },
       raises({"unflatten", "[-1,9223372036854775807,2]", "don't multiply up"})},
      {c, "unflatten 2^62 x 2^62 x 0 of 0", [] { return zeros({2, 0}).unflatten(1, {int64_t(1) << 62, int64_t(1) << 62, 0}); },
       raises({"4611686018427387904,4611686018427387904,0]", "overflows int64"})},  // as PyTorch, an error
      {c, "reshape of empty, strides overflow", [] { return zeros({0}).reshape({0, int64_t(1) << 62, 4}); },
       raises({"reshape", "[0,4611686018427387904,4]", "overflows int64"})},
      {c, "expand of empty, strides overflow", [=] { return zeros({1, 0}).expand({big, 0}).expand({4, big, 0}); },
       raises({"expand", "overflows int64"})},
      {c, "reshape 2^32 x 2^32", [] { return ones({4}).reshape({int64_t(1) << 32, int64_t(1) << 32}); },
       raises({"reshape", "4"})},
      {c, "as_strided int64 max", [] { return ones({4}).as_strided({kI64Max}, {1}); }, raises({"as_strided"})},
      {c, "as_strided extent overflow", [=] { return ones({4}).as_strided({big, 4}, {big, 1}); }, raises({"as_strided"})},
      {c, "as_strided offset int64 max", [] { return ones({4}).as_strided({1}, {1}, kI64Max); }, raises({"as_strided", "9223372036854775808 elements"})},
      {c, "from_blob negative size", [] {
         float data[2] = {1, 2};
         return from_blob(data, {-2}).clone();
       }, raises({"from_blob", "-2"})},
      {c, "from_blob negative stride", [] {
         float data[2] = {1, 2};
         return from_blob(data + 1, {2}, {-1}).clone();
       }, raises({"from_blob", "-1"})},
      {c, "from_blob null memory", [] { return from_blob(nullptr, {2}).clone(); }, raises({"from_blob", "null"})},
      {c, "set_num_threads(0)", [] { set_num_threads(0); return Tensor(); }, raises({"set_num_threads", "0"})},
      {c, "set_num_threads(-1)", [] { set_num_threads(-1); return Tensor(); }, raises({"set_num_threads", "-1"})},
      {c, "set_num_threads(int min)", [] { set_num_threads(std::numeric_limits<int>::min()); return Tensor(); },
       raises({"set_num_threads", "-2147483648"})},
  };
}

// NaN, infinities and signed zeros through every elementwise op, reduction and creation function.
std::vector<Row> non_finite_rows() {
  const std::string c = "NaN, inf and -0";
  auto v = [] { return tensor({-kInf, -1.0, -0.0, 0.0, kInf, kNan}); };
  return {
      {c, "exp", [=] { return exp(v()); }, gives({6}, {0, std::exp(-1.0), 1, 1, kInf, kNan})},
      {c, "log", [=] { return log(v()); }, gives({6}, {kNan, kNan, -kInf, -kInf, kInf, kNan})},
      {c, "sqrt", [=] { return sqrt(v()); }, gives({6}, {kNan, kNan, -0.0, 0, kInf, kNan})},
      {c, "sin", [=] { return sin(v()); }, gives({6}, {kNan, std::sin(-1.0), -0.0, 0, kNan, kNan})},
      {c, "cos", [=] { return cos(v()); }, gives({6}, {kNan, std::cos(-1.0), 1, 1, kNan, kNan})},
      {c, "tan", [=] { return tan(v()); }, gives({6}, {kNan, std::tan(-1.0), -0.0, 0, kNan, kNan})},
      {c, "tanh", [=] { return tanh(v()); }, gives({6}, {-1, std::tanh(-1.0), -0.0, 0, 1, kNan})},
      {c, "sigmoid", [=] { return sigmoid(v()); }, gives({6}, {0, 1 / (1 + std::exp(1.0)), 0.5, 0.5, 1, kNan})},
      {c, "relu", [=] { return relu(v()).index({Slice(None, None, 2)}); }, gives({3}, {0, -0.0, kInf})},
      {c, "abs", [=] { return abs(v()).index({Slice(1, None, 2)}); }, gives({3}, {1, 0, kNan})},
      {c, "neg", [=] { return neg(v()); }, gives({6}, {kInf, 1, 0, -0.0, -kInf, kNan})},
      {c, "sign", [=] { return sign(v()); }, gives({6}, {-1, -1, 0, 0, 1, 0})},
      {c, "reciprocal", [=] { return 1.0 / v(); }, gives({6}, {-0.0, -1, -kInf, kInf, 0, kNan})},
      {c, "pow(x, -1)", [=] { return pow(v(), -1.0); }, gives({6}, {-0.0, -1, -kInf, kInf, 0, kNan})},
      {c, "pow(x, 0)", [=] { return pow(v(), 0.0); }, gives({6}, {1, 1, 1, 1, 1, 1})},
      {c, "pow(x, inf)", [] { return pow(tensor({0.5, 1.0, 2.0, -1.0}), kInf); }, gives({4}, {0, 1, kInf, 1})},
      {c, "pow(-8, 1/3)", [] { return pow(tensor({-8.0}), 1.0 / 3); }, gives({1}, {kNan})},
      {c, "pow(1, x)", [=] { return pow(1.0, v()); }, gives({6}, {1, 1, 1, 1, 1, 1})},
      {c, "pow(0, x)", [] { return pow(0.0, tensor({-1.0, 0.0, kNan})); }, gives({3}, {kInf, 1, kNan})},
      {c, "x - x", [=] { return v() - v(); }, gives({6}, {kNan, 0, 0, 0, kNan, kNan})},
      {c, "x * 0", [=] { return v() * 0.0; }, gives({6}, {kNan, -0.0, -0.0, 0, kNan, kNan})},
      {c, "x * nan", [=] { return ones({2}) * kNan; }, gives({2}, {kNan, kNan})},
      {c, "int tensor * inf", [] { return tensor({1, -1, 0}) * kInf; }, gives({3}, {kInf, -kInf, kNan})},
      {c, "int / int zero", [] { return tensor({1, 0, -1}) / tensor({0, 0, 0}); }, gives({3}, {kInf, kNan, -kInf})},
      {c, "gt", [] { return gt(tensor({kNan, 1.0, -0.0}), tensor({kNan, 0.0, 0.0})); }, gives({3}, {0, 1, 0}, kBool)},
      {c, "eq", [] { return eq(tensor({kNan, -0.0, kInf}), tensor({kNan, 0.0, kInf})); }, gives({3}, {0, 1, 1}, kBool)},
      {c, "nan and -0 to bool", [] { return tensor({kNan, -0.0, kInf}).to(kBool); }, gives({3}, {1, 0, 1}, kBool)},
      {c, "where picks a where cond is nan as bool", [] {
         return where(tensor({kNan, 0.0}).to(kBool), tensor({1.0, 2.0}), tensor({5.0, 6.0}));
       }, gives({2}, {1, 6})},
      {c, "where of a float cond", [] { return where(tensor({kNan, 0.0}), tensor({1.0, 2.0}), tensor({5.0, 6.0})); },
       raises({"where", "boolean", "float32"})},
      {c, "sum of inf and -inf", [] { return tensor({kInf, -kInf}).sum(); }, gives({}, {kNan})},
      {c, "mean with nan", [] { return tensor({1.0, kNan}).mean(); }, gives({}, {kNan})},
      {c, "max with nan", [] { return tensor({1.0, kNan, 3.0}).max(); }, gives({}, {kNan})},
      {c, "min with nan", [] { return tensor({1.0, kNan, -kInf}).min(); }, gives({}, {kNan})},
      {c, "max dim index of nan", [] { return std::get<1>(tensor({1.0, kNan, 3.0}).max(0)); }, gives({}, {1}, kInt64)},
      {c, "min dim value of nan", [] { return std::get<0>(tensor({{1.0, kNan, -kInf}}).min(1)); }, gives({1}, {kNan})},
      {c, "max of all -inf", [] { return tensor({-kInf, -kInf}).max(); }, gives({}, {-kInf})},
      {c, "matmul inf * 0", [] { return matmul(tensor({{kInf, 1.0}}), tensor({{0.0}, {1.0}})); }, gives({1, 1}, {kNan})},
      {c, "mm nan row", [] { return mm(tensor({{kNan, 0.0}, {1.0, 1.0}}), ones({2, 2})); }, gives({2, 2}, {kNan, kNan, 2, 2})},
      {c, "large matmul nan", [] {
         Tensor a = ones({64, 64});
         a.select(0, 3).select(0, 5).fill_(kNan);
         return matmul(a, ones({64, 64})).sum({1}).slice(0, 2, 5);
       }, gives({3}, {64 * 64, kNan, 64 * 64})},
      {c, "full nan", [] { return full({2}, kNan); }, gives({2}, {kNan, kNan})},
      {c, "fill_ -inf", [] { return ones({2}).fill_(-kInf); }, gives({2}, {-kInf, -kInf})},
      {c, "arange to nan", [] { return arange(0.0, kNan); }, raises({"arange", "nan"})},
      {c, "arange step nan", [] { return arange(0.0, 1.0, kNan); }, raises({"arange", "step"})},
      {c, "arange step inf", [] { return arange(0.0, 1.0, kInf); }, gives({0}, {})},
      {c, "arange step 0", [] { return arange(0.0, 1.0, 0.0); }, raises({"arange", "step must be nonzero"})},
      {c, "arange wrong step sign", [] { return arange(0.0, 10.0, -1.0); }, raises({"arange", "step"})},
      {c, "linspace from nan", [] { return linspace(kNan, 1, 3); }, gives({3}, {kNan, kNan, kNan})},
      {c, "item of nan", [] { return number(tensor(kNan).item<double>()); }, gives({}, {kNan}, kFloat64)},
      {c, "to float32 of big float64", [] { return tensor({1e300, -1e300}, dtype(kFloat64)).to(kFloat32); }, gives({2}, {kInf, -kInf})},
      {c, "anomaly mode names the op", [] {
         DetectAnomalyGuard anomaly;
         Tensor x = leaf({0.0});
         (sqrt(x) * 0.0).sum().backward();
         return x.grad();
       }, raises({"Sqrt"})},
  };
}

}  // namespace

namespace {

// Integer tensors where floats are needed, mixed dtypes, and in-place ops whose result type
// cannot be stored in the destination (which must stay unchanged).
std::vector<Row> dtype_rows() {
  const std::string c = "dtypes";
  auto ints = [] { return tensor({1, 2}); };
  return {
      {c, "zeros requiring grad of int64", [] { return zeros({2}, dtype(kInt64).requires_grad()); },
       raises({"requires_grad", "int64"})},
      {c, "tensor requiring grad of int64", [] { return tensor({1, 2}, requires_grad()); }, raises({"requires_grad", "int64"})},
      {c, "exp of int64", [=] { return exp(tensor({0, 1})); }, gives({2}, {1, std::exp(1.0)})},
      {c, "sqrt of int64", [=] { return sqrt(tensor({4, -1})); }, gives({2}, {2, kNan})},
      {c, "sigmoid of int64", [=] { return sigmoid(tensor({0})); }, gives({1}, {0.5})},
      {c, "relu of int64", [=] { return relu(tensor({-3, 3})); }, gives({2}, {0, 3}, kInt64)},
      {c, "abs of int64", [=] { return abs(tensor({-3, 3})); }, gives({2}, {3, 3}, kInt64)},
      {c, "sign of int64", [=] { return sign(tensor({-3, 0, 2})); }, gives({3}, {-1, 0, 1}, kInt64)},
      {c, "int64 matmul", [=] { return matmul(tensor({{1, 2}}), tensor({{3}, {4}})); }, gives({1, 1}, {11}, kInt64)},
      {c, "int64 mean(dims)", [=] { return ints().mean({0}); }, raises({"mean", "int64"})},
      {c, "int64 / int64", [=] { return tensor({1, 3}) / tensor({2, 2}); }, gives({2}, {0.5, 1.5})},
      {c, "int64 add with float alpha", [=] { return add(ints(), ints(), 2.5); }, raises({"add", "alpha", "2.5"})},
      {c, "float add with int alpha", [=] { return add(ones({1}), ones({1}), 2); }, gives({1}, {3})},
      {c, "int64 add_ float tensor", [=] { Tensor t = ints(); return unchanged_on_raise(t, [&] { t.add_(ones({2})); }); },
       raises({"add_", "float32", "int64"})},
      {c, "int64 mul_ 2.5", [=] { Tensor t = ints(); return unchanged_on_raise(t, [&] { t.mul_(2.5); }); },
       raises({"mul_", "float32", "int64"})},
      {c, "int64 add_ 2.5", [=] { Tensor t = ints(); return unchanged_on_raise(t, [&] { t.add_(2.5); }); },
       raises({"add_", "float32", "int64"})},
      {c, "int64 div_ int64", [=] { Tensor t = ints(); return unchanged_on_raise(t, [&] { t.div_(ints()); }); },
       raises({"div_", "float32", "int64"})},
      {c, "int64 fill_ 2.7 truncates", [=] { return ints().fill_(2.7); }, gives({2}, {2, 2}, kInt64)},
      {c, "int64 fill_ -2.7 truncates", [=] { return ints().fill_(-2.7); }, gives({2}, {-2, -2}, kInt64)},
      {c, "full int64 2.5", [] { return full({2}, 2.5, dtype(kInt64)); }, gives({2}, {2, 2}, kInt64)},
      {c, "float32 add_ float64", [] { return ones({1}).add_(full({1}, 2.0, dtype(kFloat64))); }, gives({1}, {3})},
      {c, "float32 mul_ int64", [] { return full({1}, 1.5).mul_(tensor({2})); }, gives({1}, {3})},
      {c, "to int64 truncates", [] { return tensor({2.7, -2.7}).to(kInt64); }, gives({2}, {2, -2}, kInt64)},
      {c, "copy_ float into int64", [] { return zeros({2}, kInt64).copy_(tensor({2.7, -2.7})); }, gives({2}, {2, -2}, kInt64)},
      {c, "item<float> of int64", [] { return number(tensor(7).item<float>()); }, gives({}, {7}, kFloat64)},
      {c, "pow int64 to -1", [=] { return pow(ints(), -1); }, raises({"pow", "negative integer"})},
      {c, "pow int64 to 0.5", [=] { return pow(tensor({1, 4}), 0.5); }, gives({2}, {1, 2})},
      {c, "pow int64 to 0", [=] { return pow(tensor({0, 2}), 0); }, gives({2}, {1, 1}, kInt64)},
      {c, "pow 2 to int64", [=] { return pow(2, tensor({1, 3})); }, gives({2}, {2, 8}, kInt64)},
      {c, "where int64 and float", [] { return where(tensor({true, false}), tensor({1, 2}), tensor({0.5, 0.5})); },
       gives({2}, {1, 0.5})},
      {c, "cat int64 and float32", [] { return cat({tensor({1}), tensor({1.5})}); }, gives({2}, {1, 1.5})},
      {c, "cat float32 and float64", [] { return cat({tensor({1.0}), tensor({1.5}, dtype(kFloat64))}); },
       gives({2}, {1, 1.5}, kFloat64)},
      {c, "stack int64 and float32", [] { return stack({tensor({1}), tensor({1.5})}); }, gives({2, 1}, {1, 1.5})},
      {c, "rand int64", [] { return rand({2}, kInt64); }, raises({"rand", "int64"})},
      {c, "randn int64", [] { return randn({2}, kInt64); }, raises({"randn", "int64"})},
      {c, "linspace int64", [] { return linspace(0, 1, 3, kInt64); }, gives({3}, {0, 0, 1}, kInt64)},
      {c, "arange float64", [] { return arange(3, kFloat64); }, gives({3}, {0, 1, 2}, kFloat64)},
      {c, "eye int64", [] { return eye(2, kInt64); }, gives({2, 2}, {1, 0, 0, 1}, kInt64)},
      {c, "int64 cast of grad tensor", [] {
         Tensor x = leaf({1.5});
         return number(x.to(kInt64).requires_grad());
       }, gives({}, {0}, kFloat64)},
      {c, "backward of an int64 cast", [] {
         Tensor x = leaf({1.5});
         x.to(kInt64).sum().backward();
         return x.grad();
       }, raises({"backward", "does not require grad"})},
      {c, "jacrev of int64 input", [] { return func::jacrev([](const Tensor& x) { return x * 2; })(tensor({1, 2})); },
       raises({"jacrev", "int64"})},
      {c, "jvp of int64 primal", [] { return func::jvp([](const Tensor& x) { return x; }, tensor({1}), tensor({1})).second; },
       raises({"jvp", "int64"})},
      {c, "grad of int64 output", [] { return func::grad([](const Tensor& x) { return x.sum().to(kInt64); })(ones({2})); },
       // torch.func.grad returns zeros here while its vjp and jacrev raise; dydx raises in all three.
       raises({"grad", "floating-point", "int64"})},
      {c, "make_dual int64 primal", [] {
         forward_ad::DualLevel level;
         return forward_ad::make_dual(tensor({1}), tensor({1}));
       }, raises({"make_dual", "int64"})},
  };
}

// Shapes that do not fit together, and empty or ragged lists.
std::vector<Row> shape_rows() {
  const std::string c = "shapes and lists";
  return {
      {c, "add [2,3] + [3,2]", [] { return ones({2, 3}) + ones({3, 2}); }, raises({"add", "[2,3]", "[3,2]"})},
      {c, "gt [2] vs [3]", [] { return gt(ones({2}), ones({3})); }, raises({"gt", "[2]", "[3]"})},
      {c, "eq broadcast", [] { return eq(ones({2, 1}), ones({3})); }, gives({2, 3}, {1, 1, 1, 1, 1, 1}, kBool)},
      {c, "pow tensor shapes", [] { return pow(ones({2}), ones({3})); }, raises({"pow", "[2]", "[3]"})},
      {c, "div shapes", [] { return ones({4}) / ones({2, 3}); }, raises({"div", "[4]", "[2,3]"})},
      {c, "where three-way broadcast", [] { return where(tensor({{true}, {false}}), tensor({{1.0, 2.0, 3.0}}), tensor(9.0)); },
       gives({2, 3}, {1, 2, 3, 9, 9, 9})},
      {c, "where cond shape", [] { return where(ones({4}, kBool), ones({2}), ones({2})); }, raises({"where", "[4]", "[2]"})},
      {c, "cat ranks differ", [] { return cat({zeros({2}), ones({2, 2})}); }, raises({"cat", "same number of dimensions", "[2,2]"})},
      {c, "stack ranks differ", [] { return stack({zeros({2}), ones({2, 1})}); }, raises({"stack", "[2]", "[2,1]"})},
      {c, "stack of one", [] { return stack({ones({2})}, 1); }, gives({2, 1}, {1, 1})},
      {c, "tensor ragged", [] { return tensor({{1.0, 2.0}, {3.0}}); }, raises({"tensor", "not rectangular"})},
      {c, "tensor scalar beside list", [] { return tensor({{1.0, 2.0}, 3.0}); }, raises({"tensor", "not rectangular"})},
      {c, "tensor of empty lists", [] { return tensor({NestedList{}, NestedList{}}); }, gives({2, 0}, {})},
      {c, "mm [2,3]@[3]", [] { return mm(ones({2, 3}), ones({3})); }, raises({"mm", "[3]"})},
      {c, "bmm [2,2,3]@[2,3]", [] { return bmm(ones({2, 2, 3}), ones({2, 3})); }, raises({"bmm", "[2,3]"})},
      {c, "bmm inner dims", [] { return bmm(ones({2, 2, 3}), ones({2, 4, 3})); }, raises({"bmm", "[2,2,3]", "[2,4,3]"})},
      {c, "matmul 1-D sizes", [] { return matmul(ones({3}), ones({4})); }, raises({"matmul", "[3]", "[4]"})},
      {c, "matmul batch mismatch", [] { return matmul(ones({2, 3, 4}), ones({3, 4, 5})); }, raises({"matmul", "[2]", "[3]", "cannot be broadcast"})},
      {c, "matmul [3]@[2,3,4]", [] { return matmul(ones({3}), ones({2, 3, 4})); }, gives({2, 4}, {3, 3, 3, 3, 3, 3, 3, 3})},
      {c, "matmul broadcast batch", [] { return number(matmul(ones({2, 1, 3, 4}), ones({5, 4, 2})).sum().item<double>()); },
       gives({}, {2 * 5 * 3 * 2 * 4}, kFloat64)},
      {c, "addmm input shape", [] { return addmm(ones({2}), ones({2, 3}), ones({3, 3})); }, raises({"addmm", "[2]", "[2,3]"})},
      {c, "addmm mat shapes", [] { return addmm(ones({2, 2}), ones({2, 3}), ones({2, 2})); }, raises({"addmm", "[2,3]", "[2,2]"})},
      {c, "addmm 1-D mat1", [] { return addmm(ones({2}), ones({2}), ones({2, 2})); }, raises({"addmm", "[2]"})},
      {c, "linear bias shape", [] { return linear(ones({2, 3}), ones({2, 3}), ones({3})); }, raises({"linear", "[3]"})},
      {c, "linear features", [] { return linear(ones({2, 4}), ones({2, 3})); }, raises({"linear", "[2,4]", "[2,3]"})},
      {c, "linear 0-d input", [] { return linear(tensor(1.0), ones({2, 1})); }, raises({"linear", "[]"})},
      {c, "sum_to [4] from [2,3]", [] { return sum_to(ones({2, 3}), {4}); }, raises({"sum_to", "[4]", "[2,3]"})},
      {c, "view of element count", [] { return ones({2, 3}).view({7}); }, raises({"view", "[7]", "6"})},
      {c, "expand mismatch", [] { return ones({2, 3}).expand({2, 4}); }, raises({"expand", "[2,4]", "[2,3]"})},
      {c, "copy_ broadcast into [2,3]", [] { return zeros({2, 3}).copy_(tensor({1.0, 2.0, 3.0})); },
       gives({2, 3}, {1, 2, 3, 1, 2, 3})},
      {c, "copy_ cannot shrink", [] { Tensor t = zeros({3}); return unchanged_on_raise(t, [&] { t.copy_(ones({2, 3})); }); },
       raises({"copy_", "[2,3]", "[3]"})},
      {c, "mul_ cannot grow", [] { Tensor t = ones({1}); return unchanged_on_raise(t, [&] { t.mul_(ones({3})); }); },
       raises({"mul_", "[1]", "[3]"})},
      {c, "div_ shapes", [] { Tensor t = ones({2}); return unchanged_on_raise(t, [&] { t.div_(ones({3})); }); },
       raises({"div_", "[2]", "[3]"})},
      {c, "sub_ shapes", [] { Tensor t = ones({2}); return unchanged_on_raise(t, [&] { t.sub_(ones({3})); }); },
       raises({"sub_", "[2]", "[3]"})},
      {c, "set_grad shape", [] { Tensor x = leaf({1.0, 2.0}); x.set_grad(ones({3})); return x.grad(); },
       raises({"grad", "[3]", "[2]"})},
      {c, "backward gradient shape", [] { Tensor x = leaf({1.0, 2.0}); (x * 2.0).backward(ones({3})); return x.grad(); },
       raises({"Mismatch in shape", "[3]", "[2]"})},
      {c, "grad empty inputs", [] { Tensor x = leaf({1.0}); return grad({x.sum()}, {})[0]; }, raises({"grad", "input"})},
      {c, "backward empty outputs", [] { backward({}); return Tensor(); }, raises({"backward"})},
      {c, "jvp tangent count", [] {
         return func::jvp([](const TensorList& x) { return x; }, {ones({1}), ones({1})}, {ones({1})}).second[0];
       }, raises({"jvp", "tangent"})},
      {c, "vjp cotangent count", [] {
         auto [out, vjp_fn] = func::vjp([](const TensorList& x) { return TensorList{x[0] * 2.0}; }, {ones({1})});
         return vjp_fn({ones({1}), ones({1})})[0];
       }, raises({"vjp", "cotangent"})},
      {c, "linearize tangent shape", [] {
         auto [out, jvp_fn] = func::linearize([](const Tensor& x) { return x * 2.0; }, ones({2}));
         return jvp_fn(ones({3}));
       }, raises({"[3]", "[2]"})},
      {c, "hessian of non-scalar", [] { return func::hessian([](const Tensor& x) { return x * x; })(ones({2})); },
       gives({2, 2, 2}, {2, 0, 0, 0, 0, 0, 0, 2})},
      {c, "grad of non-scalar list", [] {
         return func::grad([](const TensorList& x) { return TensorList{x[0] * 2.0}; }, std::vector<int64_t>{0})({ones({2})})[0];
       }, raises({"grad", "[2]"})},
      {c, "batch_jacobian batch changed", [] {
         return func::batch_jacobian([](const Tensor& x) { return x.sum({0}, true); }, ones({3, 2}));
       }, raises({"batch_jacobian", "[1,2]", "3"})},
      {c, "batch_jacobian 0-d output", [] { return func::batch_jacobian([](const Tensor& x) { return x.sum(); }, ones({3, 2})); },
       raises({"batch_jacobian", "[]"})},
      {c, "laplacian of 1-D input", [] { return func::laplacian([](const Tensor& x) { return x * x; }, ones({3})); },
       gives({3}, {2, 2, 2})},
  };
}

}  // namespace

namespace {

// Expanded (stride 0), transposed, sliced and as_strided views as the inputs of ops, and views of
// contiguous bases as in-place destinations, including ones that alias the source.
std::vector<Row> view_rows() {
  const std::string c = "views as inputs and outputs";
  auto col = [] { return tensor({{1.0}, {2.0}, {3.0}}).expand({3, 4}); };  // strides [1,0]
  auto overlap = [] { return arange(4.0).as_strided({3, 2}, {1, 1}); };      // rows share elements
  return {
      {c, "exp of expanded", [=] { return exp(col()).sum({1}); }, gives({3}, {4 * std::exp(1.0), 4 * std::exp(2.0), 4 * std::exp(3.0)})},
      {c, "sum of overlapping as_strided", [=] { return overlap().sum(); }, gives({}, {9})},
      {c, "clone of overlapping as_strided", [=] { return overlap().clone(); }, gives({3, 2}, {0, 1, 1, 2, 2, 3})},
      {c, "contiguous of expanded", [=] { return col().contiguous().select(1, 3); }, gives({3}, {1, 2, 3})},
      {c, "matmul expanded lhs", [=] { return matmul(col(), ones({4, 2})); }, gives({3, 2}, {4, 4, 8, 8, 12, 12})},
      {c, "matmul expanded rhs", [=] { return matmul(ones({2, 3}), col()); }, gives({2, 4}, {6, 6, 6, 6, 6, 6, 6, 6})},
      {c, "mm of stride-0 rows", [] { return mm(tensor({1.0, 2.0}).expand({3, 2}), tensor({{1.0}, {1.0}})); },
       gives({3, 1}, {3, 3, 3})},
      {c, "mm of a fully expanded scalar", [] { return mm(tensor(2.0).expand({2, 3}), tensor(1.0).expand({3, 2})); },
       gives({2, 2}, {6, 6, 6, 6})},
      {c, "large mm of expanded", [] {
         return number(mm(ones({1, 1}).expand({96, 80}), arange(80.0).unsqueeze(1).expand({80, 70})).sum().item<double>());
       }, gives({}, {96.0 * 70 * 3160}, kFloat64)},
      {c, "bmm of expanded batch", [] { return bmm(eye(2).expand({3, 2, 2}), ones({3, 2, 1})); }, gives({3, 2, 1}, {1, 1, 1, 1, 1, 1})},
      {c, "matmul of overlapping as_strided", [=] { return matmul(overlap(), ones({2})); }, gives({3}, {1, 3, 5})},
      {c, "matmul of step-2 slices", [] { return matmul(arange(8.0).slice(0, 0, 8, 2), arange(8.0).slice(0, 1, 8, 2)); },
       gives({}, {0 * 1 + 2 * 3 + 4 * 5 + 6 * 7})},
      {c, "linear of transposed weight", [] { return linear(ones({1, 2}), arange(6.0).view({2, 3}).t()); }, gives({1, 3}, {3, 5, 7})},
      {c, "addmm of expanded input", [] { return addmm(tensor(1.0).expand({2, 2}), eye(2), eye(2)); }, gives({2, 2}, {2, 1, 1, 2})},
      {c, "cat of expanded and transposed", [=] { return cat({col().slice(1, 0, 1), arange(3.0).view({1, 3}).t()}, 1); },
       gives({3, 2}, {1, 0, 2, 1, 3, 2})},
      {c, "where of expanded", [=] { return where(col() != 2.0, col(), tensor(-1.0)).select(1, 0); }, gives({3}, {1, -1, 3})},
      {c, "max over expanded", [=] { return std::get<1>(col().max(1)); }, gives({3}, {0, 0, 0}, kInt64)},
      {c, "to_vector of strided", [] { return tensor(arange(10.0).slice(0, 1, 10, 3).to_vector<double>()); },
       gives({3}, {1, 4, 7})},
      {c, "reshape of transposed copies", [] { return arange(6.0).view({2, 3}).t().reshape({6}); }, gives({6}, {0, 3, 1, 4, 2, 5})},
      {c, "view of transposed", [] { return arange(6.0).view({2, 3}).t().view({6}); }, raises({"view", "reshape"})},
      {c, "add_ through a slice", [] {
         Tensor base = zeros({4});
         base.slice(0, 1, 3).add_(1.0);
         return base;
       }, gives({4}, {0, 1, 1, 0})},
      {c, "add_ through a transposed view", [] {
         Tensor base = zeros({2, 3});
         base.t().add_(arange(6.0).view({3, 2}));
         return base;
       }, gives({2, 3}, {0, 2, 4, 1, 3, 5})},
      {c, "add_ of itself", [] { Tensor a = arange(4.0); return a.add_(a); }, gives({4}, {0, 2, 4, 6})},
      {c, "copy_ of itself", [] { Tensor a = arange(4.0); return a.copy_(a); }, gives({4}, {0, 1, 2, 3})},
      {c, "add_ from an expanded source", [] { return zeros({2, 3}).add_(arange(3.0).expand({2, 3})); },
       gives({2, 3}, {0, 1, 2, 0, 1, 2})},
      {c, "copy_ from a shifted alias", [] {
         Tensor a = arange(4.0);
         return unchanged_on_raise(a, [&] { a.slice(0, 1).copy_(a.slice(0, 0, 3)); });
       }, raises({"copy_", "single memory location"})},
      {c, "add_ from a shifted alias", [] {
         Tensor a = arange(4.0);
         return unchanged_on_raise(a, [&] { a.slice(0, 1).add_(a.slice(0, 0, 3)); });
       }, raises({"add_", "single memory location"})},
      {c, "mul_ by own transpose", [] {
         Tensor a = arange(4.0).view({2, 2});
         return unchanged_on_raise(a, [&] { a.mul_(a.t()); });
       }, raises({"mul_", "single memory location"})},
      {c, "copy_ from an expanded alias", [] {
         Tensor a = arange(3.0);
         return unchanged_on_raise(a, [&] { a.copy_(a.slice(0, 0, 1).expand({3})); });
       }, raises({"copy_", "single memory location"})},
      {c, "backward through a step-2 slice", [] {
         Tensor x = zeros({5}).requires_grad_();
         return grad_after(x, x.slice(0, 0, 5, 2).sum());
       }, gives({5}, {1, 0, 1, 0, 1})},
      {c, "backward through expand", [] {
         Tensor x = ones({1, 2}).requires_grad_();
         return grad_after(x, x.expand({3, 2}).sum());
       }, gives({1, 2}, {3, 3})},
      {c, "backward through index", [] {
         Tensor x = zeros({2, 3}).requires_grad_();
         return grad_after(x, x.index({Slice(), -1}).sum() * 2.0);
       }, gives({2, 3}, {0, 0, 2, 0, 0, 2})},
      {c, "from_blob with strides", [] {
         float data[6] = {0, 1, 2, 3, 4, 5};
         return from_blob(data, {3}, {2}).clone();
       }, gives({3}, {0, 2, 4})},
      {c, "from_blob view keeps memory alive", [] {
         auto deleted = std::make_shared<int>(0);
         Tensor view;
         {
           auto* data = new float[3]{7, 8, 9};
           Tensor owner = from_blob(data, {3}, [deleted](void* p) {
             ++*deleted;
             delete[] static_cast<float*>(p);
           });
           view = owner.slice(0, 1);
         }
         Tensor result = cat({view, number(*deleted).to(kFloat32).unsqueeze(0)});
         view = Tensor();
         return cat({result, number(*deleted).to(kFloat32).unsqueeze(0)});
       }, gives({4}, {8, 9, 0, 1})},
      {c, "modified saved result", [] {
         Tensor x = leaf({1.0, 2.0});
         Tensor y = x.exp();
         y.detach().zero_();
         y.sum().backward();
         return x.grad();
       }, raises({"modified by an inplace operation"})},
      {c, "detach_ of a view", [] {
         Tensor x = leaf({1.0, 2.0});
         Tensor v = (x * 2.0).slice(0, 0, 1);
         return v.detach_();
       }, raises({"detach_", "view"})},
  };
}

// Autograd misuse: grad where it is not allowed, NoGradGuard, misuse of hooks and of backward's options.
std::vector<Row> autograd_rows() {
  const std::string c = "autograd misuse";
  return {
      {c, "backward of a constant", [] { ones({}).backward(); return Tensor(); }, raises({"does not require grad"})},
      {c, "backward under NoGradGuard", [] {
         Tensor x = leaf({1.0});
         NoGradGuard no_grad;
         (x * 2.0).sum().backward();
         return x.grad();
       }, raises({"does not require grad"})},
      {c, "grad of a graph built before NoGradGuard", [] {
         Tensor x = leaf({1.0, 2.0});
         Tensor y = (x * x).sum();
         NoGradGuard no_grad;
         return grad({y}, {x})[0];
       }, gives({2}, {2, 4})},
      {c, "in-place on a grad leaf under NoGradGuard", [] {
         Tensor x = leaf({1.0, 2.0});
         {
           NoGradGuard no_grad;
           x.mul_(3.0);
         }
         return cat({x.detach(), number(x.is_leaf() && x.requires_grad()).to(kFloat32).unsqueeze(0)});
       }, gives({3}, {3, 6, 1})},
      {c, "in-place on a grad leaf", [] {
         Tensor x = leaf({1.0, 2.0});
         return unchanged_on_raise(x, [&] { x.mul_(3.0); });
       }, raises({"leaf", "requires grad"})},
      {c, "ops under NoGradGuard record nothing", [] {
         Tensor x = leaf({1.0});
         NoGradGuard no_grad;
         return number((x * 2.0).requires_grad());
       }, gives({}, {0}, kFloat64)},
      {c, "set_grad_enabled restores", [] {
         {
           AutoGradMode off(false);
           AutoGradMode on(true);
         }
         return number(is_grad_enabled());
       }, gives({}, {1}, kFloat64)},
      {c, "grad of duplicated inputs", [] {
         Tensor x = leaf({1.0, 2.0});
         TensorList g = grad({(x * x).sum()}, {x, x});
         return cat({g[0], g[1]});
       }, gives({4}, {2, 4, 2, 4})},
      {c, "grad of a non-leaf input", [] {
         Tensor x = leaf({1.0, 2.0});
         Tensor h = x * 3.0;
         return grad({(h * h).sum()}, {h})[0];
       }, gives({2}, {6, 12})},
      {c, "grad allow_unused", [] {
         Tensor x = leaf({1.0}), y = leaf({1.0});
         return number(grad({x.sum()}, {y}, {}, std::nullopt, false, true)[0].defined());
       }, gives({}, {0}, kFloat64)},
      {c, "grad batched over zero cotangents", [] {
         Tensor x = leaf({1.0, 2.0, 3.0});
         return grad({x * 2.0}, {x}, {zeros({0, 3})}, std::nullopt, false, false, true)[0];
       }, gives({0, 3}, {})},
      {c, "backward with int64 gradient", [] {
         Tensor x = leaf({1.0, 2.0});
         (x * 2.0).backward(tensor({1, 1}));
         return x.grad();
       }, gives({2}, {2, 2})},
      {c, "backward with inputs outside the graph", [] {
         Tensor x = leaf({1.0}), y = leaf({1.0});
         (x * 2.0).sum().backward({}, std::nullopt, false, {y});
         return number(y.grad().defined());
       }, gives({}, {0}, kFloat64)},
      {c, "set_grad undefined clears", [] {
         Tensor x = leaf({1.0});
         (x * 2.0).sum().backward();
         x.set_grad(Tensor());
         return number(x.grad().defined());
       }, gives({}, {0}, kFloat64)},
      {c, "remove_hook of an unknown handle", [] {
         Tensor x = leaf({1.0});
         x.remove_hook(12345);
         return grad_after(x, (x * 2.0).sum());
       }, gives({1}, {2})},
      {c, "remove_hook twice", [] {
         Tensor x = leaf({1.0});
         unsigned h = x.register_hook([](const Tensor& g) { return g * 10.0; });
         x.remove_hook(h);
         x.remove_hook(h);
         return grad_after(x, (x * 2.0).sum());
       }, gives({1}, {2})},
      {c, "hook changes the shape", [] {
         Tensor x = leaf({1.0, 2.0});
         x.register_hook([](const Tensor&) { return ones({3}); });
         return grad_after(x, (x * 2.0).sum());
       }, raises({"hook", "[3]", "[2]"})},
      {c, "hook changes the dtype", [] {
         Tensor x = leaf({1.0, 2.0});
         x.register_hook([](const Tensor& g) { return g.to(kFloat64); });
         return grad_after(x, (x * 2.0).sum());
       }, raises({"hook", "float64", "float32"})},
      {c, "hook returns undefined", [] {
         Tensor x = leaf({1.0, 2.0});
         x.register_hook([](const Tensor&) { return Tensor(); });
         return grad_after(x, (x * 2.0).sum());
       }, gives({2}, {2, 2})},
      {c, "second backward after freeing", [] {
         Tensor x = leaf({1.0});
         Tensor y = (x.exp() * 2.0).sum();
         y.backward();
         y.backward();
         return x.grad();
       }, raises({"backward through the graph a second time"})},
      {c, "retain_grad then grad of non-leaf", [] {
         Tensor x = leaf({1.0, 2.0});
         Tensor h = x * 2.0;
         h.retain_grad();
         h.retain_grad();
         (h * h).sum().backward();
         return h.grad();
       }, gives({2}, {4, 8})},
      {c, "requires_grad_ under NoGradGuard", [] {
         NoGradGuard no_grad;
         Tensor x = ones({1});
         x.requires_grad_();
         return number(x.requires_grad());
       }, gives({}, {1}, kFloat64)},
  };
}

// Gradients where reductions tie or meet NaN, of empty and leaf outputs, and through retained,
// detached and in-place-modified tensors.
std::vector<Row> gradient_edge_rows() {
  const std::string c = "gradient edge cases";
  auto defined = [](const Tensor& t) { return number(t.defined()); };
  return {
      {c, "max with ties splits evenly", [] {
         Tensor x = leaf({1.0, 3.0, 3.0});
         return grad_after(x, x.max());
       }, gives({3}, {0, 0.5, 0.5})},
      {c, "min with ties splits evenly", [] {
         Tensor x = leaf({1.0, 1.0, 3.0});
         return grad_after(x, x.min());
       }, gives({3}, {0.5, 0.5, 0})},
      {c, "max(dim) with ties picks the first", [] {
         Tensor x = leaf({{3.0, 3.0}});
         return grad_after(x, std::get<0>(x.max(1)).sum());
       }, gives({1, 2}, {1, 0})},
      {c, "max with nan flows to the nan", [] {
         Tensor x = leaf({1.0, kNan, 3.0});
         return grad_after(x, x.max());
       }, gives({3}, {0, 1, 0})},
      {c, "mean of empty", [] {
         Tensor x = zeros({0}).requires_grad_();
         return grad_after(x, x.mean());
       }, gives({0}, {})},
      {c, "where gives cond no gradient", [=] {
         Tensor cond = leaf({1.0, 0.0}), a = leaf({1.0, 2.0});
         where(cond > 0.5, a, a * 2.0).sum().backward();
         return cat({a.grad(), defined(cond.grad()).to(kFloat32).unsqueeze(0)});
       }, gives({3}, {1, 2, 0})},
      {c, "batched grad_outputs of two sizes", [] {
         Tensor x = leaf({1.0, 2.0});
         return grad({x * 2.0, x * 3.0}, {x}, {ones({2, 2}), ones({3, 2})}, std::nullopt, false, false, true)[0];
       }, raises({"grad", "batch size", "2", "3"})},
      {c, "hook of a non-leaf changes the shape", [] {
         Tensor x = leaf({1.0, 2.0});
         Tensor h = x * 2.0;
         h.register_hook([](const Tensor&) { return ones({3}); });
         return grad_after(x, h.sum());
       }, raises({"hook", "[3]", "[2]"})},
      {c, "create_graph under NoGradGuard", [] {
         Tensor x = leaf({1.0, 2.0});
         Tensor y = (x * x).sum();
         NoGradGuard no_grad;
         return number(grad({y}, {x}, {}, std::nullopt, true)[0].requires_grad());
       }, gives({}, {1}, kFloat64)},
      {c, "second output through a freed graph", [] {
         Tensor x = leaf({1.0});
         Tensor h = x.exp();
         (h * 2.0).sum().backward();
         (h * 3.0).sum().backward();
         return x.grad();
       }, raises({"ExpBackward0", "second time"})},
      {c, "backward twice through a graph that saves nothing", [] {
         Tensor x = leaf({1.0});
         Tensor y = x.sum();
         y.backward();
         y.backward();
         return x.grad();
       }, gives({1}, {2})},
      {c, "grad of an input by itself", [] {
         Tensor x = leaf({1.0, 2.0});
         return grad({x}, {x}, {tensor({3.0, 4.0})})[0];
       }, gives({2}, {3, 4})},
      {c, "backward of a leaf", [] {
         Tensor x = tensor(2.0).requires_grad_();
         x.backward();
         return x.grad();
       }, gives({}, {1})},
      {c, "backward adds to a set gradient", [] {
         Tensor x = leaf({1.0});
         x.set_grad(tensor({5.0}));
         return grad_after(x, (x * 2.0).sum());
       }, gives({1}, {7})},
      {c, "gradient with respect to grad_outputs", [] {
         Tensor x = leaf({1.0}), v = leaf({2.0});
         Tensor g = grad({x * 3.0}, {x}, {v}, std::nullopt, true)[0];
         return grad({g.sum()}, {v})[0];
       }, gives({1}, {3})},
      {c, "retain_grad then in-place", [] {
         Tensor x = leaf({1.0, 2.0});
         Tensor h = x * 1.0;
         h.retain_grad();
         h.mul_(3.0);
         (h * h).sum().backward();
         return h.grad();
       }, gives({2}, {6, 12})},
      {c, "retain_grad on a view then in-place", [=] {
         Tensor x = leaf({1.0, 2.0});
         Tensor h = x * 1.0;
         Tensor v = h.slice(0, 0, 1);
         v.retain_grad();
         v.mul_(3.0);
         (h * h).sum().backward();
         return defined(v.grad());
       }, gives({}, {0}, kFloat64)},
      {c, "detach then requires_grad_", [] {
         Tensor x = leaf({1.0});
         Tensor d = (x * 2.0).detach();
         d.requires_grad_();
         (d * 3.0).sum().backward();
         return cat({d.grad(), number(x.grad().defined()).to(kFloat32).unsqueeze(0)});
       }, gives({2}, {3, 0})},
  };
}

// Forward-mode AD: levels, mismatched tangents, in-place ops on duals, grad mode off.
std::vector<Row> forward_ad_rows() {
  const std::string c = "forward AD";
  return {
      {c, "make_dual level 999", [] {
         forward_ad::DualLevel level;
         return forward_ad::make_dual(ones({1}), ones({1}), 999);
       }, raises({"make_dual", "999"})},
      {c, "unpack_dual level 999", [] {
         forward_ad::DualLevel level;
         return number(forward_ad::unpack_dual(ones({1}), 999).tangent.defined());
       }, gives({}, {0}, kFloat64)},
      {c, "unpack_dual outside any level", [] { return forward_ad::unpack_dual(ones({1})).primal; },
       raises({"unpack_dual", "no dual level"})},
      {c, "make_dual with an expanded tangent", [] {
         forward_ad::DualLevel level;
         Tensor x = forward_ad::make_dual(tensor({0.0, 1.0, 2.0}), ones({1}).expand({3}));
         return forward_ad::unpack_dual(x * x).tangent;
       }, gives({3}, {0, 2, 4})},
      {c, "make_dual of a dual", [] {
         forward_ad::DualLevel level;
         Tensor x = forward_ad::make_dual(ones({2}), full({2}, 3.0));
         return forward_ad::unpack_dual(forward_ad::make_dual(x, full({2}, 5.0))).tangent;
       }, raises({"make_dual", "already has a tangent"})},
      {c, "in-place mul_ of a dual", [] {
         forward_ad::DualLevel level;
         Tensor x = forward_ad::make_dual(ones({2}), full({2}, 3.0));
         x.mul_(2.0);
         return forward_ad::unpack_dual(x).tangent;
       }, gives({2}, {6, 6})},
      {c, "add_ of a dual into a plain tensor", [] {
         forward_ad::DualLevel level;
         Tensor y = zeros({2});
         y.add_(forward_ad::make_dual(ones({2}), full({2}, 3.0)));
         return forward_ad::unpack_dual(y).tangent;
       }, gives({2}, {3, 3})},
      {c, "copy_ of a dual into a slice", [] {
         forward_ad::DualLevel level;
         Tensor y = zeros({3});
         y.slice(0, 1).copy_(forward_ad::make_dual(ones({2}), full({2}, 3.0)));
         return forward_ad::unpack_dual(y).tangent;
       }, gives({3}, {0, 3, 3})},
      {c, "dual under NoGradGuard", [] {
         forward_ad::DualLevel level;
         NoGradGuard no_grad;
         Tensor x = forward_ad::make_dual(tensor({2.0}), ones({1}));
         return forward_ad::unpack_dual(x * x).tangent;
       }, gives({1}, {4})},
      {c, "tangent gone after the level closes", [] {
         Tensor x;
         {
           forward_ad::DualLevel level;
           x = forward_ad::make_dual(tensor({2.0}), ones({1})) * 3.0;
         }
         forward_ad::DualLevel next;
         return number(forward_ad::unpack_dual(x).tangent.defined());
       }, gives({}, {0}, kFloat64)},
      {c, "outer level's tangent in an inner level", [] {
         forward_ad::DualLevel outer;
         Tensor x = forward_ad::make_dual(tensor({2.0}), ones({1}));
         forward_ad::DualLevel inner;
         return forward_ad::unpack_dual(x * x, outer.level()).tangent;
       }, gives({1}, {4})},
      {c, "levels closed out of order", [] {
         auto outer = std::make_unique<forward_ad::DualLevel>();
         auto inner = std::make_unique<forward_ad::DualLevel>();
         outer.reset();
         Tensor x = forward_ad::make_dual(tensor({2.0}), ones({1}));
         Tensor t = forward_ad::unpack_dual(x * x).tangent;
         inner.reset();
         return t;
       }, gives({1}, {4})},
      {c, "backward through a dual", [] {
         forward_ad::DualLevel level;
         Tensor x = leaf({2.0});
         Tensor d = forward_ad::make_dual(x, ones({1}));
         return grad_after(x, (d * d).sum());
       }, gives({1}, {4})},
  };
}

}  // namespace

namespace {

// Function transforms given odd functions: constants, identities, undefined or wrong results.
std::vector<Row> transform_rows() {
  const std::string c = "transforms";
  auto twice = [](const Tensor& x) { return x * 2.0; };
  return {
      {c, "grad f returns undefined", [] { return func::grad([](const Tensor&) { return Tensor(); })(ones({1})); },
       raises({"grad", "undefined"})},
      {c, "jvp f returns nothing", [] {
         return number(func::jvp([](const TensorList&) { return TensorList{}; }, {ones({1})}, {ones({1})}).second.size());
       }, gives({}, {0}, kFloat64)},
      {c, "vjp of a constant", [] {
         auto [out, vjp_fn] = func::vjp([](const Tensor&) { return full({2}, 3.0); }, ones({3}));
         return vjp_fn(ones({2}));
       }, gives({3}, {0, 0, 0})},
      {c, "jvp of a constant", [] { return func::jvp([](const Tensor&) { return full({2}, 3.0); }, ones({3}), ones({3})).second; },
       gives({2}, {0, 0})},
      {c, "jacrev of a constant", [] { return func::jacrev([](const Tensor&) { return full({2}, 3.0); })(ones({3})); },
       gives({2, 3}, {0, 0, 0, 0, 0, 0})},
      {c, "jacfwd of a constant", [] { return func::jacfwd([](const Tensor&) { return full({2}, 3.0); })(ones({1})); },
       gives({2, 1}, {0, 0})},
      {c, "grad of a constant", [] { return func::grad([](const Tensor&) { return tensor(3.0); })(ones({2})); },
       gives({2}, {0, 0})},
      {c, "hessian of a linear f", [] { return func::hessian([](const Tensor& x) { return x.sum(); })(ones({2})); },
       gives({2, 2}, {0, 0, 0, 0})},
      {c, "vjp of the identity", [] {
         auto [out, vjp_fn] = func::vjp([](const Tensor& x) { return x; }, ones({2}));
         return vjp_fn(tensor({3.0, 4.0}));
       }, gives({2}, {3, 4})},
      {c, "jvp of the identity", [] { return func::jvp([](const Tensor& x) { return x; }, ones({2}), tensor({3.0, 4.0})).second; },
       gives({2}, {3, 4})},
      {c, "vjp_fn called twice", [=] {
         auto [out, vjp_fn] = func::vjp([](const Tensor& x) { return x.exp(); }, tensor({0.0}));
         vjp_fn(ones({1}));
         return vjp_fn(full({1}, 2.0));
       }, gives({1}, {2})},
      {c, "vjp undefined cotangent", [=] {
         auto [out, vjp_fn] = func::vjp(twice, ones({2}));
         return vjp_fn(Tensor());
       }, raises({"vjp", "cotangent"})},
      {c, "vjp cotangent dtype", [=] {
         auto [out, vjp_fn] = func::vjp(twice, ones({2}));
         return vjp_fn(tensor({1, 1}));
       }, gives({2}, {2, 2})},
      {c, "jacfwd chunk_size -1", [=] { return func::jacfwd(func::UnaryFunction(twice), -1)(ones({2})); },
       raises({"jacfwd", "chunk_size", "-1"})},
      {c, "jacrev chunk_size 1", [=] { return func::jacrev(func::UnaryFunction(twice), 1)(ones({2})); },
       gives({2, 2}, {2, 0, 0, 2})},
      {c, "jacobian of 0-d", [] { return func::jacobian([](const Tensor& x) { return x * x; }, tensor(3.0)); }, gives({}, {6})},
      {c, "grad_and_value of non-scalar", [] {
         return func::grad_and_value([](const Tensor& x) { return x * 2.0; })(ones({2})).first;
       }, raises({"grad", "[2]"})},
      {c, "grad under NoGradGuard", [] {
         NoGradGuard no_grad;
         return func::grad([](const Tensor& x) { return (x * x).sum(); })(tensor({3.0}));
       }, gives({1}, {6})},
      {c, "jacrev under NoGradGuard", [] {
         NoGradGuard no_grad;
         return func::jacrev([](const Tensor& x) { return x * x; })(tensor({3.0}));
       }, gives({1, 1}, {6})},
      {c, "vjp under NoGradGuard", [] {
         NoGradGuard no_grad;
         auto [out, vjp_fn] = func::vjp([](const Tensor& x) { return x * x; }, tensor({3.0}));
         return vjp_fn(ones({1}));
       }, gives({1}, {6})},
      {c, "jvp inside a dual level", [] {
         forward_ad::DualLevel level;
         return func::jvp([](const Tensor& x) { return x * x; }, tensor({3.0}), ones({1})).second;
       }, gives({1}, {6})},
      {c, "grad inside a dual level", [] {
         forward_ad::DualLevel level;
         return func::grad([](const Tensor& x) { return (x * x).sum(); })(tensor({3.0}));
       }, gives({1}, {6})},
      {c, "batch_jacobian not row-wise", [] {
         func::BatchOptions options;
         options.check_independence = true;
         return func::batch_jacobian([](const Tensor& x) { return x * x.sum(); }, ones({3, 2}), options);
       }, raises({"batch_jacobian"})},
      {c, "batch_jacobian chunk_size -1", [] {
         func::BatchOptions options;
         options.chunk_size = -1;
         return func::batch_jacobian([](const Tensor& x) { return x; }, ones({3, 2}), options);
       }, raises({"batch_jacobian", "chunk_size", "-1"})},
      {c, "batch_hessian per-row scalar", [] {
         return func::batch_hessian([](const Tensor& x) { return (x * x).sum({1}); }, ones({2, 2}));
       }, gives({2, 2, 2}, {2, 0, 0, 2, 2, 0, 0, 2})},
      {c, "batch_hessian_diagonal of no rows", [] {
         return func::batch_hessian_diagonal([](const Tensor& x) { return x * x; }, zeros({0, 2}));
       }, gives({0, 2, 2}, {})},
      {c, "laplacian of a constant", [] { return func::laplacian([](const Tensor& x) { return x.sum({1}) * 0.0 + 1.0; }, ones({2, 3})); },
       gives({2}, {0, 0})},
      {c, "laplacian 0-d input", [] { return func::laplacian([](const Tensor& x) { return x; }, tensor(1.0)); },
       raises({"laplacian", "batch dim"})},
      {c, "wrap of two given three", [] {
         return func::jacrev(func::wrap<2>([](const Tensor& a, const Tensor& b) { return a * b; }), std::vector<int64_t>{0})({ones({1}), ones({1}), ones({1})})[0];
       }, raises({"func", "2", "3"})},
  };
}

// User callbacks that throw: the user's exception comes out, and dydx's state is as before.
std::vector<Row> callback_rows() {
  const std::string c = "misbehaving callbacks";
  struct Boom : std::runtime_error {
    Boom() : std::runtime_error("boom") {}
  };
  auto boom = [](const Tensor& x) -> Tensor {
    (void)(x * 2.0);
    throw Boom();
  };
  // Runs call, which must throw Boom, and then checks that no dual level is left open and that a
  // fresh graph still differentiates: 1 when all is well.
  auto survives = [](const std::function<void()>& call) {
    bool threw = false;
    try {
      call();
    } catch (const Boom&) {
      threw = true;
    }
    bool level_closed = false;
    try {
      forward_ad::make_dual(ones({1}), ones({1}));
    } catch (const Error&) {
      level_closed = true;
    }
    Tensor x = leaf({2.0});
    const bool grads = grad({(x * x).sum()}, {x})[0].item<double>() == 4.0;
    return number(threw && level_closed && grads);
  };
  return {
      {c, "jvp f throws", [=] { return survives([=] { func::jvp(boom, ones({2}), ones({2})); }); }, gives({}, {1}, kFloat64)},
      {c, "vjp f throws", [=] { return survives([=] { func::vjp(boom, ones({2})); }); }, gives({}, {1}, kFloat64)},
      {c, "linearize f throws", [=] { return survives([=] { func::linearize(boom, ones({2})); }); }, gives({}, {1}, kFloat64)},
      {c, "jacrev f throws", [=] { return survives([=] { func::jacrev(boom)(ones({2})); }); }, gives({}, {1}, kFloat64)},
      {c, "jacfwd f throws", [=] { return survives([=] { func::jacfwd(boom)(ones({2})); }); }, gives({}, {1}, kFloat64)},
      {c, "grad f throws", [=] { return survives([=] { func::grad(boom)(ones({2})); }); }, gives({}, {1}, kFloat64)},
      {c, "hessian f throws", [=] { return survives([=] { func::hessian(boom)(ones({2})); }); }, gives({}, {1}, kFloat64)},
      {c, "batch_jacobian f throws", [=] { return survives([=] { func::batch_jacobian(boom, ones({2, 2})); }); },
       gives({}, {1}, kFloat64)},
      {c, "laplacian f throws", [=] { return survives([=] { func::laplacian(boom, ones({2, 2})); }); }, gives({}, {1}, kFloat64)},
      {c, "f throws under NoGradGuard", [=] {
         return survives([=] {
           NoGradGuard no_grad;
           func::grad(boom)(ones({2}));
         });
       }, gives({}, {1}, kFloat64)},
      {c, "hook throws", [] {
         Tensor x = leaf({1.0, 2.0});
         x.register_hook([](const Tensor&) -> Tensor { throw Boom(); });
         Tensor y = (x * 3.0).sum();
         try {
           y.backward({}, true);
         } catch (const Boom&) {
           return number(x.grad().defined());
         }
         return number(-1);
       }, gives({}, {0}, kFloat64)},
      {c, "hook throws then backward again", [] {
         Tensor x = leaf({1.0, 2.0});
         bool armed = true;
         x.register_hook([&armed](const Tensor& g) -> Tensor {
           if (armed) throw Boom();
           return g;
         });
         Tensor y = (x.exp() * 0.0 + x * 3.0).sum();
         try {
           y.backward({}, true);
         } catch (const Boom&) {
         }
         armed = false;
         y.backward();
         return x.grad();
       }, gives({2}, {3, 3})},
      {c, "hook throws dydx::Error", [] {
         Tensor x = leaf({1.0});
         x.register_hook([](const Tensor&) -> Tensor { DYDX_CHECK(false, "my_hook: refused"); return {}; });
         return grad_after(x, (x * 3.0).sum());
       }, raises({"my_hook: refused"})},
      {c, "from_blob deleter runs once", [] {
         auto calls = std::make_shared<int>(0);
         {
           auto* data = new double[2]{1, 2};
           Tensor t = from_blob(data, {2}, [calls](void* p) {
             ++*calls;
             delete[] static_cast<double*>(p);
           }, kFloat64);
           Tensor copy = t, view = t.slice(0, 1);
         }
         return number(*calls);
       }, gives({}, {1}, kFloat64)},
  };
}

// Printing the odd cases, to PyTorch's exact text.
std::vector<Row> printing_rows() {
  const std::string c = "printing";
  return {
      {c, "undefined", [] { return to_string(Tensor()); }, prints("[ Tensor (undefined) ]")},
      {c, "empty", [] { return to_string(zeros({0})); }, prints("tensor([])")},
      {c, "empty 2-D", [] { return to_string(zeros({0, 3})); }, prints("tensor([], size=(0, 3))")},
      {c, "empty int64", [] { return to_string(zeros({0}, kInt64)); }, prints("tensor([], dtype=torch.int64)")},
      {c, "non-finite", [] { return to_string(tensor({kNan, kInf, -kInf})); }, prints("tensor([nan, inf, -inf])")},
      {c, "negative zero", [] { return to_string(tensor(-0.0)); }, prints("tensor(-0.)")},
      {c, "float64", [] { return to_string(tensor({1.5}, dtype(kFloat64))); }, prints("tensor([1.5000], dtype=torch.float64)")},
      {c, "expanded view", [] { return to_string(tensor({1.0, 2.0}).expand({2, 2})); }, prints("tensor([[1., 2.],\n        [1., 2.]])")},
      {c, "step-2 slice", [] { return to_string(arange(6).slice(0, 0, 6, 2)); }, prints("tensor([0, 2, 4])")},
      {c, "0-d requiring grad", [] { return to_string(tensor(2.0, requires_grad())); }, prints("tensor(2., requires_grad=True)")},
      {c, "operator<< of undefined", [] {
         std::ostringstream os;
         os << Tensor();
         return os.str();
       }, prints("[ Tensor (undefined) ]")},
  };
}

// Process-wide settings: thread count, memory statistics, seeds, dtype names.
std::vector<Row> runtime_rows() {
  const std::string c = "runtime settings";
  return {
      {c, "failed set_num_threads keeps the count", [] {
         const int before = get_num_threads();
         try {
           set_num_threads(0);
         } catch (const Error&) {
         }
         return number(get_num_threads() == before);
       }, gives({}, {1}, kFloat64)},
      {c, "memory_stats of zero-size tensors", [] {
         const int64_t before = memory_stats().live_bytes;
         Tensor a = zeros({0, 100}), b = empty({0});
         return number(memory_stats().live_bytes - before);
       }, gives({}, {0}, kFloat64)},
      {c, "empty_cache twice", [] {
         empty_cache();
         empty_cache();
         return number(memory_stats().cached_bytes);
       }, gives({}, {0}, kFloat64)},
      {c, "reset_peak_memory", [] {
         reset_peak_memory();
         MemoryStats s = memory_stats();
         return number(s.peak_bytes >= s.live_bytes);
       }, gives({}, {1}, kFloat64)},
      {c, "manual_seed max", [] {
         manual_seed(std::numeric_limits<uint64_t>::max());
         Tensor a = rand({3});
         manual_seed(std::numeric_limits<uint64_t>::max());
         return number(equal(a, rand({3})));
       }, gives({}, {1}, kFloat64)},
      {c, "dtype_name of each", [] {
         return std::string(dtype_name(kFloat32)) + " " + dtype_name(kFloat64) + " " + dtype_name(kInt64);
       }, prints("float32 float64 int64")},
  };
}

}  // namespace

std::vector<Row> hostile_rows() {
  std::vector<Row> rows;
  for (auto make : {undefined_rows, zero_size_rows, zero_dim_rows, dim_and_index_rows, huge_size_rows, non_finite_rows,
                    dtype_rows, shape_rows, view_rows, autograd_rows, gradient_edge_rows, forward_ad_rows, transform_rows, callback_rows,
                    printing_rows, runtime_rows}) {
    std::vector<Row> part = make();
    rows.insert(rows.end(), part.begin(), part.end());
  }
  return rows;
}

}  // namespace
}  // namespace dydx
