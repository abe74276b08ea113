// prod_others, the op of prod's rules (prod.cpp), for the rules and the op table's tests.
#pragma once

#include "dydx/tensor.hpp"

namespace dydx::ops {

/// The products of the others along dim (< 0) with tangents a_1 .. a_m: element l is the coefficient
/// of e_1 ... e_m in prod_{i != l} (x_i + e_1 a_1i + ... + e_m a_mi), with e_k^2 = 0. With no tangent,
/// the product of every element of the row but x_l (d prod / d x_l); with one, its derivative along
/// a_1; and so on. x and the tangents broadcast; floating dtypes; at most 16 tangents. Divides by
/// nothing and carries exponents apart: a result that is in range is computed in range.
Tensor prod_others(const Tensor& x, const TensorList& tangents, int64_t dim);

}  // namespace dydx::ops
