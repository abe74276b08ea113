// PyRef's destructor: takes the GIL (from any thread) before dropping the reference.
#include "py_ref.hpp"

namespace dydx::python {
namespace {
bool finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing();
#else
  return _Py_IsFinalizing();
#endif
}
}  // namespace

PyRef::~PyRef() {
  // At interpreter exit a reference can no longer be dropped safely; the process frees it anyway.
  if (!Py_IsInitialized() || finalizing()) {
    object_.release();
    return;
  }
  nb::gil_scoped_acquire gil;
  object_.reset();
}

}  // namespace dydx::python
