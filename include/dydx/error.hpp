// dydx::Error, the one exception type the library throws, and the check helper that raises it.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace dydx {

/// Thrown for every invalid argument or misuse. The message names the op and the shapes or values at fault.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
/// Tells a func::compile recording running on this thread that an error is being raised: f may catch
/// it and go on along a branch that a replay would take whatever its inputs, so the recording is not
/// replayed (src/compile/trace.cpp).
void note_error() noexcept;

template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  note_error();
  std::ostringstream message;
  (message << ... << parts);
  throw Error(message.str());
}
}  // namespace detail

}  // namespace dydx

/// Throws dydx::Error with the streamed parts when cond is false; the parts are only built on failure.
#define DYDX_CHECK(cond, ...)                 \
  do {                                        \
    if (!(cond)) ::dydx::detail::fail(__VA_ARGS__); \
  } while (0)
