// einsum: an equation parsed into subscripts, then diagonals (as_strided views), sums and pairwise
// bmm contractions from left to right, so that every derivative comes from those ops' own rules.
//
// Each operand's dims are named by global ids: a subscript letter (A-Z as 0-25, a-z as 26-51, the
// order PyTorch sorts an implicit output in) or one of the dims that "..." covers (52 + k, aligned to
// the right across operands, as broadcasting aligns shapes). Contracting the running result A with
// the next operand B puts the ids shared and still needed (by the output or a later operand) in the
// batch, the shared ones not needed in the contraction, and the rest on the rows (A) or columns (B)
// of one bmm: [batch, rows, k] x [batch, k, cols]. With nothing to contract, the product is a
// broadcasting mul of the two (permuted, unsqueezed) views instead.
#include <algorithm>
#include <array>
#include <string>

#include "ops/op_util.hpp"

namespace dydx {
namespace {

constexpr int kLetters = 52;
constexpr int kEllipsis = -1;  // the marker of "..." in a parsed term

int letter_id(char c) { return c >= 'a' ? 26 + (c - 'a') : c - 'A'; }
char letter_of(int id) { return id < 26 ? static_cast<char>('A' + id) : static_cast<char>('a' + id - 26); }

// One term of the equation: its subscripts in order, kEllipsis where "..." stands.
struct Term {
  std::vector<int> subscripts;
  bool has_ellipsis = false;
  size_t letters() const { return subscripts.size() - (has_ellipsis ? 1 : 0); }
};

// Parses the term starting at `begin` (an offset into the equation, for error messages).
Term parse_term(std::string_view text, size_t begin, const char* what) {
  Term term;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '.') {
      DYDX_CHECK(text.substr(i, 3) == "...", "einsum(): found '.' for ", what, " that is not part of any ellipsis");
      DYDX_CHECK(!term.has_ellipsis, "einsum(): found more than one ellipsis ('...') for ", what);
      term.has_ellipsis = true;
      term.subscripts.push_back(kEllipsis);
      i += 2;
      continue;
    }
    DYDX_CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'), "einsum(): invalid subscript given at index ",
               begin + i, " in the equation string, subscripts must be in [a-zA-Z]");
    term.subscripts.push_back(letter_id(c));
  }
  return term;
}

// A tensor whose dims are named by distinct global ids.
struct Labelled {
  Tensor t;
  std::vector<int> ids;
};

int64_t position(const std::vector<int>& ids, int id) {
  return std::find(ids.begin(), ids.end(), id) - ids.begin();
}
bool has(const std::vector<int>& ids, int id) { return std::find(ids.begin(), ids.end(), id) != ids.end(); }

// The operand with a global id per dim; a repeated subscript becomes its diagonal (one dim whose
// stride is the sum of the repeated dims' strides, a view).
Labelled label_operand(const Tensor& x, const Term& term, size_t index, int64_t ellipsis_dims, int64_t max_ellipsis) {
  std::vector<int> dim_ids;
  for (int s : term.subscripts) {
    if (s != kEllipsis) {
      dim_ids.push_back(s);
      continue;
    }
    for (int64_t k = 0; k < ellipsis_dims; ++k) dim_ids.push_back(kLetters + static_cast<int>(max_ellipsis - ellipsis_dims + k));
  }
  Labelled out;
  Dims sizes, strides;
  for (int64_t d = 0; d < x.dim(); ++d) {
    const int id = dim_ids[d];
    const int64_t at = position(out.ids, id);
    if (at < static_cast<int64_t>(out.ids.size())) {
      DYDX_CHECK(sizes[at] == x.size(d), "einsum(): subscript ", letter_of(id), " is repeated for operand ", index,
                 " but the sizes don't match, ", x.size(d), " != ", sizes[at]);
      strides[at] += x.stride(d);
      continue;
    }
    out.ids.push_back(id);
    sizes.push_back(x.size(d));
    strides.push_back(x.stride(d));
  }
  const bool diagonal = out.ids.size() != dim_ids.size();
  // No explicit offset: the view starts at x's own, which func::compile replays relative to x.
  out.t = diagonal ? x.as_strided(sizes, strides) : x;
  return out;
}

// Sums a over the ids that `keep` rejects.
Labelled sum_out(const Labelled& a, const std::function<bool(int)>& keep) {
  std::vector<int64_t> dims;
  Labelled out;
  for (size_t d = 0; d < a.ids.size(); ++d) {
    if (keep(a.ids[d])) out.ids.push_back(a.ids[d]);
    else dims.push_back(static_cast<int64_t>(d));
  }
  out.t = dims.empty() ? a.t : a.t.sum(dims);
  return out;
}

// a's dims in the order of ids, each expanded to sizes[id] (the broadcast size).
Tensor arrange(const Labelled& a, const std::vector<int>& ids, const std::array<int64_t, 128>& sizes) {
  std::vector<int64_t> order;
  Dims shape;
  for (int id : ids) {
    order.push_back(position(a.ids, id));
    shape.push_back(sizes[id]);
  }
  Tensor t = a.t.permute(order);
  return t.sizes() == IntArrayRef(shape) ? t : t.expand(shape);
}

int64_t size_product(const std::vector<int>& ids, const std::array<int64_t, 128>& sizes) {
  int64_t n = 1;
  for (int id : ids) n *= sizes[id];
  return n;
}

// a times b, summed over the shared ids not in `needed`, by one bmm.
Labelled contract(const Labelled& a, const Labelled& b, const std::function<bool(int)>& needed,
                  const std::array<int64_t, 128>& sizes) {
  std::vector<int> batch, rows, inner, cols;
  for (int id : a.ids) {
    if (!has(b.ids, id)) rows.push_back(id);
    else if (needed(id)) batch.push_back(id);
    else inner.push_back(id);
  }
  for (int id : b.ids)
    if (!has(a.ids, id)) cols.push_back(id);
  if (inner.empty()) {
    // Nothing to sum: a broadcasting product of views (an outer or elementwise product), no copies.
    Labelled out{a.t, a.ids};
    for (int id : cols) out.ids.push_back(id), out.t = out.t.unsqueeze(-1);
    std::vector<int64_t> order;
    for (int id : out.ids)
      if (has(b.ids, id)) order.push_back(position(b.ids, id));
    Tensor right = b.t.permute(order);
    for (size_t i = 0; i < out.ids.size(); ++i)
      if (!has(b.ids, out.ids[i])) right = right.unsqueeze(static_cast<int64_t>(i));
    out.t = out.t * right;
    return out;
  }
  auto join = [](std::vector<int> x, const std::vector<int>& y) {
    x.insert(x.end(), y.begin(), y.end());
    return x;
  };
  const int64_t nb = size_product(batch, sizes), m = size_product(rows, sizes), k = size_product(inner, sizes),
                n = size_product(cols, sizes);
  const Tensor left = arrange(a, join(join(batch, rows), inner), sizes).reshape({nb, m, k});
  const Tensor right = arrange(b, join(join(batch, inner), cols), sizes).reshape({nb, k, n});
  Labelled out;
  out.ids = join(join(batch, rows), cols);
  Dims shape;
  for (int id : out.ids) shape.push_back(sizes[id]);
  out.t = bmm(left, right).reshape(shape);
  return out;
}

// einsum's batching rule (vmap): ONE einsum of the values, the batch a subscript of its own in front
// of each batched operand and of the output. Runs once the terms have parsed and matched the ranks;
// the einsum of the values checks the sizes, with the messages of the samples' (the batch's subscript
// is none of theirs). output_text: the output's subscripts as written, or as implicit mode makes them.
Tensor einsum_rule(const std::vector<Term>& terms, const std::vector<std::string>& texts, const std::string& output_text,
                   const TensorList& operands) {
  std::array<bool, kLetters> used{};
  for (const Term& t : terms)
    for (int s : t.subscripts)
      if (s != kEllipsis) used[s] = true;
  int batch = 0;
  while (batch < kLetters && used[batch]) ++batch;
  DYDX_CHECK(batch < kLetters, "einsum(): under vmap the batch needs a subscript of its own, but the equation uses "
             "all 52 letters");
  const uint32_t level = vmap::top_level(operands);
  std::string equation;
  TensorList values;
  for (size_t i = 0; i < operands.size(); ++i) {
    const vmap::Arg a = vmap::unwrap(operands[i], level);
    if (i > 0) equation.push_back(',');
    if (a.bdim) equation.push_back(letter_of(batch));
    equation.append(texts[i]);
    values.push_back(vmap::batch_first(a));
  }
  equation.append("->");
  equation.push_back(letter_of(batch));
  equation.append(output_text);
  return vmap::wrap(einsum(equation, values), 0, level);
}

}  // namespace

Tensor einsum(std::string_view equation_in, const TensorList& operands) {
  DYDX_CHECK(!operands.empty(), "einsum(): must provide at least one operand");
  for (size_t i = 0; i < operands.size(); ++i) {
    DYDX_CHECK(operands[i].defined(), "einsum(): operand ", i, " is undefined");
    DYDX_CHECK(operands[i].dtype() == operands[0].dtype(), "einsum(): expected all operands to have the same dtype, got ",
               operands[0].dtype(), " for operand 0 and ", operands[i].dtype(), " for operand ", i);
  }
  DYDX_CHECK(operands[0].dtype() != kBool, "einsum(): not implemented for bool tensors; convert them first, e.g. with "
             ".to(kFloat32)");
  // Spaces separate nothing; they are dropped, keeping the offsets of the rest for error messages.
  std::string equation;
  for (char c : equation_in)
    if (c != ' ') equation.push_back(c);
  const size_t arrow = equation.find("->");
  const std::string lhs = equation.substr(0, arrow);
  std::vector<Term> terms;
  std::vector<std::string> term_texts;  // as written, for the batching rule's equation
  size_t begin = 0;
  while (true) {
    const size_t comma = lhs.find(',', begin);
    const size_t end = comma == std::string::npos ? lhs.size() : comma;
    DYDX_CHECK(terms.size() < operands.size(), "einsum(): fewer operands were provided than specified in the equation");
    const std::string what = "operand " + std::to_string(terms.size());
    terms.push_back(parse_term(std::string_view(lhs).substr(begin, end - begin), begin, what.c_str()));
    term_texts.push_back(lhs.substr(begin, end - begin));
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  DYDX_CHECK(terms.size() == operands.size(), "einsum(): more operands were provided than specified in the equation");

  // The dims "..." covers in each operand, and the broadcast size of every id.
  int64_t max_ellipsis = 0;
  std::vector<int64_t> ellipsis_dims(operands.size());
  for (size_t i = 0; i < operands.size(); ++i) {
    const int64_t rank = operands[i].dim(), letters = static_cast<int64_t>(terms[i].letters());
    if (terms[i].has_ellipsis) {
      DYDX_CHECK(rank >= letters, "einsum(): the number of subscripts in the equation (", letters,
                 ") is more than the number of dimensions (", rank, ") for operand ", i);
    } else {
      DYDX_CHECK(rank == letters, "einsum(): the number of subscripts in the equation (", letters,
                 ") does not match the number of dimensions (", rank, ") for operand ", i, " and no ellipsis was given");
    }
    ellipsis_dims[i] = rank - letters;
    max_ellipsis = std::max(max_ellipsis, ellipsis_dims[i]);
  }
  DYDX_CHECK(max_ellipsis <= 128 - kLetters, "einsum(): too many dims under the ellipsis (", max_ellipsis, ")");
  if (vmap::active() && vmap::any_batched(operands)) [[unlikely]] {
    std::string output_text;
    if (arrow != std::string::npos) {
      output_text = equation.substr(arrow + 2);
      parse_term(output_text, arrow + 2, "the output");  // its characters' errors, at their offsets here
    } else {
      std::array<int, kLetters> count{};
      bool ellipsis = false;
      for (const Term& t : terms)
        for (int s : t.subscripts) {
          if (s == kEllipsis) ellipsis = true;
          else ++count[s];
        }
      if (ellipsis) output_text = "...";
      for (int id = 0; id < kLetters; ++id)
        if (count[id] == 1) output_text.push_back(letter_of(id));
    }
    return einsum_rule(terms, term_texts, output_text, operands);
  }

  std::vector<Labelled> labelled;
  std::array<int64_t, 128> sizes;
  sizes.fill(-1);
  std::array<int, 128> uses{};  // how many operands each id appears in
  for (size_t i = 0; i < operands.size(); ++i) {
    labelled.push_back(label_operand(operands[i], terms[i], i, ellipsis_dims[i], max_ellipsis));
    const Labelled& l = labelled.back();
    for (size_t d = 0; d < l.ids.size(); ++d) {
      const int id = l.ids[d];
      const int64_t s = l.t.size(static_cast<int64_t>(d));
      ++uses[id];
      if (sizes[id] == -1 || sizes[id] == 1) {  // unseen, or seen only as 1: s is the size so far
        sizes[id] = s;
        continue;
      }
      if (id >= kLetters) {
        DYDX_CHECK(s == 1 || s == sizes[id], "einsum(): dimension ", id - kLetters - (max_ellipsis - ellipsis_dims[i]),
                   " covered by ellipsis in operand ", i, " has size ", s,
                   " which does not broadcast with previously seen ellipsis with size ", sizes[id],
                   " for the respective dimension");
      } else {
        DYDX_CHECK(s == 1 || s == sizes[id], "einsum(): subscript ", letter_of(id), " has size ", s, " for operand ", i,
                   " which does not broadcast with previously seen size ", sizes[id]);
      }
    }
  }

  // The output's ids: as written, or "..." then the letters used once, in A-Z a-z order.
  std::vector<int> output;
  if (arrow != std::string::npos) {
    const Term out = parse_term(std::string_view(equation).substr(arrow + 2), arrow + 2, "the output");
    for (int s : out.subscripts) {
      if (s == kEllipsis) {
        for (int64_t k = 0; k < max_ellipsis; ++k) output.push_back(kLetters + static_cast<int>(k));
        continue;
      }
      DYDX_CHECK(!has(output, s), "einsum(): output subscript ", letter_of(s), " appears more than once in the output");
      DYDX_CHECK(uses[s] > 0, "einsum(): output subscript ", letter_of(s),
                 " does not appear in the equation for any input operand");
      output.push_back(s);
    }
  } else {
    for (int64_t k = 0; k < max_ellipsis; ++k) output.push_back(kLetters + static_cast<int>(k));
    std::array<int, kLetters> count{};
    for (const Term& t : terms)
      for (int s : t.subscripts)
        if (s != kEllipsis) ++count[s];
    for (int id = 0; id < kLetters; ++id)
      if (count[id] == 1) output.push_back(id);
  }

  // Ids used by one operand only and not in the output are summed right away; then the operands
  // are contracted from left to right.
  std::array<int, 128> remaining = uses;
  auto in_output = [&](int id) { return has(output, id); };
  for (Labelled& l : labelled) l = sum_out(l, [&](int id) { return in_output(id) || uses[id] > 1; });
  Labelled result = labelled[0];
  for (int id : result.ids) --remaining[id];
  for (size_t i = 1; i < labelled.size(); ++i) {
    for (int id : labelled[i].ids) --remaining[id];
    result = contract(result, labelled[i], [&](int id) { return in_output(id) || remaining[id] > 0; }, sizes);
  }
  result = sum_out(result, in_output);
  return arrange(result, output, sizes);
}

}  // namespace dydx
