// dydx::grad inside vmap (PyTorch's autograd.grad under functorch.vmap): the batching rule of the
// backward pass itself. Two cases have a per-sample meaning that the batches' graph can give:
//   - nothing differentiated is batched, only the grad_outputs: one backward pass with the
//     samples' cotangents as a batch (is_grads_batched), which is how PyTorch batches grads too;
//   - the outputs and the inputs are batched: one backward pass from the outputs' batches to the
//     inputs' batches, each sample's cotangent in its output's layout.
// A gradient with respect to a tensor shared by every sample, of batched outputs, would be the sum
// over the samples in the batches' graph: that raises, pointing to func::grad and func::vjp, which
// give per-sample gradients by expanding the shared tensor first (src/transforms/lowering.hpp).
#include "vmap/grad.hpp"

#include "dydx/autograd.hpp"
#include "vmap/batched.hpp"

namespace dydx::vmap {

namespace {

bool any_at(const TensorList& ts, uint32_t level) {
  for (const Tensor& t : ts)
    if (unwrap(t, level).bdim) return true;
  return false;
}

}  // namespace

TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs,
                const GradOptions& options) {
  const uint32_t level = std::max({top_level(outputs), top_level(inputs), top_level(grad_outputs)});
  const int64_t size = level_info(level).size;
  TensorList results;
  if (!any_at(outputs, level) && !any_at(inputs, level)) {
    // Only cotangents differ per sample: a batch of them. A batch the caller gave (is_grads_batched,
    // or an inner vmap's) is merged with it into one, since a backward pass takes one batch dim.
    TensorList cotangents;
    int64_t inner = 1;
    for (const Tensor& g : grad_outputs) {
      if (!g.defined()) {
        cotangents.push_back(g);
        continue;
      }
      Tensor c = batch_first_expanded(unwrap(g, level), size);
      if (options.is_grads_batched) {
        inner = c.size(1);
        c = c.flatten(0, 1);
      }
      cotangents.push_back(c);
    }
    GradOptions batched = options;
    batched.is_grads_batched = true;
    for (const Tensor& r : dydx::detail::grad_by_options(outputs, inputs, cotangents, batched)) {
      if (!r.defined()) {
        results.push_back(r);
        continue;
      }
      results.push_back(wrap(options.is_grads_batched ? r.unflatten(0, {size, inner}) : r, 0, level));
    }
    return results;
  }
  DYDX_CHECK(!options.is_grads_batched, "vmap: dydx::grad with is_grads_batched on outputs batched by vmap is not "
             "supported; vmap over the cotangents instead");
  TensorList values, cotangents, input_values;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Arg out = unwrap(outputs[i], level);
    const Tensor& g = i < grad_outputs.size() ? grad_outputs[i] : Tensor();
    values.push_back(out.value);
    if (!g.defined() || !out.bdim) {
      DYDX_CHECK(!g.defined() || !unwrap(g, level).bdim, "vmap: dydx::grad: grad_outputs[", i, "] is batched but "
                 "outputs[", i, "] is not; pass a cotangent shared by every sample, or batch the output");
      cotangents.push_back(g);
      continue;
    }
    // The sample's cotangent in the layout of the output's batch.
    cotangents.push_back(batch_first_expanded(unwrap(g, level), size).movedim(0, *out.bdim));
  }
  std::vector<int64_t> bdims;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Arg in = unwrap(inputs[i], level);
    DYDX_CHECK(in.bdim, "vmap: dydx::grad: inputs[", i, "] (shape ", inputs[i].sizes(), ") is shared by every sample "
               "(not batched) while the outputs are batched, so its gradient would add up the samples'; use func::grad "
               "or func::vjp inside vmap for per-sample gradients with respect to it");
    input_values.push_back(in.value);
    bdims.push_back(*in.bdim);
  }
  TensorList grads = dydx::detail::grad_by_options(values, input_values, cotangents, options);
  for (size_t i = 0; i < grads.size(); ++i) results.push_back(grads[i].defined() ? wrap(grads[i], bdims[i], level) : grads[i]);
  return results;
}

}  // namespace dydx::vmap
