// vjp, jvp, linearize, grad, jacrev, jacfwd, jacobian and hessian, built on dydx::grad and dual tensors.
#include "dydx/func.hpp"

#include <optional>

#include "transforms/basis.hpp"
#include "transforms/checks.hpp"
#include "transforms/history.hpp"
#include "transforms/lowering.hpp"
#include "transforms/reverse_input.hpp"

#include "autograd/forward_mode.hpp"
#include "dydx/autograd.hpp"
#include "dydx/creation.hpp"
#include "dydx/forward_ad.hpp"
#include "core/shape.hpp"
#include "dydx/ops.hpp"

namespace dydx::func {

namespace detail {

Tensor reverse_input(const Tensor& p) {
  if (p.requires_grad()) return p.view(p.sizes());
  Tensor leaf = p.detach();
  forward::copy_tangents(p, leaf);
  leaf.requires_grad_(true);
  return leaf;
}

}  // namespace detail

namespace {

using detail::basis_batch;
using detail::check_chunk_size;
using detail::check_differentiable;
using detail::check_outputs;
using detail::concat;
using detail::for_each_chunk;
using detail::Lowering;
using detail::normalize_argnums;
using detail::reaches_outside;
using detail::release;
using detail::reverse_input;

void check_same_shapes(const TensorList& primals, const TensorList& others, const char* op, const char* what) {
  DYDX_CHECK(primals.size() == others.size(), op, ": got ", others.size(), " ", what, "s for ", primals.size(),
             " primals");
  for (size_t i = 0; i < primals.size(); ++i) {
    DYDX_CHECK(primals[i].defined() && others[i].defined(), op, ": primal and ", what, " ", i, " must be defined");
    DYDX_CHECK(primals[i].is_floating_point(), op, ": primal ", i, " has dtype ", primals[i].dtype(),
               "; only floating-point primals can be differentiated");
    DYDX_CHECK(primals[i].sizes() == others[i].sizes(), op, ": ", what, " ", i, " has shape ", others[i].sizes(),
               " but primal ", i, " has shape ", primals[i].sizes());
  }
}

Function as_function(const UnaryFunction& f) {
  return [f](const TensorList& in) { return TensorList{f(in.at(0))}; };
}

// The dims of t after its k leading batch dims (transforms inside vmap, lowering.hpp): one sample's.
IntArrayRef sample_sizes(const Tensor& t, int64_t k) { return IntArrayRef(t.sizes().data() + k, t.dim() - k); }

// Basis directions [start, start + count) over the elements of one sample of t (t's dims after its
// k leading batch dims), each set in every sample at once: [count] + t.shape.
Tensor sample_basis(const Tensor& t, int64_t k, int64_t start, int64_t count) {
  if (k == 0) return basis_batch(t, start, count);
  const IntArrayRef sample = sample_sizes(t, k);
  Tensor basis = basis_batch(empty(sample, t.dtype()), start, count);
  Dims shape{count};
  for (int64_t i = 0; i < k; ++i) shape.push_back(1);
  for (int64_t s : sample) shape.push_back(s);
  return basis.view(shape).expand(concat({count}, t.sizes()));
}

// Rows of the Jacobian of output with respect to each of inputs, from batched backward passes of
// chunk_size cotangents each (all of them at once when chunk_size is 0): [numel(out)] + in.shape.
// With k leading batch dims shared by output and inputs (inside vmap), the rows are per sample:
// [numel(one sample of out)] + in.shape.
TensorList jacobian_rows(const Tensor& output, const TensorList& inputs, bool create_graph, int64_t chunk_size,
                         const char* op, int64_t k = 0) {
  std::vector<TensorList> chunks(inputs.size());
  const int64_t sample_numel = dydx::detail::product(sample_sizes(output, k));
  // An output that does not require grad depends on no input: its rows are zeros, without a pass.
  const int64_t n = output.requires_grad() ? sample_numel : 0;
  for_each_chunk(n, chunk_size, op, [&](int64_t start, int64_t count) {
    TensorList grads = dydx::grad({output}, inputs, {sample_basis(output, k, start, count)},
                                  GradOptions{.retain_graph = true,
                                              .create_graph = create_graph,
                                              .allow_unused = true,
                                              .is_grads_batched = true});
    // An input this chunk's outputs do not reach gets no gradient: its rows are zeros.
    for (size_t i = 0; i < inputs.size(); ++i)
      chunks[i].push_back(grads[i].defined() ? grads[i] : zeros(concat({count}, inputs[i].sizes()), inputs[i].dtype()));
  });
  TensorList rows;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (chunks[i].empty())
      rows.push_back(zeros(concat({sample_numel}, inputs[i].sizes()), inputs[i].dtype()));
    else
      rows.push_back(chunks[i].size() == 1 ? chunks[i][0] : cat(chunks[i], 0));
  }
  return rows;
}

std::vector<size_t> all_indices(size_t count) {
  std::vector<size_t> out(count);
  for (size_t i = 0; i < count; ++i) out[i] = i;
  return out;
}

// The inputs of one reverse pass: every primal, those in argnums replaced by reverse inputs.
struct ReverseInputs {
  TensorList inputs;  // what f is called with
  TensorList wrt;     // the reverse inputs, in argnums order
  TensorList own;     // those of them that are fresh leaves, the pass's own
};

ReverseInputs make_reverse_inputs(const TensorList& primals, const std::vector<size_t>& argnums) {
  ReverseInputs r{primals, {}, {}};
  for (size_t a : argnums) {
    r.inputs[a] = reverse_input(primals[a]);
    r.wrt.push_back(r.inputs[a]);
    if (!primals[a].requires_grad()) r.own.push_back(r.inputs[a]);
  }
  return r;
}

// vjp with respect to the primals in argnums only: the others are passed to f as they are, so
// that no gradient is computed for them.
std::pair<TensorList, VjpFunction> vjp_on_batches(const Function& f, const TensorList& primals,
                                                  const std::vector<size_t>& argnums, const char* op) {
  const bool caller_records = is_grad_enabled();
  // A transform's own reverse pass needs grad mode, whatever the caller's (as in torch.func).
  AutoGradMode enable(true);
  ReverseInputs r = make_reverse_inputs(primals, argnums);
  TensorList outputs = f(r.inputs);
  check_outputs(outputs, op);
  detail::check_floating_outputs(outputs, op);
  const bool outside = caller_records && reaches_outside(outputs, r.own);
  VjpFunction pullback = [wrt = r.wrt, own = r.own, outputs, outside, op](const TensorList& cotangents) {
    DYDX_CHECK(cotangents.size() == outputs.size(), op, ": got ", cotangents.size(), " cotangents for ",
               outputs.size(), " outputs");
    for (size_t i = 0; i < outputs.size(); ++i)
      DYDX_CHECK(cotangents[i].defined() && cotangents[i].sizes() == outputs[i].sizes(), op, ": cotangent ", i,
                 " has shape ", cotangents[i].defined() ? cotangents[i].shape_string() : std::string("(undefined)"),
                 " but output ", i, " has shape ", outputs[i].sizes());
    const bool caller_records = is_grad_enabled();
    bool cotangent_records = false;
    for (const Tensor& c : cotangents) cotangent_records = cotangent_records || c.requires_grad();
    // Differentiable only where something outside will differentiate the gradients: an enclosing
    // forward pass, or a reverse one through f's outer inputs or through the cotangents.
    const bool create_graph = forward::active() || (caller_records && (outside || cotangent_records));
    AutoGradMode enable(true);
    TensorList used_outputs, used_cotangents;
    for (size_t i = 0; i < outputs.size(); ++i)
      if (outputs[i].requires_grad()) {
        used_outputs.push_back(outputs[i]);
        used_cotangents.push_back(cotangents[i]);
      }
    TensorList grads(wrt.size());
    if (!used_outputs.empty())
      grads = dydx::grad(used_outputs, wrt, used_cotangents,
                         {.retain_graph = true, .create_graph = create_graph, .allow_unused = true});
    for (size_t i = 0; i < grads.size(); ++i)
      if (!grads[i].defined()) grads[i] = zeros_like(wrt[i]);
    // Only history through f's outer inputs, the cotangents or (under an enclosing forward-mode
    // transform) tangents can reach outside; otherwise the gradients are released without a walk.
    return release(grads, own, caller_records && (outside || cotangent_records || forward::active()));
  };
  return {release(outputs, r.own, outside || (caller_records && forward::active())), pullback};
}

std::pair<TensorList, VjpFunction> vjp_on(const Function& f, const TensorList& primals,
                                          const std::vector<size_t>& argnums, const char* op) {
  check_differentiable(primals, argnums, op);
  if (!vmap::active()) return vjp_on_batches(f, primals, argnums, op);
  // Inside vmap: on the batches (lowering.hpp), so that every gradient is per sample.
  const Lowering low;
  const std::vector<bool> mask = low.lowers(primals, argnums);
  auto [outputs, pullback] = vjp_on_batches(low.lowered(f, mask), low.lower(primals, mask), argnums, op);
  auto per_sample = std::make_shared<VjpFunction>();
  *per_sample = [low, pullback = pullback, self = std::weak_ptr<VjpFunction>(per_sample)](const TensorList& cotangents) {
    // Cotangents batched by a vmap inside this one (vmap(pullback)(basis), functorch's way to a
    // Jacobian): one pullback per cotangent of that level. jacrev pushes them in one pass instead.
    if (vmap::top_level(cotangents) > low.innermost_level())
      return vmap::fallback("vjp pullback", cotangents, [self](const TensorList& c) { return (*self.lock())(c); });
    return low.raise(pullback(low.lower(cotangents)));
  };
  return {low.raise(outputs), [per_sample](const TensorList& cotangents) { return (*per_sample)(cotangents); }};
}

std::pair<TensorList, TensorList> jvp_on_batches(const Function& f, const TensorList& primals, const TensorList& tangents) {
  const bool caller_records = is_grad_enabled();
  forward_ad::DualLevel level;
  TensorList duals;
  for (size_t i = 0; i < primals.size(); ++i) duals.push_back(forward_ad::make_dual(primals[i], tangents[i]));
  TensorList outputs = f(duals), values, tangents_out;
  check_outputs(outputs, "jvp");
  for (const Tensor& out : outputs) {
    auto [primal, tangent] = forward_ad::unpack_dual(out);
    values.push_back(primal);
    tangents_out.push_back(tangent.defined() ? tangent : zeros_like(primal));
  }
  return {release(values, {}, caller_records), release(tangents_out, {}, caller_records)};
}

}  // namespace

std::pair<TensorList, TensorList> jvp(const Function& f, const TensorList& primals, const TensorList& tangents) {
  // As torch.func: with nothing to push a tangent through, every output tangent would be a silent zero.
  DYDX_CHECK(!primals.empty(), "jvp(f, primals, tangents): expected primals to contain at least one tensor");
  check_same_shapes(primals, tangents, "jvp", "tangent");
  if (!vmap::active()) return jvp_on_batches(f, primals, tangents);
  // Only primals batched themselves or through their tangents are lowered: a shared primal with a
  // shared tangent keeps its unbatched form in f (a shared weight stays one matrix).
  const Lowering low;
  std::vector<bool> mask(primals.size());
  for (size_t i = 0; i < primals.size(); ++i) mask[i] = vmap::batched(primals[i]) || vmap::batched(tangents[i]);
  auto [values, tangents_out] = jvp_on_batches(low.lowered(f, mask), low.lower(primals, mask), low.lower(tangents, mask));
  return {low.raise(values), low.raise(tangents_out)};
}

std::pair<TensorList, VjpFunction> vjp(const Function& f, const TensorList& primals) {
  return vjp_on(f, primals, all_indices(primals.size()), "vjp");
}

std::pair<TensorList, JvpFunction> linearize(const Function& f, const TensorList& primals) {
  check_differentiable(primals, all_indices(primals.size()), "linearize");
  TensorList outputs = f(primals);
  const detail::OutputSignature signature = check_outputs(outputs, "linearize");
  // Evaluates the JVP afresh at the stored primals for each tangent, so f runs again: it must give
  // what the linearization promised.
  JvpFunction push = [f, primals, signature](const TensorList& tangents) {
    auto [values, tangents_out] = jvp(f, primals, tangents);
    detail::check_same_outputs(signature, values, "linearize");
    return tangents_out;
  };
  return {outputs, push};
}

namespace {

// argnums as indices into primals, once jacrev's or jacfwd's arguments have passed their checks.
std::vector<size_t> checked_argnums(const TensorList& primals, const std::vector<int64_t>& argnums,
                                    int64_t chunk_size, const char* op) {
  check_chunk_size(chunk_size, op);
  const std::vector<size_t> wrt_index = normalize_argnums(argnums, primals.size(), op);
  check_differentiable(primals, wrt_index, op);
  return wrt_index;
}

}  // namespace

namespace {

// jacrev on batches with k leading batch dims (k = 0 outside vmap; lowering.hpp inside).
TensorList jacrev_on_batches(const Function& f, const TensorList& primals, const std::vector<size_t>& wrt_index,
                             int64_t chunk_size, int64_t k) {
  const bool caller_records = is_grad_enabled();
  AutoGradMode enable(true);
  // Only the argnums primals become reverse inputs: a Jacobian for the others is never built.
  ReverseInputs r = make_reverse_inputs(primals, wrt_index);
  TensorList outputs = f(r.inputs), result;
  check_outputs(outputs, "jacrev");
  detail::check_floating_outputs(outputs, "jacrev");
  const bool outside = caller_records && reaches_outside(outputs, r.own);
  const bool create_graph = forward::active() || outside;
  for (const Tensor& out : outputs) {
    TensorList rows = jacobian_rows(out, r.wrt, create_graph, chunk_size, "jacrev", k);
    for (size_t a = 0; a < r.wrt.size(); ++a) {
      // Rows [n] + batch + in's sample shape: the batch dims go first.
      const Tensor per_sample = k == 0 ? rows[a] : rows[a].movedim(0, k);
      result.push_back(per_sample.reshape(concat(out.sizes(), sample_sizes(r.wrt[a], k))));
    }
  }
  return release(result, r.own, outside || (caller_records && forward::active()));
}

}  // namespace

TensorList jacrev(const Function& f, const TensorList& primals, const std::vector<int64_t>& argnums,
                  int64_t chunk_size) {
  const std::vector<size_t> wrt_index = checked_argnums(primals, argnums, chunk_size, "jacrev");
  if (!vmap::active()) return jacrev_on_batches(f, primals, wrt_index, chunk_size, 0);
  const Lowering low;
  const std::vector<bool> mask = low.lowers(primals, wrt_index);
  return low.raise(
      jacrev_on_batches(low.lowered(f, mask), low.lower(primals, mask), wrt_index, chunk_size, low.batch_dims()));
}

namespace {

// jacfwd on batches with k leading batch dims (k = 0 outside vmap; lowering.hpp inside).
TensorList jacfwd_on_batches(const Function& f, const TensorList& primals, const std::vector<size_t>& wrt_index,
                             int64_t chunk_size, int64_t k) {
  const bool caller_records = is_grad_enabled();
  // columns[a][o]: the chunks of d output o / d primal argnums[a], each [count] + out.shape.
  std::vector<std::vector<TensorList>> columns(wrt_index.size());
  TensorList outputs;
  std::optional<detail::OutputSignature> signature;
  for (size_t a = 0; a < wrt_index.size(); ++a) {
    const Tensor& in = primals[wrt_index[a]];
    for_each_chunk(dydx::detail::product(sample_sizes(in, k)), chunk_size, "jacfwd", [&](int64_t start, int64_t count) {
      // One forward pass carries `count` basis tangents at once, as a batch in front of each tangent.
      forward_ad::DualLevel level;
      TensorList duals = primals;
      duals[wrt_index[a]] = forward::make_batched_dual(in, sample_basis(in, k, start, count));
      TensorList out = f(duals);
      // Every pass's tangents are written into one result: they must all have the same shapes.
      if (signature)
        detail::check_same_outputs(*signature, out, "jacfwd");
      else
        signature = check_outputs(out, "jacfwd");
      outputs.clear();
      for (size_t o = 0; o < out.size(); ++o) {
        auto [primal, tangent] = forward_ad::unpack_dual(out[o]);
        outputs.push_back(primal);
        if (columns[a].size() <= o) columns[a].resize(o + 1);
        columns[a][o].push_back(tangent.defined() ? tangent : zeros(concat({count}, primal.sizes()), primal.dtype()));
      }
    });
  }
  if (!signature) {
    outputs = f(primals);
    check_outputs(outputs, "jacfwd");
  }
  TensorList result;
  for (size_t o = 0; o < outputs.size(); ++o)
    for (size_t a = 0; a < wrt_index.size(); ++a) {
      const Tensor& in = primals[wrt_index[a]];
      Dims shape = concat(outputs[o].sizes(), sample_sizes(in, k));
      if (in.numel() == 0) {
        result.push_back(zeros(shape, outputs[o].dtype()));
        continue;
      }
      const TensorList& chunks = columns[a][o];
      Tensor stacked = chunks.size() == 1 ? chunks[0] : cat(chunks, 0);  // [numel(in)] + out.shape
      // Move the basis dim to the end: out.shape + [numel(in)], then in's shape.
      std::vector<int64_t> order;
      for (int64_t d = 1; d < stacked.dim(); ++d) order.push_back(d);
      order.push_back(0);
      result.push_back(stacked.permute(order).reshape(shape));
    }
  return release(result, {}, caller_records);
}

}  // namespace

TensorList jacfwd(const Function& f, const TensorList& primals, const std::vector<int64_t>& argnums,
                  int64_t chunk_size) {
  const std::vector<size_t> wrt_index = checked_argnums(primals, argnums, chunk_size, "jacfwd");
  if (!vmap::active()) return jacfwd_on_batches(f, primals, wrt_index, chunk_size, 0);
  const Lowering low;
  const std::vector<bool> mask = low.lowers(primals, wrt_index);
  return low.raise(
      jacfwd_on_batches(low.lowered(f, mask), low.lower(primals, mask), wrt_index, chunk_size, low.batch_dims()));
}

Function jacrev(const Function& f, const std::vector<int64_t>& argnums, int64_t chunk_size) {
  check_chunk_size(chunk_size, "jacrev");
  return [f, argnums, chunk_size](const TensorList& primals) { return jacrev(f, primals, argnums, chunk_size); };
}

Function jacfwd(const Function& f, const std::vector<int64_t>& argnums, int64_t chunk_size) {
  check_chunk_size(chunk_size, "jacfwd");
  return [f, argnums, chunk_size](const TensorList& primals) { return jacfwd(f, primals, argnums, chunk_size); };
}

Function jacrev(const Function& f, std::initializer_list<int64_t> argnums, int64_t chunk_size) {
  return jacrev(f, std::vector<int64_t>(argnums), chunk_size);
}

Function jacfwd(const Function& f, std::initializer_list<int64_t> argnums, int64_t chunk_size) {
  return jacfwd(f, std::vector<int64_t>(argnums), chunk_size);
}

std::pair<Tensor, Tensor> jvp(const UnaryFunction& f, const Tensor& primal, const Tensor& tangent) {
  auto [values, tangents] = jvp(as_function(f), {primal}, {tangent});
  return {values[0], tangents[0]};
}

std::pair<Tensor, std::function<Tensor(const Tensor&)>> vjp(const UnaryFunction& f, const Tensor& primal) {
  auto [outputs, pullback] = vjp(as_function(f), {primal});
  return {outputs[0], [pullback = pullback](const Tensor& cotangent) { return pullback({cotangent})[0]; }};
}

std::pair<Tensor, std::function<Tensor(const Tensor&)>> linearize(const UnaryFunction& f, const Tensor& primal) {
  auto [outputs, push] = linearize(as_function(f), {primal});
  return {outputs[0], [push = push](const Tensor& tangent) { return push({tangent})[0]; }};
}

namespace {

// grad_and_value for the primals in argnums: (gradients, value).
std::pair<TensorList, Tensor> grad_and_value_on(const Function& f, const TensorList& primals,
                                                const std::vector<size_t>& argnums) {
  auto [outputs, pullback] = vjp_on(f, primals, argnums, "grad");
  // A 0-d output only, as functorch's and JAX's grad: a [1] or [1, 1] output is a Jacobian of one
  // row, which jacrev or vjp give with its shape.
  DYDX_CHECK(outputs.size() == 1, "grad: f must return one tensor, but it returned ", outputs.size(), " tensors");
  DYDX_CHECK(outputs[0].dim() == 0, "grad: f must return a scalar (0-d) tensor, but it returned a tensor of shape ",
             outputs[0].shape_string(), "; use vjp or jacrev for other outputs");
  return {pullback({ones_like(outputs[0])}), outputs[0]};
}

}  // namespace

std::function<std::pair<Tensor, Tensor>(const Tensor&)> grad_and_value(const UnaryFunction& f) {
  return [f](const Tensor& x) {
    auto [grads, value] = grad_and_value_on(as_function(f), {x}, {0});
    return std::pair<Tensor, Tensor>{grads[0], value};
  };
}

UnaryFunction grad(const UnaryFunction& f) {
  auto both = grad_and_value(f);
  return [both](const Tensor& x) { return both(x).first; };
}

Function grad(const Function& f, const std::vector<int64_t>& argnums) {
  return [f, argnums](const TensorList& primals) {
    return grad_and_value_on(f, primals, normalize_argnums(argnums, primals.size(), "grad")).first;
  };
}

UnaryFunction jacrev(const UnaryFunction& f, int64_t chunk_size) {
  check_chunk_size(chunk_size, "jacrev");
  return [f, chunk_size](const Tensor& x) { return jacrev(as_function(f), {x}, {0}, chunk_size)[0]; };
}

UnaryFunction jacfwd(const UnaryFunction& f, int64_t chunk_size) {
  check_chunk_size(chunk_size, "jacfwd");
  return [f, chunk_size](const Tensor& x) { return jacfwd(as_function(f), {x}, {0}, chunk_size)[0]; };
}

Tensor jacobian(const UnaryFunction& f, const Tensor& x) {
  DYDX_CHECK(x.defined(), "jacobian: x is undefined");
  check_differentiable({x}, {0}, "jacobian");
  // Inside vmap the output's size is a sample's, known only after a call: reverse mode.
  if (vmap::active()) return jacrev(f)(x);
  // The output size is only known after one evaluation; that evaluation then serves reverse mode.
  const bool caller_records = is_grad_enabled();
  AutoGradMode enable(true);
  ReverseInputs r = make_reverse_inputs({x}, {0});
  TensorList outputs = as_function(f)(r.inputs);
  check_outputs(outputs, "jacobian");
  detail::check_floating_outputs(outputs, "jacobian");
  const Tensor& out = outputs[0];
  if (x.numel() < out.numel()) {
    AutoGradMode restore(caller_records);
    return jacfwd(f)(x);
  }
  const bool outside = caller_records && reaches_outside(outputs, r.own);
  Tensor rows = jacobian_rows(out, r.wrt, forward::active() || outside, /*chunk_size=*/0, "jacobian")[0];
  rows = rows.reshape(concat(out.sizes(), x.sizes()));
  return release(rows, r.own, outside || (caller_records && forward::active()));
}

UnaryFunction hessian(const UnaryFunction& f) { return jacfwd(jacrev(f)); }

Function hessian(const Function& f, const std::vector<int64_t>& argnums) {
  Function second = jacfwd(jacrev(f, argnums), argnums);
  return [second, argnums](const TensorList& primals) {
    normalize_argnums(argnums, primals.size(), "hessian");  // named as the caller knows it
    return second(primals);
  };
}

}  // namespace dydx::func
