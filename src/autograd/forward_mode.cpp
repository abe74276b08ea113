// Forward mode: dual levels, tangent storage on tensors, and the generic propagation every op calls.
//
// Each tensor keeps a list of (level, tangent). Levels get increasing ids as they open, so an
// inner level has a larger id. An op's JVP rule runs once per open level L at which an input has
// a tangent; while it runs, only levels below L are visible, so the ops inside the rule carry
// the outer levels' tangents of the new tangent: forward-over-forward comes out of that.
//
// A forward-Laplacian level (func::laplacian's) is an ordinary level whose tangents are d + 1
// stacked ones, d directional derivatives and a Laplacian; propagate adds the op's curvature term
// to the last. The rules run as at any level, so it nests with the others both ways. A Taylor level
// (func::jet's) is one whose tangents are K stacked Taylor coefficients; propagate runs the op's
// Taylor rule there, or its JVP where that is the Taylor rule (linear ops).
//
// Levels belong to the thread that opened them: each thread keeps one list of level records, and
// everything forward mode knows about its levels is read from that list, so that threads without
// a level pay nothing. A tangent at a level this thread has not opened is never dropped silently:
// ops raise, and so does closing a level on another thread.
#include "autograd/forward_mode.hpp"
#include "vmap/batched.hpp"

#include <algorithm>
#include <exception>
#include <memory>
#include <vector>

#include "dydx/autograd.hpp"
#include "dydx/creation.hpp"
#include "core/tensor_factory.hpp"
#include "cpu/cpu_kernels.hpp"
#include "autograd/recorded_node.hpp"
#include "dydx/forward_ad.hpp"
#include "dydx/ops.hpp"
#include "dydx/small_vector.hpp"
#include "ops/batch_dims.hpp"
#include "ops/strided_region.hpp"
#include "ops/view_region.hpp"

namespace dydx::forward {

namespace detail {
thread_local int open_levels = 0;
thread_local int64_t rule_batch_dims = 0;
thread_local int64_t rule_taylor_order = 0;
std::atomic<int> levels_open_anywhere{0};
}

namespace {

// Everything one open dual level owns.
struct LevelRecord {
  uint32_t id;  // unique across threads; an inner level has a larger id
  // d at a forward-Laplacian level (make_laplacian_level), whose tangents are d + 1 stacked ones; -1 at others.
  int64_t laplacian_directions = -1;
  // d at a biharmonic level (make_biharmonic_level); -1 at others. The first op there without a rule
  // for its inputs, if any: its tangents stop there (see biharmonic_missing_rule).
  int64_t biharmonic_directions = -1;
  const char* biharmonic_missing = nullptr;
  // K at a Taylor level (make_taylor_level), whose tangents are K stacked Taylor coefficients; 0 at others.
  int64_t taylor_order = 0;
  // At a collapsed Taylor level (make_collapsed_taylor_level): the weights of its R directions in the
  // sum that replaces their K-th coefficients; undefined at others.
  Tensor collapse_weights;
  // Every tensor given a tangent at this level. Closing the level takes the tangents back, as
  // PyTorch does: a tangent's history often holds its own primal (the tangent of exp(x) is t * out),
  // so without this, primal -> tangent -> node -> primal would be a reference cycle.
  std::vector<std::weak_ptr<dydx::detail::TensorImpl>> holders;
};

// This thread's open levels, innermost last. Only open_level and close_level change it, and they
// keep detail::open_levels (its length, which active() reads) and levels_open_anywhere in step.
// Levels still open when their thread ends (their DualLevels destroyed on another thread, or never)
// stay open for good: levels_open_anywhere keeps counting them, as their tangents may live on in
// tensors that other threads must still refuse.
thread_local std::vector<LevelRecord> levels;

uint32_t open_level() {
  static std::atomic<uint32_t> next_id{1};
  const uint32_t id = next_id++;
  levels.emplace_back().id = id;
  detail::open_levels = static_cast<int>(levels.size());
  detail::levels_open_anywhere.fetch_add(1, std::memory_order_relaxed);
  return id;
}

LevelRecord* find_level(uint32_t id) {
  for (LevelRecord& record : levels)
    if (record.id == id) return &record;
  return nullptr;
}

bool is_open(uint32_t level) { return find_level(level) != nullptr; }

// Takes level id, which must be open on this thread, out of the list and returns its record.
LevelRecord close_level(uint32_t id) {
  auto it = std::find_if(levels.begin(), levels.end(), [id](const LevelRecord& r) { return r.id == id; });
  LevelRecord record = std::move(*it);
  levels.erase(it);
  detail::open_levels = static_cast<int>(levels.size());
  detail::levels_open_anywhere.fetch_sub(1, std::memory_order_relaxed);
  return record;
}

// The ids of the open levels, outer first: a snapshot, since the rules that run for one level may
// open and close levels of their own.
SmallVector<uint32_t, 4> open_level_ids() {
  SmallVector<uint32_t, 4> ids;
  for (const LevelRecord& record : levels) ids.push_back(record.id);
  return ids;
}

// The number of directions d if level is a forward-Laplacian level, else -1.
int64_t laplacian_directions(uint32_t level) {
  const LevelRecord* record = find_level(level);
  return record ? record->laplacian_directions : -1;
}

// The number of directions d if level is a biharmonic level, else -1.
int64_t biharmonic_directions(uint32_t level) {
  const LevelRecord* record = find_level(level);
  return record ? record->biharmonic_directions : -1;
}

// The order K if level is a Taylor level, else 0.
int64_t level_taylor_order(uint32_t level) {
  const LevelRecord* record = find_level(level);
  return record ? record->taylor_order : 0;
}

// The collapse weights if level is a collapsed Taylor level, else undefined.
Tensor level_collapse_weights(uint32_t level) {
  const LevelRecord* record = find_level(level);
  return record ? record->collapse_weights : Tensor();
}

[[noreturn]] void raise_foreign_level(uint32_t level) {
  DYDX_CHECK(false, "forward AD: a dual tensor with a tangent at dual level ", level,
             " is used on a thread where that level is not open. A dual level belongs to the thread that "
             "opened it, and ops on other threads would drop its tangents: compute with dual tensors on that "
             "thread, or open a forward_ad::DualLevel on this one and make the dual there");
  __builtin_unreachable();
}

thread_local uint32_t visible_below = UINT32_MAX;  // levels >= this are hidden

// While the rule for level runs: level and every level inside it are hidden, and batch_dims()
// says how many batch dims the rule's tangents carry.
class RuleScope {
 public:
  RuleScope(uint32_t level, int64_t batch_dims, int64_t taylor_order = 0)
      : previous_visible_below_(visible_below),
        previous_batch_dims_(detail::rule_batch_dims),
        previous_taylor_order_(detail::rule_taylor_order) {
    visible_below = std::min(visible_below, level);
    detail::rule_batch_dims = batch_dims;
    detail::rule_taylor_order = taylor_order;
  }
  ~RuleScope() {
    visible_below = previous_visible_below_;
    detail::rule_batch_dims = previous_batch_dims_;
    detail::rule_taylor_order = previous_taylor_order_;
  }
  RuleScope(const RuleScope&) = delete;
  RuleScope& operator=(const RuleScope&) = delete;

 private:
  uint32_t previous_visible_below_;
  int64_t previous_batch_dims_;
  int64_t previous_taylor_order_;
};

}  // namespace

namespace {
// A base's tangent is dense in the base's shape; these say where the base's and a view's elements
// lie in memory, relative to the base's first element, to match them up by location.
dydx::detail::Strided base_layout(const Tensor& base) { return {base.sizes(), base.strides(), 0}; }
dydx::detail::Strided view_region_of(const dydx::detail::TensorImpl& view, const Tensor& base) {
  return {view.sizes, view.strides, view.offset - base.storage_offset()};
}

Tensor own_tangent(const dydx::detail::TensorImpl& impl, uint32_t level) {
  for (const auto& [l, tangent] : impl.tangents)
    if (l == level) return Tensor(tangent);
  return {};
}

// After an in-place write to a base, its tangent is a new tensor; a view made before the write
// takes its tangent from it again, as reverse mode takes the view's history from the new base.
void refresh_view_tangents(const Tensor& t) {
  auto& impl = *t.impl();
  if (!impl.base) return;
  const uint32_t version = impl.storage->version.load();
  if (impl.tangent_version == version) return;
  impl.tangent_version = version;
  Tensor base(impl.base);
  for (uint32_t level : open_level_ids()) {
    if (level >= visible_below) continue;
    Tensor base_t = own_tangent(*base.impl(), level);
    if (!base_t.defined()) continue;
    const int64_t nb = base_t.dim() - base.dim();
    RuleScope scope(level, nb);
    set_tangent(t, level, dydx::detail::gather_strided(base_t, nb, base_layout(base), view_region_of(impl, base)));
  }
}
}  // namespace

Tensor tangent_of(const Tensor& t, uint32_t level) {
  if (!t.defined()) return {};
  if (active()) refresh_view_tangents(t);
  for (const auto& [l, tangent] : t.impl()->tangents)
    if (l == level) return Tensor(tangent);
  return {};
}

void set_tangent(const Tensor& t, uint32_t level, const Tensor& tangent) {
  auto& list = t.impl()->tangents;
  std::erase_if(list, [level](const auto& entry) { return entry.first == level || !is_open(entry.first); });
  LevelRecord* record = find_level(level);
  if (!tangent.defined() || !record) return;
  list.emplace_back(level, tangent.impl());
  record->holders.push_back(t.impl());
}

void copy_tangents(const Tensor& from, const Tensor& to) {
  for (const auto& [level, tangent] : from.impl()->tangents)
    if (is_open(level)) set_tangent(to, level, Tensor(tangent));
}

bool has_tangent(const Tensor& t) {
  if (!active() || !t.defined()) return false;
  refresh_view_tangents(t);
  for (const auto& [l, tangent] : t.impl()->tangents)
    if (l < visible_below && is_open(l)) return true;
  return false;
}

void detail::check_no_foreign_tangents(const Tensor* const* inputs, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    if (!inputs[i]->defined()) continue;
    for (const auto& entry : inputs[i]->impl()->tangents)
      if (!is_open(entry.first)) raise_foreign_level(entry.first);
  }
}

bool carries_derivatives(const Tensor& t) { return (is_grad_enabled() && t.requires_grad()) || has_tangent(t); }

namespace {
// Adds the curvature term to the Laplacian, the last of the d + 1 tangents. A tangent that the
// rule just made, that nothing else holds and that carries no derivatives takes it in place,
// which saves copying the d directional derivatives.
Tensor add_to_laplacian(const Tensor& tangent, const Tensor& second, int64_t d) {
  const auto& impl = tangent.impl();
  const bool fresh = impl.use_count() == 1 && impl->storage.use_count() == 1 && !impl->base && tangent.is_contiguous();
  if (fresh && !carries_derivatives(tangent) && !carries_derivatives(second)) {
    Tensor laplacian = tangent.select(0, d);
    cpu::dispatch_floating(tangent.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu::map2<T>(laplacian, laplacian, second.expand(laplacian.sizes()), [](T l, T s) { return l + s; });
    });
    return tangent;
  }
  return cat({tangent.narrow(0, 0, d), (tangent.select(0, d) + second).unsqueeze(0)});
}
}  // namespace

namespace {

// An op's step at a collapsed Taylor level of order K with R directions, whose tangents are
// [(K - 1) R + 1, batch..., shape]: coefficients 1..K-1 for each direction (coefficient-major), then
// the weighted sum over directions of the K-th. A Taylor rule's K-th coefficient is the JVP of the
// inputs' K-th plus terms in the lower ones only, y_K = J x_K + N(x_1..x_(K-1)); so the rule runs on
// the lower coefficients with a zero K-th (giving each direction's N), the weighted sum of those
// joins J applied to the collapsed K-th, and the lower coefficients come out as the rule gives them.
Tensor propagate_collapsed(const TensorList& t, const Tensor& out, const detail::Rule& jvp, const detail::Rule& taylor,
                           const Tensor& weights, int64_t order, uint32_t level, int64_t nb) {
  const int64_t directions = weights.size(0), lower = (order - 1) * directions;
  TensorList padded(t.size()), top(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    if (!t[i].defined()) continue;
    Dims shape = {order - 1, directions};
    for (int64_t d = 1; d < t[i].dim(); ++d) shape.push_back(t[i].size(d));
    const Tensor per_direction = t[i].narrow(0, 0, lower).reshape(shape);
    shape[0] = 1;
    padded[i] = cat({per_direction, zeros(shape, per_direction.dtype())});
    top[i] = t[i].select(0, lower);
  }
  Tensor rule_out, from_top;
  {
    RuleScope scope(level, nb + 1, order);
    rule_out = taylor(padded);
  }
  {
    RuleScope scope(level, nb - 1);
    from_top = jvp(top);
  }
  if (!rule_out.defined() && !from_top.defined()) return {};
  // The output's shape after the stack dim: the inputs' batch dims, then out's.
  const int64_t extra = nb - 1;
  Dims rest;
  for (const Tensor& ti : t)
    if (ti.defined()) {
      for (int64_t d = 1; d < nb; ++d) rest.push_back(ti.size(d));
      break;
    }
  for (int64_t s : out.sizes()) rest.push_back(s);
  Tensor lower_out, summed;
  if (rule_out.defined()) {
    Dims full = {order, directions};
    for (int64_t s : rest) full.push_back(s);
    const Tensor y = dydx::detail::align_to_rank(rule_out, 2 + extra, out.dim()).expand(full);
    Dims flat = {lower};
    for (int64_t s : rest) flat.push_back(s);
    lower_out = y.narrow(0, 0, order - 1).reshape(flat);
    Dims w_shape = {directions};
    for (size_t d = 0; d < rest.size(); ++d) w_shape.push_back(1);
    summed = (y.select(0, order - 1) * weights.to(y.dtype()).reshape(w_shape)).sum({0});
  }
  if (from_top.defined()) {
    if (from_top.dtype() != out.dtype()) from_top = from_top.to(out.dtype());
    from_top = dydx::detail::align_to_rank(from_top, extra, out.dim()).expand(rest);
    summed = summed.defined() ? summed + from_top : from_top;
  }
  if (!lower_out.defined()) {
    Dims flat = {lower};
    for (int64_t s : rest) flat.push_back(s);
    lower_out = zeros(flat, out.dtype());
  }
  Tensor result = cat({lower_out, summed.unsqueeze(0)});
  return result.dtype() == out.dtype() ? result : result.to(out.dtype());
}

}  // namespace

void detail::propagate(const Tensor* const* inputs, size_t count, const Tensor& out, const Rules& rules,
                       bool broadcasting) {
  const Rule& jvp = rules.jvp;
  const Rule* curvature = rules.curvature;
  const FusedRule* fused = rules.fused;
  check_no_foreign_tangents(inputs, count);
  // Outer levels first: a level's rule reads the output's outer tangents through the ops it runs.
  for (uint32_t level : open_level_ids()) {
    if (level >= visible_below) continue;
    TensorList t(count);
    int64_t nb = -1;
    for (size_t i = 0; i < count; ++i) {
      t[i] = tangent_of(*inputs[i], level);
      if (t[i].defined() && nb < 0) nb = t[i].dim() - inputs[i]->dim();
    }
    if (nb < 0) continue;
    if (broadcasting)
      for (Tensor& ti : t)
        if (ti.defined()) ti = dydx::detail::align_to_rank(ti, nb, out.dim());
    const int64_t order = level_taylor_order(level);
    RuleScope scope(level, nb, order);
    if (order > 0 && !rules.jvp_is_taylor) {
      DYDX_CHECK(rules.taylor != nullptr, "jet: ", rules.op, " has no Taylor rule yet, so func::jet cannot carry "
                 "Taylor coefficients through it (src/ops/README.md lists the ops that have one)");
      const Tensor weights = level_collapse_weights(level);
      if (weights.defined()) {
        const Tensor collapsed = propagate_collapsed(t, out, jvp, *rules.taylor, weights, order, level, nb);
        if (collapsed.defined()) set_tangent(out, level, collapsed);
        continue;
      }
      Tensor coefficients = (*rules.taylor)(t);
      if (!coefficients.defined()) continue;
      if (coefficients.dtype() != out.dtype()) coefficients = coefficients.to(out.dtype());
      Dims shape(coefficients.sizes().begin(), coefficients.sizes().begin() + nb);
      for (int64_t s : out.sizes()) shape.push_back(s);
      if (!(coefficients.sizes() == IntArrayRef(shape)))
        coefficients = dydx::detail::align_to_rank(coefficients, nb, out.dim()).expand(shape);
      set_tangent(out, level, coefficients);
      continue;
    }
    if (const int64_t directions = curvature ? biharmonic_directions(level) : -1; directions >= 0) {
      // An op with a second derivative needs its biharmonic rule, which may decline for some inputs
      // (atan2 and hypot have none; mul and div have one). Declining is noted, not thrown: f runs
      // on undisturbed (its own try blocks never see it), and the caller reads the note after.
      Tensor stack = rules.biharmonic ? (*rules.biharmonic)(t, directions) : Tensor();
      if (!stack.defined()) {
        if (LevelRecord* record = find_level(level); record && !record->biharmonic_missing) record->biharmonic_missing = rules.op;
        continue;
      }
      if (stack.dtype() != out.dtype()) stack = stack.to(out.dtype());
      Dims shape{biharmonic_slices(directions)};
      for (int64_t s : out.sizes()) shape.push_back(s);
      if (!(stack.sizes() == IntArrayRef(shape))) stack = dydx::detail::align_to_rank(stack, 1, out.dim()).expand(shape);
      set_tangent(out, level, stack);
      continue;
    }
    const int64_t d = laplacian_directions(level);
    if (d >= 0 && fused) {
      Tensor together = (*fused)(t, d);
      if (together.defined()) {
        set_tangent(out, level, together);
        continue;
      }
    }
    Tensor tangent = jvp(t);
    Dims shape;
    auto normalise = [&] {
      if (tangent.dtype() != out.dtype()) tangent = tangent.to(out.dtype());
      shape.assign(tangent.sizes().begin(), tangent.sizes().begin() + std::min<int64_t>(nb, tangent.dim()));
      for (int64_t s : out.sizes()) shape.push_back(s);
      if (!(tangent.sizes() == IntArrayRef(shape))) tangent = dydx::detail::align_to_rank(tangent, nb, out.dim()).expand(shape);
    };
    if (tangent.defined()) normalise();
    if (d >= 0 && curvature) {
      TensorList g(count);
      for (size_t i = 0; i < count; ++i)
        if (t[i].defined()) g[i] = t[i].narrow(0, 0, d);
      Tensor second = (*curvature)(g);
      if (second.defined()) {
        if (second.dtype() != out.dtype()) second = second.to(out.dtype());
        if (!tangent.defined()) {
          Dims full{d + 1};
          for (int64_t s : out.sizes()) full.push_back(s);
          tangent = zeros(full, out.dtype());
        }
        tangent = add_to_laplacian(tangent, second, d);
      }
    }
    if (!tangent.defined()) continue;
    set_tangent(out, level, tangent);
  }
  // Ops record their node before their tangent, so that the tangent's own history includes out's;
  // an output the node saved for backward gets the tangents now (forward-over-reverse reads them).
  if (const auto& node = out.impl()->grad_fn)
    for (auto& saved : autograd::recorded(*node).saved_values)
      if (saved.is_output && saved.data.impl()->storage == out.impl()->storage) copy_tangents(out, saved.data);
}

void make_laplacian_level(uint32_t level, int64_t directions) {
  DYDX_CHECK(!levels.empty() && levels.back().id == level, "make_laplacian_level: level ", level,
             " is not the innermost open level");
  DYDX_CHECK(directions >= 0, "make_laplacian_level: expected a number of directions >= 0, got ", directions);
  levels.back().laplacian_directions = directions;
}

void make_biharmonic_level(uint32_t level, int64_t directions) {
  DYDX_CHECK(!levels.empty() && levels.back().id == level, "make_biharmonic_level: level ", level,
             " is not the innermost open level");
  DYDX_CHECK(directions >= 0, "make_biharmonic_level: expected a number of directions >= 0, got ", directions);
  levels.back().biharmonic_directions = directions;
}

const char* biharmonic_missing_rule(uint32_t level) {
  const LevelRecord* record = find_level(level);
  return record ? record->biharmonic_missing : nullptr;
}

void make_taylor_level(uint32_t level, int64_t order) {
  DYDX_CHECK(!levels.empty() && levels.back().id == level, "make_taylor_level: level ", level,
             " is not the innermost open level");
  DYDX_CHECK(order >= 1, "make_taylor_level: expected an order >= 1, got ", order);
  levels.back().taylor_order = order;
}

void make_collapsed_taylor_level(uint32_t level, int64_t order, const Tensor& weights) {
  make_taylor_level(level, order);
  DYDX_CHECK(order >= 2, "make_collapsed_taylor_level: expected an order >= 2, got ", order);
  DYDX_CHECK(weights.defined() && weights.dim() == 1 && weights.is_floating_point(),
             "make_collapsed_taylor_level: expected floating weights of shape [R], got ",
             weights.defined() ? weights.sizes() : IntArrayRef{});
  levels.back().collapse_weights = weights.detach();
}

Tensor make_batched_dual(const Tensor& primal, const Tensor& tangents) {
  DYDX_CHECK(!levels.empty(), "make_dual: no dual level is open");
  const int64_t batch = tangents.dim() - primal.dim();
  DYDX_CHECK(batch >= 1 && IntArrayRef(tangents.sizes().data() + batch, primal.dim()) == primal.sizes(),
             "make_dual: a batch of tangents for a primal of shape ", primal.sizes(), " must have shape [N, ...] + ",
             primal.sizes(), ", got ", tangents.sizes());
  DYDX_CHECK(primal.is_floating_point(), "make_dual: expected a floating point primal, got ", primal.dtype());
  Tensor dual = primal.view(primal.sizes());
  dual.impl()->base = nullptr;  // as in make_dual
  set_tangent(dual, levels.back().id, tangents.dtype() == primal.dtype() ? tangents : tangents.to(primal.dtype()));
  return dual;
}

void commit_inplace(const Tensor& self, const Tensor& result) {
  auto& impl = *self.impl();
  for (uint32_t level : open_level_ids()) {
    if (level >= visible_below) continue;
    Tensor t = tangent_of(result, level);
    const bool had = tangent_of(self, level).defined();
    if (!t.defined() && !had) continue;
    const Tensor& any_tangent = t.defined() ? t : tangent_of(self, level);
    const int64_t nb = any_tangent.dim() - self.dim();
    RuleScope scope(level, nb);
    Dims batch(any_tangent.sizes().begin(), any_tangent.sizes().begin() + nb);
    auto batched_shape = [&](IntArrayRef shape) {
      Dims full = batch;
      for (int64_t s : shape) full.push_back(s);
      return full;
    };
    if (!t.defined()) t = zeros(batched_shape(self.sizes()), self.dtype());
    if (!impl.base) {
      set_tangent(self, level, t.clone());
      continue;
    }
    // A view's tangent is a view of its base's tangent, so the write lands in the base's tangent too.
    Tensor base(impl.base);
    Tensor base_t = tangent_of(base, level);
    // The write goes into a fresh copy of the base's tangent: that tangent is often shared (the
    // caller's own tangent, or an input's passed on by add), and the copy is dense, so it has the
    // base's layout, and is never a leaf, so the write can be recorded for reverse-over-forward.
    if (!base_t.defined()) base_t = zeros(batched_shape(base.sizes()), base.dtype());
    const auto layout = base_layout(base), region = view_region_of(impl, base);
    if (dydx::detail::is_plain(layout, region)) {
      base_t = base_t.clone();
      Tensor view_t = dydx::detail::view_region(base_t, nb, region.sizes, region.strides, region.offset);
      view_t.copy_(t);
      set_tangent(base, level, base_t);
      set_tangent(self, level, view_t);
    } else {
      // The region is no strided view of the dense tangent; the write is composed out of place.
      base_t = base_t * dydx::detail::outside_region(layout, region, base.dtype()) +
               dydx::detail::scatter_strided(t, nb, layout, region);
      set_tangent(base, level, base_t);
      set_tangent(self, level, dydx::detail::gather_strided(base_t, nb, layout, region));
    }
    impl.tangent_version = impl.storage->version.load();
  }
}

}  // namespace dydx::forward

namespace dydx::forward_ad {

DualLevel::DualLevel() : level_(forward::open_level()) {}

// A level is closed only on its own thread, which alone may change that thread's list. Destroyed
// on another thread, the DualLevel raises before touching anything: the level stays open on its
// own thread (and counted in levels_open_anywhere, so its tangents are still refused elsewhere),
// for good, since nothing can close it any more. This thread's levels are not touched (closing
// them here broke forward mode on this thread for good).
DualLevel::~DualLevel() noexcept(false) {
  if (!forward::is_open(level_)) {
    if (std::uncaught_exceptions() > 0) return;  // a second exception would terminate
    DYDX_CHECK(false, "DualLevel: dual level ", level_,
               " is being closed on a thread other than the one that opened it. A dual level belongs to "
               "its thread and must be closed there; it stays open on its own thread");
  }
  const forward::LevelRecord closed = forward::close_level(level_);
  // Dropping tangents can free tensors whose own tangents are in the list; take each one out first.
  for (const auto& weak : closed.holders)
    if (auto impl = weak.lock()) {
      std::vector<std::pair<uint32_t, std::shared_ptr<detail::TensorImpl>>> dropped;
      auto& list = impl->tangents;
      for (auto it = list.begin(); it != list.end();)
        if (it->first == level_) {
          dropped.push_back(std::move(*it));
          it = list.erase(it);
        } else {
          ++it;
        }
    }
}

namespace {
uint32_t innermost(const char* op) {
  DYDX_CHECK(!forward::levels.empty(), op, ": no dual level is open (create a forward_ad::DualLevel first)");
  return forward::levels.back().id;
}
}  // namespace

Tensor make_dual(const Tensor& primal, const Tensor& tangent) { return make_dual(primal, tangent, innermost("make_dual")); }

Tensor make_dual(const Tensor& primal, const Tensor& tangent, uint32_t level) {
  DYDX_CHECK(forward::is_open(level), "make_dual: dual level ", level, " is not open");
  DYDX_CHECK(forward::laplacian_directions(level) < 0, "make_dual: dual level ", level,
             " belongs to func::laplacian; open a forward_ad::DualLevel inside f for tangents of your own");
  DYDX_CHECK(forward::level_taylor_order(level) == 0, "make_dual: dual level ", level,
             " belongs to func::jet; open a forward_ad::DualLevel inside f for tangents of your own");
  DYDX_CHECK(forward::biharmonic_directions(level) < 0, "make_dual: dual level ", level,
             " belongs to func::biharmonic; open a forward_ad::DualLevel inside f for tangents of your own");
  DYDX_CHECK(primal.defined() && tangent.defined(), "make_dual: primal and tangent must be defined");
  DYDX_CHECK(primal.is_floating_point(), "make_dual: expected a floating point primal, got ", primal.dtype());
  DYDX_CHECK(primal.sizes() == tangent.sizes(), "make_dual: expected tangent of shape ", primal.sizes(),
             " (the primal's) but got ", tangent.sizes());
  DYDX_CHECK(!forward::tangent_of(primal, level).defined(), "make_dual: the primal already has a tangent at level ",
             level, "; unpack it first");
  if (vmap::takes_rule({&primal, &tangent})) [[unlikely]] {
    // The dual of the batches: a tangent lives on the tensor that ops compute with.
    const uint32_t batch_level = vmap::top_level({&primal, &tangent});
    const int64_t size = vmap::level_info(batch_level).size;
    return vmap::wrap(make_dual(vmap::batch_first_expanded(vmap::unwrap(primal, batch_level), size),
                                vmap::batch_first_expanded(vmap::unwrap(tangent, batch_level), size), level),
                      0, batch_level);
  }
  // An alias, so gradients flow back to primal and its other levels' tangents carry over. It is its
  // own base: writes through its views update its tangent, never the caller's primal's.
  Tensor dual = primal.view(primal.sizes());
  dual.impl()->base = nullptr;
  forward::set_tangent(dual, level, tangent.dtype() == primal.dtype() ? tangent : tangent.to(primal.dtype()));
  return dual;
}

UnpackedDual unpack_dual(const Tensor& t) { return unpack_dual(t, innermost("unpack_dual")); }

UnpackedDual unpack_dual(const Tensor& t, uint32_t level) {
  DYDX_CHECK(t.defined(), "unpack_dual: the tensor is undefined");
  if (const auto* b = vmap::batched(t)) [[unlikely]] {
    UnpackedDual batch = unpack_dual(b->value, level);
    if (!batch.tangent.defined()) return {vmap::wrap(batch.primal, b->bdim, b->level), {}};
    // A batched tangent (jacfwd's) has its directions in front of the value's dims.
    const int64_t directions = batch.tangent.dim() - b->value.dim();
    return {vmap::wrap(batch.primal, b->bdim, b->level), vmap::wrap(batch.tangent, b->bdim + directions, b->level)};
  }
  if (!forward::is_open(level))
    for (const auto& entry : t.impl()->tangents)
      if (entry.first == level) forward::raise_foreign_level(level);
  Tensor tangent = forward::tangent_of(t, level);
  if (!tangent.defined()) return {t, {}};
  Tensor primal = t.view(t.sizes());
  forward::set_tangent(primal, level, Tensor());
  return {primal, tangent};
}

}  // namespace dydx::forward_ad
