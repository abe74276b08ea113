// Misuse and shape errors: each throws dydx::Error (never crashes) with a message naming the op and shapes.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace dydx;
using dydx::indexing::Slice;

namespace {

Tensor Leaf(const NestedList& values) { return tensor(values).requires_grad_(); }

}  // namespace

// ---- autograd misuse ------------------------------------------------------------------------------

TEST(AutogradErrors, ImplicitGradientForNonScalarOutput) {
  Tensor x = Leaf({1.0, 2.0});
  EXPECT_DYDX_ERROR((x * 2).backward(), "grad can be implicitly created only for scalar outputs", "[2]");
  EXPECT_DYDX_ERROR(grad({x * 2}, {x}), "grad can be implicitly created only for scalar outputs", "[2]");
  EXPECT_DYDX_ERROR(backward({x * 2}), "grad can be implicitly created only for scalar outputs");
}

TEST(AutogradErrors, GradOutputShapeDiffersFromOutput) {
  Tensor x = Leaf({1.0, 2.0});
  EXPECT_DYDX_ERROR(grad({x * 2}, {x}, {ones({3})}), "Mismatch in shape", "[3]", "[2]");
  EXPECT_DYDX_ERROR((x * 2).backward(ones({2, 1})), "Mismatch in shape", "[2,1]", "[2]");
}

TEST(AutogradErrors, GradOutputsCountDiffersFromOutputs) {
  Tensor x = Leaf({1.0, 2.0});
  EXPECT_DYDX_ERROR(grad({x.sum()}, {x}, {ones({}), ones({})}), "grad_outputs");
}

TEST(AutogradErrors, UnusedInputWithoutAllowUnused) {
  Tensor x = Leaf({1.0, 2.0});
  Tensor unused = Leaf({3.0});
  EXPECT_DYDX_ERROR(grad({(x * 2).sum()}, {x, unused}), "not have been used in the graph", "allow_unused");
}

TEST(AutogradErrors, InputDoesNotRequireGrad) {
  Tensor x = Leaf({1.0, 2.0});
  Tensor plain = tensor({1.0});
  EXPECT_DYDX_ERROR(grad({(x * 2).sum()}, {plain}), "does not require grad");
  EXPECT_DYDX_ERROR((x * 2).sum().backward({}, std::nullopt, false, {plain}), "does not require grad");
}

TEST(AutogradErrors, OutputDoesNotRequireGrad) {
  EXPECT_DYDX_ERROR(tensor({1.0}).sum().backward(), "does not require grad and does not have a grad_fn");
  Tensor x = Leaf({1.0});
  EXPECT_DYDX_ERROR(grad({tensor({1.0}).sum()}, {x}), "does not require grad");
}

TEST(AutogradErrors, EmptyOutputsOrInputs) {
  Tensor x = Leaf({1.0});
  EXPECT_DYDX_ERROR(grad({x.sum()}, {}), "grad", "input");
  EXPECT_DYDX_ERROR(grad({}, {x}), "grad", "output");
  EXPECT_DYDX_ERROR(backward({}), "backward", "output");
}

TEST(AutogradErrors, BackwardThroughFreedBuffers) {
  Tensor x = Leaf({1.0, 2.0});
  Tensor y = (x * x).sum();
  y.backward();
  EXPECT_DYDX_ERROR(y.backward(), "second time", "retain_graph");
  Tensor z = x.exp().sum();
  grad({z}, {x});
  EXPECT_DYDX_ERROR(grad({z}, {x}), "second time");
}

TEST(AutogradErrors, InPlaceModificationOfSavedTensor) {
  Tensor x = Leaf({1.0, 2.0, 3.0});
  Tensor a = x * 2;
  Tensor b = a.sin();  // saves a
  a.mul_(2);
  EXPECT_DYDX_ERROR(b.sum().backward(), "modified by an inplace operation", "version 1", "[3]");
}

TEST(AutogradErrors, InPlaceOnLeafOrViewOfLeafRequiringGrad) {
  Tensor x = Leaf({1.0, 2.0});
  EXPECT_DYDX_ERROR(x.add_(1), "add_", "leaf Variable that requires grad");
  EXPECT_DYDX_ERROR(x.mul_(tensor({2.0, 2.0})), "mul_", "leaf Variable that requires grad");
  EXPECT_DYDX_ERROR(x.index({0}).fill_(0), "fill_", "view of a leaf Variable");
}

TEST(AutogradErrors, RequiresGradOnInt64Tensor) {
  Tensor i = tensor({1, 2});
  EXPECT_DYDX_ERROR(i.requires_grad_(), "floating point", "int64");
  EXPECT_DYDX_ERROR(ones({2}, dtype(kInt64).requires_grad(true)), "floating point");
  EXPECT_FALSE(i.requires_grad());
  EXPECT_NO_THROW(i.requires_grad_(false));
}

TEST(AutogradErrors, ClearingRequiresGradOnNonLeaf) {
  Tensor x = Leaf({1.0});
  Tensor y = x * 2;
  EXPECT_DYDX_ERROR(y.requires_grad_(false), "leaf variables", "detach");
  EXPECT_TRUE(y.requires_grad());
}

TEST(AutogradErrors, RequiresGradTrueOnNonLeafIsAllowedAsInPyTorch) {
  // torch: (x*2).requires_grad_(True) is a no-op that returns the tensor; only requires_grad_(False) raises.
  Tensor x = Leaf({1.0});
  Tensor y = x * 2;
  EXPECT_NO_THROW(y.requires_grad_(true));
  EXPECT_TRUE(y.requires_grad());
  EXPECT_FALSE(y.is_leaf());
}

TEST(AutogradErrors, HookOrRetainGradOnTensorNotRequiringGrad) {
  Tensor plain = tensor({1.0});
  EXPECT_DYDX_ERROR(plain.register_hook([](const Tensor& g) { return g; }), "register_hook", "doesn't require");
  EXPECT_DYDX_ERROR(plain.retain_grad(), "retain_grad", "requires_grad=False");
}

TEST(AutogradErrors, CastOfRequiringTensorToInt64IsAllowedAsInPyTorch) {
  // torch: torch.zeros(2, requires_grad=True).to(torch.int64) works and gives a tensor without grad.
  Tensor x = Leaf({1.5, 2.5});
  Tensor i;
  EXPECT_NO_THROW(i = x.to(kInt64));
  ASSERT_TRUE(i.defined());
  EXPECT_EQ(i.dtype(), kInt64);
  EXPECT_FALSE(i.requires_grad());
}

TEST(AutogradErrors, SetGradWithWrongShapeOrDtype) {
  Tensor x = Leaf({1.0, 2.0});
  EXPECT_DYDX_ERROR(x.set_grad(ones({3})), "set_grad", "[3]", "[2]");
  EXPECT_DYDX_ERROR(x.set_grad(ones({2}, kFloat64)), "set_grad", "float64");
}

// ---- broadcasting and elementwise -----------------------------------------------------------------

TEST(ShapeErrors, BroadcastMismatchInBinaryOps) {
  Tensor a = zeros({2, 3}), b = zeros({4});
  EXPECT_DYDX_ERROR(a + b, "add", "[2,3]", "[4]");
  EXPECT_DYDX_ERROR(a - b, "sub", "[2,3]", "[4]");
  EXPECT_DYDX_ERROR(a * zeros({2, 2}), "mul", "[2,3]", "[2,2]");
  EXPECT_DYDX_ERROR(a / b, "div", "[2,3]", "[4]");
  EXPECT_DYDX_ERROR(a.pow(b), "pow", "[2,3]", "[4]");
  EXPECT_DYDX_ERROR(where(ones({3}), zeros({3}), zeros({4})), "where", "[3]", "[4]");
  EXPECT_DYDX_ERROR(gt(a, b), "gt", "[2,3]", "[4]");
}

TEST(ShapeErrors, InPlaceOutputCannotGrow) {
  EXPECT_DYDX_ERROR(zeros({3}).add_(zeros({2, 3})), "add_", "[3]", "[2,3]");
  EXPECT_DYDX_ERROR(zeros({3}).mul_(zeros({4})), "mul_", "[3]", "[4]");
  EXPECT_DYDX_ERROR(zeros({3}).copy_(zeros({4})), "copy_", "[3]", "[4]");
}

TEST(ShapeErrors, InPlaceResultTypeCannotNarrow) {
  EXPECT_DYDX_ERROR(tensor({1, 2}).mul_(tensor({1.5, 2.0})), "mul_", "float32", "int64");
  EXPECT_DYDX_ERROR(tensor({1, 2}).div_(tensor({1, 2})), "div_", "int64");
}

// ---- linear algebra -------------------------------------------------------------------------------

TEST(ShapeErrors, MatmulInnerDimsDiffer) {
  EXPECT_DYDX_ERROR(matmul(zeros({2, 3}), zeros({4, 5})), "matmul", "[2,3]", "[4,5]");
  EXPECT_DYDX_ERROR(matmul(zeros({3}), zeros({4})), "matmul", "[3]", "[4]");
  EXPECT_DYDX_ERROR(matmul(zeros({2, 3}), zeros({4})), "matmul", "[2,3]", "[4]");
  EXPECT_DYDX_ERROR(matmul(zeros({2, 2, 3}), zeros({3, 3, 5})), "matmul", "[2]", "[3]");
  EXPECT_DYDX_ERROR(matmul(tensor(1.0), zeros({2, 3})), "matmul", "1-D");
  EXPECT_DYDX_ERROR(dot(zeros({3}), zeros({4})), "dot: inconsistent tensor size, expected tensor [3] and src [4]");
  EXPECT_DYDX_ERROR(dot(zeros({2, 3}), zeros({3})), "dot: 1D tensors expected, but got 2D and 1D tensors");
  EXPECT_DYDX_ERROR(dot(zeros({3}), zeros({3}, kFloat64)), "dot", "same dtype");
  EXPECT_DYDX_ERROR(mv(zeros({2, 3}), zeros({4})), "mv: cannot multiply [2,3] by [4] (3 != 4)");
  EXPECT_DYDX_ERROR(mv(zeros({3}), zeros({3})), "mv: expected a 2-D matrix and a 1-D vector, got shapes [3] and [3]");
}

TEST(ShapeErrors, MmNeedsMatchingMatrices) {
  EXPECT_DYDX_ERROR(mm(zeros({2, 3}), zeros({4, 5})), "mm", "[2,3]", "[4,5]");
  EXPECT_DYDX_ERROR(mm(zeros({2, 2, 2}), zeros({2, 3})), "mm", "2-D", "[2,2,2]");
  EXPECT_DYDX_ERROR(zeros({3}).mm(zeros({3, 1})), "mm", "[3]");
}

TEST(ShapeErrors, AddmmAndLinearNameTheShapesAtFault) {
  EXPECT_DYDX_ERROR(addmm(zeros({4}), zeros({2, 3}), zeros({4, 5})), "addmm", "[2,3]", "[4,5]");
  EXPECT_DYDX_ERROR(addmm(zeros({4}), zeros({2, 3, 1}), zeros({3, 4})), "addmm", "2-D", "[2,3,1]");
  EXPECT_DYDX_ERROR(addmm(zeros({5}), zeros({2, 3}), zeros({3, 4})), "addmm", "[5]", "[2,4]");
  EXPECT_DYDX_ERROR(addmm(zeros({3, 4}), zeros({2, 3}), zeros({3, 4})), "addmm", "[3,4]", "[2,4]");
  EXPECT_DYDX_ERROR(addmm(zeros({1, 2, 4}), zeros({2, 3}), zeros({3, 4})), "addmm", "[1,2,4]", "[2,4]");
  EXPECT_DYDX_ERROR(addmm(zeros({4}, kInt64), zeros({2, 3}, kInt64), zeros({3, 4}, kInt64), 0.5), "addmm", "integers");
  EXPECT_DYDX_ERROR(linear(zeros({2, 3}), zeros({4, 3, 1})), "linear", "2-D", "[4,3,1]");
  EXPECT_DYDX_ERROR(linear(zeros({2, 3}), zeros({4, 5})), "linear", "[2,3]", "[4,5]");
  EXPECT_DYDX_ERROR(linear(zeros({2, 3}), zeros({4, 3}), zeros({3})), "linear", "[3]", "4");
}

TEST(ShapeErrors, BmmNeedsMatchingBatches) {
  EXPECT_DYDX_ERROR(bmm(zeros({2, 2, 3}), zeros({2, 4, 5})), "bmm", "[2,2,3]", "[2,4,5]");
  EXPECT_DYDX_ERROR(bmm(zeros({2, 2, 3}), zeros({3, 3, 5})), "bmm", "[2,2,3]", "[3,3,5]");
  EXPECT_DYDX_ERROR(bmm(zeros({2, 3}), zeros({3, 2})), "bmm", "3-D", "[2,3]");
}

// ---- joining --------------------------------------------------------------------------------------

TEST(ShapeErrors, CatMismatchedSizesEmptyListAndBadDim) {
  Tensor a = zeros({2, 3});
  EXPECT_DYDX_ERROR(cat({a, zeros({2, 4})}, 0), "cat", "[2,3]", "[2,4]");
  EXPECT_DYDX_ERROR(cat({}), "cat", "non-empty");
  EXPECT_DYDX_ERROR(cat({a, a}, 2), "cat", "2");
  EXPECT_DYDX_ERROR(cat({a, a}, -3), "cat", "-3");
  EXPECT_DYDX_ERROR(cat({a, zeros({2, 3, 1})}), "cat", "same number of dimensions");
  EXPECT_DYDX_ERROR(cat({tensor(1.0), tensor(2.0)}), "cat", "zero-dimensional");
  EXPECT_DYDX_ERROR(cat({a, Tensor()}), "cat", "undefined");
}

TEST(ShapeErrors, StackMismatchedSizesEmptyListAndBadDim) {
  Tensor a = zeros({2, 3});
  EXPECT_DYDX_ERROR(stack({a, zeros({3, 2})}), "stack", "[2,3]", "[3,2]");
  EXPECT_DYDX_ERROR(stack({}), "stack", "non-empty");
  EXPECT_DYDX_ERROR(stack({a, a}, 3), "stack", "3");
  EXPECT_DYDX_ERROR(stack({a, a}, -4), "stack", "-4");
}

// ---- indexing and views ---------------------------------------------------------------------------

TEST(ShapeErrors, SelectOutOfRange) {
  Tensor a = zeros({2, 3});
  EXPECT_DYDX_ERROR(a.select(0, 2), "select", "2", "[2,3]");
  EXPECT_DYDX_ERROR(a.select(1, -4), "select", "-4", "[2,3]");
  EXPECT_DYDX_ERROR(a.select(2, 0), "select", "2");
  EXPECT_DYDX_ERROR(a[5], "select", "5");
  EXPECT_DYDX_ERROR(tensor(1.0).select(0, 0), "select", "0-D");
}

TEST(ShapeErrors, NarrowOutOfRange) {
  Tensor a = zeros({2, 3});
  EXPECT_DYDX_ERROR(a.narrow(1, 2, 2), "narrow", "3");
  EXPECT_DYDX_ERROR(a.narrow(1, 0, -1), "narrow", "-1");
  EXPECT_DYDX_ERROR(a.narrow(1, 4, 0), "narrow", "4");
  EXPECT_DYDX_ERROR(a.narrow(3, 0, 1), "narrow", "3");
}

TEST(ShapeErrors, IndexOutOfRangeOrTooMany) {
  Tensor a = zeros({2, 3});
  EXPECT_DYDX_ERROR(a.index({5}), "5", "[2,3]");
  EXPECT_DYDX_ERROR(a.index({0, -4}), "-4", "[3]");
  EXPECT_DYDX_ERROR(a.index({0, 0, 0}), "index", "too many indices");
  EXPECT_DYDX_ERROR(a.index({indexing::Ellipsis, indexing::Ellipsis}), "index", "ellipsis");
  EXPECT_DYDX_ERROR(a.index({Slice(0, 2, 0)}), "step");
  EXPECT_DYDX_ERROR(a.index({Slice(0, 2, -1)}), "step");
}

TEST(ShapeErrors, ReshapeOrViewToDifferentElementCount) {
  Tensor a = zeros({2, 3});
  EXPECT_DYDX_ERROR(a.view({4}), "view", "[4]", "6");
  EXPECT_DYDX_ERROR(a.reshape({5}), "reshape", "[5]", "6");
  EXPECT_DYDX_ERROR(a.view({-1, 4}), "view", "[-1,4]", "6");
  EXPECT_DYDX_ERROR(a.view({-1, -1}), "view", "only one dimension can be inferred");
  EXPECT_DYDX_ERROR(a.reshape({-2, 3}), "reshape", "-2");
}

TEST(ShapeErrors, ViewOfNonContiguousNeedsReshape) {
  EXPECT_DYDX_ERROR(zeros({2, 3}).t().view({6}), "view", "[3,2]", "reshape");
}

TEST(ShapeErrors, ExpandToIncompatibleShape) {
  Tensor a = zeros({2, 3});
  EXPECT_DYDX_ERROR(a.expand({3, 3}), "expand", "[3,3]", "[2,3]");
  EXPECT_DYDX_ERROR(a.expand({3}), "expand", "number of sizes");
  EXPECT_DYDX_ERROR(zeros({3}).expand({-1, 3}), "expand", "-1");
}

TEST(ShapeErrors, PermuteWithWrongDims) {
  Tensor a = zeros({2, 3});
  EXPECT_DYDX_ERROR(a.permute({0}), "permute", "[0]");
  EXPECT_DYDX_ERROR(a.permute({0, 0}), "permute", "repeated", "[0,0]");
  EXPECT_DYDX_ERROR(a.permute({0, 2}), "permute", "2");
  EXPECT_DYDX_ERROR(a.permute({0, 1, 2}), "permute", "[0,1,2]");
}

TEST(ShapeErrors, DimOutOfRangeInOtherViews) {
  Tensor a = zeros({2, 3});
  EXPECT_DYDX_ERROR(a.transpose(0, 2), "transpose", "2");
  EXPECT_DYDX_ERROR(a.unsqueeze(4), "unsqueeze", "4");
  EXPECT_DYDX_ERROR(a.squeeze(2), "squeeze", "2");
  EXPECT_DYDX_ERROR(zeros({2, 2, 2}).t(), "t", "[2,2,2]");
  EXPECT_DYDX_ERROR(a.size(2), "size", "2");
  EXPECT_DYDX_ERROR(a.slice(0, 0, 2, 0), "slice", "step");
}

TEST(ShapeErrors, AsStridedOutOfStorage) {
  EXPECT_DYDX_ERROR(zeros({2, 3}).as_strided({10}, {1}), "as_strided", "[10]");
  EXPECT_DYDX_ERROR(zeros({2, 3}).as_strided({2}, {1, 1}), "as_strided", "[2]", "[1,1]");
}

// ---- reductions -----------------------------------------------------------------------------------

TEST(ShapeErrors, ReductionOverOutOfRangeDim) {
  Tensor a = zeros({2, 3});
  EXPECT_DYDX_ERROR(a.sum({2}), "sum", "2");
  EXPECT_DYDX_ERROR(a.sum({-3}), "sum", "-3");
  EXPECT_DYDX_ERROR(a.sum({0, 0}), "sum", "multiple times");
  EXPECT_DYDX_ERROR(a.mean({-3}), "mean", "-3");
  EXPECT_DYDX_ERROR(a.max(2), "max", "2");
  EXPECT_DYDX_ERROR(a.min(-3), "min", "-3");
  EXPECT_DYDX_ERROR(sum_to(zeros({2, 3}), {4}), "sum_to", "[2,3]", "[4]");
}

TEST(ShapeErrors, ReductionOfEmptyOrIntegerTensor) {
  EXPECT_DYDX_ERROR(zeros({0}).max(), "max", "numel");
  EXPECT_DYDX_ERROR(zeros({2, 0}).min(1), "min", "[2,0]");
  EXPECT_DYDX_ERROR(tensor({1, 2}).mean(), "mean", "int64");
}

// ---- creation -------------------------------------------------------------------------------------

TEST(CreationErrors, NegativeSizes) {
  EXPECT_DYDX_ERROR(zeros({2, -1}), "zeros", "-1", "[2,-1]");
  EXPECT_DYDX_ERROR(ones({-3}), "ones", "-3");
  EXPECT_DYDX_ERROR(empty({-1}), "empty", "-1");
  EXPECT_DYDX_ERROR(full({-1}, 1.0), "full", "-1");
  EXPECT_DYDX_ERROR(rand({-1}), "rand", "-1");
  EXPECT_DYDX_ERROR(randn({2, -2}), "randn", "-2");
  EXPECT_DYDX_ERROR(eye(-1), "eye", "-1");
  EXPECT_DYDX_ERROR(linspace(0, 1, -1), "linspace", "-1");
}

TEST(CreationErrors, BadRangesAndLists) {
  EXPECT_DYDX_ERROR(arange(0, 1, 0), "arange", "step");
  EXPECT_DYDX_ERROR(arange(0, 5, -1), "arange", "step sign");
  EXPECT_DYDX_ERROR(tensor({{1, 2}, {3}}), "tensor", "rectangular");
  EXPECT_DYDX_ERROR(tensor({{1, 2}, 3}), "tensor", "rectangular");
  EXPECT_DYDX_ERROR(rand({2}, kInt64), "rand", "int64");
  EXPECT_DYDX_ERROR(from_blob(nullptr, {2}), "from_blob", "null");
}

// ---- element access and undefined tensors ---------------------------------------------------------

TEST(AccessErrors, ItemOfManyElementsAndWrongDataPtrType) {
  EXPECT_DYDX_ERROR(zeros({2, 3}).item<float>(), "item", "6");
  EXPECT_DYDX_ERROR(zeros({2}).data_ptr<double>(), "data_ptr", "float64", "float32");
  EXPECT_DYDX_ERROR(tensor({1}).data_ptr<float>(), "data_ptr", "float32", "int64");
}

TEST(AccessErrors, UndefinedTensorUse) {
  Tensor u;
  EXPECT_FALSE(u.defined());
  EXPECT_DYDX_ERROR(u.sizes(), "undefined");
  EXPECT_DYDX_ERROR(u.dim(), "undefined");
  EXPECT_DYDX_ERROR(u.numel(), "undefined");
  EXPECT_DYDX_ERROR(u.dtype(), "undefined");
  EXPECT_DYDX_ERROR(u.item<float>(), "undefined");
  EXPECT_DYDX_ERROR(u.requires_grad_(), "undefined");
  EXPECT_DYDX_ERROR(u.grad(), "undefined");
  EXPECT_DYDX_ERROR(u.sum(), "undefined");
  EXPECT_DYDX_ERROR(u + ones({1}), "undefined");
  EXPECT_DYDX_ERROR(ones({1}) * u, "undefined");
  EXPECT_DYDX_ERROR(u.exp(), "undefined");
  EXPECT_DYDX_ERROR(u.view({1}), "undefined");
  EXPECT_DYDX_ERROR(u.clone(), "undefined");
  EXPECT_DYDX_ERROR(u.detach(), "undefined");
  EXPECT_DYDX_ERROR(matmul(u, ones({1})), "undefined");
  EXPECT_DYDX_ERROR(u.backward(), "undefined");
  EXPECT_EQ(to_string(u), "[ Tensor (undefined) ]");  // printing one is fine, as libtorch's operator<<
  EXPECT_DYDX_ERROR(ones_like(u), "undefined");
  Tensor x = Leaf({1.0});
  EXPECT_DYDX_ERROR(grad({u}, {x}), "grad", "undefined");
  EXPECT_DYDX_ERROR(grad({x.sum()}, {u}), "grad", "undefined");
}
