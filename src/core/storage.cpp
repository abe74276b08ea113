// Storage allocation: 64-byte aligned buffers so kernels can use aligned vector loads.
#include <cstdlib>
#include <new>

#include "dydx/detail/tensor_impl.hpp"
#include "dydx/error.hpp"

namespace dydx::detail {

namespace {
constexpr size_t kAlignment = 64;
}

Storage::~Storage() {
  if (deleter) {
    deleter(data);
  } else {
    std::free(data);
  }
}

std::shared_ptr<Storage> Storage::allocate(size_t nbytes) {
  size_t rounded = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  void* data = std::aligned_alloc(kAlignment, rounded == 0 ? kAlignment : rounded);
  DYDX_CHECK(data != nullptr, "allocate: out of memory allocating ", nbytes, " bytes");
  return std::make_shared<Storage>(data, nbytes, std::function<void(void*)>());
}

}  // namespace dydx::detail
