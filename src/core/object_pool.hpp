// Recycling of the small objects every op creates: a TensorImpl, a Storage and a Node.
//
// glibc's per-thread cache keeps 7 free blocks of a size; a backward pass frees dozens of
// same-sized objects in a row, and the overflow went through _int_free, 9% of the instructions
// of the per-op overhead benchmark. A per-thread free list per object size keeps them instead.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <utility>

namespace dydx::detail {

template <size_t Size>
class FreeList {
 public:
  void* pop() {
    if (head_ == nullptr) return ::operator new(Size);
    Block* block = head_;
    head_ = block->next;
    --count_;
    return block;
  }
  void push(void* p) {
    // After this thread's destructor ran (objects freed during thread or program exit), or when
    // full, memory goes back to the heap.
    if (destroyed_ || count_ >= kCapacity) {
      ::operator delete(p);
      return;
    }
    auto* block = static_cast<Block*>(p);
    block->next = head_;
    head_ = block;
    ++count_;
  }
  ~FreeList() {
    destroyed_ = true;
    while (head_ != nullptr) {
      Block* block = head_;
      head_ = block->next;
      ::operator delete(block);
    }
    count_ = 0;
  }

 private:
  struct Block {
    Block* next;
  };
  static constexpr int kCapacity = 1024;
  Block* head_ = nullptr;
  int count_ = 0;
  bool destroyed_ = false;
};

template <size_t Size>
FreeList<Size>& free_list() {
  thread_local FreeList<Size> list;
  return list;
}

/// An allocator for std::allocate_shared that recycles single objects through free_list.
template <class T>
struct PoolAllocator {
  using value_type = T;
  static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);

  PoolAllocator() = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U>&) {}

  T* allocate(size_t n) {
    if (n != 1) return static_cast<T*>(::operator new(n * sizeof(T)));
    return static_cast<T*>(free_list<sizeof(T)>().pop());
  }
  void deallocate(T* p, size_t n) {
    if (n != 1) {
      ::operator delete(p);
      return;
    }
    free_list<sizeof(T)>().push(p);
  }
  template <class U>
  bool operator==(const PoolAllocator<U>&) const {
    return true;
  }
};

/// std::make_shared, with the object and its control block from a per-thread free list. Under the
/// sanitizers it is plain make_shared, so that AddressSanitizer sees every use after free.
template <class T, class... Args>
std::shared_ptr<T> make_pooled(Args&&... args) {
#ifdef DYDX_SANITIZED
  return std::make_shared<T>(std::forward<Args>(args)...);
#else
  return std::allocate_shared<T>(PoolAllocator<T>(), std::forward<Args>(args)...);
#endif
}

}  // namespace dydx::detail
