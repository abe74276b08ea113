// The exchange of (collective, op, root, dtype, shape, local verdict) before each collective, and the
// messages that name the ranks at fault.
#include "distributed/agreement.hpp"

#include <algorithm>
#include <climits>
#include <sstream>
#include <string>

#include "distributed/mpi_state.hpp"
#include "dydx/distributed/environment.hpp"
#include "dydx/error.hpp"

namespace dydx::distributed::detail {

namespace {

// One rank's header: fixed fields, then the first kShownDims sizes (all of them are in the hash).
enum Field { kCollective, kOp, kRoot, kDtype, kDim, kProblem, kShapeHash, kSizes };
constexpr int kShownDims = 9;
constexpr int kFields = kSizes + kShownDims;
constexpr int64_t kUndefined = -1;

// What one rank finds wrong with its own arguments, decided before anything is sent.
enum Problem : int64_t { kNone, kUndefinedTensor, kUnsupportedDtype, kMeanOfIntegers, kOverlapping, kBadRoot,
                         kNotDivisible, kScalarConcat, kTooLarge };

// Whether two elements of t share memory (an expanded tensor): writing into it in place would be wrong.
// Sorting the dims by stride, each stride must step over everything the smaller ones span.
bool overlaps(const Tensor& t) {
  if (t.numel() <= 1) return false;
  std::vector<std::pair<int64_t, int64_t>> dims;  // (stride, size) of dims longer than 1
  for (int64_t d = 0; d < t.dim(); ++d)
    if (t.size(d) > 1) dims.emplace_back(t.stride(d), t.size(d));
  std::sort(dims.begin(), dims.end());
  int64_t span = 1;  // elements covered by the dims so far, as offsets 0..span-1
  for (auto [stride, size] : dims) {
    if (stride < span) return true;
    span = stride * (size - 1) + span;
  }
  return false;
}

bool writes_in_place(Collective c) { return c == Collective::all_reduce || c == Collective::broadcast; }
bool reduces(Collective c) { return c == Collective::all_reduce || c == Collective::reduce_scatter; }

int64_t problem_of(const Call& call, int world) {
  if (call.collective == Collective::barrier) return kNone;
  if (call.collective == Collective::broadcast && (call.root < 0 || call.root >= world)) return kBadRoot;
  const Tensor& t = *call.tensor;
  if (!t.defined()) return kUndefinedTensor;
  if (!has_mpi_type(t.dtype())) return kUnsupportedDtype;
  if (reduces(call.collective) && call.op == ReduceOp::mean && t.dtype() == kInt64) return kMeanOfIntegers;
  if (writes_in_place(call.collective) && overlaps(t)) return kOverlapping;
  if (call.collective == Collective::all_gather_concat && t.dim() == 0) return kScalarConcat;
  if (call.collective == Collective::reduce_scatter && (t.dim() == 0 || t.size(0) % world != 0)) return kNotDivisible;
  // Gathers send one count per rank as an int; all_reduce and broadcast go in chunks, whatever the size.
  if (!writes_in_place(call.collective) && t.numel() > INT_MAX / world) return kTooLarge;
  return kNone;
}

std::vector<int64_t> header_of(const Call& call, int world) {
  std::vector<int64_t> h(kFields, 0);
  h[kCollective] = static_cast<int64_t>(call.collective);
  h[kOp] = static_cast<int64_t>(call.op);
  h[kRoot] = call.root;
  h[kProblem] = problem_of(call, world);
  h[kDtype] = kUndefined;
  if (call.tensor && call.tensor->defined()) {
    const Tensor& t = *call.tensor;
    h[kDtype] = static_cast<int64_t>(t.dtype());
    h[kDim] = t.dim();
    // FNV-1a over the sizes that must match: all of them, or all but dim 0 for all_gather_concat.
    uint64_t hash = 1469598103934665603ull;
    for (int64_t d = 0; d < t.dim(); ++d) {
      if (d > 0 || call.collective != Collective::all_gather_concat)
        hash = (hash ^ static_cast<uint64_t>(t.size(d))) * 1099511628211ull;
      if (d < kShownDims) h[kSizes + d] = t.size(d);
    }
    h[kShapeHash] = static_cast<int64_t>(hash);
  }
  return h;
}

std::string shape_text(const int64_t* h) {
  std::ostringstream s;
  s << '[';
  for (int64_t d = 0; d < std::min<int64_t>(h[kDim], kShownDims); ++d) s << (d ? "," : "") << h[kSizes + d];
  if (h[kDim] > kShownDims) s << ",...";
  s << ']';
  return s.str();
}

const char* dtype_text(int64_t code) {
  return code == kUndefined ? "undefined" : dtype_name(static_cast<ScalarType>(code));
}

std::string call_text(const int64_t* h) {
  std::ostringstream s;
  const auto c = static_cast<Collective>(h[kCollective]);
  s << name(c);
  if (reduces(c)) s << '(' << to_string(static_cast<ReduceOp>(h[kOp])) << ')';
  if (c == Collective::broadcast) s << "(root " << h[kRoot] << ')';
  return s.str();
}

[[noreturn]] void report_problem(const char* api, int r, const int64_t* h, int world) {
  std::ostringstream s;
  s << api << ": rank " << r;
  switch (h[kProblem]) {
    case kUndefinedTensor: s << " passed an undefined tensor"; break;
    case kUnsupportedDtype: s << " has a tensor of dtype " << dtype_text(h[kDtype]) << "; collectives take float32, "
                                 "float64 and int64"; break;
    case kMeanOfIntegers: s << " asks for the mean of int64 tensors, which would truncate; reduce with sum and "
                               "divide as you mean to"; break;
    case kOverlapping: s << " has a tensor of shape " << shape_text(h) << " whose elements share memory (an "
                            "expanded tensor); it cannot be written in place, pass a contiguous copy"; break;
    case kBadRoot: s << " names root " << h[kRoot] << ", but the ranks are 0 to " << world - 1; break;
    case kNotDivisible: s << " has shape " << shape_text(h) << ", whose dim 0 does not divide into " << world
                          << " ranks"; break;
    case kScalarConcat: s << " has a 0-d tensor, which has no dim 0 to concatenate along"; break;
    case kTooLarge: s << " has " << shape_text(h) << ", too many elements for one MPI count per rank"; break;
  }
  throw Error(s.str());
}

}  // namespace

const char* name(Collective c) {
  switch (c) {
    case Collective::all_reduce: return "all_reduce";
    case Collective::broadcast: return "broadcast";
    case Collective::all_gather: return "all_gather";
    case Collective::all_gather_concat: return "all_gather_concat";
    case Collective::reduce_scatter: return "reduce_scatter";
    case Collective::barrier: return "barrier";
  }
  return "collective";
}

std::vector<std::vector<int64_t>> agree(const Call& call) {
  const char* api = name(call.collective);
  require_usable(api);
  const int world = world_size();
  // Shared, so that a failed exchange can leave them to MPI for good (keep_forever).
  const auto mine_owned = std::make_shared<std::vector<int64_t>>(header_of(call, world));
  const auto all_owned = std::make_shared<std::vector<int64_t>>(static_cast<size_t>(kFields) * world);
  const std::vector<int64_t>& mine = *mine_owned;
  std::vector<int64_t>& all = *all_owned;
  MPI_Request request = MPI_REQUEST_NULL;
  try {
    {
      std::lock_guard<std::mutex> lock(mpi_mutex());
      check_mpi(MPI_Iallgather(mine.data(), kFields, MPI_INT64_T, all.data(), kFields, MPI_INT64_T, comm(), &request),
                api);
    }
    wait(request, api);
  } catch (...) {
    keep_forever(mine_owned);
    keep_forever(all_owned);
    throw;
  }

  auto header = [&](int r) { return all.data() + static_cast<size_t>(r) * kFields; };
  const int64_t* first = header(0);
  // Every rank runs these checks on the same headers, so every rank throws the same message.
  for (int r = 0; r < world; ++r) {
    const int64_t* h = header(r);
    if (h[kCollective] != first[kCollective] || h[kOp] != first[kOp] || h[kRoot] != first[kRoot])
      ::dydx::detail::fail(api, ": the ranks call different collectives: rank 0 calls ", call_text(first), " but rank ",
                           r, " calls ", call_text(h));
  }
  for (int r = 0; r < world; ++r)
    if (header(r)[kProblem] != kNone) report_problem(api, r, header(r), world);
  for (int r = 1; r < world; ++r) {
    const int64_t* h = header(r);
    if (h[kDtype] != first[kDtype])
      ::dydx::detail::fail(api, ": rank ", r, " has dtype ", dtype_text(h[kDtype]), " but rank 0 has ",
                           dtype_text(first[kDtype]));
  }
  std::vector<std::vector<int64_t>> shapes(world);
  for (int r = 0; r < world; ++r) {
    const int64_t* h = header(r);
    for (int64_t d = 0; d < std::min<int64_t>(h[kDim], kShownDims); ++d) shapes[r].push_back(h[kSizes + d]);
  }
  if (call.collective == Collective::barrier) return shapes;
  // all_gather_concat lets dim 0 differ: its shapes are compared without it.
  const bool rows_may_differ = call.collective == Collective::all_gather_concat;
  for (int r = 1; r < world; ++r) {
    const int64_t* h = header(r);
    bool same = h[kDim] == first[kDim] && h[kShapeHash] == first[kShapeHash];
    for (int64_t d = rows_may_differ ? 1 : 0; same && d < std::min<int64_t>(h[kDim], kShownDims); ++d)
      same = h[kSizes + d] == first[kSizes + d];
    if (!same)
      ::dydx::detail::fail(api, ": rank ", r, " has shape ", shape_text(h), " but rank 0 has ", shape_text(first),
                           rows_may_differ ? " (only dim 0 may differ)" : "");
  }
  return shapes;
}

}  // namespace dydx::distributed::detail
