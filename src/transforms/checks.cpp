// What every transform checks of its arguments and of what f returns, before using either.
#include "transforms/checks.hpp"

#include <algorithm>
#include <sstream>

namespace dydx::func::detail {

namespace {
std::string list_string(const std::vector<int64_t>& values) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < values.size(); ++i) out << (i ? ", " : "") << values[i];
  out << "]";
  return out.str();
}
}  // namespace

std::vector<size_t> normalize_argnums(const std::vector<int64_t>& argnums, size_t count, const char* op) {
  DYDX_CHECK(!argnums.empty(), op, ": argnums must be non-empty");
  const auto n = static_cast<int64_t>(count);
  std::vector<size_t> out;
  for (int64_t a : argnums) {
    DYDX_CHECK(a >= -n && a < n, op, ": got argnum=", a, ", but only ", count, " positional inputs");
    const auto index = static_cast<size_t>(a < 0 ? a + n : a);
    DYDX_CHECK(std::find(out.begin(), out.end(), index) == out.end(), op,
               ": argnums elements must be unique, got ", list_string(argnums));
    out.push_back(index);
  }
  return out;
}

void check_differentiable(const TensorList& primals, const std::vector<size_t>& argnums, const char* op) {
  for (size_t a : argnums) {
    DYDX_CHECK(primals[a].defined(), op, ": primal ", a, " is undefined");
    DYDX_CHECK(primals[a].is_floating_point(), op, ": primal ", a, " has dtype ", primals[a].dtype(),
               "; only floating-point primals can be differentiated");
  }
}

OutputSignature check_outputs(const TensorList& outputs, const char* op) {
  OutputSignature signature;
  for (size_t i = 0; i < outputs.size(); ++i) {
    DYDX_CHECK(outputs[i].defined(), op, ": f returned an undefined tensor as output ", i);
    signature.shapes.push_back(outputs[i].sizes().dims());
    signature.dtypes.push_back(outputs[i].dtype());
  }
  return signature;
}

void check_floating_outputs(const TensorList& outputs, const char* op) {
  for (size_t i = 0; i < outputs.size(); ++i)
    DYDX_CHECK(outputs[i].is_floating_point(), op, ": all outputs of f must be floating-point tensors, but output ",
               i, " has dtype ", outputs[i].dtype());
}

void check_same_outputs(const OutputSignature& first, const TensorList& outputs, const char* op) {
  DYDX_CHECK(outputs.size() == first.shapes.size(), op, ": f returned ", first.shapes.size(),
             " outputs on its first call but ", outputs.size(),
             " on a later one; f must return the same number, shapes and dtypes on every call");
  for (size_t i = 0; i < outputs.size(); ++i) {
    DYDX_CHECK(outputs[i].defined(), op, ": f returned an undefined tensor as output ", i);
    DYDX_CHECK(outputs[i].sizes() == IntArrayRef(first.shapes[i]), op, ": f's output ", i, " has shape ",
               first.shapes[i], " on its first call but ", outputs[i].sizes(),
               " on a later one; f must return the same shapes on every call");
    DYDX_CHECK(outputs[i].dtype() == first.dtypes[i], op, ": f's output ", i, " has dtype ", first.dtypes[i],
               " on its first call but ", outputs[i].dtype(), " on a later one");
  }
}

}  // namespace dydx::func::detail
