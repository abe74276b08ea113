// vmap's batching rules for joins and indexing (cat, stack, gather, scatter, index_select,
// masked_fill, one_hot, advanced indexing, index_put, masked_select, as_strided), beyond the op
// table: every combination of batched and shared inputs with the batch dim at every position,
// 0-d samples, int64 and bool values, empty batches, nested vmap, gradients, and the errors of
// ops whose result shape would depend on each sample's data.
#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include "vmap_test_util.hpp"

#include <string>

namespace dydx {
namespace {

using vmap_test::error_of;
using vmap_test::expect_same;
using vmap_test::loop;

using func::BatchDims;
using func::Function;
using indexing::Ellipsis;
using indexing::Slice;



// A sample input: a generator of one sample (the same every call), and whether it may be batched.
struct Input {
  Tensor sample_source;  // [kBatch, sample...]: row b is sample b
  bool may_batch = true;
  bool may_share = true;  // false: always batched (the written-to tensor of an in-place op)
};

constexpr int64_t kBatch = 3;

// vmap(f) equals the loop for every way of batching the inputs (each batched at every dim of its
// batch, or shared), at least one batched; a shared input is sample 0.
void check_all_placements(const Function& f, const std::vector<Input>& inputs) {
  std::vector<std::vector<std::optional<int64_t>>> choices;
  for (const Input& in : inputs) {
    std::vector<std::optional<int64_t>> c;
    if (in.may_share) c.push_back(std::nullopt);
    if (in.may_batch)
      for (int64_t d = 0; d < in.sample_source.dim(); ++d) c.push_back(d);
    choices.push_back(c);
  }
  std::vector<size_t> pick(inputs.size(), 0);
  while (true) {
    BatchDims dims;
    TensorList values;
    bool any = false;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto d = choices[i][pick[i]];
      dims.push_back(d);
      any = any || d.has_value();
      values.push_back(d ? inputs[i].sample_source.movedim(0, *d) : inputs[i].sample_source.select(0, 0));
    }
    if (any) {
      std::string trace;
      for (const auto& d : dims) trace += d ? std::to_string(*d) + " " : "None ";
      SCOPED_TRACE(trace);
      expect_same(func::vmap(f, dims)(values)[0], loop(f, values, dims));
    }
    size_t k = 0;
    while (k < pick.size() && ++pick[k] == choices[k].size()) pick[k++] = 0;
    if (k == pick.size()) break;
  }
}

Tensor batch_of(std::vector<int64_t> sample, uint64_t seed) {
  manual_seed(seed);
  sample.insert(sample.begin(), kBatch);
  return randn(sample, kFloat64);
}

Tensor indices_of(std::vector<int64_t> sample, int64_t high, uint64_t seed) {
  manual_seed(seed);
  sample.insert(sample.begin(), kBatch);
  return randint(high, sample);
}


TEST(VmapIndexing, CatAndStack) {
  const Function cat_rows = [](const TensorList& in) { return TensorList{cat({in[0], in[1], in[0]}, -2)}; };
  check_all_placements(cat_rows, {{batch_of({2, 3}, 1)}, {batch_of({4, 3}, 2)}});
  const Function cat_cols = [](const TensorList& in) { return TensorList{cat({in[0], in[1]}, 1)}; };
  check_all_placements(cat_cols, {{batch_of({2, 3}, 3)}, {batch_of({2, 1}, 4)}});
  const Function stacked = [](const TensorList& in) { return TensorList{stack({in[0], in[1]}, -1)}; };
  check_all_placements(stacked, {{batch_of({2, 3}, 5)}, {batch_of({2, 3}, 6)}});
  const Function stack0 = [](const TensorList& in) { return TensorList{stack({in[0], in[1]}, 0)}; };
  check_all_placements(stack0, {{batch_of({}, 7)}, {batch_of({}, 8)}});  // 0-d samples
  // cat's legacy 1-D empty member is skipped as outside vmap.
  const Function legacy = [](const TensorList& in) { return TensorList{cat({in[0], zeros({0}, kFloat64)}, 0)}; };
  check_all_placements(legacy, {{batch_of({2, 3}, 9)}});
  // int64 and bool members, and members of different dtypes promoted.
  const Function ints = [](const TensorList& in) { return TensorList{cat({in[0], in[1].to(kFloat64)}, 0)}; };
  check_all_placements(ints, {{indices_of({2}, 5, 10)}, {indices_of({3}, 9, 11)}});
  // Mismatched samples raise naming the samples' shapes.
  const std::string message = error_of([] {
    func::vmap([](const TensorList& in) { return TensorList{stack({in[0], in[1]}, 0)}; })(
        {zeros({3, 2}), zeros({3, 4})});
  });
  EXPECT_NE(message.find("stack: expects each tensor to be equal size, but got [2] at entry 0 and [4]"),
            std::string::npos)
      << message;
}

TEST(VmapIndexing, GatherAndScatterEveryPlacement) {
  const Function g = [](const TensorList& in) { return TensorList{gather(in[0], 1, in[1])}; };
  check_all_placements(g, {{batch_of({3, 4}, 1)}, {indices_of({2, 3}, 4, 2)}});
  const Function g_neg = [](const TensorList& in) { return TensorList{gather(in[0], -2, in[1])}; };
  check_all_placements(g_neg, {{batch_of({3, 4}, 3)}, {indices_of({2, 4}, 3, 4)}});
  const Function g0 = [](const TensorList& in) { return TensorList{gather(in[0], 0, in[1])}; };
  check_all_placements(g0, {{batch_of({}, 5)}, {indices_of({}, 1, 6)}});  // 0-d samples
  const Function sa = [](const TensorList& in) { return TensorList{scatter_add(in[0], 1, in[1], in[2])}; };
  check_all_placements(sa, {{batch_of({3, 4}, 7)}, {indices_of({2, 3}, 4, 8)}, {batch_of({2, 5}, 9)}});
  // scatter with indices unique per line (the result then has no order-dependent ties).
  Tensor cols = stack({tensor({3, 0, 1}, dtype(kInt64)), tensor({1, 2, 0}, dtype(kInt64)),
                       tensor({0, 3, 2}, dtype(kInt64))}, 0).unsqueeze(1).expand({3, 2, 3}).contiguous();
  const Function sc = [](const TensorList& in) { return TensorList{scatter(in[0], 1, in[1], in[2])}; };
  check_all_placements(sc, {{batch_of({2, 4}, 10)}, {cols}, {batch_of({2, 3}, 11)}});
  const Function sv = [](const TensorList& in) { return TensorList{scatter(in[0], -1, in[1], -2.5)}; };
  check_all_placements(sv, {{batch_of({2, 4}, 12)}, {cols}});
  // int64 values.
  const Function gi = [](const TensorList& in) { return TensorList{gather(in[0], 0, in[1])}; };
  check_all_placements(gi, {{indices_of({4, 2}, 100, 13)}, {indices_of({3, 2}, 4, 14)}});
  // An index out of range in one sample raises naming gather.
  const std::string message = error_of([] {
    func::vmap([](const TensorList& in) { return TensorList{gather(in[0], 0, in[1])}; })(
        {zeros({2, 3}), tensor({{0}, {3}}, dtype(kInt64))});
  });
  EXPECT_NE(message.find("gather: index 3 is out of bounds for dimension 0 with size 3"), std::string::npos) << message;
  const std::string selected = error_of([] {
    func::vmap([](const TensorList& in) { return TensorList{index_select(in[0], 1, in[1])}; })(
        {zeros({2, 4, 3}), tensor({{0}, {3}}, dtype(kInt64))});
  });
  EXPECT_NE(selected.find("index_select: index 3 is out of bounds for dimension 1 with size 3"), std::string::npos)
      << selected;
}

TEST(VmapIndexing, IndexSelectMaskedFillOneHot) {
  const Function is = [](const TensorList& in) { return TensorList{index_select(in[0], 1, in[1])}; };
  check_all_placements(is, {{batch_of({3, 4, 2}, 1)}, {indices_of({5}, 4, 2)}});
  const Function is0 = [](const TensorList& in) { return TensorList{index_select(in[0], -1, in[1])}; };
  check_all_placements(is0, {{batch_of({3, 4}, 3)}, {indices_of({}, 4, 4)}});  // a 0-d index keeps the dim
  const Function mf = [](const TensorList& in) { return TensorList{masked_fill(in[0], in[1].gt(0), 7.5)}; };
  check_all_placements(mf, {{batch_of({3, 4}, 5)}, {batch_of({4}, 6)}});
  check_all_placements(mf, {{batch_of({4}, 7)}, {batch_of({3, 4}, 8)}});  // the mask broadcasts the input
  const Function oh = [](const TensorList& in) { return TensorList{nn::functional::one_hot(in[0], 5)}; };
  check_all_placements(oh, {{indices_of({2, 3}, 5, 9)}});
  const std::string message = error_of([] {
    func::vmap([](const TensorList& in) { return TensorList{nn::functional::one_hot(in[0])}; })(
        {tensor({{0, 1}, {2, 1}}, dtype(kInt64))});
  });
  EXPECT_NE(message.find("vmap: one_hot: when vmap-ing one_hot, please provide an explicit positive num_classes"),
            std::string::npos)
      << message;
}

TEST(VmapIndexing, AdvancedIndexEveryPattern) {
  // x[idx], x[:, idx], x[idx, :, idx2] (split: the indexed dims go first), x[None, idx, 0],
  // x[..., idx], x[idx2d, idx], and an unbatched mask, with batched and shared x and indices.
  const std::vector<std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)>> patterns = {
      [](const Tensor& x, const Tensor& i, const Tensor&) { return x.index({i}); },
      [](const Tensor& x, const Tensor& i, const Tensor&) { return x.index({Slice(), i}); },
      [](const Tensor& x, const Tensor& i, const Tensor& j) { return x.index({i, Slice(), j}); },
      [](const Tensor& x, const Tensor& i, const Tensor&) { return x.index({std::nullopt, i, 0}); },
      [](const Tensor& x, const Tensor& i, const Tensor&) { return x.index({Ellipsis, i}); },
      [](const Tensor& x, const Tensor& i, const Tensor& j) { return x.index({Slice(1, 3), i, j}); },
      [](const Tensor& x, const Tensor&, const Tensor& j) {
        return x.index({tensor({true, false, true}), Slice(), j});
      },
      [](const Tensor& x, const Tensor& i, const Tensor& j) { return x.index({1, i.unsqueeze(1), j}); },
      // A 2-D mask after an ellipsis covers the last two dims (it counts as two consumed dims).
      [](const Tensor& x, const Tensor&, const Tensor&) {
        return x.index({Ellipsis, tensor({{true, false, true}, {false, false, true}, {true, true, false}})});
      },
  };
  for (size_t k = 0; k < patterns.size(); ++k) {
    SCOPED_TRACE("pattern " + std::to_string(k));
    const auto& pattern = patterns[k];
    const Function f = [&](const TensorList& in) { return TensorList{pattern(in[0], in[1], in[2])}; };
    check_all_placements(f, {{batch_of({3, 3, 3}, 1)}, {indices_of({2}, 3, 2)}, {indices_of({2}, 3, 3) - 3}});
  }
  // As PyTorch: x[..., mask] with a [3, 4] mask of a [2, 3, 4] x has shape [2, number of trues].
  Tensor mask = tensor({{true, false, true, true}, {true, false, true, true}, {true, false, true, true}});
  Tensor masked = zeros({2, 3, 4}).index({Ellipsis, mask});
  EXPECT_EQ(masked.dim(), 2);
  EXPECT_EQ(masked.size(0), 2);
  EXPECT_EQ(masked.size(1), 9);
  // 2-D and 0-d indices, and a 0-d mask.
  const Function two = [](const TensorList& in) { return TensorList{in[0].index({in[1], Slice(), in[2]})}; };
  check_all_placements(two, {{batch_of({4, 2, 5}, 4)}, {indices_of({2, 3}, 4, 5)}, {indices_of({}, 5, 6)}});
  const Function scalar_mask = [](const TensorList& in) { return TensorList{in[0].index({tensor(true), in[1]})}; };
  check_all_placements(scalar_mask, {{batch_of({4, 2}, 7)}, {indices_of({3}, 4, 8)}});
}

TEST(VmapIndexing, IndexPutEveryPlacement) {
  for (bool accumulate : {false, true}) {
    SCOPED_TRACE(accumulate ? "accumulate" : "write");
    // Unique rows when writing (ties would pick an arbitrary value); a repeat when accumulating.
    Tensor rows = accumulate ? tensor({{3, 1, 3}, {0, 0, 2}, {1, 2, 3}}, dtype(kInt64))
                             : tensor({{3, 1, 0}, {0, 2, 1}, {1, 2, 3}}, dtype(kInt64));
    const Function put = [=](const TensorList& in) { return TensorList{index_put(in[0], {in[1]}, in[2], accumulate)}; };
    check_all_placements(put, {{batch_of({4, 5}, 1)}, {rows}, {batch_of({3, 5}, 2)}});
    check_all_placements(put, {{batch_of({4, 5}, 3)}, {rows}, {batch_of({5}, 4)}});  // broadcast values
    const Function put_cols = [=](const TensorList& in) {
      return TensorList{index_put(in[0], {Slice(), in[1]}, in[2], accumulate)};
    };
    check_all_placements(put_cols, {{batch_of({2, 4}, 5)}, {rows}, {batch_of({2, 3}, 6)}});
    const Function put_split = [=](const TensorList& in) {
      return TensorList{index_put(in[0], {in[1], Slice(), in[1]}, in[2], accumulate)};
    };
    check_all_placements(put_split, {{batch_of({4, 2, 4}, 7)}, {rows}, {batch_of({3, 2}, 8)}});
  }
  // In place, into a batched copy, the values and indices batched or not.
  Tensor rows = tensor({{3, 1, 0}, {0, 2, 1}, {1, 2, 3}}, dtype(kInt64));
  const Function put_ = [](const TensorList& in) {
    Tensor y = in[0] * 1.0;
    y.index_put_({in[1]}, in[2]);
    return TensorList{y};
  };
  check_all_placements(put_, {{batch_of({4, 5}, 9)}, {rows, false}, {batch_of({3, 5}, 10), false}});
  check_all_placements(put_, {{batch_of({4, 5}, 9), true, false}, {rows}, {batch_of({3, 5}, 10)}});
}

TEST(VmapIndexing, DataDependentShapesRaise) {
  const std::string nz = error_of([] { func::vmap([](const Tensor& x) { return nonzero(x); })(ones({2, 3})); });
  EXPECT_NE(nz.find("vmap: We do not support batching operators that can output dynamic shape. Attempted to vmap "
                    "over nonzero"),
            std::string::npos)
      << nz;
  const std::string ms = error_of([] { func::vmap([](const Tensor& x) { return masked_select(x, x.gt(0)); })(ones({2, 3})); });
  EXPECT_NE(ms.find("vmap: masked_select: Attempted to vmap over `mask`"), std::string::npos) << ms;
  const std::string mask = error_of([] { func::vmap([](const Tensor& x) { return x.index({x.gt(0)}); })(ones({2, 3})); });
  EXPECT_NE(mask.find("vmap: index: We do not support batching operators that can output dynamic shape. Attempting "
                      "to batch over indexing with a boolean mask"),
            std::string::npos)
      << mask;
  // A shared mask gives every sample the same count: masked_select works.
  const Function sel = [](const TensorList& in) { return TensorList{masked_select(in[0], in[1])}; };
  Tensor mask_values = tensor({{true, false, true}, {false, false, true}, {true, true, false}});
  check_all_placements(sel, {{batch_of({3}, 1)}, {mask_values, false}});
}

TEST(VmapIndexing, AsStridedInsideTheSample) {
  // Strides and offsets taken from the sample, as a loop would: every layout of the batch.
  const Function block = [](const TensorList& in) {
    const Tensor& x = in[0];
    return TensorList{x.as_strided({2, 2}, {x.stride(0), x.stride(1)}, x.storage_offset() + x.stride(1))};
  };
  check_all_placements(block, {{batch_of({3, 4}, 1)}});
  const Function windows = [](const TensorList& in) {
    Tensor x = in[0].contiguous();
    return TensorList{x.as_strided({3, 2}, {1, 1}, x.storage_offset()) * 1.0};  // overlapping windows
  };
  check_all_placements(windows, {{batch_of({4}, 2)}});
  // Reaching past the sample raises, naming vmap and as_strided.
  const std::string message = error_of([] {
    func::vmap([](const Tensor& x) { return x.as_strided({4}, {1}, x.storage_offset() + 1); })(zeros({2, 4}));
  });
  EXPECT_NE(message.find("vmap: as_strided: the view with sizes [4], strides [1] and offset 1 from the sample's start "
                         "reaches outside the sample's memory"),
            std::string::npos)
      << message;
}

TEST(VmapIndexing, NestedEmptyAndGradients) {
  // Nested: outer batch 2 in front, inner batch last, index batched at the inner level only.
  Tensor x = randn({2, 4, 5, 3}, kFloat64);
  Tensor idx = randint(4, {3, 2});
  const Function inner = [](const TensorList& in) { return TensorList{in[0].index({in[1]}) + gather(in[0], 0, in[1].unsqueeze(1).expand({2, 5}))}; };
  Tensor nested = func::vmap(func::vmap(inner, {2, 0}), {0, std::nullopt})({x, idx})[0];
  TensorList outer;
  for (int64_t a = 0; a < 2; ++a) {
    TensorList in;
    for (int64_t b = 0; b < 3; ++b) in.push_back(inner({x.select(0, a).select(2, b), idx.select(0, b)})[0]);
    outer.push_back(stack(in, 0));
  }
  expect_same(nested, stack(outer, 0));
  // An empty batch.
  Tensor none = func::vmap([](const TensorList& in) { return TensorList{cat({in[0], in[0]}, 0).index({in[1]})}; },
                           {0, 0})({zeros({0, 3}), zeros({0, 2}, kInt64)})[0];
  EXPECT_EQ(none.dim(), 2);
  EXPECT_EQ(none.size(0), 0);
  EXPECT_EQ(none.size(1), 2);
  // Gradients through the rules: backward through vmap(f) equals backward through the loop
  // (the rules' public ops record their nodes on the batches). No reductions inside f: their rules
  // are not this file's subject.
  const Function f = [](const TensorList& in) {
    Tensor y = index_put(in[0].index({in[1]}).pow(2), {tensor({0}, dtype(kInt64))}, in[0].narrow(0, 2, 1) * 3.0);
    Tensor z = gather(y, 1, tensor({{1}, {0}}, dtype(kInt64)));
    return TensorList{cat({z.expand({2, 2}) * y, scatter_add(y, 0, in[1].unsqueeze(1).expand({2, 2}) % 2, y)}, 0)};
  };
  const Tensor xs = randn({3, 4, 2}, kFloat64).requires_grad_(true), ids = randint(4, {3, 2});
  const Tensor weights = randn({3, 4, 2}, kFloat64);
  for (int64_t d : {0, 1}) {
    const Tensor batched = func::vmap(f, {d, 0})({xs.movedim(0, d), ids})[0];
    const Tensor looped = loop(f, {xs.movedim(0, d), ids}, {d, 0});
    expect_same(batched, looped);
    expect_same(grad({batched}, {xs}, {weights})[0], grad({looped}, {xs}, {weights})[0]);
  }
}

TEST(VmapIndexing, OutOfRangeTensorIndicesNameTheSamplesDim) {
  const Tensor x = ones({4, 3});
  const std::string shared = error_of([&] {
    func::vmap([](const Tensor& v) { return v.index({tensor({int64_t(1), int64_t(5)})}); })(x);
  });
  EXPECT_NE(shared.find("index: index 5 is out of bounds for dimension 0 with size 3"), std::string::npos) << shared;
  const std::string batched = error_of([&] {
    func::vmap([](const TensorList& in) { return TensorList{in[0].index({Slice(), in[1]})}; }, {0, 0})(
        {ones({2, 3, 4}), tensor({{int64_t(0)}, {int64_t(-5)}})});
  });
  EXPECT_NE(batched.find("index: index -5 is out of bounds for dimension 1 with size 4"), std::string::npos) << batched;
  const std::string put = error_of([&] {
    func::vmap([](const Tensor& v) { return index_put(v, {tensor({int64_t(3)})}, tensor(1.0f)); })(x);
  });
  EXPECT_NE(put.find("index_put: index 3 is out of bounds for dimension 0 with size 3"), std::string::npos) << put;
}

}  // namespace
}  // namespace dydx
