// Index arguments for Tensor::index and index_put_: integers, Slice, None, Ellipsis and tensors, as
// torch::indexing.
//
// Tensor indices (advanced indexing), as PyTorch's:
//   - int64: positions along one dim (negative ones count from the end), broadcast with the other
//     tensor indices;
//   - bool (a comparison's result, such as x > 0): a mask over as many dims as it has, standing for
//     the positions nonzero(mask) gives.
// Any other dtype raises. The indexed dims go where PyTorch puts them: in place of the indexed dims
// when the tensor indices are adjacent, otherwise first.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <variant>

namespace dydx {
class Tensor;
}

namespace dydx::indexing {

/// A Python slice start:stop:step; a missing bound means "from the start" or "to the end".
struct Slice {
  Slice(std::optional<int64_t> start = std::nullopt, std::optional<int64_t> stop = std::nullopt,
        std::optional<int64_t> step = std::nullopt)
      : start(start), stop(stop), step(step) {}
  std::optional<int64_t> start, stop, step;
};

struct EllipsisIndexType {};
inline constexpr EllipsisIndexType Ellipsis{};
/// None inserts a new dim of size 1 when used as an index, and means a missing bound in a Slice.
inline constexpr std::nullopt_t None = std::nullopt;

class TensorIndex {
 public:
  TensorIndex(int64_t i) : value_(i) {}
  TensorIndex(int i) : value_(static_cast<int64_t>(i)) {}
  TensorIndex(Slice s) : value_(s) {}
  TensorIndex(std::nullopt_t) : value_(std::monostate{}) {}
  TensorIndex(EllipsisIndexType e) : value_(e) {}
  TensorIndex(const Tensor& t);  // defined where Tensor is complete (src/ops/advanced_indexing.cpp)

  bool is_integer() const { return std::holds_alternative<int64_t>(value_); }
  bool is_slice() const { return std::holds_alternative<Slice>(value_); }
  bool is_none() const { return std::holds_alternative<std::monostate>(value_); }
  bool is_ellipsis() const { return std::holds_alternative<EllipsisIndexType>(value_); }
  int64_t integer() const { return std::get<int64_t>(value_); }
  const Slice& slice() const { return std::get<Slice>(value_); }
  bool is_tensor() const { return std::holds_alternative<std::shared_ptr<const Tensor>>(value_); }
  const Tensor& tensor() const { return *std::get<std::shared_ptr<const Tensor>>(value_); }

 private:
  std::variant<int64_t, Slice, std::monostate, EllipsisIndexType, std::shared_ptr<const Tensor>> value_;
};

}  // namespace dydx::indexing
