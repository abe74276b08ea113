// Reverse-mode autograd: dydx::grad, grad-mode guards and the graph node type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dydx/tensor.hpp"

namespace dydx {

/// The sum of the outputs' vector-Jacobian products with respect to each input, as torch.autograd.grad.
/// Unused inputs give undefined tensors when allow_unused is set, and an error otherwise.
/// With is_grads_batched, each grad_output has a leading batch dim of the same size N, and the
/// N vector-Jacobian products come back stacked the same way, from one backward pass.
TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs = {},
                std::optional<bool> retain_graph = std::nullopt, bool create_graph = false,
                bool allow_unused = false, bool is_grads_batched = false);

/// Computes gradients of outputs and accumulates them into the leaves' .grad, as torch.autograd.backward.
void backward(const TensorList& outputs, const TensorList& grad_outputs = {},
              std::optional<bool> retain_graph = std::nullopt, bool create_graph = false,
              const TensorList& inputs = {});

/// Anomaly mode, as torch.autograd.set_detect_anomaly: when on, a backward whose rule first produces
/// a nan or inf gradient from finite ones throws, naming the node and the op that created it.
/// Process-wide, and it costs a scan of every gradient, so it is meant for debugging.
bool is_anomaly_enabled();
void set_detect_anomaly(bool enabled);

/// Turns anomaly mode on for a scope, as torch::autograd::DetectAnomalyGuard.
class DetectAnomalyGuard {
 public:
  DetectAnomalyGuard() : previous_(is_anomaly_enabled()) { set_detect_anomaly(true); }
  ~DetectAnomalyGuard() { set_detect_anomaly(previous_); }
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  bool previous_;
};

/// Whether ops record graph history on this thread.
bool is_grad_enabled();
void set_grad_enabled(bool enabled);

/// Sets grad mode for a scope and restores the previous mode on exit.
class AutoGradMode {
 public:
  explicit AutoGradMode(bool enabled) : previous_(is_grad_enabled()) { set_grad_enabled(enabled); }
  ~AutoGradMode() { set_grad_enabled(previous_); }
  AutoGradMode(const AutoGradMode&) = delete;
  AutoGradMode& operator=(const AutoGradMode&) = delete;

 private:
  bool previous_;
};

/// Disables graph recording for a scope, as torch::NoGradGuard.
class NoGradGuard : public AutoGradMode {
 public:
  NoGradGuard() : AutoGradMode(false) {}
};

}  // namespace dydx
