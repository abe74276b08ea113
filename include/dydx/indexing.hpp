// Index arguments for Tensor::index: integers, Slice, None and Ellipsis, as torch::indexing.
#pragma once

#include <cstdint>
#include <optional>
#include <variant>

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

  bool is_integer() const { return std::holds_alternative<int64_t>(value_); }
  bool is_slice() const { return std::holds_alternative<Slice>(value_); }
  bool is_none() const { return std::holds_alternative<std::monostate>(value_); }
  bool is_ellipsis() const { return std::holds_alternative<EllipsisIndexType>(value_); }
  int64_t integer() const { return std::get<int64_t>(value_); }
  const Slice& slice() const { return std::get<Slice>(value_); }

 private:
  std::variant<int64_t, Slice, std::monostate, EllipsisIndexType> value_;
};

}  // namespace dydx::indexing
