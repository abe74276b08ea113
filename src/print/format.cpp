// format_tensor: PyTorch 1.13's element formatting, row layout, summarisation and repr suffixes.
#include "print/format.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace dydx::detail {
namespace {

/// PyTorch's default print options.
constexpr int64_t kThreshold = kPrintThreshold;
constexpr int64_t kEdgeItems = kPrintEdgeItems;
constexpr int64_t kLineWidth = 80;
constexpr const char* kPrefix = "tensor(";
constexpr int64_t kPrefixWidth = 7;

/// How every element of one tensor is written; PyTorch picks one style per tensor.
enum class Style { integral_float, fixed, scientific, integer, boolean };

/// One double through printf; glibc rounds exactly (ties to even), as Python's float formatting does.
std::string printf_double(const char* fmt, double v) {
  char buf[512];  // wide enough for "%.4f" of the largest double
  const int n = std::snprintf(buf, sizeof buf, fmt, v);
  return std::string(buf, static_cast<size_t>(n));
}

/// Python writes inf, -inf and nan (never "-nan", whatever the sign bit).
std::string non_finite_text(double v) {
  if (std::isnan(v)) return "nan";
  return v > 0 ? "inf" : "-inf";
}

std::string spaces(int64_t n) { return std::string(static_cast<size_t>(std::max<int64_t>(n, 0)), ' '); }

/// Formats elements in one style and pads them to one common width, as torch._tensor_str._Formatter.
class ElementFormatter {
 public:
  /// For an int64 tensor: its elements are written exactly, as Python writes ints. For a bool one
  /// (elements 0 and 1): True and False, padded to the widest shown, as Python writes bools.
  ElementFormatter(const std::vector<int64_t>& shown, bool boolean)
      : style_(boolean ? Style::boolean : Style::integer) {
    for (int64_t v : shown) width_ = std::max(width_, text(v).size());
  }

  explicit ElementFormatter(const std::vector<double>& shown) {
    std::vector<double> nonzero_finite;
    for (double v : shown) {
      if (std::isfinite(v) && v != 0.0) nonzero_finite.push_back(v);
    }
    // With nothing finite and nonzero, PyTorch keeps its defaults: integral style, width 1.
    if (nonzero_finite.empty()) return;
    style_ = pick_float_style(nonzero_finite);
    // Zeros and non-finite values do not count towards the width, exactly as in PyTorch.
    for (double v : nonzero_finite) width_ = std::max(width_, text(v).size());
  }

  size_t width() const { return width_; }

  /// The element right-aligned to the common width (longer texts such as "-inf" are not cut).
  std::string format(double v) const { return padded(text(v)); }
  std::string format(int64_t v) const { return padded(text(v)); }

 private:
  static Style pick_float_style(const std::vector<double>& nonzero_finite) {
    double lo = std::abs(nonzero_finite.front());
    double hi = lo;
    bool integral = true;
    for (double v : nonzero_finite) {
      lo = std::min(lo, std::abs(v));
      hi = std::max(hi, std::abs(v));
      integral = integral && v == std::ceil(v);
    }
    const bool wide_range = hi / lo > 1000.0 || hi > 1.0e8;
    if (integral) return wide_range ? Style::scientific : Style::integral_float;
    return wide_range || lo < 1.0e-4 ? Style::scientific : Style::fixed;
  }

  std::string padded(std::string s) const {
    if (s.size() < width_) s.insert(0, width_ - s.size(), ' ');
    return s;
  }

  /// The unpadded text of one int64 or bool element.
  std::string text(int64_t v) const {
    if (style_ == Style::boolean) return v != 0 ? "True" : "False";
    return std::to_string(v);
  }

  /// The unpadded text of one floating element.
  std::string text(double v) const {
    switch (style_) {
      case Style::integer:  // not chosen for floating elements
      case Style::boolean:
      case Style::integral_float:
        // The trailing dot marks a floating tensor; non-finite values get none.
        return std::isfinite(v) ? printf_double("%.0f", v) + "." : non_finite_text(v);
      case Style::fixed:
        return std::isfinite(v) ? printf_double("%.4f", v) : non_finite_text(v);
      case Style::scientific:
        return std::isfinite(v) ? printf_double("%.4e", v) : non_finite_text(v);
    }
    return {};
  }

  Style style_ = Style::integral_float;
  size_t width_ = 1;
};

/// The positions printed along a dim: all of them, or the first and last kEdgeItems when summarising.
/// It never walks the positions it skips: a dim of an expanded tensor can have billions.
std::vector<int64_t> shown_positions(int64_t size, bool summarize) {
  std::vector<int64_t> out;
  const bool cut = summarize && size > 2 * kEdgeItems;
  for (int64_t i = 0; i < (cut ? kEdgeItems : size); ++i) out.push_back(i);
  if (cut)
    for (int64_t i = size - kEdgeItems; i < size; ++i) out.push_back(i);
  return out;
}

/// Whether a " ..." / "..." marker follows position i of a dim of this size.
bool marker_after(int64_t i, int64_t size, bool summarize) {
  return summarize && size > 2 * kEdgeItems && i == kEdgeItems - 1;
}

/// How many positions of a dim of this size are shown.
int64_t shown_count(int64_t size, bool summarize) { return summarize && size > 2 * kEdgeItems ? 2 * kEdgeItems : size; }

/// The tensor being printed: its input, the number of positions in.values holds along each dim (all of
/// them, or only the shown ones), the row-major strides of in.values and whether it is summarised.
struct Layout {
  const PrintInput& in;
  std::vector<int64_t> value_sizes;
  std::vector<int64_t> strides;
  bool summarize;

  /// Where position i of dim d is, relative to the start of its enclosing block in in.values.
  int64_t step(size_t d, int64_t i) const {
    const int64_t skipped = in.sizes[d] - value_sizes[d];
    return (i < kEdgeItems ? i : i - skipped) * strides[d];
  }
};

std::vector<int64_t> row_major_strides(const std::vector<int64_t>& sizes) {
  std::vector<int64_t> strides(sizes.size(), 1);
  for (size_t d = sizes.size(); d-- > 1;) strides[d - 1] = strides[d] * sizes[d];
  return strides;
}

/// Appends every element of values that will be printed; PyTorch sizes its formatter on these alone.
template <class T>
void collect_shown(const Layout& l, const std::vector<T>& values, size_t dim, int64_t offset, std::vector<T>& out) {
  if (dim == l.in.sizes.size()) {
    out.push_back(values[static_cast<size_t>(offset)]);
    return;
  }
  for (int64_t i : shown_positions(l.in.sizes[dim], l.summarize)) {
    collect_shown(l, values, dim + 1, offset + l.step(dim, i), out);
  }
}

/// The padded text of the element at an offset into whichever list holds the elements.
std::string element_text(const Layout& l, const ElementFormatter& f, int64_t offset) {
  const size_t i = static_cast<size_t>(offset);
  return l.in.is_int64 || l.in.is_bool ? f.format(l.in.int_values[i]) : f.format(l.in.values[i]);
}

/// The last dim: elements packed into lines of at most kLineWidth, as torch's _vector_str.
std::string vector_text(const Layout& l, const ElementFormatter& f, int64_t offset, int64_t indent) {
  const int64_t size = l.in.sizes.back();
  std::vector<std::string> items;
  for (int64_t i : shown_positions(size, l.summarize)) {
    items.push_back(element_text(l, f, offset + l.step(l.in.sizes.size() - 1, i)));
    if (marker_after(i, size, l.summarize)) items.push_back(" ...");
  }
  const int64_t item_width = static_cast<int64_t>(f.width()) + 2;
  const size_t per_line = static_cast<size_t>(std::max<int64_t>(1, (kLineWidth - indent) / item_width));
  std::string out = "[";
  for (size_t k = 0; k < items.size(); ++k) {
    if (k > 0) out += k % per_line == 0 ? ",\n" + spaces(indent + 1) : ", ";
    out += items[k];
  }
  return out + "]";
}

/// One sub-tensor starting at dim, nested in brackets; blank lines separate blocks of 3-D and up.
std::string block_text(const Layout& l, const ElementFormatter& f, size_t dim, int64_t offset,
                       int64_t indent) {
  if (dim + 1 == l.in.sizes.size()) return vector_text(l, f, offset, indent);
  const int64_t size = l.in.sizes[dim];
  const int64_t remaining_dims = static_cast<int64_t>(l.in.sizes.size() - dim);
  std::string separator = ",";
  separator.append(static_cast<size_t>(remaining_dims - 1), '\n');
  separator += spaces(indent + 1);
  std::string out = "[";
  bool first = true;
  auto append = [&](const std::string& part) {
    if (!first) out += separator;
    out += part;
    first = false;
  };
  for (int64_t i : shown_positions(size, l.summarize)) {
    append(block_text(l, f, dim + 1, offset + l.step(dim, i), indent + 1));
    if (marker_after(i, size, l.summarize)) append("...");
  }
  return out + "]";
}

int64_t element_count(const std::vector<int64_t>& sizes) {
  int64_t n = 1;
  for (int64_t s : sizes) n *= s;
  return n;
}

/// The number of positions along each dim that in.values (in.int_values) holds: all, or only the shown ones.
std::vector<int64_t> value_sizes_of(const PrintInput& in) {
  const bool summarize = element_count(in.sizes) > kThreshold;
  std::vector<int64_t> shown;
  int64_t shown_numel = 1;
  for (int64_t s : in.sizes) {
    shown.push_back(shown_count(s, summarize));
    shown_numel *= shown.back();
  }
  const int64_t given = static_cast<int64_t>(in.is_int64 || in.is_bool ? in.int_values.size() : in.values.size());
  if (given == shown_numel) return shown;
  if (given == element_count(in.sizes)) return in.sizes;
  throw std::invalid_argument("format_tensor: " + std::to_string(given) + " values for " +
                              std::to_string(element_count(in.sizes)) + " elements (" +
                              std::to_string(shown_numel) + " shown)");
}

/// The element text between "tensor(" and the suffixes, for a non-empty tensor.
std::string body_text(const PrintInput& in) {
  std::vector<int64_t> value_sizes = value_sizes_of(in);
  std::vector<int64_t> strides = row_major_strides(value_sizes);
  const Layout l{in, std::move(value_sizes), std::move(strides), element_count(in.sizes) > kThreshold};
  auto formatter = [&]<class T>(const std::vector<T>& values) {
    std::vector<T> shown;
    collect_shown(l, values, 0, 0, shown);
    if constexpr (std::is_same_v<T, int64_t>) return ElementFormatter(shown, in.is_bool);
    else return ElementFormatter(shown);
  };
  const ElementFormatter f = in.is_int64 || in.is_bool ? formatter(in.int_values) : formatter(in.values);
  if (in.sizes.empty()) return element_text(l, f, 0);
  return block_text(l, f, 0, 0, kPrefixWidth);
}

/// Python's str of a shape tuple: "(0, 3)", "(0,)".
std::string tuple_text(const std::vector<int64_t>& sizes) {
  std::string out = "(";
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (d > 0) out += ", ";
    out += std::to_string(sizes[d]);
  }
  return out + (sizes.size() == 1 ? ",)" : ")");
}

std::vector<std::string> suffixes_of(const PrintInput& in, bool empty) {
  std::vector<std::string> out;
  // An empty tensor has no elements to show its dtype, so PyTorch names int64 too and gives the shape.
  if (empty && in.sizes.size() != 1) out.push_back("size=" + tuple_text(in.sizes));
  if (in.is_float64) out.push_back("dtype=torch.float64");
  if (empty && in.is_int64) out.push_back("dtype=torch.int64");
  if (empty && in.is_bool) out.push_back("dtype=torch.bool");
  if (!in.grad_fn.empty()) {
    out.push_back("grad_fn=<" + in.grad_fn + ">");
  } else if (in.requires_grad_leaf) {
    out.push_back("requires_grad=True");
  }
  return out;
}

/// Appends ", suffix" or, past the line width, ",\n       suffix"; closes the parenthesis.
std::string with_suffixes(std::string text, const std::vector<std::string>& suffixes) {
  const size_t newline = text.rfind('\n');
  // PyTorch's measure of the last line is two more than its length; reproduce it.
  int64_t last_line = static_cast<int64_t>(text.size()) -
                      (newline == std::string::npos ? -1 : static_cast<int64_t>(newline)) + 1;
  for (const std::string& s : suffixes) {
    const int64_t len = static_cast<int64_t>(s.size());
    if (last_line + len + 2 > kLineWidth) {
      text += ",\n" + spaces(kPrefixWidth) + s;
      last_line = kPrefixWidth + len;
    } else {
      text += ", " + s;
      last_line += len + 2;
    }
  }
  return text + ")";
}

}  // namespace

std::string format_tensor(const PrintInput& in) {
  const bool empty = element_count(in.sizes) == 0;
  if (empty && !(in.values.empty() && in.int_values.empty())) throw std::invalid_argument("format_tensor: values for an empty tensor");
  const std::string body = empty ? "[]" : body_text(in);
  return with_suffixes(kPrefix + body, suffixes_of(in, empty));
}

}  // namespace dydx::detail
