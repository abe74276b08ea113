// DataParallel: gradient buckets filled by hooks during backward and all-reduced as each fills.
#include "dydx/distributed/data_parallel.hpp"

#include <mutex>

#include "distributed/all_reduce_in_flight.hpp"
#include "distributed/mpi_state.hpp"
#include "dydx/autograd.hpp"
#include "dydx/creation.hpp"
#include "dydx/distributed/environment.hpp"
#include "dydx/error.hpp"
#include "dydx/nn/module.hpp"
#include "dydx/ops.hpp"

namespace dydx::distributed {

namespace {

void* data_of(const Tensor& buffer) {
  return buffer.dtype() == kFloat32 ? static_cast<void*>(buffer.data_ptr<float>())
                                    : static_cast<void*>(buffer.data_ptr<double>());
}

// Where one parameter's gradient sits in its bucket.
struct Slot {
  Tensor parameter;
  int64_t bucket = 0;
  int64_t offset = 0;  // in elements, within the bucket's buffer
  int64_t flag = 0;    // the element, past the gradients, that says whether this rank has a .grad for it
  unsigned hook = 0;
  bool ready = false;  // its gradient for this backward is in the bucket
};

struct Bucket {
  Tensor buffer;  // contiguous, one dtype: the gradients, then one flag per slot
  int64_t elements = 0;  // of the gradients
  std::vector<size_t> slots;
  size_t ready = 0;
  detail::AllReduceInFlight transfer;
};

}  // namespace

struct DataParallel::State {
  DataParallelOptions options;
  std::vector<Slot> slots;
  std::vector<Bucket> buckets;
  size_t next_to_start = 0;  // buckets go out in index order, the same on every rank
  int64_t started_in_backward = 0;  // in the backward now running
  int64_t started_in_last_backward = 0;
  bool pending = false;      // a backward has filled buckets that finish() has not reduced yet
  std::mutex mutex;          // hooks may run on the autograd engine's threads

  // The slot's part of its bucket, shaped as the parameter.
  Tensor view_of(const Slot& slot) {
    const Tensor& p = slot.parameter;
    return buckets[slot.bucket].buffer.narrow(0, slot.offset, p.numel()).view(p.sizes());
  }

  // Puts the parameter's .grad, as backward has accumulated it (DDP reduces the accumulated gradient),
  // into its bucket; zeros where it has none.
  void fill(size_t index) {
    Slot& slot = slots[index];
    // One pass calls each parameter's hook once; a filled slot is a pass that raised before its end.
    DYDX_CHECK(!slot.ready, "DataParallel: parameter ", index, " still holds the gradient of a backward that raised "
               "before its end; call synchronize() on every rank, then zero the gradients, before the next backward");
    NoGradGuard no_grad;
    Tensor target = view_of(slot);
    const Tensor current = slot.parameter.grad();
    if (current.defined()) target.copy_(current.detach());
    else target.zero_();
    // Whether any rank has a .grad for it is reduced with the gradients: where none has, .grad stays
    // undefined (as DDP leaves an unused parameter's), for optimizers that skip such parameters.
    buckets[slot.bucket].buffer.narrow(0, slot.flag, 1).fill_(current.defined() ? 1.0 : 0.0);
    slot.ready = true;
    ++buckets[slot.bucket].ready;
  }

  void start_full_buckets(bool in_backward) {
    while (next_to_start < buckets.size() && buckets[next_to_start].ready == buckets[next_to_start].slots.size()) {
      Bucket& b = buckets[next_to_start++];
      b.transfer.start(data_of(b.buffer), b.buffer.numel(), b.buffer.dtype(), MPI_SUM, "DataParallel");
      if (in_backward) ++started_in_backward;
    }
  }

  // Open MPI moves a nonblocking collective's data only inside MPI calls: testing the buckets already out
  // lets them progress while backward goes on, instead of all at once in synchronize().
  void progress_started_buckets() {
    for (size_t k = 0; k < next_to_start; ++k) buckets[k].transfer.test("DataParallel");
  }

  // Called once a parameter's .grad holds this backward's sum. Returns whether it is the pass's first,
  // which queues finish() for the end of the pass.
  bool on_gradient(size_t index) {
    std::lock_guard<std::mutex> lock(mutex);
    const bool first = !pending;
    pending = true;
    fill(index);
    start_full_buckets(true);
    progress_started_buckets();
    return first;
  }

  // Starts the buckets backward left (parameters it gave no gradient contribute their .grad or zeros),
  // waits for every bucket and writes the reduced gradients into .grad. Nothing to do unless a
  // backward has filled a bucket since the last time.
  void finish() {
    std::vector<detail::AllReduceInFlight*> transfers;
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (!pending) return;
      detail::require_usable("DataParallel");
      // The reduced gradients are plain numbers: a .grad with a graph (backward with create_graph=True)
      // would silently lose it, so a gradient penalty through .grad would become a constant.
      for (const Slot& slot : slots) {
        const Tensor current = slot.parameter.grad();
        DYDX_CHECK(!current.defined() || !current.requires_grad(), "DataParallel: a parameter of shape ",
                   slot.parameter.sizes(), " has a .grad that requires grad (backward with create_graph=True); "
                   "DataParallel reduces plain gradients, and this graph would be lost");
      }
      started_in_last_backward = started_in_backward;
      started_in_backward = 0;
      for (size_t i = 0; i < slots.size(); ++i)
        if (!slots[i].ready) fill(i);
      start_full_buckets(false);
      for (Bucket& b : buckets) transfers.push_back(&b.transfer);
    }
    detail::wait(transfers, "DataParallel");
    std::lock_guard<std::mutex> lock(mutex);
    const int world = world_size();
    NoGradGuard no_grad;
    for (Bucket& b : buckets) {
      if (options.reduction == ReduceOp::mean) detail::divide_by_world(b.buffer, world);
      b.ready = 0;
    }
    for (Slot& slot : slots) {
      slot.ready = false;
      if (buckets[slot.bucket].buffer.narrow(0, slot.flag, 1).item<double>() == 0) continue;  // no rank has one
      Tensor reduced = view_of(slot);
      const Tensor current = slot.parameter.grad();
      if (current.defined()) current.detach().copy_(reduced);
      else slot.parameter.set_grad(reduced.clone());
    }
    next_to_start = 0;
    pending = false;
  }
};

namespace {

std::vector<Tensor> trained(const std::vector<Tensor>& parameters) {
  std::vector<Tensor> kept;
  for (const Tensor& p : parameters) {
    DYDX_CHECK(p.defined(), "DataParallel: parameter ", kept.size(), " is undefined");
    if (!p.requires_grad()) continue;  // frozen: nothing to synchronise
    DYDX_CHECK(p.is_leaf(), "DataParallel: parameters must be leaves; one of shape ", p.sizes(), " is not");
    DYDX_CHECK(p.dtype() == kFloat32 || p.dtype() == kFloat64, "DataParallel: a parameter has dtype ", p.dtype(),
               "; gradients are float32 or float64");
    for (const Tensor& q : kept)
      DYDX_CHECK(q.impl() != p.impl(), "DataParallel: a parameter of shape ", p.sizes(), " is listed twice");
    kept.push_back(p);
  }
  return kept;
}

// Every rank must have built the same buckets and reduce them alike: a hash of the parameters' dtypes
// and shapes, the bucket size and the reduction is compared (a bucket size of one rank's own made
// buckets of other sizes, whose all-reduces MPI would match against each other).
void check_same_parameters(const std::vector<Tensor>& parameters, const DataParallelOptions& options) {
  // Unsigned: the products wrap, which signed integers must not.
  uint64_t hash = parameters.size();
  hash = hash * 1000003 + static_cast<uint64_t>(options.bucket_bytes);
  hash = hash * 1000003 + static_cast<uint64_t>(options.reduction);
  for (const Tensor& p : parameters) {
    hash = hash * 1000003 + static_cast<uint64_t>(p.dtype());
    for (int64_t s : p.sizes()) hash = hash * 1000003 + static_cast<uint64_t>(s);
  }
  const std::vector<Tensor> all = all_gather(tensor(std::vector<int64_t>{static_cast<int64_t>(hash)}));
  for (int r = 1; r < static_cast<int>(all.size()); ++r)
    DYDX_CHECK(all[r].item<int64_t>() == all[0].item<int64_t>(), "DataParallel: rank ", r,
               " has other parameters (count, dtypes or shapes) or options (bucket_bytes, reduction) than rank 0");
}

}  // namespace

DataParallel::DataParallel(const nn::Module& module, DataParallelOptions options)
    : DataParallel(module.parameters(), options) {}

DataParallel::DataParallel(const std::vector<Tensor>& parameters, DataParallelOptions options)
    : state_(std::make_shared<State>()) {
  DYDX_CHECK(options.bucket_bytes > 0, "DataParallel: bucket_bytes must be positive, got ", options.bucket_bytes);
  DYDX_CHECK(options.reduction == ReduceOp::mean || options.reduction == ReduceOp::sum,
             "DataParallel: gradients are reduced by mean or sum, not ", to_string(options.reduction));
  state_->options = options;
  const std::vector<Tensor> kept = trained(parameters);
  check_same_parameters(kept, options);
  if (options.broadcast_parameters) {
    for (Tensor p : kept) broadcast(p, 0);
  }
  // Reverse order of registration: backward reaches the last layers first. A bucket takes parameters of
  // one dtype up to bucket_bytes (and at least one, however large).
  struct Layout {
    ScalarType dtype;
    int64_t elements = 0, slots = 0;
  };
  std::vector<Layout> layout;  // per bucket
  for (size_t k = kept.size(); k-- > 0;) {
    const Tensor& p = kept[k];
    const int64_t bytes = p.numel() * (p.dtype() == kFloat32 ? 4 : 8);
    const bool fits = !layout.empty() && layout.back().dtype == p.dtype() &&
                      (layout.back().elements * (p.dtype() == kFloat32 ? 4 : 8) + bytes <= options.bucket_bytes);
    if (!fits) layout.push_back({p.dtype()});
    state_->slots.push_back(Slot{p, static_cast<int64_t>(layout.size() - 1), layout.back().elements});
    layout.back().elements += p.numel();
    ++layout.back().slots;
  }
  for (const Layout& l : layout) {
    DYDX_CHECK(l.elements + l.slots <= INT32_MAX, "DataParallel: a bucket of ", l.elements,
               " elements is too large for MPI; lower bucket_bytes");
    Bucket bucket;
    bucket.buffer = zeros({l.elements + l.slots}, l.dtype);
    bucket.elements = l.elements;
    state_->buckets.push_back(std::move(bucket));
  }
  for (size_t i = 0; i < state_->slots.size(); ++i) {
    Slot& slot = state_->slots[i];
    Bucket& bucket = state_->buckets[slot.bucket];
    slot.flag = bucket.elements + static_cast<int64_t>(bucket.slots.size());
    bucket.slots.push_back(i);
    // After accumulation, as DDP's hook on AccumulateGrad: only passes that write .grad (backward, not
    // grad()) take part, and the pass's first gradient queues the reduction for the pass's end.
    std::weak_ptr<State> weak = state_;
    slot.hook = slot.parameter.register_post_accumulate_grad_hook([weak, i](const Tensor&) {
      const auto state = weak.lock();
      if (state && state->on_gradient(i))
        autograd::queue_callback([weak] {
          if (const auto s = weak.lock()) s->finish();
        });
    });
  }
}

DataParallel::~DataParallel() {
  for (const Slot& slot : state_->slots) slot.parameter.remove_hook(slot.hook);
  // After a failed collective the buckets' requests may never complete: waiting would take a second
  // timeout, and freeing the buckets would let MPI write into freed memory, so they are kept.
  if (detail::is_broken()) {
    detail::keep_forever(state_);
    return;
  }
  std::vector<detail::AllReduceInFlight*> transfers;
  for (Bucket& b : state_->buckets) transfers.push_back(&b.transfer);
  try {
    detail::wait(transfers, "DataParallel");
  } catch (const Error&) {
    // Timed out: the job is already marked unusable and ends at finalize; nothing more to do here.
  }
}

void DataParallel::synchronize() { state_->finish(); }

int64_t DataParallel::bucket_count() const { return static_cast<int64_t>(state_->buckets.size()); }

int64_t DataParallel::buckets_started_in_backward() const { return state_->started_in_last_backward; }

}  // namespace dydx::distributed
