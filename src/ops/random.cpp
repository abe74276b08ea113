// Random tensors: the Generator's counter-based stream (dydx/generator.hpp says why it is one), and
// rand, randn, randint, randperm and bernoulli drawing from it. Each call reserves its counters under
// the generator's mutex, then fills elements in parallel, element i from counters first + i (randn:
// a pair of counters per pair of elements), so that results never depend on the thread count.
#include <cmath>
#include <mutex>
#include <numbers>
#include <utility>

#include "compile/trace.hpp"
#include "ops/op_util.hpp"
#include "vmap/batched.hpp"

namespace dydx {

namespace detail {
struct GeneratorState {
  std::mutex mutex;
  uint64_t seed = 0;
  uint64_t key = 0;   // mix64(seed): nearby seeds give unrelated streams
  uint64_t next = 0;  // the first counter not yet handed out
  uint32_t made_in_recording = recording_stamp();  // as a tensor's (tensor_impl.hpp)
};

bool made_in_recording(const Generator& g) {
  return recording_id != 0 && g.state_->made_in_recording >= recording_id;
}

bool draw_is_recorded(const Generator& g) {
  return compile::detail::recording() && !vmap::active() && !made_in_recording(g);
}
}  // namespace detail

Generator::Generator(uint64_t seed) : state_(std::make_shared<detail::GeneratorState>()) { manual_seed(seed); }

Generator& Generator::manual_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->seed = seed;
  state_->key = detail::mix64(seed ^ 0x6a09e667f3bcc909ull);
  state_->next = 0;
  return *this;
}

uint64_t Generator::current_seed() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->seed;
}

uint64_t Generator::get_offset() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->next;
}

void Generator::set_offset(uint64_t offset) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->next = offset;
}

Generator::Block Generator::reserve(uint64_t n) const {
  // A draw that is no step of its own (the ops below record theirs with compile::detail::record_draw,
  // which sets the recording aside while they draw): a replay would repeat its numbers, so
  // func::compile runs f eagerly instead.
  if (compile::detail::recording()) [[unlikely]]
    compile::detail::refuse(detail::made_in_recording(*this)
                                ? "f draws from a generator it made (a replay would go on drawing from the recording's)"
                                : "f draws random numbers under vmap or in a way a replay would not draw again");
  std::lock_guard<std::mutex> lock(state_->mutex);
  Block block{state_->key, state_->next};
  state_->next += n;
  return block;
}

Generator default_generator() {
  static Generator generator(Generator::kDefaultSeed);
  return generator;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

namespace {

Tensor finish_random(Tensor t, const TensorOptions& options) {
  if (options.requires_grad_value()) t.requires_grad_(true);
  return t;
}

// Sets element i of the new contiguous tensor out to value(T{}, key, first, i) in parallel, after
// reserving `reserved` counters of the generator (first .. first + reserved - 1) for the call.
template <class Value>
void fill_random(Tensor& out, const Generator& generator, uint64_t reserved, Value value) {
  const Generator::Block block = generator.reserve(reserved);
  const int64_t n = out.numel();
  cpu::dispatch_with_bool(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = out.data_ptr<T>();
    cpu::parallel_for(n, cpu::kElementwiseGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) p[i] = value(T{}, block.key, block.first, i);
    });
  });
}

// Random ops under vmap (vmap::random_shape says how): the draw itself runs with this set, so that
// it is the plain op on the physical shape rather than the rule again.
thread_local bool drawing = false;
struct Drawing {
  Drawing() { drawing = true; }
  ~Drawing() { drawing = false; }
  Drawing(const Drawing&) = delete;
  Drawing& operator=(const Drawing&) = delete;
};
bool under_vmap() { return vmap::active() && !drawing; }

bool batched_at(const Tensor& t, uint32_t level) {
  for (const auto* b = vmap::batched(t); b; b = vmap::batched(b->value))
    if (b->level == level) return true;
  return false;
}

// functorch's checks for a random op reading a tensor: no error mode, and no batched input under
// 'same' randomness (the samples would need one draw each for their own inputs).
void check_random_input(const char* name, const Tensor& t) {
  vmap::random_shape(name, {});  // raises in error mode
  for (const vmap::Level& l : vmap::levels())
    DYDX_CHECK(!(l.randomness == vmap::Randomness::same && batched_at(t, l.level)), "vmap: ", name,
               ": Vmap does not currently support same randomness with a batched tensor input (shape ", t.sizes(),
               "); use randomness 'different', or draw outside vmap");
}

// t's batch with a dim in front for each level of 'different' randomness, outermost first (t
// expanded where it is the same for every sample): the shape vmap::random_shape draws, holding
// each sample's own values.
Tensor physical_input(const Tensor& t) {
  Tensor phys = t;
  const auto& levels = vmap::levels();
  for (auto it = levels.rbegin(); it != levels.rend(); ++it) {  // the innermost wrapper first
    const vmap::Arg a = vmap::unwrap(phys, it->level);
    if (a.bdim) phys = vmap::batch_first(a);
    else if (it->randomness == vmap::Randomness::different) phys = vmap::batch_first_expanded(a, it->size);
  }
  return phys;
}

Tensor floating_result(IntArrayRef sizes, const TensorOptions& options, const char* op) {
  detail::check_sizes(sizes, op);
  const ScalarType dtype = options.dtype_or(kDefaultDtype);
  DYDX_CHECK(is_floating_point(dtype), op, ": expected a floating point dtype, got ", dtype);
  return detail::make_empty(sizes, dtype, op);
}

}  // namespace

Tensor rand(IntArrayRef sizes, const Generator& generator, TensorOptions options) {
  if (detail::draw_is_recorded(generator)) [[unlikely]]
    return compile::detail::record_draw(
        "rand", generator, {}, [shape = Dims(sizes.begin(), sizes.end()), generator, options](const TensorList&) {
          return rand(shape, generator, options);
        });
  if (under_vmap()) [[unlikely]] {
    const Dims shape = vmap::random_shape("rand", sizes);
    Drawing d;
    return vmap::wrap_random(rand(shape, generator, options));
  }
  Tensor out = floating_result(sizes, options, "rand");
  fill_random(out, generator, out.numel(), [](auto tag, uint64_t key, uint64_t first, int64_t i) {
    using T = decltype(tag);
    const uint64_t bits = detail::random_bits(key, first + i);
    if constexpr (std::is_same_v<T, float>) return detail::bits_to_float(bits);
    else return static_cast<T>(detail::bits_to_double(bits));
  });
  return finish_random(out, options);
}
Tensor rand(IntArrayRef sizes, TensorOptions options) { return rand(sizes, default_generator(), options); }

Tensor randn(IntArrayRef sizes, const Generator& generator, TensorOptions options) {
  if (detail::draw_is_recorded(generator)) [[unlikely]]
    return compile::detail::record_draw(
        "randn", generator, {}, [shape = Dims(sizes.begin(), sizes.end()), generator, options](const TensorList&) {
          return randn(shape, generator, options);
        });
  if (under_vmap()) [[unlikely]] {
    const Dims shape = vmap::random_shape("randn", sizes);
    Drawing d;
    return vmap::wrap_random(randn(shape, generator, options));
  }
  Tensor out = floating_result(sizes, options, "randn");
  // Box-Muller: elements 2k and 2k+1 are the cosine and sine halves of counters 2k and 2k+1, so
  // pairs are filled in parallel and no element depends on how the pairs are split.
  const int64_t n = out.numel(), pairs = (n + 1) / 2;
  const Generator::Block block = generator.reserve(2 * static_cast<uint64_t>(pairs));
  cpu::dispatch_floating(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = out.data_ptr<T>();
    cpu::parallel_for(pairs, cpu::kElementwiseGrain / 2, [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) {
        const uint64_t c = block.first + 2 * static_cast<uint64_t>(k);
        const double u1 = 1.0 - detail::bits_to_double(detail::random_bits(block.key, c));  // (0, 1]: log is finite
        const double u2 = detail::bits_to_double(detail::random_bits(block.key, c + 1));
        const double radius = std::sqrt(-2.0 * std::log(u1)), angle = 2.0 * std::numbers::pi * u2;
        p[2 * k] = static_cast<T>(radius * std::cos(angle));
        if (2 * k + 1 < n) p[2 * k + 1] = static_cast<T>(radius * std::sin(angle));
      }
    });
  });
  return finish_random(out, options);
}
Tensor randn(IntArrayRef sizes, TensorOptions options) { return randn(sizes, default_generator(), options); }

Tensor randint(int64_t low, int64_t high, IntArrayRef sizes, const Generator& generator, TensorOptions options) {
  detail::check_sizes(sizes, "randint");
  DYDX_CHECK(low < high, "random_ expects 'from' to be less than 'to', but got from=", low, " >= to=", high);
  if (detail::draw_is_recorded(generator)) [[unlikely]]
    return compile::detail::record_draw(
        "randint", generator, {}, [low, high, shape = Dims(sizes.begin(), sizes.end()), generator, options](const TensorList&) {
          return randint(low, high, shape, generator, options);
        });
  if (under_vmap()) [[unlikely]] {
    const Dims shape = vmap::random_shape("randint", sizes);
    Drawing d;
    return vmap::wrap_random(randint(low, high, shape, generator, options));
  }
  Tensor out = detail::make_empty(sizes, options.dtype_or(kInt64), "randint");
  // high - low may exceed INT64_MAX; in uint64 it is exact, and low + offset wraps back correctly.
  const uint64_t range = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  fill_random(out, generator, out.numel(), [=](auto tag, uint64_t key, uint64_t first, int64_t i) {
    using T = decltype(tag);
    const uint64_t offset = detail::bounded_bits(key, first + i, range);
    return static_cast<T>(static_cast<int64_t>(static_cast<uint64_t>(low) + offset));
  });
  return finish_random(out, options);
}
Tensor randint(int64_t low, int64_t high, IntArrayRef sizes, TensorOptions options) {
  return randint(low, high, sizes, default_generator(), options);
}
Tensor randint(int64_t high, IntArrayRef sizes, const Generator& generator, TensorOptions options) {
  return randint(0, high, sizes, generator, options);
}
Tensor randint(int64_t high, IntArrayRef sizes, TensorOptions options) {
  return randint(0, high, sizes, default_generator(), options);
}

Tensor randperm(int64_t n, const Generator& generator, TensorOptions options) {
  DYDX_CHECK(n >= 0, "randperm: n must be non-negative, got ", n);
  const ScalarType result_dtype = options.dtype_or(kInt64);
  DYDX_CHECK(result_dtype != kBool, "randperm: not implemented for bool tensors (n = ", n, ")");
  // Beyond 2^p + 1 (p the significand's bits) neighbouring values round to one float, and the result
  // would not be a permutation; PyTorch 1.13's checks and words.
  DYDX_CHECK(result_dtype != kFloat32 || n <= (int64_t{1} << 24) + 1, "randperm: n cannot be greater than 2^24+1 for "
             "Float type, got n = ", n);
  DYDX_CHECK(result_dtype != kFloat64 || n <= (int64_t{1} << 53) + 1, "randperm: n cannot be greater than 2^53+1 for "
             "Double type, got n = ", n);
  // The permutation is drawn as int64 first: its storage size must be representable (named here,
  // rather than in the allocation).
  DYDX_CHECK(n <= INT64_MAX / static_cast<int64_t>(sizeof(int64_t)), "randperm: n = ", n,
             " is too large: the storage size of n int64 values overflows");
  if (detail::draw_is_recorded(generator)) [[unlikely]]
    return compile::detail::record_draw("randperm", generator, {}, [n, generator, options](const TensorList&) {
      return randperm(n, generator, options);
    });
  if (under_vmap()) [[unlikely]] {
    // One permutation per sample of 'different' levels: Fisher-Yates is serial per permutation, so
    // this draws them one after another (as functorch does), stacked into the batch.
    const Dims shape = vmap::random_shape("randperm", {n});
    Drawing d;
    int64_t count = 1;
    for (size_t k = 0; k + 1 < shape.size(); ++k) count *= shape[k];
    if (shape.size() == 1) return randperm(n, generator, options);
    TensorList perms;
    for (int64_t k = 0; k < count; ++k) perms.push_back(randperm(n, generator, options));
    Tensor all = count == 0 ? empty({0, n}, options.dtype(result_dtype)) : stack(perms, 0);
    return vmap::wrap_random(all.reshape(shape));
  }
  Tensor perm = detail::make_empty({n}, kInt64, "randperm");  // a failure names randperm, not a helper
  int64_t* p = perm.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  // Fisher-Yates, serial by nature; step i draws from counter first + i.
  const Generator::Block block = generator.reserve(static_cast<uint64_t>(n));
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(detail::bounded_bits(block.key, block.first + i, static_cast<uint64_t>(i) + 1));
    std::swap(p[i], p[j]);
  }
  return finish_random(result_dtype == kInt64 ? perm : perm.to(result_dtype), options);
}
Tensor randperm(int64_t n, TensorOptions options) { return randperm(n, default_generator(), options); }

Tensor bernoulli(const Tensor& p, const Generator& generator) {
  DYDX_CHECK(is_floating_point(p.dtype()), "bernoulli: expected a floating point tensor of probabilities, got ", p.dtype());
  if (detail::draw_is_recorded(generator)) [[unlikely]]
    return compile::detail::record_draw("bernoulli", generator, {&p},
                                        [generator](const TensorList& in) { return bernoulli(in[0], generator); });
  if (under_vmap()) [[unlikely]] {
    check_random_input("bernoulli", p);
    const Tensor phys = physical_input(p);
    Drawing d;
    return vmap::wrap_random(bernoulli(phys, generator));
  }
  Tensor probs = p.detach().contiguous();
  cpu::dispatch_floating(probs.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* q = probs.data_ptr<T>();
    for (int64_t i = 0; i < probs.numel(); ++i)
      DYDX_CHECK(q[i] >= T(0) && q[i] <= T(1), "bernoulli: expects every p to be in [0, 1], but got p=", q[i]);
  });
  Tensor out = detail::make_empty(probs.sizes(), probs.dtype());
  fill_random(out, generator, out.numel(), [&](auto tag, uint64_t key, uint64_t first, int64_t i) {
    using T = decltype(tag);
    const T* q = probs.data_ptr<T>();
    return detail::bits_to_double(detail::random_bits(key, first + i)) < static_cast<double>(q[i]) ? T(1) : T(0);
  });
  return out;
}
Tensor bernoulli(const Tensor& p) { return bernoulli(p, default_generator()); }

Tensor bernoulli(const Tensor& input, double p, const Generator& generator) {
  DYDX_CHECK(p >= 0 && p <= 1, "bernoulli_ expects p to be in [0, 1], but got p=", p);
  if (detail::draw_is_recorded(generator)) [[unlikely]]
    return compile::detail::record_draw("bernoulli.p", generator, {&input}, [p, generator](const TensorList& in) {
      return bernoulli(in[0], p, generator);
    });
  if (under_vmap()) [[unlikely]] {
    check_random_input("bernoulli", input);
    const Dims shape = vmap::random_shape("bernoulli", input.sizes());
    Drawing d;
    return vmap::wrap_random(bernoulli(empty(shape, input.dtype()), p, generator));
  }
  Tensor out = detail::make_empty(input.sizes(), input.dtype());
  fill_random(out, generator, out.numel(), [=](auto tag, uint64_t key, uint64_t first, int64_t i) {
    using T = decltype(tag);
    return detail::bits_to_double(detail::random_bits(key, first + i)) < p ? T(1) : T(0);
  });
  return out;
}
Tensor bernoulli(const Tensor& input, double p) { return bernoulli(input, p, default_generator()); }

Tensor& Tensor::bernoulli_(double p, const Generator& generator) {
  ops::check_writable(*this, "bernoulli_");  // before the draw, which would move the generator
  if (under_vmap()) [[unlikely]] {
    // functorch's rules: 'different' needs self batched at that level (else every sample would get
    // the same draw); under 'same' one draw is copied into every sample.
    vmap::random_shape("bernoulli_", {});
    for (const vmap::Level& l : vmap::levels())
      DYDX_CHECK(l.randomness != vmap::Randomness::different || batched_at(*this, l.level), "vmap: bernoulli_: Cannot ask "
                 "for different inplace randomness on an unbatched tensor (shape ", sizes(), "). This will appear like "
                 "same randomness");
    const Dims shape = vmap::random_shape("bernoulli_", sizes());
    Tensor draw;
    {
      Drawing d;
      draw = bernoulli(empty(shape, dtype()), p, generator);
    }
    return copy_(vmap::wrap_random(draw));
  }
  return copy_(bernoulli(*this, p, generator));
}
Tensor& Tensor::bernoulli_(double p) { return bernoulli_(p, default_generator()); }

}  // namespace dydx
