// dydx chooses OpenBLAS's kernels by the CPU's features (src/cpu/blas_core.hpp). Each test runs in
// a process of its own (tests/CMakeLists.txt), with OPENBLAS_CORETYPE=Prescott standing for an
// OpenBLAS older than the CPU, which falls back to its SSE3 kernels: DYDX_BLAS_CORE decides what dydx
// does about it. Every product must still be right.
#include <gtest/gtest.h>

#include <cblas.h>

#include <string>

#include <dydx/dydx.hpp>

#include "cpu/blas_core.hpp"
#include "cpu/packed_gemm.hpp"

namespace dydx {
namespace {

// The widest OpenBLAS core this CPU allows, as dydx decides it; Prescott (SSE3) where none is wider.
std::string widest_core() {
  const std::string_view widest = cpu::widest_supported_core();
  return widest.empty() ? "Prescott" : std::string(widest);
}

// Products of every dtype and of a size that takes BLAS (not dydx's own small-product kernel),
// against float64 sums of exact small integers.
void expect_products_right() {
  for (ScalarType dtype : {kFloat32, kFloat64}) {
    const Tensor a = randint(-3, 4, {200, 150}).to(dtype), b = randint(-3, 4, {150, 170}).to(dtype);
    const Tensor want = (a.to(kFloat64).unsqueeze(2) * b.to(kFloat64).unsqueeze(0)).sum({1});
    EXPECT_TRUE(equal(matmul(a, b).to(kFloat64), want)) << dtype;
  }
}

TEST(BlasCore, AnOpenBlasThatFellBackIsGivenTheCpusWidestKernels) {
  const std::string report = blas_kernel();
  const std::string widest = widest_core();
  EXPECT_EQ(std::string(openblas_get_corename()), widest) << report;
  if (widest != "Prescott")
    EXPECT_NE(report.find("chosen by dydx from the CPU's features; OpenBLAS had picked Prescott"), std::string::npos)
        << report;
  expect_products_right();
}

TEST(BlasCore, KeepLeavesOpenBlassChoice) {
  EXPECT_EQ(std::string(openblas_get_corename()), "Prescott");
  EXPECT_NE(blas_kernel().find("DYDX_BLAS_CORE=keep"), std::string::npos) << blas_kernel();
  expect_products_right();
}

TEST(BlasCore, ByDefaultAnExplicitOpenBlasCoretypeIsRespected) {
  EXPECT_EQ(std::string(openblas_get_corename()), "Prescott");
  EXPECT_NE(blas_kernel().find("OPENBLAS_CORETYPE's choice"), std::string::npos) << blas_kernel();
}

// OpenBLAS's own pick is kept where it is as wide as the CPU allows (SkylakeX, or Zen, Cooperlake...
// of the same width), replaced by the widest otherwise.
TEST(BlasCore, WithoutSettingsTheKernelsAreAsWideAsTheCpuAllows) {
  const std::string report = blas_kernel();
  EXPECT_NE(report.find("OpenBLAS " + std::string(openblas_get_corename())), std::string::npos) << report;
  const bool kept = report.find("OpenBLAS's choice, as wide as the CPU allows") != std::string::npos;
  const bool replaced = report.find("chosen by dydx from the CPU's features") != std::string::npos;
  EXPECT_TRUE(kept || replaced) << report;
  if (replaced) EXPECT_EQ(std::string(openblas_get_corename()), widest_core()) << report;
  expect_products_right();
}

// Core names are OpenBLAS's, in any case; so are keep and auto.
TEST(BlasCore, SettingsAreReadInAnyCase) {
  EXPECT_EQ(std::string(openblas_get_corename()), "Prescott");
  EXPECT_NE(blas_kernel().find("DYDX_BLAS_CORE=keep"), std::string::npos) << blas_kernel();
}

// OpenBLAS detects the CPU where OPENBLAS_CORETYPE names none of its cores, and dydx chooses as if it
// were unset, saying so (it had reported OpenBLAS's detected core as OPENBLAS_CORETYPE's choice).
TEST(BlasCore, AnOpenBlasCoretypeOpenBlasDoesNotKnowCountsAsUnset) {
  const std::string report = blas_kernel();
  EXPECT_EQ(report.find("OPENBLAS_CORETYPE's choice"), std::string::npos) << report;
  EXPECT_NE(report.find("OPENBLAS_CORETYPE=NoSuchCore names no core OpenBLAS knows"), std::string::npos) << report;
  const bool kept = report.find("OpenBLAS's choice, as wide as the CPU allows") != std::string::npos;
  const bool replaced = report.find("chosen by dydx from the CPU's features") != std::string::npos;
  EXPECT_TRUE(kept || replaced) << report;
  expect_products_right();
}

// dydx's packed kernel (src/cpu/packed_gemm.hpp) runs the products where dydx was built for AVX-512 on
// a CPU that has it and OpenBLAS's kernels are narrower (here Haswell's, by OPENBLAS_CORETYPE), or
// where DYDX_GEMM=dydx; DYDX_GEMM=openblas keeps OpenBLAS's. blas_kernel() says which.
TEST(BlasCore, NarrowerOpenBlasKernelsGiveWayToThePackedKernel) {
  EXPECT_EQ(std::string(openblas_get_corename()), "Haswell");
  EXPECT_EQ(cpu::packed_gemm_in_use(), cpu::packed_gemm_available());
  EXPECT_EQ(blas_kernel().find("dydx's packed AVX-512 kernel") != std::string::npos, cpu::packed_gemm_available())
      << blas_kernel();
  expect_products_right();
}

TEST(BlasCore, DydxGemmOpenblasKeepsOpenBlassProducts) {
  EXPECT_FALSE(cpu::packed_gemm_in_use());
  EXPECT_EQ(blas_kernel().find("packed"), std::string::npos) << blas_kernel();
  expect_products_right();
}

TEST(BlasCore, DydxGemmDydxForcesThePackedKernel) {
  EXPECT_EQ(cpu::packed_gemm_in_use(), cpu::packed_gemm_available());
  expect_products_right();
}

}  // namespace
}  // namespace dydx
