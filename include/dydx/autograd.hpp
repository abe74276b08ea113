// Reverse-mode autograd: dydx::grad, grad-mode guards and the graph node type.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "dydx/tensor.hpp"

namespace dydx {

/// The options of grad(), named and defaulted as torch.autograd.grad's keyword arguments:
/// grad(outputs, inputs, grad_outputs, {.create_graph = true, .allow_unused = true}).
struct GradOptions {
  /// Keep the graph's saved tensors for another backward through it; unset means create_graph.
  std::optional<bool> retain_graph = std::nullopt;
  /// Record the backward pass, so that the gradients can be differentiated again.
  bool create_graph = false;
  /// An input the outputs do not depend on gives an undefined tensor instead of an error.
  bool allow_unused = false;
  /// Each grad_output has a leading batch dim of the same size N; the N vector-Jacobian products
  /// come back stacked the same way, from one backward pass.
  bool is_grads_batched = false;
};

/// The options of backward(), named and defaulted as torch.autograd.backward's keyword arguments:
/// backward(outputs, grad_outputs, {.retain_graph = true, .inputs = {w}}).
struct BackwardOptions {
  /// Keep the graph's saved tensors for another backward through it; unset means create_graph.
  std::optional<bool> retain_graph = std::nullopt;
  /// Record the backward pass, so that the gradients in .grad can be differentiated again.
  bool create_graph = false;
  /// When given, gradients are accumulated into these tensors' .grad only (non-leaves included).
  TensorList inputs = {};
};

namespace detail {
TensorList grad_by_options(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs,
                           const GradOptions& options);
void backward_by_options(const TensorList& outputs, const TensorList& grad_outputs, const BackwardOptions& options);
}  // namespace detail

/// The sum of the outputs' vector-Jacobian products with respect to each input, as torch.autograd.grad.
/// Unused inputs give undefined tensors when allow_unused is set, and an error otherwise.
/// A template only so that libtorch's grad(outputs, inputs, grad_outputs, {}) still picks the
/// positional overload below (which means the same): a tie goes to the non-template.
template <class = void>
TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs,
                const GradOptions& options) {
  return detail::grad_by_options(outputs, inputs, grad_outputs, options);
}
/// grad() with libtorch's positional arguments.
TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs = {},
                std::optional<bool> retain_graph = std::nullopt, bool create_graph = false,
                bool allow_unused = false, bool is_grads_batched = false);

/// Computes gradients of outputs and accumulates them into the leaves' .grad, as torch.autograd.backward.
/// A template for the same reason as grad()'s.
template <class = void>
void backward(const TensorList& outputs, const TensorList& grad_outputs, const BackwardOptions& options) {
  detail::backward_by_options(outputs, grad_outputs, options);
}
/// backward() with libtorch's positional arguments.
void backward(const TensorList& outputs, const TensorList& grad_outputs = {},
              std::optional<bool> retain_graph = std::nullopt, bool create_graph = false,
              const TensorList& inputs = {});

namespace autograd {
/// Runs callback once the backward pass now running on this thread has run every node (every .grad
/// written), after the callbacks queued before it, as PyTorch's engine queue_callback: a hook's way to
/// act on a whole pass's gradients (distributed::DataParallel waits for its all-reduces there).
/// Callbacks may queue more; a pass that raises drops its callbacks. Raises outside a backward pass.
void queue_callback(std::function<void()> callback);
}  // namespace autograd

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
