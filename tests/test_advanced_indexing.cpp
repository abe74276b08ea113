// Advanced indexing (x.index({tensor, ...}), index_put_, masked_select, nonzero) and scatter: values
// and gradients against PyTorch 1.13 (index_goldens.txt, from make_index_goldens.py), PyTorch's
// errors raised before anything is written, duplicates, masks, layouts, dtypes and thread counts.
// The op table (tests/op_table.cpp) gradchecks index, index_put, scatter and scatter.value in both
// modes and at second order.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "golden_text.hpp"
#include "test_util.hpp"

namespace dydx::testing {
namespace {

using namespace dydx::indexing;

Tensor longs(const NestedList& values) { return tensor(values, dtype(kInt64)); }

// ---- goldens ----

struct IndexCase {
  std::string name;
  std::map<std::string, Tensor> fields;
};

std::vector<IndexCase> index_cases() {
  std::vector<IndexCase> cases;
  for (const std::string& line : golden_lines("index_goldens.txt")) {
    std::stringstream s(line);
    IndexCase c;
    s >> c.name;
    for (std::string field, shape, values; s >> field >> shape >> values;) {
      Tensor t = golden_tensor(shape, values);
      // Indices as int64, masks as bool (the goldens write both as numbers).
      c.fields[field] = field[0] == 'i' ? t.to(kInt64) : field[0] == 'm' ? t.to(kBool) : t;
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

using Fields = std::map<std::string, Tensor>;

// The op each case name stands for, as make_index_goldens.py applies it in PyTorch.
std::function<Tensor(Fields&)> case_op(const std::string& name) {
  static const std::map<std::string, std::function<Tensor(Fields&)>> ops = {
      {"t", [](Fields& a) { return a["x"].index({a["i0"]}); }},
      {"t2d", [](Fields& a) { return a["x"].index({a["i0"]}); }},
      {"s_t", [](Fields& a) { return a["x"].index({Slice(), a["i0"]}); }},
      {"t_t", [](Fields& a) { return a["x"].index({a["i0"], a["i1"]}); }},
      {"s_t_t", [](Fields& a) { return a["x"].index({Slice(), a["i0"], a["i1"]}); }},
      {"t_s_t", [](Fields& a) { return a["x"].index({a["i0"], Slice(), a["i1"]}); }},
      {"int_s_t", [](Fields& a) { return a["x"].index({1, Slice(), a["i0"]}); }},
      {"t_int_t", [](Fields& a) { return a["x"].index({a["i0"], 1, a["i1"]}); }},
      {"m", [](Fields& a) { return a["x"].index({a["m0"]}); }},
      {"s_m", [](Fields& a) { return a["x"].index({Slice(), a["m0"]}); }},
      {"m_t", [](Fields& a) { return a["x"].index({a["m0"], a["i0"]}); }},
      {"e_t", [](Fields& a) { return a["x"].index({Ellipsis, a["i0"]}); }},
      {"n_t", [](Fields& a) { return a["x"].index({None, a["i0"]}); }},
      {"t_n_t", [](Fields& a) { return a["x"].index({a["i0"], None, a["i1"]}); }},
      {"sstep_t", [](Fields& a) { return a["x"].index({Slice(1, None, 2), Slice(), a["i0"]}); }},
      {"t0d", [](Fields& a) { return a["x"].index({a["i0"]}); }},
      {"empty", [](Fields& a) { return a["x"].index({a["i0"]}); }},
      {"T_s_t", [](Fields& a) { return a["x"].index({Slice(), Slice(), a["i0"]}); }},
      {"put_t", [](Fields& a) { return index_put(a["x"], {a["i0"]}, a["v"]); }},
      {"put_t_acc", [](Fields& a) { return index_put(a["x"], {a["i0"]}, a["v"], true); }},
      {"put_t_acc_bcast", [](Fields& a) { return a["x"].index_put({a["i0"]}, a["v"], true); }},
      {"put_m", [](Fields& a) { return a["x"].index_put({a["m0"]}, a["v"]); }},
      {"put_t_t_acc", [](Fields& a) { return index_put(a["x"], {a["i0"], a["i1"]}, a["v"], true); }},
      {"set_s_t",
       [](Fields& a) {
         Tensor y = a["x"].clone();
         y.index_put_({Slice(), a["i0"]}, a["v"]);
         return y;
       }},
      {"set_t_s_t",
       [](Fields& a) {
         Tensor y = a["x"].clone();
         y.index_put_({a["i0"], Slice(), a["i1"]}, a["v"]);
         return y;
       }},
      {"scatter", [](Fields& a) { return a["x"].scatter(1, a["i0"], a["src"]); }},
      {"scatter_big_src", [](Fields& a) { return a["x"].scatter(1, a["i0"], a["src"]); }},
      {"scatter_dim0", [](Fields& a) { return scatter(a["x"], 0, a["i0"], a["src"]); }},
      {"scatter_value", [](Fields& a) { return a["x"].scatter(1, a["i0"], 2.5); }},
      {"scatter_add_big_src", [](Fields& a) { return a["x"].scatter_add(1, a["i0"], a["src"]); }},
      {"masked_select", [](Fields& a) { return masked_select(a["x"], a["m0"]); }},
      {"masked_select_bcast", [](Fields& a) { return a["x"].masked_select(a["m0"]); }},
      {"nonzero", [](Fields& a) { return nonzero(a["x"]); }},
  };
  auto it = ops.find(name);
  if (it == ops.end()) throw std::runtime_error("index_goldens.txt names an unknown case: " + name);
  return it->second;
}

bool same_values(const Tensor& got, const Tensor& want) {
  return got.sizes() == want.sizes() && allclose(got.to(kFloat64), want, 1e-12, 1e-12);
}

TEST(IndexGoldens, ValuesAndGradientsAsPyTorch) {
  const auto cases = index_cases();
  ASSERT_GE(cases.size(), 30u);
  for (const IndexCase& c : cases) {
    SCOPED_TRACE(c.name);
    Fields inputs;
    std::vector<std::string> differentiable;
    for (const auto& [k, v] : c.fields) {
      if (k == "out" || k.rfind("grad_", 0) == 0) continue;
      const bool is_input = k == "x" || k == "v" || k == "src";
      inputs[k] = is_input && c.name != "nonzero" ? v.clone().requires_grad_(true) : v;
      if (is_input && c.name != "nonzero") differentiable.push_back(k);
    }
    Tensor out = case_op(c.name)(inputs);
    ASSERT_TRUE(same_values(out, c.fields.at("out"))) << to_string(out) << "\nwant\n" << to_string(c.fields.at("out"));
    if (!c.fields.count("grad_x")) continue;  // PyTorch's backward raises for this case
    Tensor w = arange(1, out.numel() + 1, 1, dtype(kFloat64)).reshape(out.sizes());
    (out * w).sum().backward();
    for (const std::string& k : differentiable) {
      Tensor want = c.fields.at("grad_" + k);
      Tensor got = inputs[k].grad().defined() ? inputs[k].grad() : zeros_like(want);
      EXPECT_TRUE(same_values(got, want)) << "grad_" << k << "\n" << to_string(got) << "\nwant\n" << to_string(want);
    }
  }
}

// ---- behaviour beyond the goldens ----

TEST(AdvancedIndex, GradFnNamesAndFloat32) {
  Tensor x = arange(12).to(kFloat32).reshape({3, 4}).requires_grad_(true);
  Tensor y = x.index({longs({2, 0})});
  EXPECT_EQ(std::string(y.grad_fn()->name()), "IndexBackward0");
  EXPECT_EQ(y.dtype(), kFloat32);
  EXPECT_TRUE(HasValues(y, {8, 9, 10, 11, 0, 1, 2, 3}));
  Tensor z = index_put(x, {longs({1})}, zeros({4}), true);
  EXPECT_EQ(std::string(z.grad_fn()->name()), "IndexPutBackward0");
  y.sum().backward();
  EXPECT_TRUE(HasValues(x.grad(), {1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1}));
}

// A 0-d int64 tensor is an integer index, as in libtorch and PyTorch 1.13 (TensorIndexing.h selects
// with its item()): x[t(1), :, t([0, 2])] is [4, 2] for x [5, 4, 3] (a tensor index would give
// [2, 4]); alone it selects a view (SelectBackward0); writes go through it; vmap agrees per sample.
TEST(AdvancedIndex, ZeroDimIntegerTensorsAreIntegers) {
  const Tensor one = longs({1}).reshape({}), cols = longs({0, 2});
  const Tensor x = arange(60).reshape({5, 4, 3});
  const Tensor y = x.index({one, Slice(), cols});
  EXPECT_EQ(y.sizes(), IntArrayRef({4, 2}));
  EXPECT_TRUE(equal(y, x.select(0, 1).index({Slice(), cols})));
  const Tensor f = x.to(kFloat64).requires_grad_();
  const Tensor picked = f.index({one});
  EXPECT_EQ(std::string(picked.grad_fn()->name()), "SelectBackward0");
  EXPECT_EQ(f.index({one, longs({2}).reshape({}), longs({0}).reshape({})}).dim(), 0);
  Tensor w = zeros({5, 4});
  w.index_put_({one}, full({}, 7.0));
  EXPECT_EQ(w.sum().item<double>(), 28.0);
  EXPECT_EQ(index_put(zeros({5, 4}), {one, longs({0, 3})}, full({2}, 2.0)).sum().item<double>(), 4.0);
  const Tensor batch = arange(120).reshape({2, 5, 4, 3});
  const Tensor mapped = func::vmap([&](const Tensor& s) { return s.index({one, Slice(), cols}); })(batch);
  EXPECT_EQ(mapped.sizes(), IntArrayRef({2, 4, 2}));
  EXPECT_TRUE(equal(mapped[1], batch[1].index({one, Slice(), cols})));
  // The 0-d index itself batched: each sample's select where the tensor indices are adjacent; where
  // they are not, the batch's positions would go first, so it raises.
  const Tensor picks = longs({1, 3});
  const Tensor adjacent = func::vmap([&](const Tensor& i) { return x.index({Slice(), i, cols.remainder(3)}); })(picks);
  EXPECT_TRUE(equal(adjacent, stack({x.index({Slice(), picks[0], cols}), x.index({Slice(), picks[1], cols})})));
  const Tensor alone = func::vmap([&](const Tensor& i) { return x.index({i}); })(picks);
  EXPECT_TRUE(equal(alone, stack({x[1], x[3]})));
  EXPECT_THROW(func::vmap([&](const Tensor& i) { return x.index({i, Slice(), cols}); })(picks), Error);
  try {
    x.index({longs({9}).reshape({})});
    ADD_FAILURE() << "index 9 did not raise";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("index 9 is out of bounds for dimension 0 with size 5"), std::string::npos)
        << e.what();
  }
}

// Adding into an int64 position past INT64_MAX wraps, as PyTorch's kernels (and dydx's sum) do, rather
// than overflowing a signed integer (undefined behaviour, which UBSan reports).
TEST(AdvancedIndex, AccumulatedInt64SumsWrap) {
  const int64_t big = int64_t{1} << 62;
  const Tensor values = full({2}, big, kInt64);
  const Tensor put = index_put(zeros({3}, kInt64), {longs({1, 1})}, values, /*accumulate=*/true);
  EXPECT_EQ(put[1].item<int64_t>(), INT64_MIN);
  EXPECT_EQ(put[1].item<int64_t>(), values.sum().item<int64_t>());
  const Tensor added = zeros({3}, kInt64).scatter_add(0, longs({2, 2}), values);
  EXPECT_EQ(added[2].item<int64_t>(), INT64_MIN);
}

TEST(AdvancedIndex, Int64TensorsAndMasksFromComparisons) {
  Tensor x = arange(10).reshape({2, 5});
  EXPECT_TRUE(HasValues(x.index({Slice(), longs({4, -5})}), {4, 0, 9, 5}));
  // A comparison gives a bool tensor: a mask, whatever the dtype compared.
  Tensor f = x.to(kFloat64);
  EXPECT_TRUE(HasValues(f.index({gt(f, full({}, 6.5, kFloat64))}), {7, 8, 9}));
  Tensor int_mask = x > 6;
  EXPECT_EQ(int_mask.dtype(), kBool);
  EXPECT_TRUE(HasValues(x.index({int_mask}), {7, 8, 9}));
  EXPECT_EQ(x.index({int_mask}).dtype(), kInt64);
  // The same 0/1 values as int64 are positions: rows 0 and 1.
  EXPECT_EQ(x.index({int_mask.to(kInt64)}).sizes(), IntArrayRef({2, 5, 5}));
}

TEST(AdvancedIndex, ZeroDimMaskAndNonContiguousIndex) {
  Tensor x = arange(6).to(kFloat64).reshape({2, 3});
  EXPECT_EQ(x.index({ones({}, kBool)}).sizes(), IntArrayRef({1, 2, 3}));
  EXPECT_EQ(x.index({zeros({}, kBool)}).sizes(), IntArrayRef({0, 2, 3}));
  // An index that is itself a transposed view, and an expanded one.
  Tensor idx = longs({{0, 1}, {2, 2}}).t();
  EXPECT_TRUE(HasValues(x.index({Slice(), idx}), {0, 2, 1, 2, 3, 5, 4, 5}));
  Tensor expanded = longs({1}).expand({3});
  EXPECT_TRUE(HasValues(x.index({expanded}), {3, 4, 5, 3, 4, 5, 3, 4, 5}));
}

TEST(AdvancedIndex, ErrorsAsPyTorch) {
  Tensor x = zeros({5, 4});
  EXPECT_DYDX_ERROR(x.index({longs({1, 7})}), "index 7 is out of bounds for dimension 0 with size 5");
  EXPECT_DYDX_ERROR(x.index({longs({-6})}), "index -6 is out of bounds for dimension 0 with size 5");
  EXPECT_DYDX_ERROR(x.index({Slice(), longs({4})}), "index 4 is out of bounds for dimension 1 with size 4");
  EXPECT_DYDX_ERROR(x.index({ones({3}, kBool)}),
                    "The shape of the mask [3] at index 0 does not match the shape of the indexed tensor [5,4] at index 0");
  EXPECT_DYDX_ERROR(x.index({longs({0, 1}), longs({0, 1, 2})}),
                    "shape mismatch: indexing tensors could not be broadcast together with shapes [2], [3]");
  EXPECT_DYDX_ERROR(x.index({longs({0}), longs({0}), longs({0})}), "too many indices for tensor of dimension 2");
  EXPECT_DYDX_ERROR(zeros({}).index({longs({0})}), "too many indices");
}

TEST(IndexPut, ErrorsLeaveSelfUnchanged) {
  Tensor x = arange(5).to(kFloat32);
  EXPECT_DYDX_ERROR(x.index_put_({longs({0, 7})}, full({}, 9.0f)), "index 7 is out of bounds for dimension 0 with size 5");
  EXPECT_DYDX_ERROR(x.index_put_({longs({0, 1})}, ones({3})),
                    "shape mismatch: value tensor of shape [3] cannot be broadcast to indexing result of shape [2]");
  EXPECT_DYDX_ERROR(x.index_put_({longs({0})}, ones({1}, kFloat64)), "Index put requires the source and destination dtypes match");
  EXPECT_TRUE(HasValues(x, {0, 1, 2, 3, 4}));
  Tensor leaf = zeros({3}).requires_grad_(true);
  EXPECT_DYDX_ERROR(leaf.index_put_({longs({0})}, 1.0), "leaf");
}

TEST(IndexPut, InPlaceSemantics) {
  Tensor x = zeros({2, 4});
  x.index_put_({Slice(), longs({1, 3, 1})}, tensor({1.0f, 2.0f, 4.0f}), true);
  EXPECT_TRUE(HasValues(x, {0, 5, 0, 2, 0, 5, 0, 2}));
  x.index_put_({1, longs({0, 0})}, tensor({7.0f, 8.0f}));  // non-accumulating: the last write wins
  EXPECT_TRUE(HasValues(x, {0, 5, 0, 2, 8, 5, 0, 2}));
  Tensor m = tensor({{true, false, false, true}, {false, false, false, false}});
  x.index_put_({m}, -1.0);  // x[mask] = -1
  EXPECT_TRUE(HasValues(x, {-1, 5, 0, -1, 8, 5, 0, 2}));
  // Through a view of a tensor that requires grad: the gradient sees the write.
  Tensor a = ones({4}).requires_grad_(true);
  Tensor b = a * 2.0;
  b.index_put_({longs({1, 2})}, zeros({2}));
  b.sum().backward();
  EXPECT_TRUE(HasValues(a.grad(), {2, 0, 0, 2}));
  // Basic indices only: a view written through.
  Tensor c = zeros({2, 3});
  c.index_put_({1}, tensor({1.0f, 2.0f, 3.0f}));
  EXPECT_TRUE(HasValues(c, {0, 0, 0, 1, 2, 3}));
}

TEST(IndexPut, AccumulateIsTheSameOnEveryThreadCount) {
  Tensor x = randn({64, 300}, Generator(5), dtype(kFloat64));
  Tensor index = randint(64, {2000}, Generator(6));
  Tensor values = randn({2000, 300}, Generator(7), dtype(kFloat64));
  Tensor reference;
  for (int threads : {1, 2, 4}) {
    ThreadCount scope(threads);
    Tensor y = index_put(x, {index}, values, true);
    Tensor r = x.index({index});
    if (!reference.defined()) reference = y;
    EXPECT_TRUE(equal(y, reference)) << threads << " threads";
    EXPECT_TRUE(equal(r, index_select(x, 0, index)));
    Tensor columns = randint(300, {500}, Generator(8));
    EXPECT_TRUE(equal(x.index({Slice(), columns}), index_select(x, 1, columns)));  // positions innermost
    Tensor mask = gt(x, zeros({}, kFloat64));
    EXPECT_TRUE(equal(x.index({mask}), masked_select(x, mask)));
  }
}

TEST(AdvancedIndex, HostileLayoutsAndValues) {
  // An expanded (stride 0) and a transposed input, nan and inf passing through untouched.
  Tensor base = tensor({1.0, NAN, INFINITY}, kFloat64);
  Tensor e = base.expand({4, 3});
  Tensor picked = e.index({longs({3, 0}), longs({1, 2})});
  std::vector<double> v = picked.to_vector<double>();
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_EQ(v[1], INFINITY);
  Tensor t = arange(6).to(kFloat64).reshape({2, 3}).t();  // [3, 2], strides (1, 3)
  EXPECT_TRUE(HasValues(t.index({longs({2, 0}), Slice()}), {2, 5, 0, 3}));
  // index_put out of place on an expanded self writes into a fresh tensor.
  Tensor put = index_put(e, {longs({1}), longs({0})}, full({}, 7.0, kFloat64));
  EXPECT_EQ(put.to_vector<double>()[3], 7.0);
  EXPECT_EQ(e.to_vector<double>()[3], 1.0);
  // In place on an expanded tensor would write one element through several places: refused.
  Tensor shared = zeros({3}).expand({2, 3});
  EXPECT_DYDX_ERROR(shared.index_put_({longs({0}), longs({1})}, 1.0), "more than one element of the written-to tensor");
  // int64 tensors accumulate exactly, beyond 2^53.
  Tensor big = full({2}, int64_t(1) << 60, kInt64);
  big.index_put_({longs({1, 1})}, full({2}, int64_t(3), kInt64), true);
  EXPECT_EQ(big.to_vector<int64_t>()[1], (int64_t(1) << 60) + 6);
  // Values that are a view of self are read before anything is written.
  Tensor x = arange(4).to(kFloat32);
  x.index_put_({longs({1, 2, 3, 0})}, x.index({Slice()}));
  EXPECT_TRUE(HasValues(x, {3, 0, 1, 2}));
}

TEST(NonzeroAndMaskedSelect, EdgeShapes) {
  EXPECT_EQ(nonzero(zeros({0, 3})).sizes(), IntArrayRef({0, 2}));
  EXPECT_EQ(nonzero(full({}, 2.0)).sizes(), IntArrayRef({1, 0}));
  EXPECT_EQ(nonzero(arange(4)).sizes(), IntArrayRef({3, 1}));
  EXPECT_EQ(arange(4).nonzero().dtype(), kInt64);
  Tensor s = full({}, 3.0).requires_grad_(true);
  Tensor picked = masked_select(s, ones({}, kBool));
  EXPECT_TRUE(HasValues(picked, {3}));
  picked.sum().backward();
  EXPECT_TRUE(HasValues(s.grad(), {1}));
  EXPECT_EQ(masked_select(s.detach(), zeros({}, kBool)).sizes(), IntArrayRef({0}));
  EXPECT_DYDX_ERROR(masked_select(zeros({3}), ones({4}, kBool)), "masked_select");
}

TEST(Scatter, InPlaceValuesAndErrors) {
  Tensor x = zeros({2, 3});
  x.scatter_(1, longs({{2}, {0}}), tensor({{5.0f}, {6.0f}}));
  EXPECT_TRUE(HasValues(x, {0, 0, 5, 6, 0, 0}));
  x.scatter_(0, longs({{1, 1, 1}}), -1.0);
  EXPECT_TRUE(HasValues(x, {0, 0, 5, -1, -1, -1}));
  // Duplicates: the last write in index order wins.
  EXPECT_TRUE(HasValues(zeros({3}).scatter(0, longs({1, 1}), tensor({2.0f, 3.0f})), {0, 3, 0}));
  EXPECT_EQ(std::string(zeros({3}).requires_grad_(true).scatter(0, longs({1}), 1.0).grad_fn()->name()), "ScatterBackward1");
  EXPECT_DYDX_ERROR(x.scatter(1, longs({{3}, {0}}), 1.0), "index 3 is out of bounds for dimension 1 with size 3");
  EXPECT_DYDX_ERROR(x.scatter(1, longs({{1}}), zeros({1, 1}, kFloat64)), "Expected self.dtype to be equal to src.dtype");
  EXPECT_DYDX_ERROR(x.scatter(1, tensor({{1.0f}}), 1.0), "Expected dtype int64 for index");
  EXPECT_DYDX_ERROR(zeros({2}, kInt64).scatter(0, longs({0}), 0.5e30), "cannot be converted to type int64");
  EXPECT_TRUE(HasValues(x, {0, 0, 5, -1, -1, -1}));
}

}  // namespace
}  // namespace dydx::testing
