// The machine vector that dydx's own product kernels (skinny_gemm.cpp, dot_gemm.cpp) block for, as GCC
// vector extensions, and its loads.
#pragma once

#include <cstdint>
#include <cstring>

#include "cpu/skinny_gemm.hpp"

#ifdef DYDX_SKINNY_GEMM
namespace dydx::cpu::kernel_vectors {

// One machine vector of T (the attribute cannot apply to a template parameter).
template <class T>
struct VectorOf;
template <>
struct VectorOf<float> {
  typedef float type __attribute__((vector_size(kSkinnyVectorBytes)));
};
template <>
struct VectorOf<double> {
  typedef double type __attribute__((vector_size(kSkinnyVectorBytes)));
};
template <class T>
using Vec = typename VectorOf<T>::type;
template <class T>
constexpr int kLanes = kSkinnyVectorBytes / static_cast<int>(sizeof(T));

// One vector from memory, unaligned.
template <class T>
Vec<T> load(const T* p) {
  Vec<T> v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// The first n lanes from memory (all of them for n >= the vector's lanes), the rest zero: a row's last
// values, which may end before its last vector does.
template <class T>
Vec<T> load_first(const T* p, int64_t n) {
  if (n >= kLanes<T>) return load(p);
  T part[kLanes<T>] = {};
  if (n > 0) std::memcpy(part, p, static_cast<size_t>(n) * sizeof(T));
  return load(part);
}

}  // namespace dydx::cpu::kernel_vectors
#endif
