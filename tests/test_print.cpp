// Tests of the tensor formatter against the exact text PyTorch 1.13 prints; needs only src/print/format.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "print/format.hpp"

namespace dydx::detail {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

/// The exact doubles of float32 elements, as a float32 tensor holds them.
std::vector<double> f32(std::initializer_list<float> values) { return {values.begin(), values.end()}; }

/// A float32 tensor.
PrintInput float32(std::vector<int64_t> sizes, std::vector<double> values) {
  PrintInput in;
  in.sizes = std::move(sizes);
  in.values = std::move(values);
  return in;
}

PrintInput float64(std::vector<int64_t> sizes, std::vector<double> values) {
  PrintInput in = float32(std::move(sizes), std::move(values));
  in.is_float64 = true;
  return in;
}

/// An int64 tensor of small values, given as doubles for brevity (each exact).
PrintInput int64(std::vector<int64_t> sizes, const std::vector<double>& values) {
  PrintInput in;
  in.sizes = std::move(sizes);
  for (double v : values) in.int_values.push_back(static_cast<int64_t>(v));
  in.is_int64 = true;
  return in;
}

/// An int64 tensor of any values.
PrintInput int64_exact(std::vector<int64_t> sizes, std::vector<int64_t> values) {
  PrintInput in;
  in.sizes = std::move(sizes);
  in.int_values = std::move(values);
  in.is_int64 = true;
  return in;
}

PrintInput leaf(PrintInput in) {
  in.requires_grad_leaf = true;
  return in;
}

PrintInput with_grad_fn(PrintInput in, std::string name) {
  in.grad_fn = std::move(name);
  return in;
}

/// 0, step, 2 * step, ... as float32 values: torch.arange(n.) * step.
std::vector<double> arange(int64_t n, float step = 1.0F) {
  std::vector<double> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(static_cast<float>(i) * step);
  return out;
}

// ---- the seed tensors ---------------------------------------------------------------------------

TEST(FormatTensor, SeedLeaf) {
  EXPECT_EQ(format_tensor(leaf(float32({2, 1}, {4, 1}))), "tensor([[4.],\n        [1.]], requires_grad=True)");
}

TEST(FormatTensor, SeedMm) {
  EXPECT_EQ(format_tensor(with_grad_fn(float32({2, 2}, {128, 256, 2, 4}), "MmBackward0")),
            "tensor([[128., 256.],\n        [  2.,   4.]], grad_fn=<MmBackward0>)");
}

TEST(FormatTensor, SeedCat) {
  EXPECT_EQ(format_tensor(with_grad_fn(float32({2, 2}, {96, 192, 6, 12}), "CatBackward0")),
            "tensor([[ 96., 192.],\n        [  6.,  12.]], grad_fn=<CatBackward0>)");
}

TEST(FormatTensor, SeedPlain) {
  EXPECT_EQ(format_tensor(float32({2, 1}, {288, 18})), "tensor([[288.],\n        [ 18.]])");
}

// ---- 0-D ----------------------------------------------------------------------------------------

TEST(FormatTensor, ZeroDim) {
  EXPECT_EQ(format_tensor(float32({}, {3.5})), "tensor(3.5000)");
  EXPECT_EQ(format_tensor(float32({}, {7})), "tensor(7.)");
  EXPECT_EQ(format_tensor(float32({}, {-0.0})), "tensor(-0.)");
  EXPECT_EQ(format_tensor(float32({}, f32({1e-5F}))), "tensor(1.0000e-05)");
  EXPECT_EQ(format_tensor(float32({}, {kNan})), "tensor(nan)");
  EXPECT_EQ(format_tensor(int64({}, {-42})), "tensor(-42)");
  EXPECT_EQ(format_tensor(leaf(float64({}, {2.25}))), "tensor(2.2500, dtype=torch.float64, requires_grad=True)");
}

TEST(FormatTensor, NegativeNanPrintsNan) {
  EXPECT_EQ(format_tensor(float32({}, {-kNan})), "tensor(nan)");
}

// ---- 1-D ----------------------------------------------------------------------------------------

TEST(FormatTensor, OneDimIntegral) { EXPECT_EQ(format_tensor(float32({3}, {1, 2, 3})), "tensor([1., 2., 3.])"); }

TEST(FormatTensor, OneDimNegativeNonIntegral) {
  EXPECT_EQ(format_tensor(float32({3}, {-1.5, 2.25, 100.125})), "tensor([ -1.5000,   2.2500, 100.1250])");
}

TEST(FormatTensor, OneDimNegativeZero) {
  EXPECT_EQ(format_tensor(float32({2}, {-0.0, 1.5})), "tensor([-0.0000, 1.5000])");
}

TEST(FormatTensor, ScientificWhenRatioAbove1000) {
  EXPECT_EQ(format_tensor(float32({2}, {1, 2000.5})), "tensor([1.0000e+00, 2.0005e+03])");
  EXPECT_EQ(format_tensor(float32({2}, {1, 2000})), "tensor([1.0000e+00, 2.0000e+03])");
}

TEST(FormatTensor, ScientificWhenSmall) {
  EXPECT_EQ(format_tensor(float32({2}, f32({1e-5F, 0.5F}))), "tensor([1.0000e-05, 5.0000e-01])");
}

TEST(FormatTensor, ScientificWhenLarge) {
  EXPECT_EQ(format_tensor(float32({2}, {1.5e9, -3})), "tensor([ 1.5000e+09, -3.0000e+00])");
}

TEST(FormatTensor, InfAndNan) {
  EXPECT_EQ(format_tensor(float32({3}, {0.5, -kInf, kNan})), "tensor([0.5000,   -inf,    nan])");
}

TEST(FormatTensor, InfAndNanAmongIntegersAreNotPadded) {
  EXPECT_EQ(format_tensor(float32({4}, {1, kInf, -kInf, kNan})), "tensor([1., inf, -inf, nan])");
  EXPECT_EQ(format_tensor(float32({2}, {0, kInf})), "tensor([0., inf])");
}

TEST(FormatTensor, RoundingTiesGoToEven) {
  EXPECT_EQ(format_tensor(float32({3}, {0.03125, 0.09375, -0.15625})), "tensor([ 0.0312,  0.0938, -0.1562])");
}

TEST(FormatTensor, Float32ValuesAreFormattedExactly) {
  EXPECT_EQ(format_tensor(float32({3}, f32({0.1F, 1.0F / 3, 2.0F / 3}))), "tensor([0.1000, 0.3333, 0.6667])");
}

TEST(FormatTensor, Float64) {
  EXPECT_EQ(format_tensor(float64({3}, {0.1, 1.0 / 3, 2.0 / 3})),
            "tensor([0.1000, 0.3333, 0.6667], dtype=torch.float64)");
}

TEST(FormatTensor, LongRowWraps) {
  std::vector<double> v;
  for (int i = 0; i < 30; ++i) v.push_back(static_cast<float>(i) / 7.0F);
  EXPECT_EQ(format_tensor(float32({30}, v)),
            "tensor([0.0000, 0.1429, 0.2857, 0.4286, 0.5714, 0.7143, 0.8571, 1.0000, 1.1429,\n"
            "        1.2857, 1.4286, 1.5714, 1.7143, 1.8571, 2.0000, 2.1429, 2.2857, 2.4286,\n"
            "        2.5714, 2.7143, 2.8571, 3.0000, 3.1429, 3.2857, 3.4286, 3.5714, 3.7143,\n"
            "        3.8571, 4.0000, 4.1429])");
}

// ---- 2-D and up ---------------------------------------------------------------------------------

TEST(FormatTensor, TwoDim) {
  EXPECT_EQ(format_tensor(float32({2, 2}, {1.5, -2, 30, 4.25})),
            "tensor([[ 1.5000, -2.0000],\n        [30.0000,  4.2500]])");
}

TEST(FormatTensor, TwoDimScientific) {
  EXPECT_EQ(format_tensor(float32({2, 2}, f32({1e-8F, 1, -5e3F, 2}))),
            "tensor([[ 1.0000e-08,  1.0000e+00],\n        [-5.0000e+03,  2.0000e+00]])");
}

TEST(FormatTensor, ThreeDim) {
  std::vector<double> v = arange(12);
  for (double& x : v) x -= 5;
  EXPECT_EQ(format_tensor(float32({2, 3, 2}, v)),
            "tensor([[[-5., -4.],\n         [-3., -2.],\n         [-1.,  0.]],\n\n"
            "        [[ 1.,  2.],\n         [ 3.,  4.],\n         [ 5.,  6.]]])");
}

TEST(FormatTensor, FourDim) {
  EXPECT_EQ(format_tensor(float32({2, 2, 2, 2}, arange(16, 0.25F))),
            "tensor([[[[0.0000, 0.2500],\n          [0.5000, 0.7500]],\n\n"
            "         [[1.0000, 1.2500],\n          [1.5000, 1.7500]]],\n\n\n"
            "        [[[2.0000, 2.2500],\n          [2.5000, 2.7500]],\n\n"
            "         [[3.0000, 3.2500],\n          [3.5000, 3.7500]]]])");
}

// ---- int64 --------------------------------------------------------------------------------------

TEST(FormatTensor, Int64) {
  EXPECT_EQ(format_tensor(int64({2}, {0, 1})), "tensor([0, 1])");
  EXPECT_EQ(format_tensor(int64({2, 2}, {5, -120, 3, 7})), "tensor([[   5, -120],\n        [   3,    7]])");
}

TEST(FormatTensor, Int64RowWraps) {
  EXPECT_EQ(format_tensor(int64({40}, arange(40, 1000))),
            "tensor([    0,  1000,  2000,  3000,  4000,  5000,  6000,  7000,  8000,  9000,\n"
            "        10000, 11000, 12000, 13000, 14000, 15000, 16000, 17000, 18000, 19000,\n"
            "        20000, 21000, 22000, 23000, 24000, 25000, 26000, 27000, 28000, 29000,\n"
            "        30000, 31000, 32000, 33000, 34000, 35000, 36000, 37000, 38000, 39000])");
}

// Past 2^53 a double cannot hold every int64: each is written exactly, from the int64 itself.
TEST(FormatTensor, Int64ExtremesExact) {
  EXPECT_EQ(format_tensor(int64_exact({1}, {9007199254740993})), "tensor([9007199254740993])");
  EXPECT_EQ(format_tensor(int64_exact({2}, {INT64_MAX, INT64_MIN})),
            "tensor([ 9223372036854775807, -9223372036854775808])");
  EXPECT_EQ(format_tensor(int64_exact({}, {INT64_MAX})), "tensor(9223372036854775807)");
  EXPECT_EQ(format_tensor(int64_exact({2, 2}, {1, INT64_MAX, INT64_MIN, 5})),
            "tensor([[                   1,  9223372036854775807],\n"
            "        [-9223372036854775808,                    5]])");
  // Three 20-character numbers fit a line of 80 (after the 7 of "tensor("); a fourth wraps.
  EXPECT_EQ(format_tensor(int64_exact({4}, {INT64_MIN, INT64_MIN, INT64_MIN, -3})),
            "tensor([-9223372036854775808, -9223372036854775808, -9223372036854775808,\n"
            "                          -3])");
}

// ---- empty --------------------------------------------------------------------------------------

TEST(FormatTensor, Empty) {
  EXPECT_EQ(format_tensor(float32({0}, {})), "tensor([])");
  EXPECT_EQ(format_tensor(float32({0, 3}, {})), "tensor([], size=(0, 3))");
  EXPECT_EQ(format_tensor(int64({0}, {})), "tensor([], dtype=torch.int64)");
  EXPECT_EQ(format_tensor(leaf(float64({2, 0}, {}))),
            "tensor([], size=(2, 0), dtype=torch.float64, requires_grad=True)");
}

// ---- summarised ---------------------------------------------------------------------------------

TEST(FormatTensor, SummarisedOneDim) {
  EXPECT_EQ(format_tensor(float32({2000}, arange(2000))),
            "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n        1.9990e+03])");
  EXPECT_EQ(format_tensor(int64({2000}, arange(2000))), "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])");
}

TEST(FormatTensor, SummarisedTwoDim) {
  EXPECT_EQ(format_tensor(float32({100, 100}, arange(10000, 0.125F))),
            "tensor([[0.0000e+00, 1.2500e-01, 2.5000e-01,  ..., 1.2125e+01, 1.2250e+01,\n"
            "         1.2375e+01],\n"
            "        [1.2500e+01, 1.2625e+01, 1.2750e+01,  ..., 2.4625e+01, 2.4750e+01,\n"
            "         2.4875e+01],\n"
            "        [2.5000e+01, 2.5125e+01, 2.5250e+01,  ..., 3.7125e+01, 3.7250e+01,\n"
            "         3.7375e+01],\n"
            "        ...,\n"
            "        [1.2125e+03, 1.2126e+03, 1.2128e+03,  ..., 1.2246e+03, 1.2248e+03,\n"
            "         1.2249e+03],\n"
            "        [1.2250e+03, 1.2251e+03, 1.2252e+03,  ..., 1.2371e+03, 1.2372e+03,\n"
            "         1.2374e+03],\n"
            "        [1.2375e+03, 1.2376e+03, 1.2378e+03,  ..., 1.2496e+03, 1.2498e+03,\n"
            "         1.2499e+03]])");
}

TEST(FormatTensor, SummarisedOnlyAlongLongDims) {
  EXPECT_EQ(format_tensor(float32({400, 3}, arange(1200))),
            "tensor([[0.0000e+00, 1.0000e+00, 2.0000e+00],\n"
            "        [3.0000e+00, 4.0000e+00, 5.0000e+00],\n"
            "        [6.0000e+00, 7.0000e+00, 8.0000e+00],\n"
            "        ...,\n"
            "        [1.1910e+03, 1.1920e+03, 1.1930e+03],\n"
            "        [1.1940e+03, 1.1950e+03, 1.1960e+03],\n"
            "        [1.1970e+03, 1.1980e+03, 1.1990e+03]])");
}

TEST(FormatTensor, SummarisedThreeDimStartsAndEndsCorrectly) {
  const std::string text = format_tensor(float32({7, 12, 12}, arange(1008)));
  const std::string head =
      "tensor([[[0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 9.0000e+00,\n"
      "          1.0000e+01, 1.1000e+01],\n"
      "         [1.2000e+01, 1.3000e+01, 1.4000e+01,  ..., 2.1000e+01,\n"
      "          2.2000e+01, 2.3000e+01],\n";
  const std::string middle =
      "          4.3000e+02, 4.3100e+02]],\n\n"
      "        ...,\n\n"
      "        [[5.7600e+02, 5.7700e+02, 5.7800e+02,  ..., 5.8500e+02,\n";
  const std::string tail =
      "         [9.9600e+02, 9.9700e+02, 9.9800e+02,  ..., 1.0050e+03,\n"
      "          1.0060e+03, 1.0070e+03]]])";
  EXPECT_EQ(text.substr(0, head.size()), head);
  EXPECT_NE(text.find(middle), std::string::npos);
  EXPECT_EQ(text.substr(text.size() - tail.size()), tail);
}

// ---- suffixes -----------------------------------------------------------------------------------

TEST(FormatTensor, SuffixMovesToNextLineWhenTooLong) {
  std::vector<double> v = arange(8);
  for (double& x : v) x += 0.5;
  EXPECT_EQ(format_tensor(leaf(float32({8}, v))),
            "tensor([0.5000, 1.5000, 2.5000, 3.5000, 4.5000, 5.5000, 6.5000, 7.5000],\n"
            "       requires_grad=True)");
}

TEST(FormatTensor, DtypeComesBeforeGradFn) {
  EXPECT_EQ(format_tensor(with_grad_fn(float64({1, 2}, {2, 4}), "MulBackward0")),
            "tensor([[2., 4.]], dtype=torch.float64, grad_fn=<MulBackward0>)");
}

TEST(FormatTensor, GradFnWinsOverRequiresGrad) {
  PrintInput in = with_grad_fn(float32({1}, {1}), "CloneBackward0");
  in.requires_grad_leaf = true;
  EXPECT_EQ(format_tensor(in), "tensor([1.], grad_fn=<CloneBackward0>)");
}

TEST(FormatTensor, RejectsWrongValueCount) {
  EXPECT_THROW(format_tensor(float32({2, 2}, {1, 2, 3})), std::invalid_argument);
}

// ---- randomized cases generated by tests/data/make_print_cases.py -------------------------------

/// One case of print_cases.txt.
struct GeneratedCase {
  std::string name;
  PrintInput input;
  std::string expected;
};

std::filesystem::path cases_path() {
  return std::filesystem::path(DYDX_TEST_DATA_DIR) / "print_cases.txt";
}

/// The words after the given keyword on the next line of the file.
std::istringstream keyword_line(std::istream& file, const std::string& keyword) {
  std::string line;
  std::getline(file, line);
  std::istringstream words(line);
  std::string first;
  words >> first;
  if (first != keyword) throw std::runtime_error("print_cases.txt: expected '" + keyword + "', got: " + line);
  return words;
}

void read_dtype(std::istream& file, PrintInput& in) {
  std::string dtype;
  keyword_line(file, "dtype") >> dtype;
  in.is_float64 = dtype == "float64";
  in.is_int64 = dtype == "int64";
}

void read_grad(std::istream& file, PrintInput& in) {
  std::string grad;
  keyword_line(file, "grad") >> grad;
  if (grad == "leaf") {
    in.requires_grad_leaf = true;
  } else if (grad != "none") {
    in.grad_fn = grad;
  }
}

/// Values are hex floats, "inf", "-inf", "nan" or decimal integers, which strtod (or, for an int64
/// tensor, strtoll) reads exactly.
void read_values(std::istream& file, PrintInput& in) {
  std::istringstream words = keyword_line(file, "values");
  std::string word;
  while (words >> word) {
    if (in.is_int64) in.int_values.push_back(std::strtoll(word.c_str(), nullptr, 10));
    else in.values.push_back(std::strtod(word.c_str(), nullptr));
  }
}

std::string read_expected(std::istream& file) {
  size_t count = 0;
  keyword_line(file, "lines") >> count;
  std::string text;
  std::string line;
  for (size_t i = 0; i < count; ++i) {
    std::getline(file, line);
    text += (i > 0 ? "\n" : "") + line;
  }
  return text;
}

std::vector<GeneratedCase> read_cases() {
  std::ifstream file(cases_path());
  if (!file) throw std::runtime_error("cannot open " + cases_path().string());
  std::string comment;
  std::getline(file, comment);  // the generator's one-line header
  std::vector<GeneratedCase> out;
  while (file.peek() != EOF) {
    GeneratedCase c;
    keyword_line(file, "case") >> c.name;
    read_dtype(file, c.input);
    std::istringstream sizes = keyword_line(file, "sizes");
    for (int64_t s = 0; sizes >> s;) c.input.sizes.push_back(s);
    read_grad(file, c.input);
    read_values(file, c.input);
    c.expected = read_expected(file);
    out.push_back(std::move(c));
  }
  return out;
}

TEST(FormatTensor, GeneratedCasesMatchPyTorch) {
  const std::vector<GeneratedCase> cases = read_cases();
  ASSERT_EQ(cases.size(), 200U);
  for (const GeneratedCase& c : cases) {
    EXPECT_EQ(format_tensor(c.input), c.expected) << "case " << c.name;
  }
}

}  // namespace
}  // namespace dydx::detail
