// The uninitialised parameters and buffers a layer's constructor allocates, with an error that
// names the layer and the tensor when a size is too large to allocate (not the `empty` inside).
#pragma once

#include <cstring>
#include <string>

#include "dydx/creation.hpp"
#include "dydx/error.hpp"

namespace dydx::nn::detail {

inline Tensor layer_tensor(const char* layer, const char* name, IntArrayRef shape, TensorOptions options = {}) {
  try {
    return dydx::empty(shape, options);
  } catch (const Error& e) {
    // empty's message says why ("shape [...] is too large: ...", "out of memory allocating N bytes");
    // its "empty: " prefix would name a function the caller never called.
    std::string why = e.what();
    if (why.rfind("empty: ", 0) == 0) why.erase(0, std::strlen("empty: "));
    // "cannot allocate a tensor of shape [...] and dtype float32: ..." would repeat this message's
    // start: only its " and dtype float32: ..." is kept.
    if (why.rfind("cannot allocate a tensor of shape ", 0) == 0 && why.find(']') != std::string::npos)
      why.erase(0, why.find(']') + 1);
    else
      why = ": " + why;
    dydx::detail::fail("nn::", layer, ": cannot allocate ", name, " of shape ", shape, why);
  }
}

}  // namespace dydx::nn::detail
