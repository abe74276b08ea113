// Names of dtypes, as PyTorch prints them, and scalars as error messages write them.
#include "dydx/dtype.hpp"

namespace dydx {

const char* dtype_name(ScalarType t) {
  switch (t) {
    case kFloat32: return "float32";
    case kFloat64: return "float64";
    default: return "int64";
  }
}

std::ostream& operator<<(std::ostream& os, ScalarType t) { return os << dtype_name(t); }

std::ostream& operator<<(std::ostream& os, Scalar s) {
  if (s.is_integral()) return os << s.to_int64();
  return os << s.to_double();
}

}  // namespace dydx
