// Compares two program outputs word by word: words that parse as numbers must agree to a relative
// tolerance (two libraries round float32 sums in different orders), every other word exactly.
// Usage: numeric_diff EXPECTED ACTUAL RTOL; exits 1 and prints the first difference otherwise.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

namespace {

bool parse_number(const std::string& word, double& value) {
  char* end = nullptr;
  value = std::strtod(word.c_str(), &end);
  return !word.empty() && end == word.c_str() + word.size();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: numeric_diff EXPECTED ACTUAL RTOL\n";
    return 2;
  }
  std::ifstream expected_file(argv[1]), actual_file(argv[2]);
  if (!expected_file || !actual_file) {
    std::cerr << "numeric_diff: cannot open " << (expected_file ? argv[2] : argv[1]) << "\n";
    return 2;
  }
  const double rtol = std::atof(argv[3]);
  std::string expected, actual;
  for (int index = 0;; ++index) {
    const bool more_expected = static_cast<bool>(expected_file >> expected);
    const bool more_actual = static_cast<bool>(actual_file >> actual);
    if (!more_expected && !more_actual) return 0;
    if (more_expected != more_actual) {
      std::cerr << "numeric_diff: " << (more_expected ? "output ends" : "output goes on") << " at word " << index << "\n";
      return 1;
    }
    double e = 0, a = 0;
    const bool numbers = parse_number(expected, e) && parse_number(actual, a);
    const bool same = numbers ? std::abs(e - a) <= rtol * std::max(1.0, std::abs(e)) : expected == actual;
    if (!same) {
      std::cerr << "numeric_diff: word " << index << ": expected '" << expected << "', got '" << actual << "'\n";
      return 1;
    }
  }
}
