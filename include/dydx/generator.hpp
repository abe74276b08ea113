// Random number generators, as libtorch's torch::Generator: a seeded stream that rand, randn,
// randint, randperm, bernoulli and dropout take as an argument; without one they draw from the
// default generator, which dydx::manual_seed seeds.
//
// The stream is counter-based: the n-th 64-bit draw of a generator is SplitMix64's mix of
// (key + n * golden), the key coming from the seed. A call reserves its block of counters under the
// generator's mutex and then fills its elements in parallel, each from its own counters, so that
//   - the same seed gives the same numbers on every run and with any number of threads, and
//   - two threads drawing from one generator never race (each gets a disjoint block of counters).
// The numbers are NOT PyTorch's (its CPU generator is a Mersenne Twister with its own ways of turning
// bits into floats); only the distributions and the determinism match.
#pragma once

#include <cstdint>
#include <memory>

namespace dydx {

class Generator;
namespace detail {
struct GeneratorState;
/// Whether g was made inside the func::compile recording running on this thread (f made it): a
/// replay cannot draw from it, as f would from a new one at each call.
bool made_in_recording(const Generator& g);
/// Whether a draw from g now is a step of a func::compile recording (compile::detail::record_draw):
/// a recording runs on this thread, outside vmap (the draw's shape and randomness mode are the
/// batch's), and g was not made inside it. Otherwise the draw refuses a recording, if one runs.
bool draw_is_recorded(const Generator& g);
}  // namespace detail

class Generator {
 public:
  /// PyTorch's default seed (67280421310721), as torch.Generator() starts with.
  static constexpr uint64_t kDefaultSeed = 67280421310721ull;

  /// A new generator seeded with seed. Copies share one stream, as libtorch's Generator handles do.
  explicit Generator(uint64_t seed = kDefaultSeed);

  /// Restarts the stream from seed (torch.Generator.manual_seed); returns *this so that calls chain.
  Generator& manual_seed(uint64_t seed);
  /// libtorch's spelling of manual_seed.
  void set_current_seed(uint64_t seed) { manual_seed(seed); }
  /// The seed the stream last started from.
  uint64_t current_seed() const;
  /// The counter of the next draw, and a move of the stream to one (libtorch's get_offset and
  /// set_offset): set_offset(get_offset()) replays the same numbers. Thread-safe.
  uint64_t get_offset() const;
  void set_offset(uint64_t offset);
  /// Whether both are copies of one generator (one stream).
  bool same_stream(const Generator& other) const { return state_ == other.state_; }


  /// Reserves n consecutive draws and returns the key and the first counter of the block; the
  /// draws are then detail::random_bits(key, counter + i). Thread-safe.
  struct Block {
    uint64_t key, first;
  };
  Block reserve(uint64_t n) const;

 private:
  friend bool detail::made_in_recording(const Generator& g);
  std::shared_ptr<detail::GeneratorState> state_;
};

/// The generator that rand, randn, ... use when given none; manual_seed(seed) seeds it.
Generator default_generator();

namespace detail {
/// SplitMix64's output function: a bijective mix of 64 bits.
inline constexpr uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
/// Draw number `counter` of the stream with this key; retry > 0 gives further independent draws
/// for the same counter (rejection sampling without shifting the other elements' counters).
inline constexpr uint64_t random_bits(uint64_t key, uint64_t counter, uint64_t retry = 0) {
  const uint64_t z = mix64(key + (counter + 1) * 0x9e3779b97f4a7c15ull);
  return retry == 0 ? z : mix64(z + retry * 0xd1b54a32d192ed03ull);
}
/// A uniform double in [0, 1) from the top 53 bits.
inline constexpr double bits_to_double(uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1p-53; }
/// A uniform float in [0, 1) from the top 24 bits (a double rounded to float could reach 1.0).
inline constexpr float bits_to_float(uint64_t bits) { return static_cast<float>(bits >> 40) * 0x1p-24f; }
/// A uniform integer in [0, range) without modulo bias (Lemire's multiply-and-reject), for range >= 1.
inline uint64_t bounded_bits(uint64_t key, uint64_t counter, uint64_t range) {
  uint64_t x = random_bits(key, counter);
  unsigned __int128 m = static_cast<unsigned __int128>(x) * range;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < range) {
    const uint64_t threshold = (0 - range) % range;  // 2^64 mod range: the values that would bias
    for (uint64_t retry = 1; low < threshold; ++retry) {
      x = random_bits(key, counter, retry);
      m = static_cast<unsigned __int128>(x) * range;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}
}  // namespace detail

}  // namespace dydx
