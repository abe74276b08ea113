// conv2d's VJP without a graph of it. The composed rules (conv.cpp) run an unfold, a batched product
// and a sum for grad_W, and a product then a fold for grad_x, each a pass over memory with its own
// intermediate. Here each sample goes through the cache once:
//   cols     = im2col(x_i), [C kh kw, L], in this thread's scratch
//   grad_W^T += cols @ g_i^T per group, [C/G kh kw, OC/G], onto the partial of the sample's slot
//   gcols    = W^T @ g_i per group, [C/G kh kw, L], folded (col2im) straight into grad_x's planes of x_i
//   grad_b  += the row sums of g_i
// One sample per product, not a chunk of samples side by side: OpenBLAS's small-matrix kernels take
// products under about 10^6 multiply-adds without packing either operand, and here they ran at 110 to
// 170 GFLOP/s on one thread where a chunk's wide product, packed, ran at 85 to 130 (sgemm, SkylakeX,
// the small CNN's 16 -> 32 layer; gemm orientation chosen the same way: cols @ g^T beat g @ cols^T).
//
// Samples split into slots of consecutive samples, several per thread so that a core busy with
// something else only delays its own slots. Each slot sums into its own grad_W and grad_b partials,
// added in slot order at the end, so that the bits depend on the sizes and the thread count only,
// never on which thread took which slot. grad_x planes belong to one sample each: no two threads
// write the same one.
#include "ops/conv_vjp_kernel.hpp"

#include <algorithm>
#include <vector>

#include "cpu/cpu_blas.hpp"
#include "cpu/skinny_gemm.hpp"
#include "dydx/threads.hpp"
#include "ops/op_util.hpp"
#include "cpu/scratch.hpp"

namespace dydx::ops {
namespace {

// grad_W^T += cols @ g_i^T has the positions, contiguous in both, as its inner dimension: BLAS packs
// (copies) both operands for it and took 29% of a small CNN's training step on it, at ~115 GFLOP/s.
// With at most kSkinnyMaxOutputs output channels per group, g_i^T is packed (one small transpose) for
// the register-blocked skinny kernel instead, which reads cols in place: 1.65 ms instead of 1.83 for
// the 16 -> 32 layer's step on one thread. The transpose costs as much as C/G kh kw rows of the
// product, so the kernel needs kSkinnyMinRows of them: with 9 to 36 BLAS was faster (1 to 4 input
// channels, 3 x 3), with 72 the skinny kernel.
constexpr int64_t kSkinnyMaxOutputs = 256, kSkinnyMinRows = 64, kSkinnyBlockBytes = 32 << 10;

// The sum of row[0..l) in double, in eight interleaved partial sums: one running sum would be a chain
// of dependent adds, several times slower than the rest of a sample's bias work.
template <class T>
double row_sum(const T* row, int64_t l) {
  double partial[8] = {};
  int64_t j = 0;
  for (; j + 8 <= l; j += 8)
    for (int k = 0; k < 8; ++k) partial[k] += static_cast<double>(row[j + k]);
  for (; j < l; ++j) partial[0] += static_cast<double>(row[j]);
  return ((partial[0] + partial[1]) + (partial[2] + partial[3])) +
         ((partial[4] + partial[5]) + (partial[6] + partial[7]));
}

template <class T>
void vjp_typed(const Tensor& x, const Tensor& w_in, const Tensor& g, const Window2d& win, int64_t groups,
               const ConvGrads& out) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3), oc = w_in.size(0);
  const int64_t oh = g.size(2), ow = g.size(3), l = oh * ow, kk = win.kernel_numel();
  const int64_t ocg = oc / groups, ckg = c / groups * kk, weight_numel = oc * ckg;
  const int64_t slots = std::min<int64_t>(n, 4 * get_num_threads());
  const bool skinny_weight = cpu::kSkinnyVectorBytes > 0 && ocg <= kSkinnyMaxOutputs && ckg >= kSkinnyMinRows;
  const int64_t skinny_block =
      std::max<int64_t>(64, kSkinnyBlockBytes / static_cast<int64_t>(sizeof(T) * std::max<int64_t>(1, ocg)));

  const Tensor w = w_in.contiguous();
  const T* xp = x.data_ptr<T>();
  const T* wp = w.data_ptr<T>();
  const T* gp = g.data_ptr<T>();
  const int64_t gs0 = g.stride(0), gs1 = g.stride(1), gs2 = g.stride(2), gs3 = g.stride(3);
  // A sample of g that is a row-major [OC, L] (rows gs1 apart) is read in place; others are packed.
  const bool g_in_place = (gs3 == 1 || ow == 1) && (gs2 == ow || oh == 1) && gs1 >= l;
  if (out.input != nullptr) *out.input = detail::make_empty({n, c, h, wd}, x.dtype());
  T* gxp = out.input != nullptr ? out.input->data_ptr<T>() : nullptr;
  // Per slot: grad_W^T as [G][C/G kh kw][OC/G], and grad_b.
  std::vector<T> weight_parts(out.weight != nullptr ? slots * weight_numel : 0);
  std::vector<double> bias_parts(out.bias != nullptr ? slots * oc : 0);

  cpu::parallel_for(slots, 1, [&](int64_t first, int64_t last) {
    const int64_t cols_size = out.weight != nullptr ? c * kk * l : 0;
    const int64_t gcols_size = out.input != nullptr ? c * kk * l : 0;
    const cpu::Scratch<T> scratch(static_cast<size_t>(cols_size + gcols_size + (g_in_place ? 0 : oc * l)));
    T* const cols = scratch.get();
    T* const gcols = cols + cols_size;
    T* const gpack = gcols + gcols_size;
    for (int64_t slot = first; slot < last; ++slot) {
      const int64_t begin = slot * n / slots, end = (slot + 1) * n / slots;
      for (int64_t s = begin; s < end; ++s) {
        const T* gi = gp + s * gs0;
        int64_t ldg = gs1;
        if (!g_in_place) {
          for (int64_t o = 0; o < oc; ++o)
            for (int64_t r = 0; r < oh; ++r) {
              const T* src = gi + o * gs1 + r * gs2;
              T* dst = gpack + o * l + r * ow;
              if (gs3 == 0) std::fill(dst, dst + ow, *src);  // a broadcast row, as from sum()'s backward
              else
                for (int64_t q = 0; q < ow; ++q) dst[q] = src[q * gs3];
            }
          gi = gpack;
          ldg = l;
        }
        if (out.bias != nullptr)
          for (int64_t o = 0; o < oc; ++o) bias_parts[slot * oc + o] += row_sum(gi + o * ldg, l);
        if (out.weight != nullptr) {
          for (int64_t ch = 0; ch < c; ++ch)
            im2col_plane(xp + s * x.stride(0) + ch * x.stride(1), x.stride(2), x.stride(3), h, wd, win, oh, ow,
                         cols + ch * kk * l, l);
          T* part = weight_parts.data() + slot * weight_numel;
          for (int64_t gr = 0; gr < groups; ++gr) {
            const T* ga = gi + gr * ocg * ldg;
            if (skinny_weight) {
              // Blocks of positions, so that each block of g_i^T [positions, OC/G] stays in L1.
              for (int64_t p0 = 0; p0 < l; p0 += skinny_block) {
                const cpu::SkinnyPackedB<T> gt(ga + p0, std::min(skinny_block, l - p0), ocg, 1, ldg);
                cpu::skinny_gemm_rows(cols + gr * ckg * l + p0, l, 1, gt, part + gr * ckg * ocg, 0, ckg,
                                      s != begin || p0 > 0);
              }
            } else {
              cpu::gemm_on_this_thread<T>(false, true, ckg, ocg, l, cols + gr * ckg * l, l, ga, ldg,
                                          part + gr * ckg * ocg, ocg, s != begin);
            }
          }
        }
        if (out.input != nullptr) {
          for (int64_t gr = 0; gr < groups; ++gr)
            cpu::gemm_on_this_thread<T>(true, false, ckg, l, ocg, wp + gr * ocg * ckg, ckg, gi + gr * ocg * ldg, ldg,
                                        gcols + gr * ckg * l, l, false);
          for (int64_t ch = 0; ch < c; ++ch)
            col2im_plane_consuming(gcols + ch * kk * l, l, h, wd, win, oh, ow, gxp + (s * c + ch) * h * wd);
        }
      }
    }
  });

  if (out.weight != nullptr) {
    // The slots' grad_W^T blocks, added in slot order and transposed back to [OC, C/G kh kw].
    *out.weight = detail::make_empty(w_in.sizes(), x.dtype());
    T* gwp = out.weight->data_ptr<T>();
    for (int64_t gr = 0; gr < groups; ++gr)
      for (int64_t o = 0; o < ocg; ++o)
        for (int64_t r = 0; r < ckg; ++r) {
          const int64_t at = gr * ckg * ocg + r * ocg + o;
          T sum = weight_parts[at];
          for (int64_t slot = 1; slot < slots; ++slot) sum += weight_parts[slot * weight_numel + at];
          gwp[(gr * ocg + o) * ckg + r] = sum;
        }
  }
  if (out.bias != nullptr) {
    *out.bias = detail::make_empty({oc}, x.dtype());
    T* bp = out.bias->data_ptr<T>();
    for (int64_t o = 0; o < oc; ++o) {
      double sum = 0;
      for (int64_t slot = 0; slot < slots; ++slot) sum += bias_parts[slot * oc + o];
      bp[o] = static_cast<T>(sum);
    }
  }
}

}  // namespace

void conv_vjp_direct(const Tensor& x, const Tensor& w, const Tensor& g, const Window2d& window, int64_t groups,
                     const ConvGrads& out) {
  cpu::dispatch_floating(x.dtype(), [&](auto tag) { vjp_typed<decltype(tag)>(x, w, g, window, groups, out); });
}

}  // namespace dydx::ops
