// Writes a safetensors file with dydx for check_safetensors_python.py, which reads it with Python's
// safetensors: every dtype dydx has, a 0-d, an empty and a non-contiguous tensor, and metadata.
#include <dydx/dydx.hpp>
#include <dydx/serialize.hpp>

#include <cstdint>
#include <iostream>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: write_safetensors_sample <path>\n";
    return 2;
  }
  const dydx::Tensor base = dydx::arange(12, dydx::dtype(dydx::kFloat64)).reshape({3, 4});
  dydx::save_safetensors(
      {
          {"f32", dydx::tensor({1.5, -0.25, 3e38}, dydx::dtype(dydx::kFloat32))},
          {"f64_transposed", base.t() / 3},
          {"i64", dydx::tensor(std::vector<int64_t>{INT64_MIN, -1, INT64_MAX})},
          {"scalar", dydx::tensor(2.5, dydx::dtype(dydx::kFloat64))},
          {"empty", dydx::zeros({2, 0}, dydx::dtype(dydx::kFloat32))},
          {"mask_transposed", base.t() > 4},
      },
      argv[1], {{"written_by", "dydx"}});
  return 0;
}
