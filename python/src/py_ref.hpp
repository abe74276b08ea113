// A Python object held by C++ state that may be released without the GIL (a hook stored on a
// tensor, a NumPy array behind a tensor's storage, a callable inside a transform): the last owner
// takes the GIL before dropping the reference.
#pragma once

#include <memory>

#include "bindings.hpp"

namespace dydx::python {

class PyRef {
 public:
  explicit PyRef(nb::object object) : object_(std::move(object)) {}
  PyRef(const PyRef&) = delete;
  PyRef& operator=(const PyRef&) = delete;
  ~PyRef();
  /// The object; only to be used with the GIL held.
  const nb::object& get() const { return object_; }

 private:
  nb::object object_;
};

inline std::shared_ptr<PyRef> hold(nb::object object) { return std::make_shared<PyRef>(std::move(object)); }

}  // namespace dydx::python
