// The plan of a recording, and the program that runs it.
#include "compile/plan.hpp"

#include <algorithm>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "core/tensor_factory.hpp"
#include "dydx/autograd.hpp"
#include "cpu/cpu_blas.hpp"
#include "cpu/cpu_kernels.hpp"
#include "cpu/parallel.hpp"
#include "cpu/scratch.hpp"

namespace dydx::compile {

namespace {

/// Elements per tile of a fused pass: a few tiles of floats or doubles stay in L1/L2 while every op
/// of the pass runs over them.
constexpr int64_t kTile = 1024;
/// Elements of a product's block of rows: enough rows that each block's product runs near the
/// BLAS's speed, few enough that the block stays in L2 for the epilogue.
constexpr int64_t kProductBlock = 8192;
/// The largest right-hand matrix a fused product of several blocks takes: every block of rows reads
/// all of it (packed again), which stays cheap only while it stays in L2. relu(linear(x, W, b)) for x
/// [128, 784] and W [256, 784] (800 KB, four blocks) took 248-255 us fused against 208 us eager, and
/// 207 us unfused (bench_compile_products).
constexpr int64_t kProductRhsBytes = int64_t{256} << 10;

/// How a fused pass reads a value.
enum class SlotKind : uint8_t {
  full,      // an outside value of the pass's shape, contiguous: read in place
  scalar,    // an outside value of one element, broadcast
  periodic,  // an outside contiguous value broadcast over leading dims: element i is p[i % period]
  internal,  // computed by the pass: into the result's memory when stored, else into a tile buffer
  uniform,   // computed by the pass once, from scalars alone, and broadcast as a scalar is
  product,   // the fused product's block
};

/// Whether a pass reads the slot's value from outside it.
bool read_from_outside(SlotKind kind) {
  return kind == SlotKind::full || kind == SlotKind::scalar || kind == SlotKind::periodic;
}

struct Slot {
  SlotKind kind;
  int32_t value;       // the value id it holds
  int64_t period = 0;  // periodic
  bool stored = false;  // internal: written into a result tensor
};

struct FusedOp {
  const Elementwise* kernel;
  int a, b, y;  // slots; b = -1 for a unary op
};

/// One fused pass: elementwise ops over values of one shape and floating dtype, optionally after a
/// product computed block by block.
struct Pass {
  ScalarType dtype;
  Dims shape;
  int64_t numel = 0;
  std::vector<Slot> slots;
  std::vector<FusedOp> ops;
  // Ops of scalars alone (a mean's gradient, g / n), run once per call on one element each, before
  // `ops`: over a tile they would compute the same value a thousand times.
  std::vector<FusedOp> uniform_ops;
  const Step* product = nullptr;  // its out is the slot of kind `product`
};

struct Instruction {
  enum Kind : uint8_t { step, pass } kind;
  size_t index;
};

bool is_contiguous(const Dims& sizes, const Dims& strides) {
  int64_t expected = 1;
  for (size_t d = sizes.size(); d-- > 0;) {
    if (sizes[d] == 1) continue;
    if (strides[d] != expected) return false;
    expected *= sizes[d];
  }
  return true;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  const Tensor x = a.contiguous(), y = b.contiguous();
  return x.numel() == y.numel() &&
         std::memcmp(x.impl()->data_bytes(), y.impl()->data_bytes(), static_cast<size_t>(x.numel()) * element_size(x.dtype())) == 0;
}

int64_t numel_of(const Dims& sizes) {
  int64_t n = 1;
  for (int64_t s : sizes) n *= s;
  return n;
}

}  // namespace

struct Program {
  Tape tape;
  std::vector<Instruction> code;
  std::vector<Pass> passes;
  std::vector<std::vector<int32_t>> release_after;  // per instruction: values no later instruction reads
  std::vector<bool> is_output;
  // The constants an output is or views: copied at every call, so that each call's outputs are new
  // tensors (as f's are) and no write into one reaches the recording's constant or a later call.
  std::vector<int32_t> fresh_constants;
};

namespace {

class Planner {
 public:
  Planner(Program& p, PlanStats& stats) : p_(p), tape_(p.tape), stats_(stats) {}

  std::string make() {
    if (std::string why = mark_live(); !why.empty()) return why;
    for (size_t i = 0; i < tape_.steps.size(); ++i)
      if (live_step_[i]) place(i);
    close_pass();
    fuse_products();
    plan_releases();
    return {};
  }

 private:
  /// Marks the steps an output needs, and says why the tape cannot be replayed if one of them cannot.
  std::string mark_live() {
    const std::string unexplained =
        " reads a value made inside f by code the recording does not see (an op without a record: a raw "
        "kernel, bitwise ops, nonzero; or memory from from_blob)";
    const size_t nv = tape_.values.size();
    producer_.assign(nv, -1);
    for (size_t i = 0; i < tape_.steps.size(); ++i) producer_[tape_.steps[i].out] = static_cast<int32_t>(i);
    std::vector<bool> needed(nv, false);
    for (int32_t id : tape_.outputs)
      if (id >= 0) needed[id] = true;
    live_step_.assign(tape_.steps.size(), false);
    for (size_t i = tape_.steps.size(); i-- > 0;) {
      Step& s = tape_.steps[i];
      // Every draw and every check runs, read or not: the generator moves at each call as f moves it,
      // and a call raises where f raises. A check whose value nothing reads runs its check alone.
      if (!needed[s.out] && !s.rules.draws && !s.rules.checks) continue;
      if (!needed[s.out] && s.rules.checks && s.rules.check_only)
        s.rules.replay = [check = s.rules.check_only](const TensorList& in) {
          check(in);
          return empty({0});
        };
      live_step_[i] = true;
      if (!s.is_view && !s.rules.replay) return std::string(s.op) + " has no replay rule yet";
      for (int32_t a : s.args) {
        if (a < 0) continue;
        needed[a] = true;
        if (tape_.values[a].source == Source::unexplained) return std::string(s.op) + unexplained;
      }
    }
    for (int32_t id : tape_.outputs)
      if (id >= 0 && tape_.values[id].source == Source::unexplained) return "an output of f" + unexplained;
    for (const auto& [id, copy] : tape_.constant_copies)
      if (needed[id] && !same_bytes(tape_.held[id], copy))
        return "a tensor f made from no values (zeros, empty, a scalar) was written after it was made";
    // The replay reads the copies: the constants themselves go to the recording call's caller (as
    // outputs or views of them), who may write into them.
    // (A constant f keeps beyond the call is captured instead: the tensor itself is read.)
    for (const auto& [id, copy] : tape_.constant_copies)
      if (tape_.values[id].source == Source::constant) tape_.held[id] = copy;
    uses_.assign(nv, 0);
    for (size_t i = 0; i < tape_.steps.size(); ++i)
      if (live_step_[i])
        for (int32_t a : tape_.steps[i].args)
          if (a >= 0) ++uses_[a];
    p_.is_output.assign(nv, false);
    for (int32_t id : tape_.outputs)
      if (id >= 0) p_.is_output[id] = true;
    stats_.steps = std::count(live_step_.begin(), live_step_.end(), true);
    for (int32_t id : tape_.outputs) {
      while (id >= 0 && producer_[id] >= 0 && tape_.steps[producer_[id]].is_view) id = tape_.steps[producer_[id]].args[0];
      if (id >= 0 && tape_.values[id].source == Source::constant &&
          std::find(p_.fresh_constants.begin(), p_.fresh_constants.end(), id) == p_.fresh_constants.end())
        p_.fresh_constants.push_back(id);
    }
    return {};
  }

  /// Whether sizes broadcast to shape (aligned at the last dim).
  static bool broadcasts_to(const Dims& sizes, const Dims& shape) {
    const size_t lead = shape.size() - sizes.size();
    for (size_t d = 0; d < sizes.size(); ++d)
      if (sizes[d] != 1 && sizes[d] != shape[lead + d]) return false;
    return true;
  }

  /// How a pass of this shape and dtype reads value v from outside, if it can.
  std::optional<Slot> outside_slot(int32_t v, const Dims& shape, ScalarType dtype) const {
    const ValueInfo& info = tape_.values[v];
    if (info.dtype != dtype) return std::nullopt;
    const int64_t n = numel_of(info.sizes);
    if (n == 1 && info.sizes.size() <= shape.size()) return Slot{SlotKind::scalar, v};
    // One element expanded (a backward pass's seed, the gradient of a sum or a mean): read as one.
    if (n > 0 && info.sizes.size() <= shape.size() &&
        std::ranges::all_of(info.strides, [](int64_t s) { return s == 0; }) && broadcasts_to(info.sizes, shape))
      return Slot{SlotKind::scalar, v};
    if (!is_contiguous(info.sizes, info.strides) || info.sizes.size() > shape.size()) return std::nullopt;
    if (info.sizes == shape) return Slot{SlotKind::full, v};
    // Broadcast over leading dims only: the value's dims, past leading ones, are the shape's last dims.
    const size_t lead = shape.size() - info.sizes.size();
    size_t first = 0;
    while (first < info.sizes.size() && info.sizes[first] == 1) ++first;
    for (size_t d = first; d < info.sizes.size(); ++d)
      if (info.sizes[d] != shape[lead + d]) return std::nullopt;
    return Slot{SlotKind::periodic, v, n};
  }

  bool fusable(const Step& s) const {
    if (s.is_view || s.rules.elementwise.arity == 0 || static_cast<int>(s.args.size()) != s.rules.elementwise.arity)
      return false;
    const ValueInfo& out = tape_.values[s.out];
    if ((out.dtype != kFloat32 && out.dtype != kFloat64) || !out.contiguous) return false;
    for (int32_t a : s.args)
      if (a < 0 || tape_.values[a].dtype != out.dtype) return false;
    return true;
  }

  int slot_for(Pass& pass, int32_t v) {
    if (const auto it = slot_of_.find(v); it != slot_of_.end()) return it->second;
    const std::optional<Slot> slot = outside_slot(v, pass.shape, pass.dtype);
    if (!slot) return -1;
    pass.slots.push_back(*slot);
    const int index = static_cast<int>(pass.slots.size()) - 1;
    slot_of_.emplace(v, index);
    return index;
  }

  /// Adds step i to the open pass if it can join it, else closes that pass; then places the step.
  void place(size_t i) {
    const Step& s = tape_.steps[i];
    const ValueInfo& out = tape_.values[s.out];
    if (fusable(s)) {
      if (open_ && (open_->dtype != out.dtype || !(open_->shape == out.sizes) || !try_join(*open_, s))) close_pass();
      if (!open_) {
        open_ = Pass{out.dtype, out.sizes, numel_of(out.sizes), {}, {}, {}, nullptr};
        slot_of_.clear();
        if (!try_join(*open_, s)) {
          open_.reset();
          emit_step(i);
        }
      }
      return;
    }
    // A step that reads what the open pass computes needs it in memory first.
    if (open_)
      for (int32_t a : s.args)
        if (a >= 0 && internal_.contains(a)) {
          close_pass();
          break;
        }
    emit_step(i);
  }

  bool try_join(Pass& pass, const Step& s) {
    const size_t slots_before = pass.slots.size();
    int in[2] = {-1, -1};
    for (size_t k = 0; k < s.args.size(); ++k) {
      in[k] = slot_for(pass, s.args[k]);
      if (in[k] < 0) {
        // Forget the outside slots this attempt added.
        for (size_t j = slots_before; j < pass.slots.size(); ++j) slot_of_.erase(pass.slots[j].value);
        pass.slots.resize(slots_before);
        return false;
      }
    }
    pass.slots.push_back(Slot{SlotKind::internal, s.out});
    const int y = static_cast<int>(pass.slots.size()) - 1;
    slot_of_.emplace(s.out, y);
    internal_.insert(s.out);
    pass.ops.push_back(FusedOp{&s.rules.elementwise, in[0], in[1], y});
    return true;
  }

  void emit_step(size_t i) { p_.code.push_back({Instruction::step, i}); }

  void close_pass() {
    if (!open_) return;
    p_.passes.push_back(std::move(*open_));
    p_.code.push_back({Instruction::pass, p_.passes.size() - 1});
    open_.reset();
    internal_.clear();
    slot_of_.clear();
  }

  /// Which computed values of each pass go to memory: those read after it, and outputs.
  void mark_stored() {
    for (Pass& pass : p_.passes) {
      std::unordered_map<int32_t, int> inside_uses;
      for (const FusedOp& op : pass.ops)
        for (int s : {op.a, op.b})
          if (s >= 0) ++inside_uses[pass.slots[s].value];
      for (Slot& slot : pass.slots)
        if (slot.kind == SlotKind::internal)
          slot.stored = p_.is_output[slot.value] || uses_[slot.value] > inside_uses[slot.value];
    }
  }

  /// A product whose only reader is one pass of its shape is computed by that pass, a block of rows
  /// at a time.
  void fuse_products() {
    std::vector<size_t> position(tape_.steps.size(), SIZE_MAX);  // of each step's instruction
    for (size_t k = 0; k < p_.code.size(); ++k)
      if (p_.code[k].kind == Instruction::step) position[p_.code[k].index] = k;
    std::vector<bool> drop(p_.code.size(), false);
    for (Pass& pass : p_.passes) {
      if (pass.shape.empty()) continue;
      for (Slot& slot : pass.slots) {
        if (slot.kind != SlotKind::full || p_.is_output[slot.value]) continue;
        int32_t producer = producer_[slot.value];
        if (producer < 0 || position[producer] == SIZE_MAX) continue;
        // Through a contiguous reshape of the product's whole result: forward mode's tangent of a
        // layer, [k B, n] multiplied as one matrix, then seen as [k, B, n] by the activation's rule.
        int32_t reshape = -1;
        if (tape_.steps[producer].is_view) {
          reshape = producer;
          producer = whole_reshape_of_product(tape_.steps[reshape]);
          if (producer < 0 || position[producer] == SIZE_MAX) continue;
        }
        const Step& s = tape_.steps[producer];
        if (!s.rules.product.present || p_.is_output[s.out] || !product_layout_ok(s, pass)) continue;
        int inside = 0;
        for (const FusedOp& op : pass.ops) inside += (op.a >= 0 && pass.slots[op.a].value == slot.value) +
                                                     (op.b >= 0 && pass.slots[op.b].value == slot.value);
        if (inside != uses_[slot.value] || (reshape >= 0 && uses_[s.out] != 1)) continue;
        slot.kind = SlotKind::product;
        pass.product = &s;
        drop[position[producer]] = true;
        if (reshape >= 0) drop[position[reshape]] = true;
        ++stats_.fused_products;
        break;
      }
    }
    std::vector<Instruction> code;
    for (size_t k = 0; k < p_.code.size(); ++k)
      if (!drop[k]) code.push_back(p_.code[k]);
    p_.code = std::move(code);
    mark_stored();
    for (Pass& pass : p_.passes) fold_uniform_ops(pass);
    for (const Pass& pass : p_.passes)
      if (pass.ops.size() + pass.uniform_ops.size() >= 2 || pass.product) {
        ++stats_.fused_passes;
        stats_.fused_ops += static_cast<int64_t>(pass.ops.size() + pass.uniform_ops.size());
        stats_.uniform_ops += static_cast<int64_t>(pass.uniform_ops.size());
      }
  }

  /// Moves the ops whose every input is a scalar or another such op's result, and whose result stays
  /// inside the pass, to `uniform_ops`. The elementwise kernels give an element's bits whatever its
  /// position, so one element computed once is every element of the tile.
  static void fold_uniform_ops(Pass& pass) {
    auto uniform = [&](int slot) {
      return slot < 0 || pass.slots[slot].kind == SlotKind::scalar || pass.slots[slot].kind == SlotKind::uniform;
    };
    std::vector<FusedOp> per_tile;
    for (const FusedOp& op : pass.ops) {
      if (uniform(op.a) && uniform(op.b) && !pass.slots[op.y].stored) {
        pass.slots[op.y].kind = SlotKind::uniform;
        pass.uniform_ops.push_back(op);
      } else {
        per_tile.push_back(op);
      }
    }
    pass.ops = std::move(per_tile);
  }

  /// The step whose result the view `v` reshapes as a whole, contiguous in both shapes (so that
  /// element i of either is element i of the other), or -1.
  int32_t whole_reshape_of_product(const Step& v) const {
    if (v.view_offset_delta != 0 || v.view_absolute_offset >= 0 || v.args.size() != 1 || v.args[0] < 0) return -1;
    const ValueInfo& in = tape_.values[v.args[0]];
    const ValueInfo& out = tape_.values[v.out];
    if (!is_contiguous(in.sizes, in.strides) || !is_contiguous(out.sizes, out.strides) || numel_of(in.sizes) != numel_of(out.sizes))
      return -1;
    const int32_t producer = producer_[v.args[0]];
    return producer >= 0 && tape_.steps[producer].rules.product.present ? producer : -1;
  }

  /// mat1 and mat2 each with a unit stride (BLAS reads either orientation), a contiguous bias of one
  /// row, the pass's dtype, and a result of [rows, n] with the pass's elements, n its last dim (the
  /// pass goes by whole rows).
  bool product_layout_ok(const Step& s, const Pass& pass) const {
    const ValueInfo& out = tape_.values[s.out];
    if (out.sizes.size() != 2 || out.sizes[1] != pass.shape.back() || numel_of(out.sizes) != pass.numel) return false;
    const size_t first = s.rules.product.has_bias ? 1 : 0;
    if (s.args.size() != first + 2) return false;
    for (size_t k = 0; k < s.args.size(); ++k)
      if (s.args[k] < 0 || tape_.values[s.args[k]].dtype != pass.dtype) return false;
    const int64_t rows_per_block = std::max<int64_t>(1, kProductBlock / std::max<int64_t>(out.sizes[1], 1));
    if (out.sizes[0] > rows_per_block &&
        numel_of(tape_.values[s.args[first + 1]].sizes) * static_cast<int64_t>(element_size(pass.dtype)) > kProductRhsBytes)
      return false;
    // As BLAS reads a matrix in place: row-major, or stored transposed.
    for (size_t k = first; k < first + 2; ++k) {
      const ValueInfo& m = tape_.values[s.args[k]];
      if (m.sizes.size() != 2) return false;
      const int64_t rows = m.sizes[0], cols = m.sizes[1], rs = m.strides[0], cs = m.strides[1];
      const bool row_major = (cols == 1 || cs == 1) && (rows == 1 || rs >= std::max<int64_t>(1, cols));
      const bool transposed = (rows == 1 || rs == 1) && (cols == 1 || cs >= std::max<int64_t>(1, rows));
      if (!row_major && !transposed) return false;
    }
    if (s.rules.product.has_bias) {
      const ValueInfo& bias = tape_.values[s.args[0]];
      const int64_t n = pass.shape.back();
      const bool row = bias.sizes.size() >= 1 && bias.sizes.size() <= 2 && numel_of(bias.sizes) == n &&
                       bias.sizes.back() == n && (n == 1 || bias.strides.back() == 1);
      if (!row) return false;
    }
    return true;
  }

  /// After each instruction, the values nothing later reads, so that memory is released as eagerly
  /// as f itself would.
  void plan_releases() {
    const size_t nv = tape_.values.size();
    std::vector<int64_t> last(nv, -1);
    auto reads = [&](size_t k, auto&& fn) {
      const Instruction& in = p_.code[k];
      if (in.kind == Instruction::step) {
        for (int32_t a : tape_.steps[in.index].args) fn(a);
      } else {
        const Pass& pass = p_.passes[in.index];
        for (const Slot& s : pass.slots)
          if (read_from_outside(s.kind)) fn(s.value);
        if (pass.product)
          for (int32_t a : pass.product->args) fn(a);
      }
    };
    for (size_t k = 0; k < p_.code.size(); ++k)
      reads(k, [&](int32_t a) {
        if (a >= 0) last[a] = static_cast<int64_t>(k);
      });
    p_.release_after.assign(p_.code.size(), {});
    for (size_t v = 0; v < nv; ++v)
      if (last[v] >= 0 && !p_.is_output[v] && tape_.values[v].source == Source::step)
        p_.release_after[last[v]].push_back(static_cast<int32_t>(v));
  }

  Program& p_;
  Tape& tape_;
  PlanStats& stats_;
  std::vector<int32_t> producer_;
  std::vector<bool> live_step_;
  std::vector<int32_t> uses_;
  std::optional<Pass> open_;
  std::unordered_map<int32_t, int> slot_of_;
  std::unordered_set<int32_t> internal_;
};

template <class T>
const ElementwiseLoop<T>& loop_of(const Elementwise& e) {
  if constexpr (std::is_same_v<T, float>) return e.f32;
  else return e.f64;
}

template <class T>
void run_pass(const Pass& pass, std::vector<Tensor>& v) {
  for (const Slot& s : pass.slots)
    if (s.kind == SlotKind::internal && s.stored) v[s.value] = dydx::detail::make_empty(pass.shape, pass.dtype);
  if (pass.numel == 0) return;
  const size_t ns = pass.slots.size();
  // Each slot's memory: the value's own for `full` and stored slots, a tile buffer for the others.
  std::vector<const T*> outside(ns, nullptr);
  std::vector<T*> stored(ns, nullptr);
  std::vector<T> scalars(ns, T(0));
  size_t buffers = 0;
  std::vector<int64_t> buffer_of(ns, -1);
  for (size_t k = 0; k < ns; ++k) {
    const Slot& s = pass.slots[k];
    switch (s.kind) {
      case SlotKind::full: outside[k] = v[s.value].data_ptr<T>(); break;
      case SlotKind::scalar: scalars[k] = *v[s.value].data_ptr<T>(); buffer_of[k] = buffers++; break;
      case SlotKind::periodic: outside[k] = v[s.value].data_ptr<T>(); buffer_of[k] = buffers++; break;
      case SlotKind::internal:
        if (s.stored) stored[k] = v[s.value].data_ptr<T>();
        else buffer_of[k] = buffers++;
        break;
      case SlotKind::uniform:
      case SlotKind::product: buffer_of[k] = buffers++; break;
    }
  }
  for (const FusedOp& op : pass.uniform_ops)
    loop_of<T>(*op.kernel)(&scalars[op.a], op.b >= 0 ? &scalars[op.b] : nullptr, &scalars[op.y], 1);
  const int64_t cols = pass.shape.empty() ? 1 : pass.shape.back();
  // A product's pass goes by blocks of whole rows, split between threads by rows; others by tiles of
  // elements.
  const int64_t unit = pass.product ? cols : 1;
  const int64_t tile = pass.product ? std::max<int64_t>(1, kProductBlock / std::max<int64_t>(cols, 1)) * cols : kTile;
  const int64_t grain = pass.product ? tile / cols : std::max<int64_t>(tile, cpu::kElementwiseGrain / 4);
  std::optional<cpu::RowBlockProduct<T>> product;
  if (pass.product) {
    const std::vector<int32_t>& args = pass.product->args;
    const bool has_bias = pass.product->rules.product.has_bias;
    product.emplace(v[args[has_bias]], v[args[has_bias + 1]], has_bias ? v[args[0]] : Tensor());
  }
  cpu::parallel_for(pass.numel / unit, grain, [&](int64_t first_unit, int64_t end_unit) {
    const int64_t begin = first_unit * unit, end = end_unit * unit;
    // Tile buffers on 64-byte boundaries, as tensors' memory is: vector loads that straddle cache
    // lines made the fused tanh 12% slower than the eager one.
    constexpr size_t kAlign = 64 / sizeof(T);
    const int64_t pitch = static_cast<int64_t>((static_cast<size_t>(tile) + kAlign - 1) / kAlign * kAlign);
    cpu::Scratch<T> scratch(std::max<size_t>(buffers, 1) * static_cast<size_t>(pitch) + kAlign);
    T* buf = scratch.get() + (kAlign - reinterpret_cast<uintptr_t>(scratch.get()) / sizeof(T) % kAlign) % kAlign;
    std::vector<T*> at(ns);
    for (size_t k = 0; k < ns; ++k)
      if (pass.slots[k].kind == SlotKind::scalar || pass.slots[k].kind == SlotKind::uniform) std::fill(buf + buffer_of[k] * pitch, buf + buffer_of[k] * pitch + tile, scalars[k]);
    for (int64_t t = begin; t < end; t += tile) {
      const int64_t n = std::min(tile, end - t);
      for (size_t k = 0; k < ns; ++k) {
        const Slot& s = pass.slots[k];
        switch (s.kind) {
          case SlotKind::full: at[k] = const_cast<T*>(outside[k] + t); break;
          case SlotKind::scalar:
          case SlotKind::uniform: at[k] = buf + buffer_of[k] * pitch; break;
          case SlotKind::periodic: {
            // Read in place when the tile lies within one period (a bias row longer than a tile, the
            // primal under a tangent's directions); else copied a period's run at a time.
            const int64_t period = s.period, start = t % period;
            if (start + n <= period) {
              at[k] = const_cast<T*>(outside[k] + start);
              break;
            }
            T* dst = buf + buffer_of[k] * pitch;
            for (int64_t i = 0, j = start; i < n;) {
              const int64_t run = std::min(n - i, period - j);
              std::copy(outside[k] + j, outside[k] + j + run, dst + i);
              i += run;
              j = 0;
            }
            at[k] = dst;
            break;
          }
          case SlotKind::internal: at[k] = s.stored ? stored[k] + t : buf + buffer_of[k] * pitch; break;
          case SlotKind::product:
            at[k] = buf + buffer_of[k] * pitch;
            product->rows(t / cols, (t + n) / cols, at[k]);
            break;
        }
      }
      for (const FusedOp& op : pass.ops) loop_of<T>(*op.kernel)(at[op.a], op.b >= 0 ? at[op.b] : nullptr, at[op.y], n);
    }
  });
}

}  // namespace

std::shared_ptr<const Program> plan(Tape tape, std::string& refusal, PlanStats& stats) {
  if (!tape.refusal.empty()) {
    refusal = tape.refusal;
    return nullptr;
  }
  auto program = std::make_shared<Program>();
  program->tape = std::move(tape);
  stats = PlanStats{};
  refusal = Planner(*program, stats).make();
  if (!refusal.empty()) return nullptr;
  return program;
}

std::vector<std::pair<Generator, uint64_t>> draw_offsets(const Program& p) {
  std::vector<std::pair<Generator, uint64_t>> offsets;
  for (const Generator& g : p.tape.drawn_from) offsets.emplace_back(g, g.get_offset());
  return offsets;
}

void restore_offsets(const std::vector<std::pair<Generator, uint64_t>>& offsets) {
  for (const auto& [g, offset] : offsets) Generator(g).set_offset(offset);
}

bool holds_tensor_of_another_layout(const Program& p) {
  for (size_t id = 0; id < p.tape.held.size(); ++id) {
    const Tensor& t = p.tape.held[id];
    const ValueInfo& info = p.tape.values[id];
    if (t.defined() && (t.dtype() != info.dtype || !(t.sizes() == IntArrayRef(info.sizes)) ||
                        !(t.strides() == IntArrayRef(info.strides))))
      return true;
  }
  return false;
}

bool guards_hold(const Program& p) { return all_hold(p.tape.guards); }

bool same_inputs_as_themselves(const Program& p, const TensorList& inputs) {
  for (const auto& [i, recorded] : p.tape.inputs_as_themselves)
    if (inputs[i].impl() != recorded.lock()) return false;
  return true;
}

TensorList run(const Program& p, const TensorList& inputs) {
  // f's outputs had no history it recorded (record() refuses those), and a backward pass inside f ran
  // its rules without grad mode: the replay records none either, whoever requires grad.
  const AutoGradMode no_history(false);
  const Tape& tape = p.tape;
  std::vector<Tensor> v(tape.values.size());
  for (size_t i = 0; i < tape.num_inputs; ++i) v[i] = inputs[i];
  for (size_t id = 0; id < tape.values.size(); ++id)
    if (tape.held[id].defined()) v[id] = tape.held[id];
  // A constant's copy has its layout (creation functions make contiguous tensors), so the views of
  // it are replayed onto the copy as they were onto the constant.
  for (int32_t id : p.fresh_constants) v[id] = v[id].clone();
  TensorList args;
  for (size_t k = 0; k < p.code.size(); ++k) {
    const Instruction& in = p.code[k];
    if (in.kind == Instruction::step) {
      const Step& s = tape.steps[in.index];
      if (s.is_view) {
        const Tensor& x = v[s.args[0]];
        v[s.out] = x.as_strided(s.view_sizes, s.view_strides,
                                s.view_absolute_offset >= 0 ? s.view_absolute_offset : x.storage_offset() + s.view_offset_delta);
      } else {
        args.clear();
        for (int32_t a : s.args) args.push_back(a >= 0 ? v[a] : Tensor());
        v[s.out] = s.rules.replay(args);
      }
    } else {
      const Pass& pass = p.passes[in.index];
      if (pass.dtype == kFloat32) run_pass<float>(pass, v);
      else run_pass<double>(pass, v);
    }
    for (int32_t dead : p.release_after[k]) v[dead] = Tensor();
  }
  TensorList outputs;
  for (int32_t id : tape.outputs) {
    if (id < 0) outputs.emplace_back();
    else outputs.push_back(v[id]);  // a constant's is the copy above
  }
  return outputs;
}

}  // namespace dydx::compile
