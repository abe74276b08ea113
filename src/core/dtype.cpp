// Names of dtypes, as PyTorch prints them.
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

}  // namespace dydx
