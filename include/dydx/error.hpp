// dydx::Error, the exception type the library throws (IndexError, a kind of it, for a dim or index out
// of range, ValueError for an argument value PyTorch's Python API refuses with ValueError, and
// LinAlgError for matrices that cannot be factored), and the check helper that raises it.
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

/// A dim or an index out of range (c10::IndexError's counterpart, a dydx::Error too); in Python both a
/// dydx.Error and an IndexError, as PyTorch raises IndexError there.
class IndexError : public Error {
 public:
  using Error::Error;
};

/// An argument whose value is refused where PyTorch's Python API raises ValueError (an optimizer's
/// negative learning rate, vmap's in_dims that do not fit the inputs); a dydx::Error too, and in Python
/// both a dydx.Error and a ValueError.
class ValueError : public Error {
 public:
  using Error::Error;
};

/// A matrix that a linear-algebra op cannot factor (a singular matrix to solve with or invert):
/// torch.linalg.LinAlgError's counterpart, a dydx::Error too.
class LinAlgError : public Error {
 public:
  using Error::Error;
};

namespace detail {
/// Tells a func::compile recording running on this thread that an error is being raised: f may catch
/// it and go on along a branch that a replay would take whatever its inputs, so the recording is not
/// replayed (src/compile/trace.cpp).
void note_error() noexcept;

template <class Exception = Error, class... Parts>
[[noreturn]] void fail_with(const Parts&... parts) {
  note_error();
  std::ostringstream message;
  (message << ... << parts);
  throw Exception(message.str());
}

template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  fail_with<Error>(parts...);
}
}  // namespace detail

}  // namespace dydx

/// Throws dydx::Error with the streamed parts when cond is false; the parts are only built on failure.
#define DYDX_CHECK(cond, ...)                 \
  do {                                        \
    if (!(cond)) ::dydx::detail::fail(__VA_ARGS__); \
  } while (0)
/// The same, throwing dydx::ValueError.
#define DYDX_CHECK_VALUE(cond, ...)                                              \
  do {                                                                           \
    if (!(cond)) ::dydx::detail::fail_with<::dydx::ValueError>(__VA_ARGS__); \
  } while (0)
