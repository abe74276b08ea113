// Assertions shared by the focused tests.
#pragma once

#include <gtest/gtest.h>

#include <dydx/dydx.hpp>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

namespace dydx::testing {

/// Compares t's row-major values (whatever its shape) with expected, elementwise within tol; an
/// expected nan matches a nan, an infinity the same infinity.
inline ::testing::AssertionResult HasValues(const Tensor& t, const std::vector<double>& expected, double tol = 1e-5) {
  if (!t.defined()) return ::testing::AssertionFailure() << "tensor is undefined";
  std::vector<double> got = t.to_vector<double>();
  if (got.size() != expected.size())
    return ::testing::AssertionFailure() << "numel " << got.size() << " != " << expected.size() << "\n" << to_string(t);
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::abs(got[i] - expected[i]) <= tol * (1 + std::abs(expected[i]))) && got[i] != expected[i] &&
        !(std::isnan(expected[i]) && std::isnan(got[i])))
      return ::testing::AssertionFailure() << "element " << i << ": " << got[i] << " != " << expected[i] << "\n"
                                           << to_string(t);
  return ::testing::AssertionSuccess();
}

/// Passes when f throws dydx::Error whose message contains every one of needles.
/// Any other outcome (no throw, another exception type) fails with the code that was run.
inline ::testing::AssertionResult ThrowsWith(const std::function<void()>& f, const std::vector<std::string>& needles) {
  try {
    f();
  } catch (const dydx::Error& e) {
    const std::string message = e.what();
    for (const std::string& needle : needles)
      if (message.find(needle) == std::string::npos)
        return ::testing::AssertionFailure() << "message lacks \"" << needle << "\": " << message;
    return ::testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a non-dydx exception: " << e.what();
  } catch (...) {
    return ::testing::AssertionFailure() << "threw a non-std exception";
  }
  return ::testing::AssertionFailure() << "did not throw";
}

/// The message of the dydx::Error that f raises, or "no error": for tests that look at one message
/// several ways. (Another exception type propagates and fails the test.)
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const dydx::Error& e) {
    return e.what();
  }
  return "no error";
}

/// Sets dydx's thread count for a scope and restores the previous one at its end.
class ThreadCount {
 public:
  explicit ThreadCount(int n) : previous_(get_num_threads()) { set_num_threads(n); }
  ~ThreadCount() { set_num_threads(previous_); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;

 private:
  int previous_;
};

}  // namespace dydx::testing

#define EXPECT_DYDX_ERROR(statement, ...)                                                          \
  EXPECT_TRUE(::dydx::testing::ThrowsWith([&] { (void)(statement); }, {__VA_ARGS__})) << "  statement: " #statement
