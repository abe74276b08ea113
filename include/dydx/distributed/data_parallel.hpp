// Data-parallel training, as torch.nn.parallel.DistributedDataParallel: every rank runs the same model on
// its own part of the batch, and the gradients are averaged over the ranks during backward.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "dydx/distributed/collectives.hpp"
#include "dydx/tensor.hpp"

namespace dydx::nn {
class Module;
}

namespace dydx::distributed {

struct DataParallelOptions {
  /// Gradients are all-reduced in buckets of about this many bytes (DDP's default, 25 MiB): one large
  /// message costs far less than many small ones, and a full bucket goes out while backward goes on.
  int64_t bucket_bytes = int64_t{25} * 1024 * 1024;
  /// Copy rank 0's parameters to every rank at construction, so that all ranks start alike.
  bool broadcast_parameters = true;
  /// mean (DDP's: the gradient of the mean of the ranks' losses) or sum.
  ReduceOp reduction = ReduceOp::mean;
};

/// Keeps the .grad of the parameters equal on every rank: a hook on each parameter
/// (register_post_accumulate_grad_hook) copies its accumulated .grad into a bucket as backward produces
/// it, each full bucket is all-reduced without waiting, and at the end of the backward pass (a callback
/// the first hook queues, autograd::queue_callback) every bucket is waited for and the averaged gradients
/// are written into .grad, as DDP does:
///
///   distributed::DataParallel ddp(model);   // a module, a module holder, or a list of parameters
///   loss.backward();                        // every rank now holds the same, averaged .grad
///   optimizer.step();
///
/// Buckets hold parameters in reverse order of registration (the order backward tends to reach them) and go
/// out in that order, the same on every rank. A parameter that gets no gradient in a backward contributes
/// its current .grad (or zeros). Every rank must run the same backward passes; dydx::grad(), which writes
/// no .grad, takes no part.
class DataParallel {
 public:
  explicit DataParallel(const std::vector<Tensor>& parameters, DataParallelOptions options = {});
  explicit DataParallel(const nn::Module& module, DataParallelOptions options = {});
  /// A module holder (nn::Linear, a DYDX_MODULE): its module's parameters.
  template <class Holder>
    requires requires(const Holder& h) { h->parameters(); }
  explicit DataParallel(const Holder& holder, DataParallelOptions options = {})
      : DataParallel(holder->parameters(), options) {}
  /// Removes the hooks; buckets still in flight (from a backward that raised) are waited for first,
  /// since MPI writes into them.
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  /// What the end of each backward does already: waits for every bucket and writes the reduced gradients
  /// into .grad. A no-op unless a backward that raised left buckets behind.
  void synchronize();
  /// How many buckets the parameters were split into.
  int64_t bucket_count() const;
  /// How many buckets went out during the last backward before its end (those that overlapped it).
  int64_t buckets_started_in_backward() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace dydx::distributed
