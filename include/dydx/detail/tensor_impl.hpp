// TensorImpl and Storage: the data behind a Tensor handle. Public only so that accessors inline.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "dydx/dtype.hpp"
#include "dydx/small_vector.hpp"

namespace dydx {
class Tensor;
}
namespace dydx::autograd {
class Node;
}

namespace dydx::detail {

/// What a tensor inside vmap stands for (src/vmap/batched.hpp): one sample of `value`, batched
/// along one of its dims at one vmap level. Such a tensor has its per-sample shape and no data.
struct BatchedValue;
/// A batched tensor's data was read by an op without a batching rule: raises, naming it.
[[noreturn]] void throw_batched_data();

/// The func::compile recording running on this thread (0: none). Every tensor made while one runs
/// carries its number, so that a value f made through an op the recording did not see is told
/// apart from a tensor f captured from outside (src/compile/trace.hpp).
extern thread_local uint32_t recording_id;
/// The number of the last func::compile recording started on any thread (0: none yet). A tensor made
/// on a thread that is not recording carries it, so that one made by f on a thread of its own, after
/// its recording started, is told apart from a tensor made before it (which f may capture).
extern std::atomic<uint32_t> last_recording_started;
inline uint32_t recording_stamp() {
  return recording_id != 0 ? recording_id : last_recording_started.load(std::memory_order_relaxed);
}

/// A reference-counted block of memory shared by a tensor and all its views.
/// The version counter lives here because PyTorch shares it between a tensor and its views:
/// an in-place write through any alias invalidates tensors saved for backward through all of them.
struct Storage {
  Storage(void* data, size_t nbytes) : data(data), nbytes(nbytes) {}
  Storage(void* data, size_t nbytes, std::function<void(void*)> deleter)
      : data(data), nbytes(nbytes), deleter(std::move(deleter)) {}
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();

  /// Allocates nbytes, uninitialised: inside the Storage itself when small (scalars, one-element
  /// tensors), so they cost no second allocation, and 64-byte aligned when large.
  static std::shared_ptr<Storage> allocate(size_t nbytes);

  static constexpr size_t kInlineBytes = 32;

  void* data;
  size_t nbytes;
  std::function<void(void*)> deleter;  // empty: memory came from allocate()
  std::atomic<uint32_t> version{0};
  alignas(16) unsigned char inline_data[kInlineBytes];
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Dims sizes;
  Dims strides;  // in elements
  int64_t offset = 0;  // in elements
  int64_t numel = 1;
  ScalarType dtype = kDefaultDtype;

  // Autograd state. A leaf has no grad_fn; requires_grad is stored only for leaves,
  // since a non-leaf requires grad exactly when it has a grad_fn.
  bool requires_grad = false;
  bool retains_grad = false;
  std::shared_ptr<autograd::Node> grad_fn;
  std::weak_ptr<autograd::Node> grad_accumulator;  // leaves: the node that accumulates into grad
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<TensorImpl> base;  // views: the tensor that owns the layout (never itself a view)
  uint32_t view_version = 0;         // views: the storage version their grad_fn was made at
  bool view_made_without_grad = false;  // views: made under no_grad, so with no history to rewrite
  uint32_t tangent_version = 0;         // views: the storage version their tangents were taken at
  // The func::compile recording that made it, or the last one started when it was made (see
  // recording_stamp): a tensor with a stamp below a recording's number existed before it began.
  uint32_t made_in_recording = recording_stamp();
  // Hooks of a leaf live here rather than on its AccumulateGrad node, which exists only while
  // some graph uses the leaf. Hooks of a non-leaf live on its grad_fn.
  // Each hook is shared, so that a backward runs the registered object itself (its state persists)
  // from a snapshot of the list that only copies pointers.
  std::vector<std::pair<unsigned, std::shared_ptr<std::function<Tensor(const Tensor&)>>>> hooks;
  // A leaf's hooks that run after backward has accumulated into its grad (register_post_accumulate_grad_hook).
  std::vector<std::pair<unsigned, std::shared_ptr<std::function<void(const Tensor&)>>>> post_accumulate_grad_hooks;
  // Forward-mode tangents, one per dual level that gave this tensor one.
  std::vector<std::pair<uint32_t, std::shared_ptr<TensorImpl>>> tangents;
  // Inside vmap: the batched value this tensor is one sample of (it then has no data of its own).
  std::shared_ptr<const BatchedValue> batched;

  // An empty view may carry any offset (as_strided checks bounds only for elements it has), which
  // could point far outside its storage, or wrap; it reads nothing, so it gets the storage's start.
  char* data_bytes() const {
    if (batched) [[unlikely]] throw_batched_data();
    return numel == 0 ? static_cast<char*>(storage->data)
                      : static_cast<char*>(storage->data) + offset * static_cast<int64_t>(element_size(dtype));
  }
  bool needs_grad() const { return requires_grad || grad_fn != nullptr; }
};

}  // namespace dydx::detail
