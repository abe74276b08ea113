// What the vmap tests share: the loop over samples that vmap must equal, the comparison, and errors.
#pragma once

#include <dydx/dydx.hpp>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

namespace dydx::vmap_test {

/// f applied to each sample (slices along in_dims; std::nullopt inputs whole), each output stacked
/// along out_dim: what vmap(f, in_dims, out_dim) must give.
inline TensorList loop_all(const func::Function& f, const TensorList& inputs, const func::BatchDims& in_dims,
                           int64_t out_dim = 0) {
  int64_t size = -1;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (in_dims[i]) size = inputs[i].size(*in_dims[i]);
  std::vector<TensorList> per_output;
  for (int64_t b = 0; b < size; ++b) {
    TensorList sample;
    for (size_t i = 0; i < inputs.size(); ++i) sample.push_back(in_dims[i] ? inputs[i].select(*in_dims[i], b) : inputs[i]);
    TensorList outs = f(sample);
    per_output.resize(outs.size());
    for (size_t k = 0; k < outs.size(); ++k) per_output[k].push_back(outs[k]);
  }
  TensorList out;
  for (auto& samples : per_output) out.push_back(stack(samples, out_dim));
  return out;
}

/// The first output of loop_all.
inline Tensor loop(const func::Function& f, const TensorList& inputs, const func::BatchDims& in_dims) {
  return loop_all(f, inputs, in_dims)[0];
}

/// Same shape and dtype, and values within tol (nan where nan), or equal for integers and bools.
inline void expect_same(const Tensor& a, const Tensor& b, double tol = 1e-12) {
  ASSERT_EQ(a.sizes(), b.sizes());
  ASSERT_EQ(a.dtype(), b.dtype());
  if (a.numel() == 0) return;
  if (a.is_floating_point()) EXPECT_TRUE(allclose(a, b, tol, tol, /*equal_nan=*/true)) << a << "\n" << b;
  else EXPECT_TRUE(equal(a, b)) << a << "\n" << b;
}

/// The message of the dydx::Error that call raises ("" if none).
inline std::string error_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace dydx::vmap_test
