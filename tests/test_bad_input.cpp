// Bad input, table-driven: every row must throw dydx::Error whose message names the op and the fault.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

namespace dydx {
namespace {

struct BadInput {
  std::string name;
  std::function<void()> call;
  std::vector<std::string> message_mentions;  // the op, and the shapes or values at fault
};

std::vector<BadInput> table() {
  auto f = [](const Tensor& x) { return x * 2.0; };
  return {
      // Shape mismatches.
      {"broadcast", [] { ones({2, 3}) + ones({4}); }, {"add", "[2,3]", "[4]"}},
      {"matmul", [] { matmul(ones({2, 3}), ones({4, 5})); }, {"matmul", "[2,3]", "[4,5]", "3 != 4"}},
      {"mm of 1-D", [] { mm(ones({3}), ones({3, 2})); }, {"mm", "[3]"}},
      {"bmm batch", [] { bmm(ones({2, 2, 3}), ones({3, 3, 2})); }, {"bmm", "[2,2,3]", "[3,3,2]"}},
      {"cat sizes", [] { cat({ones({2, 3}), ones({2, 4})}, 0); }, {"cat", "[2,3]", "[2,4]"}},
      {"stack sizes", [] { stack({ones({2}), ones({3})}); }, {"stack", "[2]", "[3]"}},
      {"view count", [] { ones({2, 3}).view({4}); }, {"view", "[4]", "6"}},
      {"reshape count", [] { ones({2, 3}).reshape({5, -1}); }, {"reshape", "[5,-1]", "6"}},
      {"expand", [] { ones({2, 3}).expand({4, 3}); }, {"expand", "[4,3]", "[2,3]"}},
      {"in-place broadcast", [] { ones({3}).add_(ones({2, 3})); }, {"add_", "[3]", "[2,3]"}},
      {"copy_ broadcast", [] { ones({3}).copy_(ones({2})); }, {"copy_", "[2]", "[3]"}},
      {"where", [] { where(ones({2}), ones({3}), ones({2})); }, {"where", "[3]"}},
      // Out-of-range dims and indices.
      {"sum dim", [] { ones({2, 3}).sum({2}); }, {"sum", "dim 2", "rank 2"}},
      {"transpose dim", [] { ones({2, 3}).transpose(0, -3); }, {"transpose", "-3"}},
      {"permute dims", [] { ones({2, 3}).permute({0}); }, {"permute", "[0]"}},
      {"permute repeated", [] { ones({2, 3}).permute({0, 0}); }, {"permute", "repeated"}},
      {"select index", [] { ones({2, 3}).select(1, 3); }, {"select", "index 3", "size 3"}},
      {"index", [] { ones({2, 3}).index({0, 5}); }, {"select", "index 5"}},
      {"narrow", [] { ones({4}).narrow(0, 2, 3); }, {"narrow", "(2)", "(3)", "(4)"}},
      {"cat dim", [] { cat({ones({2})}, 1); }, {"cat", "dim 1"}},
      {"max dim", [] { ones({2}).max(3); }, {"max", "dim 3"}},
      {"too many indices", [] { ones({2}).index({0, 0}); }, {"index", "too many"}},
      // Dtypes.
      {"int requires grad", [] { tensor({1, 2}).requires_grad_(true); }, {"requires_grad_", "int64"}},
      {"data_ptr dtype", [] { ones({2}).data_ptr<double>(); }, {"data_ptr", "float64", "float32"}},
      {"mean of int", [] { tensor({1, 2}).mean(); }, {"mean", "int64"}},
      // Empty, negative and non-finite sizes.
      {"empty cat", [] { cat({}); }, {"cat", "non-empty"}},
      {"empty stack", [] { stack({}); }, {"stack", "non-empty"}},
      {"negative size", [] { zeros({2, -1}); }, {"zeros", "-1", "[2,-1]"}},
      {"negative empty", [] { empty({-3}); }, {"empty", "-3"}},
      {"non-finite arange", [] { arange(0.0, INFINITY); }, {"arange", "inf"}},
      {"nan arange", [] { arange(0.0, NAN); }, {"arange", "nan"}},
      {"negative linspace", [] { linspace(0, 1, -2); }, {"linspace", "-2"}},
      {"overflowing size", [] { zeros({int64_t(1) << 40, int64_t(1) << 40}); }, {"overflow"}},
      // Autograd misuse.
      {"implicit grad", [] {
         Tensor x = ones({2}).requires_grad_(true);
         (x * 2.0).backward();
       }, {"backward", "scalar outputs", "[2]"}},
      {"grad_output shape", [] {
         Tensor x = ones({3}).requires_grad_(true);
         grad({x * 2.0}, {x}, {ones({2})});
       }, {"grad", "Mismatch in shape", "[2]", "[3]"}},
      {"input without grad", [] {
         Tensor x = ones({3}).requires_grad_(true);
         grad({(x * 2.0).sum()}, {ones({3})});
       }, {"grad", "does not require grad", "[3]"}},
      {"unused input", [] {
         Tensor x = ones({3}).requires_grad_(true), y = ones({2}).requires_grad_(true);
         grad({(x * 2.0).sum()}, {y});
       }, {"grad", "not have been used", "allow_unused"}},
      // Transforms.
      {"jvp tangent shape", [f] { func::jvp(f, ones({2}), ones({3})); }, {"jvp", "tangent 0", "[3]", "[2]"}},
      {"vjp cotangent shape", [f] { func::vjp(f, ones({2})).second(ones({3})); }, {"vjp", "cotangent 0", "[3]", "[2]"}},
      {"make_dual shape", [] {
         forward_ad::DualLevel level;
         forward_ad::make_dual(ones({2}), ones({3}));
       }, {"make_dual", "[2]", "[3]"}},
      {"make_dual without level", [] { forward_ad::make_dual(ones({2}), ones({2})); }, {"make_dual", "level"}},
      {"grad of non-scalar", [f] { func::grad(f)(ones({2})); }, {"grad", "scalar (0-d)", "[2]"}},
      // One element is not enough: functorch and JAX refuse a [1] output too (it is a one-row Jacobian).
      {"grad of one-element [1]", [f] { func::grad(f)(ones({1})); }, {"grad", "scalar (0-d)", "[1]", "jacrev"}},
      {"batched grad shape", [] {
         Tensor x = ones({3}).requires_grad_(true);
         grad({x * 2.0}, {x}, {ones({3})}, std::nullopt, false, false, /*is_grads_batched=*/true);
       }, {"grad", "is_grads_batched", "[3]"}},
      {"batch_jacobian without batch", [f] { func::batch_jacobian(f, tensor(1.0)); }, {"batch_jacobian", "batch dim"}},
      {"jacrev chunk", [f] { func::jacrev(func::UnaryFunction(f), -2)(ones({2})); }, {"jacrev", "chunk_size", "-2"}},
  };
}

class BadInputTest : public ::testing::TestWithParam<size_t> {};

TEST_P(BadInputTest, ThrowsErrorNamingTheOpAndTheFault) {
  const BadInput row = table()[GetParam()];
  SCOPED_TRACE(row.name);
  try {
    row.call();
    FAIL() << "no error thrown";
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const std::string& part : row.message_mentions)
      EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' missing from: " << message;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, BadInputTest, ::testing::Range<size_t>(0, table().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           std::string name = table()[info.param].name;
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

}  // namespace
}  // namespace dydx
