// Reading the golden files in tests/data, which the make_*_goldens.py scripts write from PyTorch
// 1.13: one record a line, '#' for comments, a tensor as its shape ("2x3", or "scalar" or "-" for
// 0-d) and its values separated by commas ("-" for none), with nan, inf, -inf and -0 written so.
// One reader for every golden test, so that they all parse numbers the same way.
#pragma once

#include <dydx/dydx.hpp>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace dydx::testing {

/// The lines of tests/data/<name> that hold records (not empty, not comments). A missing file
/// throws, so that a golden test can never pass by reading no cases.
inline std::vector<std::string> golden_lines(const std::string& name) {
  const std::string path = std::string(DYDX_TEST_DATA_DIR) + "/" + name;
  std::ifstream file(path);
  if (!file) throw std::runtime_error("cannot open " + path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(file, line);)
    if (!line.empty() && line[0] != '#') lines.push_back(line);
  if (lines.empty()) throw std::runtime_error(path + " holds no records");
  return lines;
}

/// One number as the scripts print it. strtod rather than stod, which throws on subnormals; the
/// whole text must be read, so that a malformed file fails instead of reading a prefix.
inline double golden_value(const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0') throw std::runtime_error("golden file: not a number: '" + text + "'");
  return value;
}

inline std::vector<double> golden_values(const std::string& text) {
  std::vector<double> values;
  if (text == "-") return values;
  std::stringstream list(text);
  for (std::string item; std::getline(list, item, ',');) values.push_back(golden_value(item));
  return values;
}

/// A list of integers separated by sep ("2x3" with 'x', "1,0,2" with ',').
inline std::vector<int64_t> golden_ints(const std::string& text, char sep) {
  std::vector<int64_t> ints;
  if (text == "-" || text == "scalar") return ints;
  std::stringstream list(text);
  for (std::string item; std::getline(list, item, sep);) ints.push_back(std::stoll(item));
  return ints;
}

inline std::vector<int64_t> golden_shape(const std::string& text) { return golden_ints(text, 'x'); }

/// The tensor a shape and its values describe; int64 values are exact up to 2^53, which the
/// scripts' indices and targets never pass.
inline Tensor golden_tensor(const std::string& shape, const std::string& values, ScalarType dtype = kFloat64) {
  Tensor flat = tensor(golden_values(values), kFloat64);
  return (dtype == kFloat64 ? flat : flat.to(dtype)).reshape(golden_shape(shape));
}

}  // namespace dydx::testing
