// Names of dtypes, as PyTorch prints them, and scalars as error messages write them.
#include "dydx/dtype.hpp"

#include <string>

#include "dydx/error.hpp"

namespace dydx {

const char* dtype_name(ScalarType t) {
  switch (t) {
    case kFloat32: return "float32";
    case kFloat64: return "float64";
    case kInt64: return "int64";
    default: return "bool";
  }
}

std::ostream& operator<<(std::ostream& os, ScalarType t) { return os << dtype_name(t); }

std::ostream& operator<<(std::ostream& os, Scalar s) {
  if (s.is_boolean()) return os << (s.to_int64() != 0 ? "true" : "false");
  if (s.is_integral()) return os << s.to_int64();
  return os << s.to_double();
}

}  // namespace dydx

namespace dydx::cpu {
[[noreturn]] void throw_bool_not_implemented() {
  detail::note_error();
  throw Error("not implemented for dtype bool: convert the tensor first, e.g. with .to(kInt64) or .to(kFloat32)");
}
[[noreturn]] void throw_not_floating(ScalarType dtype) {
  detail::note_error();
  throw Error(std::string("expected a floating point tensor, got ") + dtype_name(dtype) +
              ": convert it first, e.g. with .to(kFloat32)");
}
}  // namespace dydx::cpu
