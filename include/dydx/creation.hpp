// Creating tensors: from values, filled, ranges, random, and wrapping user memory.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <vector>

#include "dydx/generator.hpp"
#include "dydx/tensor.hpp"

namespace dydx {

/// A scalar or a nested braced list of any depth: `3.0`, `{1, 2}`, `{{4.0}, {1.0}}`. Integers are
/// kept exactly, as in Scalar.
class NestedList {
 public:
  NestedList(double v) : scalar_(v), is_scalar_(true) {}
  NestedList(float v) : scalar_(v), is_scalar_(true) {}
  NestedList(int v) : scalar_(v), is_scalar_(true) {}
  NestedList(long v) : scalar_(v), is_scalar_(true) {}
  NestedList(long long v) : scalar_(v), is_scalar_(true) {}
  NestedList(bool v) : scalar_(v), is_scalar_(true) {}
  NestedList(std::initializer_list<NestedList> items) : items_(items) {}

  bool is_scalar() const { return is_scalar_; }
  Scalar scalar() const { return scalar_; }
  bool integral() const { return scalar_.is_integral(); }
  bool boolean() const { return scalar_.is_boolean(); }
  const std::vector<NestedList>& items() const { return items_; }

 private:
  Scalar scalar_ = 0;
  bool is_scalar_ = false;
  std::vector<NestedList> items_;
};

/// torch.tensor: integers give int64, any floating value gives float32, unless options name a dtype.
Tensor tensor(const NestedList& values, TensorOptions options = {});
/// A 1-D tensor holding a copy of values. (A template so that `tensor({1.0, 2.0})` picks the list form.)
template <class T>
Tensor tensor(const std::vector<T>& values, TensorOptions options = {});

Tensor empty(IntArrayRef sizes, TensorOptions options = {});
Tensor zeros(IntArrayRef sizes, TensorOptions options = {});
Tensor ones(IntArrayRef sizes, TensorOptions options = {});
Tensor full(IntArrayRef sizes, Scalar value, TensorOptions options = {});
Tensor empty_like(const Tensor& other, TensorOptions options = {});
Tensor zeros_like(const Tensor& other, TensorOptions options = {});
Tensor ones_like(const Tensor& other, TensorOptions options = {});
Tensor full_like(const Tensor& other, Scalar value, TensorOptions options = {});
/// Values start, start+step, ... below end. Integer arguments give int64, as in PyTorch.
Tensor arange(Scalar end, TensorOptions options = {});
Tensor arange(Scalar start, Scalar end, Scalar step = 1, TensorOptions options = {});
Tensor linspace(double start, double end, int64_t steps, TensorOptions options = {});
Tensor eye(int64_t n, TensorOptions options = {});
Tensor eye(int64_t n, int64_t m, TensorOptions options = {});

/// Seeds the default generator, which every random function without a Generator argument draws from.
void manual_seed(uint64_t seed);
/// Uniform on [0, 1).
Tensor rand(IntArrayRef sizes, TensorOptions options = {});
Tensor rand(IntArrayRef sizes, const Generator& generator, TensorOptions options = {});
/// Standard normal.
Tensor randn(IntArrayRef sizes, TensorOptions options = {});
Tensor randn(IntArrayRef sizes, const Generator& generator, TensorOptions options = {});
/// Integers uniform on [low, high) (low 0 in the first form), without modulo bias; int64 unless
/// options name a dtype. low >= high raises, as PyTorch's random_.
Tensor randint(int64_t high, IntArrayRef sizes, TensorOptions options = {});
Tensor randint(int64_t high, IntArrayRef sizes, const Generator& generator, TensorOptions options = {});
Tensor randint(int64_t low, int64_t high, IntArrayRef sizes, TensorOptions options = {});
Tensor randint(int64_t low, int64_t high, IntArrayRef sizes, const Generator& generator, TensorOptions options = {});
/// A uniformly random permutation of 0 .. n-1 (int64 unless options name a dtype).
Tensor randperm(int64_t n, TensorOptions options = {});
Tensor randperm(int64_t n, const Generator& generator, TensorOptions options = {});
/// 1 with probability p[i] and 0 otherwise, in p's (floating) dtype; every p[i] must lie in [0, 1].
/// Not differentiable (its result does not require grad).
Tensor bernoulli(const Tensor& p);
Tensor bernoulli(const Tensor& p, const Generator& generator);
/// input's shape and dtype, 1 with probability p.
Tensor bernoulli(const Tensor& input, double p);
Tensor bernoulli(const Tensor& input, double p, const Generator& generator);

/// Wraps user memory without a copy; the memory must outlive every tensor that uses it.
Tensor from_blob(void* data, IntArrayRef sizes, TensorOptions options = {});
Tensor from_blob(void* data, IntArrayRef sizes, IntArrayRef strides, TensorOptions options = {});
/// Same, calling deleter(data) when the last tensor using the memory is gone.
Tensor from_blob(void* data, IntArrayRef sizes, std::function<void(void*)> deleter, TensorOptions options = {});

}  // namespace dydx
