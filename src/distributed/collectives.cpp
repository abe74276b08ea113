// The collectives: agree on the call (agreement.cpp), then move the data with MPI's nonblocking
// collectives, waited on with the deadline, through a contiguous buffer where the tensor is strided.
#include "dydx/distributed/collectives.hpp"

#include <algorithm>
#include <climits>

#include "distributed/agreement.hpp"
#include "distributed/all_reduce_in_flight.hpp"
#include "distributed/mpi_state.hpp"
#include "dydx/autograd.hpp"
#include "dydx/creation.hpp"
#include "dydx/detail/tensor_impl.hpp"
#include "dydx/distributed/environment.hpp"
#include "dydx/error.hpp"

namespace dydx::distributed {

namespace {

using detail::Call;
using detail::Collective;

void* data_of(const Tensor& t) {
  switch (t.dtype()) {
    case kFloat32: return t.data_ptr<float>();
    case kFloat64: return t.data_ptr<double>();
    default: return t.data_ptr<int64_t>();
  }
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::max: return MPI_MAX;
    case ReduceOp::min: return MPI_MIN;
    default: return MPI_SUM;  // mean: the sum, divided afterwards
  }
}

// The elements of t in one contiguous block: t's own memory when it is contiguous, else a copy. Detached:
// collectives work on data, outside autograd (as torch.distributed's).
Tensor contiguous_data(const Tensor& t) {
  NoGradGuard no_grad;
  return t.is_contiguous() ? t.detach() : t.detach().contiguous();
}

// Puts the result into t: a copy back for a strided t; for a contiguous one MPI wrote in place, and the
// version counter is bumped, as any in-place write does, so that autograd notices a saved tensor changed.
void write_back(const Tensor& t, const Tensor& buffer) {
  if (buffer.impl()->storage == t.impl()->storage) {
    t.impl()->storage->version.fetch_add(1);
  } else {
    NoGradGuard no_grad;
    t.detach().copy_(buffer);
  }
}

template <class T>
void divide(const Tensor& buffer, int world) {
  T* p = buffer.data_ptr<T>();
  for (int64_t i = 0, n = buffer.numel(); i < n; ++i) p[i] /= static_cast<T>(world);
}

// broadcast sends any number of elements, in pieces whose counts fit MPI's int.
constexpr int64_t kMaxCount = int64_t{1} << 30;

template <class Start>
void in_pieces(const Tensor& buffer, const char* api, Start start) {
  std::vector<MPI_Request> requests;
  const size_t element = buffer.dtype() == kFloat32 ? 4 : 8;
  char* base = static_cast<char*>(data_of(buffer));
  requests.reserve(static_cast<size_t>((buffer.numel() + kMaxCount - 1) / kMaxCount));  // no reallocation under MPI
  detail::wait_keeping([&] {
    {
      std::lock_guard<std::mutex> lock(detail::mpi_mutex());
      for (int64_t first = 0; first < buffer.numel(); first += kMaxCount) {
        const int count = static_cast<int>(std::min(kMaxCount, buffer.numel() - first));
        requests.push_back(MPI_REQUEST_NULL);
        detail::check_mpi(start(base + first * element, count, &requests.back()), api);
      }
    }
    detail::wait_all(requests.data(), static_cast<int>(requests.size()), api);
  }, {buffer});
}

}  // namespace

void detail::divide_by_world(const Tensor& buffer, int world) {
  if (buffer.dtype() == kFloat32) divide<float>(buffer, world);
  else divide<double>(buffer, world);
}

const char* to_string(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "sum";
    case ReduceOp::mean: return "mean";
    case ReduceOp::max: return "max";
    case ReduceOp::min: return "min";
  }
  return "?";
}

void all_reduce(const Tensor& t, ReduceOp op) {
  detail::agree(Call{Collective::all_reduce, op, 0, &t});
  if (t.numel() == 0) return;
  Tensor buffer = contiguous_data(t);
  detail::AllReduceInFlight transfer;
  detail::wait_keeping([&] {
    transfer.start(data_of(buffer), buffer.numel(), t.dtype(), mpi_op(op), "all_reduce");
    detail::wait({&transfer}, "all_reduce");
  }, {buffer});
  if (op == ReduceOp::mean) detail::divide_by_world(buffer, world_size());
  write_back(t, buffer);
}

void broadcast(const Tensor& t, int root) {
  detail::agree(Call{Collective::broadcast, ReduceOp::sum, root, &t});
  if (t.numel() == 0) return;
  Tensor buffer = contiguous_data(t);
  const MPI_Datatype type = detail::mpi_type(t.dtype());
  in_pieces(buffer, "broadcast",
            [&](void* p, int count, MPI_Request* r) { return MPI_Ibcast(p, count, type, root, detail::comm(), r); });
  if (rank() != root) write_back(t, buffer);
}

std::vector<Tensor> all_gather(const Tensor& t) {
  detail::agree(Call{Collective::all_gather, ReduceOp::sum, 0, &t});
  const int world = world_size();
  std::vector<int64_t> sizes{world};
  sizes.insert(sizes.end(), t.sizes().begin(), t.sizes().end());
  Tensor gathered = empty(sizes, t.dtype());
  if (t.numel() > 0) {
    Tensor mine = contiguous_data(t);
    const MPI_Datatype type = detail::mpi_type(t.dtype());
    const int count = static_cast<int>(t.numel());
    MPI_Request request = MPI_REQUEST_NULL;
    detail::wait_keeping([&] {
      {
        std::lock_guard<std::mutex> lock(detail::mpi_mutex());
        detail::check_mpi(MPI_Iallgather(data_of(mine), count, type, data_of(gathered), count, type, detail::comm(),
                                         &request), "all_gather");
      }
      detail::wait(request, "all_gather");
    }, {mine, gathered});
  }
  std::vector<Tensor> each;
  for (int r = 0; r < world; ++r) each.push_back(gathered.select(0, r));
  return each;
}

Tensor all_gather_concat(const Tensor& t) {
  const auto shapes = detail::agree(Call{Collective::all_gather_concat, ReduceOp::sum, 0, &t});
  const int world = world_size();
  // Elements per row, from the sizes (which agree past dim 0): a rank without rows must still compute what
  // the others do, or it would skip the transfer they start.
  int64_t row = 1;
  for (int64_t d = 1; d < t.dim(); ++d) row *= t.size(d);
  int64_t rows = 0;
  // Shared, as MPI reads them until the transfer completes: a failed one leaves them to MPI for good.
  const auto counts_owned = std::make_shared<std::vector<int>>(world), offsets_owned = std::make_shared<std::vector<int>>(world);
  std::vector<int>& counts = *counts_owned;
  std::vector<int>& offsets = *offsets_owned;
  for (int r = 0; r < world; ++r) {
    offsets[r] = static_cast<int>(rows * row);
    counts[r] = static_cast<int>(shapes[r][0] * row);
    rows += shapes[r][0];
  }
  DYDX_CHECK(rows * row <= INT_MAX, "all_gather_concat: ", rows, " rows of ", row,
             " elements are too many for one MPI count");
  std::vector<int64_t> sizes(t.sizes().begin(), t.sizes().end());
  sizes[0] = rows;
  Tensor gathered = empty(sizes, t.dtype());
  if (row > 0 && rows > 0) {
    Tensor mine = contiguous_data(t);
    const MPI_Datatype type = detail::mpi_type(t.dtype());
    MPI_Request request = MPI_REQUEST_NULL;
    try {
      detail::wait_keeping([&] {
        {
          std::lock_guard<std::mutex> lock(detail::mpi_mutex());
          detail::check_mpi(MPI_Iallgatherv(data_of(mine), static_cast<int>(t.numel()), type, data_of(gathered),
                                            counts.data(), offsets.data(), type, detail::comm(), &request),
                            "all_gather_concat");
        }
        detail::wait(request, "all_gather_concat");
      }, {mine, gathered});
    } catch (...) {
      detail::keep_forever(counts_owned);
      detail::keep_forever(offsets_owned);
      throw;
    }
  }
  return gathered;
}

Tensor reduce_scatter(const Tensor& input, ReduceOp op) {
  detail::agree(Call{Collective::reduce_scatter, op, 0, &input});
  const int world = world_size();
  std::vector<int64_t> sizes(input.sizes().begin(), input.sizes().end());
  sizes[0] /= world;
  Tensor chunk = empty(sizes, input.dtype());
  if (chunk.numel() == 0) return chunk;
  Tensor all = contiguous_data(input);
  const MPI_Datatype type = detail::mpi_type(input.dtype());
  MPI_Request request = MPI_REQUEST_NULL;
  detail::wait_keeping([&] {
    {
      std::lock_guard<std::mutex> lock(detail::mpi_mutex());
      detail::check_mpi(MPI_Ireduce_scatter_block(data_of(all), data_of(chunk), static_cast<int>(chunk.numel()), type,
                                                  mpi_op(op), detail::comm(), &request), "reduce_scatter");
    }
    detail::wait(request, "reduce_scatter");
  }, {all, chunk});
  if (op == ReduceOp::mean) detail::divide_by_world(chunk, world);
  return chunk;
}

void barrier() { detail::agree(Call{Collective::barrier}); }

}  // namespace dydx::distributed
