// Activation modules, as torch::nn's: ReLU, Tanh, Sigmoid, SiLU, GELU, ELU, LeakyReLU, Softplus,
// Softmax, LogSoftmax, Hardtanh, ReLU6, Hardsigmoid, Hardswish, SELU, Mish and LogSigmoid, each over
// the function of the same name in dydx/ops.hpp. (libtorch has no Hardsigmoid or Hardswish module;
// these take PyTorch's Python options.)
#pragma once

#include <string>

#include "dydx/detail/option.hpp"
#include "dydx/nn/module.hpp"

namespace dydx::nn {

struct ReLUOptions {
  ReLUOptions(bool inplace = false) : inplace_(inplace) {}
  /// Writes the result into the input (which must then not be a leaf that requires grad).
  DYDX_ARG(bool, inplace);
};
class ReLUImpl : public Cloneable<ReLUImpl> {
 public:
  void reset() override {}
  explicit ReLUImpl(const ReLUOptions& options = {}) : options(options) {}
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(Tensor input);
  ReLUOptions options;
};
DYDX_MODULE(ReLU);

class TanhImpl : public Cloneable<TanhImpl> {
 public:
  void reset() override {}
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input);
};
DYDX_MODULE(Tanh);

class SigmoidImpl : public Cloneable<SigmoidImpl> {
 public:
  void reset() override {}
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input);
};
DYDX_MODULE(Sigmoid);

class SiLUImpl : public Cloneable<SiLUImpl> {
 public:
  void reset() override {}
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input);
};
DYDX_MODULE(SiLU);

struct GELUOptions {
  /// "none" (the exact x Phi(x)) or "tanh" (PyTorch's tanh approximation).
  DYDX_ARG(std::string, approximate) = "none";
};
class GELUImpl : public Cloneable<GELUImpl> {
 public:
  void reset() override {}
  explicit GELUImpl(GELUOptions options = {});
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input);
  GELUOptions options;
};
DYDX_MODULE(GELU);

struct ELUOptions {
  DYDX_ARG(double, alpha) = 1.0;
};
class ELUImpl : public Cloneable<ELUImpl> {
 public:
  void reset() override {}
  explicit ELUImpl(const ELUOptions& options = {}) : options(options) {}
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input);
  ELUOptions options;
};
DYDX_MODULE(ELU);

struct LeakyReLUOptions {
  DYDX_ARG(double, negative_slope) = 1e-2;
};
class LeakyReLUImpl : public Cloneable<LeakyReLUImpl> {
 public:
  void reset() override {}
  explicit LeakyReLUImpl(const LeakyReLUOptions& options = {}) : options(options) {}
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input);
  LeakyReLUOptions options;
};
DYDX_MODULE(LeakyReLU);

struct SoftplusOptions {
  DYDX_ARG(double, beta) = 1.0;
  DYDX_ARG(double, threshold) = 20.0;
};
class SoftplusImpl : public Cloneable<SoftplusImpl> {
 public:
  void reset() override {}
  explicit SoftplusImpl(const SoftplusOptions& options = {}) : options(options) {}
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input);
  SoftplusOptions options;
};
DYDX_MODULE(Softplus);

struct SoftmaxOptions {
  SoftmaxOptions(int64_t dim) : dim_(dim) {}
  DYDX_ARG(int64_t, dim);
};
class SoftmaxImpl : public Cloneable<SoftmaxImpl> {
 public:
  void reset() override {}
  explicit SoftmaxImpl(int64_t dim) : options(dim) {}
  explicit SoftmaxImpl(const SoftmaxOptions& options) : options(options) {}
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input);
  SoftmaxOptions options;
};
DYDX_MODULE(Softmax);

struct LogSoftmaxOptions {
  LogSoftmaxOptions(int64_t dim) : dim_(dim) {}
  DYDX_ARG(int64_t, dim);
};
class LogSoftmaxImpl : public Cloneable<LogSoftmaxImpl> {
 public:
  void reset() override {}
  explicit LogSoftmaxImpl(int64_t dim) : options(dim) {}
  explicit LogSoftmaxImpl(const LogSoftmaxOptions& options) : options(options) {}
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input);
  LogSoftmaxOptions options;
};
DYDX_MODULE(LogSoftmax);

struct HardtanhOptions {
  DYDX_ARG(double, min_val) = -1.0;
  DYDX_ARG(double, max_val) = 1.0;
  /// Writes the result into the input (which must then not be a leaf that requires grad).
  DYDX_ARG(bool, inplace) = false;
};
class HardtanhImpl : public Cloneable<HardtanhImpl> {
 public:
  /// Checks max_val > min_val, as libtorch's.
  void reset() override;
  explicit HardtanhImpl(const HardtanhOptions& options = {});
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(Tensor input);
  HardtanhOptions options;
};
DYDX_MODULE(Hardtanh);

// ReLU6, Hardsigmoid, Hardswish and SELU take one option, inplace, as ReLU's.
#define DYDX_INPLACE_ACTIVATION(Name)                                 \
  struct Name##Options {                                              \
    Name##Options(bool inplace = false) : inplace_(inplace) {}        \
    DYDX_ARG(bool, inplace);                                          \
  };                                                                  \
  class Name##Impl : public Cloneable<Name##Impl> {                   \
   public:                                                            \
    void reset() override {}                                          \
    explicit Name##Impl(const Name##Options& options = {}) : options(options) {} \
    void pretty_print(std::ostream& stream) const override;           \
    Tensor forward(Tensor input);                                     \
    Name##Options options;                                            \
  };                                                                  \
  DYDX_MODULE(Name)
DYDX_INPLACE_ACTIVATION(ReLU6);
DYDX_INPLACE_ACTIVATION(Hardsigmoid);
DYDX_INPLACE_ACTIVATION(Hardswish);
DYDX_INPLACE_ACTIVATION(SELU);
#undef DYDX_INPLACE_ACTIVATION

class MishImpl : public Cloneable<MishImpl> {
 public:
  void reset() override {}
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input);
};
DYDX_MODULE(Mish);

class LogSigmoidImpl : public Cloneable<LogSigmoidImpl> {
 public:
  void reset() override {}
  void pretty_print(std::ostream& stream) const override;
  Tensor forward(const Tensor& input);
};
DYDX_MODULE(LogSigmoid);

}  // namespace dydx::nn
