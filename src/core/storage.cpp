// Storage allocation: 64-byte aligned buffers so kernels can use aligned vector loads.
#include <cstdlib>
#include <new>

#include "dydx/detail/tensor_impl.hpp"
#include "dydx/error.hpp"

namespace dydx::detail {

namespace {
constexpr size_t kAlignment = 64;
// Below this, malloc's 16-byte alignment is as good as any: no vector loop spans a cache line
// more than once. glibc's aligned_alloc costs over ten times malloc, which tiny tensors would feel.
constexpr size_t kAlignedFrom = 4096;
}  // namespace

Storage::~Storage() {
  if (deleter) {
    deleter(data);
  } else if (data != inline_data) {
    std::free(data);
  }
}

std::shared_ptr<Storage> Storage::allocate(size_t nbytes) {
  auto storage = std::make_shared<Storage>(nullptr, nbytes, std::function<void(void*)>());
  if (nbytes <= kInlineBytes) {
    storage->data = storage->inline_data;
    return storage;
  }
  void* data = nbytes < kAlignedFrom ? std::malloc(nbytes)
                                     : std::aligned_alloc(kAlignment, (nbytes + kAlignment - 1) / kAlignment * kAlignment);
  DYDX_CHECK(data != nullptr, "allocate: out of memory allocating ", nbytes, " bytes");
  storage->data = data;
  return storage;
}

}  // namespace dydx::detail
