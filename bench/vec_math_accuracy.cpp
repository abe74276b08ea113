// Maximum errors of src/cpu/vec_math.hpp's functions, the figures its header and BENCHMARKS.md quote (the
// tests sample them; this measures them in full):
//   vec_math_accuracy double [iterations]  log1p, expm1, softplus and erf on 4 x iterations random doubles
//                                          (default 12 million: log-uniform magnitudes, and uniform in
//                                          [-50, 50], [-1, 1] and [-0.8, 0.8]; erf 4 x iterations more in
//                                          [0.6, 1.4]) against long double
//   vec_math_accuracy float [name]         every function (or only the one named) on
//                                          all 2^32 floats against the double reference rounded, on two
//                                          threads (about a minute each)
// Built as the library is (-march=native, so with FMA contraction where the CPU has it); the figures
// without FMA come from the same file built without it:
//   g++ -std=c++20 -O2 -Isrc bench/vec_math_accuracy.cpp -o /tmp/vec_math_accuracy && /tmp/vec_math_accuracy double
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cpu/vec_math.hpp"

namespace {

namespace vec = dydx::cpu::vec;

// |y - ref| in ulps of ref rounded to y's type; a NaN where the reference has none, or the wrong sign, is infinite.
template <class T, class W>
double ulp_error(T y, W ref) {
  if (std::isnan(ref)) return std::isnan(y) ? 0 : INFINITY;
  const T rounded = static_cast<T>(ref);
  if (std::isinf(rounded)) return y == rounded ? 0 : INFINITY;
  if (y != 0 && std::signbit(y) != std::signbit(rounded)) return INFINITY;
  const T a = std::fabs(rounded);
  const W ulp = static_cast<W>(std::nextafter(a, std::numeric_limits<T>::infinity())) - a;
  return static_cast<double>(std::fabs(static_cast<W>(y) - ref) / ulp);
}

template <class W>
W softplus_reference(W x) {
  return (x > 0 ? x : W(0)) + std::log1p(std::exp(-std::fabs(x)));
}

struct Function {
  const char* name;
  void (*f32)(const float*, float*, int64_t);
  void (*f64)(const double*, double*, int64_t);
  double (*reference)(double);          // for float results
  long double (*wide)(long double);     // for double results; null where not measured in double
  double dense_lo = 0, dense_hi = 0;    // a range sampled as densely again, in double: where the worst lie
};

// Double tan is std::'s; float tan is vec_math's.
void std_tan(const double* x, double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::tan(x[i]);
}

const Function kFunctions[] = {
    {"tan", vec::tan, std_tan, [](double x) { return std::tan(x); }, nullptr},
    {"exp", vec::exp<float>, vec::exp<double>, [](double x) { return std::exp(x); }, nullptr},
    {"log", vec::log<float>, vec::log<double>, [](double x) { return std::log(x); }, nullptr},
    {"sin", vec::sin<float>, vec::sin<double>, [](double x) { return std::sin(x); }, nullptr},
    {"cos", vec::cos<float>, vec::cos<double>, [](double x) { return std::cos(x); }, nullptr},
    {"sigmoid", vec::sigmoid<float>, vec::sigmoid<double>, [](double x) { return 1.0 / (1.0 + std::exp(-x)); },
     nullptr},
    {"tanh", vec::tanh<float>, vec::tanh<double>, [](double x) { return std::tanh(x); }, nullptr},
    {"log1p", vec::log1p<float>, vec::log1p<double>, [](double x) { return std::log1p(x); },
     [](long double x) { return std::log1p(x); }},
    {"expm1", vec::expm1<float>, vec::expm1<double>, [](double x) { return std::expm1(x); },
     [](long double x) { return std::expm1(x); }},
    {"softplus", vec::softplus<float>, vec::softplus<double>, softplus_reference<double>,
     softplus_reference<long double>},
    // Double erf's pieces join at 0.7 and 1.25, where their errors are largest.
    {"erf", vec::erf<float>, vec::erf<double>, [](double x) { return std::erf(x); },
     [](long double x) { return std::erf(x); }, 0.6, 1.4},
};

void measure_double(int64_t iterations) {
  std::mt19937_64 gen(1);
  std::uniform_real_distribution<double> exponent(-1074, 10), wide(-50, 50), unit(-1, 1), near0(-0.8, 0.8);
  std::vector<double> xs;
  xs.reserve(static_cast<size_t>(4 * iterations));
  for (int64_t i = 0; i < iterations; ++i) {
    const double m = std::exp2(exponent(gen));
    xs.push_back(gen() & 1 ? -m : m);
    xs.push_back(wide(gen));
    xs.push_back(unit(gen));
    xs.push_back(near0(gen));
  }
  for (const Function& f : kFunctions) {
    if (f.wide == nullptr) continue;
    std::vector<double> xs_f = xs;
    if (f.dense_hi > f.dense_lo) {
      std::uniform_real_distribution<double> dense(f.dense_lo, f.dense_hi);
      for (size_t i = 0; i < xs.size(); ++i) xs_f.push_back(dense(gen));
    }
    std::vector<double> ys(xs_f.size());
    f.f64(xs_f.data(), ys.data(), static_cast<int64_t>(xs_f.size()));
    double worst = 0, worst_x = 0;
    for (size_t i = 0; i < xs_f.size(); ++i) {
      const double e = ulp_error(ys[i], f.wide(xs_f[i]));
      if (!(e <= worst)) worst = e, worst_x = xs_f[i];
    }
    std::printf("%-8s double: max %.3f ulp at %a over %zu inputs\n", f.name, worst, worst_x, xs_f.size());
  }
}

void measure_float(const std::string& only) {
  for (const Function& f : kFunctions) {
    if (!only.empty() && only != f.name) continue;
    struct Part {
      double worst = 0;
      float worst_x = 0;
      int64_t beyond_half = 0;
    } parts[2];
    auto work = [&](int half) {
      constexpr int64_t kChunk = int64_t{1} << 16;
      std::vector<float> x(kChunk), y(kChunk);
      for (uint64_t base = uint64_t(half) << 31; base < (uint64_t(half) + 1) << 31; base += kChunk) {
        for (int64_t i = 0; i < kChunk; ++i) x[i] = std::bit_cast<float>(static_cast<uint32_t>(base + i));
        f.f32(x.data(), y.data(), kChunk);
        for (int64_t i = 0; i < kChunk; ++i) {
          const double e = ulp_error(y[i], f.reference(x[i]));
          if (!(e <= parts[half].worst)) parts[half].worst = e, parts[half].worst_x = x[i];
          parts[half].beyond_half += e > 0.5;
        }
      }
    };
    std::thread other(work, 1);
    work(0);
    other.join();
    const Part& w = parts[0].worst >= parts[1].worst ? parts[0] : parts[1];
    std::printf("%-8s float: max %.6f ulp at %a over all 2^32 floats, %lld beyond half an ulp\n", f.name, w.worst,
                w.worst_x, static_cast<long long>(parts[0].beyond_half + parts[1].beyond_half));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "double";
  if (mode == "double") {
    measure_double(argc > 2 ? std::atoll(argv[2]) : 12000000);
  } else if (mode == "float") {
    measure_float(argc > 2 ? argv[2] : "");
  } else {
    std::fprintf(stderr, "usage: vec_math_accuracy double [iterations] | float [name]\n");
    return 2;
  }
  return 0;
}
