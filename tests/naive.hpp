// Naive: a plain row-major array of doubles, the scalar reference that op forwards are checked against.
#pragma once

#include <dydx/dydx.hpp>

#include <functional>
#include <vector>

namespace dydx::testing {

struct Naive {
  std::vector<int64_t> shape;
  std::vector<double> values;

  static Naive of(const Tensor& t) { return {t.sizes().vec(), t.to(kFloat64).to_vector<double>()}; }

  /// Builds an array of the given shape whose element at each multi-index is f(index).
  static Naive build(std::vector<int64_t> shape, const std::function<double(const std::vector<int64_t>&)>& f) {
    Naive out{shape, {}};
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    std::vector<int64_t> index(shape.size(), 0);
    for (int64_t flat = 0; flat < n; ++flat) {
      int64_t rem = flat;
      for (size_t d = shape.size(); d-- > 0;) {
        index[d] = rem % shape[d];
        rem /= shape[d];
      }
      out.values.push_back(f(index));
    }
    return out;
  }

  double at(const std::vector<int64_t>& index) const {
    int64_t flat = 0;
    for (size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + index[d];
    return values[flat];
  }

  /// The element this array contributes at index of a broadcast result of rank index.size().
  double broadcast_at(const std::vector<int64_t>& index) const {
    std::vector<int64_t> own(shape.size());
    const size_t lead = index.size() - shape.size();
    for (size_t d = 0; d < shape.size(); ++d) own[d] = shape[d] == 1 ? 0 : index[lead + d];
    return at(own);
  }
};

inline std::vector<int64_t> broadcast(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  const size_t rank = std::max(a.size(), b.size());
  std::vector<int64_t> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t sa = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t sb = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    out[i] = sa == 1 ? sb : sa;
  }
  return out;
}

inline Naive map(const Naive& x, const std::function<double(double)>& f) {
  return Naive::build(x.shape, [&](const auto& i) { return f(x.at(i)); });
}

inline Naive zip(const Naive& a, const Naive& b, const std::function<double(double, double)>& f) {
  return Naive::build(broadcast(a.shape, b.shape), [&](const auto& i) { return f(a.broadcast_at(i), b.broadcast_at(i)); });
}

/// Folds x over the given dims (all dims when empty) with combine, starting from the first element.
inline Naive reduce(const Naive& x, std::vector<int64_t> dims, bool keepdim,
                    const std::function<double(double, double)>& combine) {
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  std::vector<bool> reduced(rank, dims.empty());
  for (int64_t d : dims) reduced[d < 0 ? d + rank : d] = true;
  std::vector<int64_t> keep_shape(rank), out_shape;
  for (int64_t d = 0; d < rank; ++d) {
    keep_shape[d] = reduced[d] ? 1 : x.shape[d];
    if (!reduced[d] || keepdim) out_shape.push_back(keep_shape[d]);
  }
  Naive keep = Naive::build(keep_shape, [&](const std::vector<int64_t>& out_index) {
    std::vector<int64_t> span(rank);
    for (int64_t d = 0; d < rank; ++d) span[d] = reduced[d] ? x.shape[d] : 1;
    bool first = true;
    double acc = 0;
    Naive::build(span, [&](const std::vector<int64_t>& offset) {
      std::vector<int64_t> index(rank);
      for (int64_t d = 0; d < rank; ++d) index[d] = reduced[d] ? offset[d] : out_index[d];
      acc = first ? x.at(index) : combine(acc, x.at(index));
      first = false;
      return 0.0;
    });
    return acc;
  });
  keep.shape = out_shape;
  return keep;
}

inline Naive matmul(const Naive& a, const Naive& b) {
  // a [..., n, k] @ b [..., k, m] with equal batch dims.
  const size_t r = a.shape.size();
  std::vector<int64_t> shape = a.shape;
  shape[r - 1] = b.shape[r - 1];
  const int64_t k = a.shape[r - 1];
  return Naive::build(shape, [&](const std::vector<int64_t>& i) {
    double acc = 0;
    std::vector<int64_t> ia = i, ib = i;
    for (int64_t p = 0; p < k; ++p) {
      ia[r - 1] = p;
      ib[r - 2] = p;
      acc += a.at(ia) * b.at(ib);
    }
    return acc;
  });
}

}  // namespace dydx::testing
