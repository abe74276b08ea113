// dydx::save_safetensors / load_safetensors: round trips of every dtype and layout, a file written
// by Python's safetensors (fixture.safetensors, make_safetensors_fixture.py), each rule of the
// format broken on purpose, and every truncation and a thousand byte flips of the fixture, each
// of which must give a dydx::Error or a valid result, never a crash.
#include <gtest/gtest.h>

#include <dydx/dydx.hpp>
#include <dydx/serialize.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <unistd.h>
#include <string>
#include <vector>

#include "test_util.hpp"

using dydx::Tensor;
using dydx::testing::ThrowsWith;

namespace {

/// A fresh path in the temporary directory, removed when the test ends.
class TempFile {
 public:
  explicit TempFile(const std::string& name)
      : path_((std::filesystem::temp_directory_path() /
               ("dydx_" + std::to_string(::getpid()) + "_" + name + ".safetensors"))
                  .string()) {}
  ~TempFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// A file of the given header text (unpadded) and buffer.
std::string file_of(const std::string& header, const std::string& buffer) {
  const uint64_t n = header.size();
  std::string bytes(reinterpret_cast<const char*>(&n), 8);
  return bytes + header + buffer;
}

std::string fixture_path() { return std::string(DYDX_TEST_DATA_DIR) + "/fixture.safetensors"; }

/// Same values, bit for bit (nan equal to nan, -0 unequal to 0).
bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.sizes() != b.sizes()) return false;
  if (a.dtype() == dydx::kInt64) return a.to_vector<int64_t>() == b.to_vector<int64_t>();
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i)
    if (std::bit_cast<uint64_t>(x[i]) != std::bit_cast<uint64_t>(y[i])) return false;
  return true;
}

}  // namespace

TEST(Safetensors, RoundTripsEveryDtypeAndShape) {
  const double nan = std::nan("");
  std::map<std::string, Tensor> tensors = {
      {"f32", dydx::tensor({1.5, -0.0, nan, INFINITY, 1e-40}, dydx::dtype(dydx::kFloat32))},
      {"f64", dydx::tensor({{1e-300, -2.0}, {3.0, nan}}, dydx::dtype(dydx::kFloat64))},
      {"i64", dydx::tensor(std::vector<int64_t>{INT64_MIN, -1, INT64_MAX})},
      {"scalar", dydx::tensor(2.5, dydx::dtype(dydx::kFloat64))},
      {"empty", dydx::zeros({0, 3}, dydx::dtype(dydx::kFloat32))},
      {"", dydx::ones({1}, dydx::dtype(dydx::kFloat64))},  // an empty name is a name
      {"with spaces/and \"quotes\" é", dydx::arange(4, dydx::dtype(dydx::kInt64))},
  };
  TempFile file("round_trip");
  dydx::save_safetensors(tensors, file.path(), {{"epoch", "3"}, {"note", "ünïcode"}});
  const dydx::SafetensorsFile loaded = dydx::read_safetensors(file.path());
  ASSERT_EQ(loaded.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    ASSERT_TRUE(loaded.tensors.count(name)) << name;
    EXPECT_TRUE(same_bits(loaded.tensors.at(name), t)) << name;
    EXPECT_TRUE(loaded.tensors.at(name).is_contiguous());
  }
  EXPECT_EQ(loaded.metadata, (std::map<std::string, std::string>{{"epoch", "3"}, {"note", "ünïcode"}}));
  // The header is padded to a multiple of 8, as Python's writer pads it.
  const std::string bytes = read_bytes(file.path());
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes[8], '{');
}

TEST(Safetensors, NonContiguousTensorsAreSavedByValue) {
  const Tensor base = dydx::arange(12, dydx::dtype(dydx::kFloat64)).reshape({3, 4});
  const std::map<std::string, Tensor> tensors = {
      {"transposed", base.t()},
      {"sliced", base.slice(1, 1, 4, 2)},
      {"expanded", dydx::tensor({1.0, 2.0}, dydx::dtype(dydx::kFloat32)).unsqueeze(0).expand({3, 2})},
      {"offset", base.select(0, 2)},
      {"grad", dydx::tensor({1.0, 2.0}, dydx::dtype(dydx::kFloat64).requires_grad(true)) * 3},
  };
  TempFile file("strided");
  dydx::save_safetensors(tensors, file.path());
  const auto loaded = dydx::load_safetensors(file.path());
  for (const auto& [name, t] : tensors) {
    EXPECT_TRUE(same_bits(loaded.at(name), t.detach())) << name;
    EXPECT_FALSE(loaded.at(name).requires_grad()) << name;
  }
  // 3x4 + 2x4 + 3x2 floats... only the values, not the whole storage of a view.
  EXPECT_EQ(loaded.at("transposed").sizes(), (std::vector<int64_t>{4, 3}));
}

TEST(Safetensors, LoadsAFileWrittenByPython) {
  const dydx::SafetensorsFile f = dydx::read_safetensors(fixture_path());
  ASSERT_EQ(f.tensors.size(), 7u);
  const Tensor& weight = f.tensors.at("weight");
  EXPECT_EQ(weight.dtype(), dydx::kFloat32);
  EXPECT_EQ(weight.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(weight.to_vector<double>(), (std::vector<double>{-0.5, -0.25, 0.0, 0.25, 0.5, 0.75}));
  EXPECT_EQ(f.tensors.at("bias").dtype(), dydx::kFloat64);
  EXPECT_EQ(f.tensors.at("bias").to_vector<double>(), (std::vector<double>{1.5, -2.25, 1e-300}));
  EXPECT_EQ(f.tensors.at("step").dim(), 0);
  EXPECT_EQ(f.tensors.at("step").item<int64_t>(), 7);
  EXPECT_EQ(f.tensors.at("index").to_vector<int64_t>(),
            (std::vector<int64_t>{-1, int64_t{1} << 40, 3, -(int64_t{1} << 62)}));
  EXPECT_EQ(f.tensors.at("empty").sizes(), (std::vector<int64_t>{0, 4}));
  const std::vector<double> special = f.tensors.at("special").to_vector<double>();
  EXPECT_EQ(special[0], INFINITY);
  EXPECT_EQ(special[1], -INFINITY);
  EXPECT_TRUE(std::isnan(special[2]));
  EXPECT_TRUE(std::signbit(special[3]));
  EXPECT_EQ(f.tensors.at("mask").dtype(), dydx::kBool);
  EXPECT_EQ(f.tensors.at("mask").sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f.tensors.at("mask").to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1, 0, 0, 1}));
  EXPECT_EQ(f.metadata.at("format"), "np");
  EXPECT_EQ(f.metadata.at("written_by"), "make_safetensors_fixture.py");
}

// Each rule of the format, broken on purpose: an error naming the file and the fault.
TEST(Safetensors, MalformedFilesRaiseNamingTheFault) {
  TempFile file("malformed");
  const std::string& p = file.path();
  auto expect = [&](const std::string& bytes, const std::vector<std::string>& needles) {
    write_bytes(p, bytes);
    std::vector<std::string> all = needles;
    all.push_back(p);
    EXPECT_TRUE(ThrowsWith([&] { dydx::load_safetensors(p); }, all));
  };
  const std::string eight(8, '\0');
  const std::string f32x2 = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  expect("", {"fewer than the 8"});
  expect("abc", {"fewer than the 8"});
  expect(file_of(f32x2, eight).substr(0, 20), {"header length", "larger than"});
  expect(file_of(f32x2, "1234567"), {"\"a\" at bytes [0, 8) runs past the end of the 7-byte buffer"});
  expect(file_of(f32x2, eight + "x"), {"buffer has 9 bytes but its tensors cover 8"});
  expect(file_of(R"({"a":{"dtype":"F32",)", ""), {"not valid JSON"});
  expect(file_of(R"(["a"])", ""), {"does not begin with '{'"});
  expect(file_of(R"( {})", ""), {"does not begin with '{'"});
  expect(file_of(R"({"a":{"dtype":"Q8","shape":[1],"data_offsets":[0,1]}})", "x"), {"unknown dtype \"Q8\""});
  expect(file_of(R"({"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}})", "xx"),
         {"dtype F16", "does not support"});
  expect(file_of(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight), {"need 12 bytes"});
  expect(file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", eight), {"data_offsets [8, 0]"});
  expect(file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                 eight),
         {"overlaps"});
  expect(file_of(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight), {"belong to no tensor"});
  expect(file_of(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", eight), {"runs past the end"});
  expect(file_of(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                 eight),
         {"the key \"a\" twice"});
  expect(file_of(R"({"a":{"dtype":"F32","dtype":"F64","shape":[2],"data_offsets":[0,8]}})", eight),
         {"the key \"dtype\" twice"});
  expect(file_of(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight), {"not a non-negative"});
  expect(file_of(R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", eight), {"not a non-negative"});
  expect(file_of(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", eight),
         {"too large"});
  expect(file_of(R"({"a":{"dtype":"F32","shape":[2]}})", eight), {"no \"data_offsets\""});
  expect(file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", eight), {"not [begin, end]"});
  expect(file_of(R"({"a":[1]})", ""), {"not a JSON object"});
  expect(file_of(R"({"__metadata__":{"k":1}})", ""), {"metadata \"k\"", "not a string"});
  uint64_t huge = uint64_t{1} << 62;
  expect(std::string(reinterpret_cast<const char*>(&huge), 8) + "{}", {"larger than"});
  EXPECT_TRUE(ThrowsWith([] { dydx::load_safetensors("/nonexistent/dir/x.safetensors"); },
                         {"cannot open", "/nonexistent/dir/x.safetensors"}));
  // The spaces Python pads with, and an empty file of tensors, are valid.
  write_bytes(p, file_of("{}      ", ""));
  EXPECT_TRUE(dydx::load_safetensors(p).empty());
}

TEST(Safetensors, BadSavesRaiseAndLeaveTheOldFile) {
  TempFile file("bad_save");
  dydx::save_safetensors({{"a", dydx::ones({2})}}, file.path());
  const std::string before = read_bytes(file.path());
  EXPECT_TRUE(ThrowsWith([&] { dydx::save_safetensors({{"a", Tensor()}}, file.path()); }, {"\"a\" is undefined"}));
  EXPECT_TRUE(ThrowsWith([&] { dydx::save_safetensors({{"__metadata__", dydx::ones({1})}}, file.path()); },
                         {"reserved"}));
  EXPECT_TRUE(ThrowsWith([&] { dydx::save_safetensors({{"a", dydx::ones({1})}}, "/nonexistent/dir/x.safetensors"); },
                         {"cannot open"}));
  // JSON strings are UTF-8: a name, metadata key or value that is not raises a dydx::Error naming
  // the file and the name (escaped), not nlohmann's type_error, and writes nothing.
  const std::string bad = std::string("bad") + '\xFF' + "name";
  EXPECT_TRUE(ThrowsWith([&] { dydx::save_safetensors({{"a", dydx::ones({1})}, {bad, dydx::ones({1})}}, file.path()); },
                         {"save_safetensors", file.path(), "tensor name \"bad\\xFFname\"", "not valid UTF-8"}));
  EXPECT_TRUE(ThrowsWith([&] { dydx::save_safetensors({{"a", dydx::ones({1})}}, file.path(), {{bad, "v"}}); },
                         {"save_safetensors", "metadata key", "not valid UTF-8"}));
  EXPECT_TRUE(ThrowsWith([&] { dydx::save_safetensors({{"a", dydx::ones({1})}}, file.path(), {{"k", "\xC0\x80"}}); },
                         {"save_safetensors", "metadata value of \"k\"", "not valid UTF-8"}));
  EXPECT_TRUE(ThrowsWith([&] { dydx::save_safetensors({{"\xED\xA0\x80", dydx::ones({1})}}, file.path()); },
                         {"not valid UTF-8"}));  // a surrogate
  EXPECT_EQ(read_bytes(file.path()), before);
  EXPECT_FALSE(std::filesystem::exists(file.path() + ".dydx-partial"));
  // Valid multibyte names save and load.
  const std::string accented = "caf\xC3\xA9 \xF0\x9F\x98\x80";
  dydx::save_safetensors({{accented, dydx::ones({1})}}, file.path(), {{accented, accented}});
  EXPECT_EQ(dydx::load_safetensors(file.path()).count(accented), 1u);
}

/// Loads bytes that may be corrupt: a dydx::Error is fine, and so is a result (whose tensors must
/// then be readable); anything else fails.
void load_or_error(const std::string& path, const std::string& bytes, const std::string& what) {
  write_bytes(path, bytes);
  try {
    const auto tensors = dydx::load_safetensors(path);
    for (const auto& [name, t] : tensors) (void)t.to_vector<double>();
  } catch (const dydx::Error&) {
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": a non-dydx exception: " << e.what();
  }
}

TEST(Safetensors, EveryTruncationRaisesOrLoads) {
  const std::string bytes = read_bytes(fixture_path());
  ASSERT_GT(bytes.size(), 100u);
  TempFile file("truncated");
  for (size_t n = 0; n < bytes.size(); ++n) {
    write_bytes(file.path(), bytes.substr(0, n));
    EXPECT_THROW(dydx::load_safetensors(file.path()), dydx::Error) << "truncated to " << n << " bytes";
  }
}

TEST(Safetensors, ByteFlipsRaiseOrLoad) {
  const std::string bytes = read_bytes(fixture_path());
  uint64_t header_bytes;
  std::memcpy(&header_bytes, bytes.data(), 8);
  TempFile file("flipped");
  std::mt19937_64 rng(12);
  std::uniform_int_distribution<size_t> where(0, 8 + header_bytes - 1);
  std::uniform_int_distribution<int> value(0, 255);
  const std::string interesting = "{}[]\",:0123456789-.e \\";
  for (int trial = 0; trial < 1000; ++trial) {
    std::string corrupt = bytes;
    const int flips = 1 + trial % 3;
    for (int k = 0; k < flips; ++k) {
      const size_t at = where(rng);
      // Half the flips write a JSON-significant character, which a random byte rarely is.
      corrupt[at] = trial % 2 ? static_cast<char>(value(rng)) : interesting[value(rng) % interesting.size()];
    }
    load_or_error(file.path(), corrupt, "trial " + std::to_string(trial));
  }
}

// An optimizer's state in a safetensors file: its tensors under "state.<i>.<name>", its options in
// the metadata; loaded into a fresh optimizer it continues bit for bit.
TEST(OptimizerCheckpoint, SavedAndLoadedContinuesBitForBit) {
  auto params = [] {
    return std::vector<Tensor>{dydx::tensor({{0.5, -1.0}, {2.0, 0.25}}, dydx::dtype(dydx::kFloat64)).requires_grad_(true),
                               dydx::tensor({0.3}, dydx::dtype(dydx::kFloat64)).requires_grad_(true)};
  };
  auto step = [](dydx::optim::Optimizer& opt, std::vector<Tensor>& p) {
    opt.zero_grad();
    ((p[0] * p[0] * p[0]).sum() + (p[1] * p[1]).sum() * 3).backward();
    opt.step();
  };
  std::vector<Tensor> a = params();
  dydx::optim::Adam opt_a(a, dydx::optim::AdamOptions(0.01).betas({0.8, 0.95}).amsgrad(true).eps(1e-7));
  for (int i = 0; i < 3; ++i) step(opt_a, a);
  TempFile file("adam_state");
  dydx::save(opt_a, file.path());
  const dydx::SafetensorsFile raw = dydx::read_safetensors(file.path());
  EXPECT_TRUE(raw.tensors.count("state.0.exp_avg"));
  EXPECT_TRUE(raw.tensors.count("state.1.max_exp_avg_sq"));
  EXPECT_EQ(raw.tensors.at("state.0.step").item<int64_t>(), 3);
  EXPECT_EQ(raw.metadata.at("optimizer"), "Adam");
  EXPECT_EQ(raw.metadata.at("param_count"), "2");
  EXPECT_EQ(std::stod(raw.metadata.at("option.beta1")), 0.8);

  std::vector<Tensor> b;
  for (const Tensor& t : a) b.push_back(t.detach().clone().requires_grad_(true));
  dydx::optim::Adam opt_b(b);
  dydx::load(opt_b, file.path());
  EXPECT_EQ(opt_b.options().eps(), 1e-7);
  EXPECT_TRUE(opt_b.options().amsgrad());
  for (int i = 0; i < 3; ++i) {
    step(opt_a, a);
    step(opt_b, b);
    EXPECT_EQ(a[0].to_vector<double>(), b[0].to_vector<double>());
    EXPECT_EQ(a[1].to_vector<double>(), b[1].to_vector<double>());
  }

  // LBFGS, whose state is its history of curvature pairs.
  Tensor x = dydx::tensor({-1.2, 1.0}, dydx::dtype(dydx::kFloat64).requires_grad(true));
  Tensor y = x.detach().clone().requires_grad_(true);
  auto rosen = [](const Tensor& v) { return ((v[1] - v[0] * v[0]).pow(2) * 100 + (1 - v[0]).pow(2)); };
  dydx::optim::LBFGS la({x}, dydx::optim::LBFGSOptions().max_iter(4).line_search_fn("strong_wolfe"));
  auto closure = [&](dydx::optim::LBFGS& opt, const Tensor& v) {
    return [&opt, v, rosen] {
      opt.zero_grad();
      Tensor loss = rosen(v);
      loss.backward();
      return loss;
    };
  };
  la.step(closure(la, x));
  y.data_ptr<double>()[0] = x.to_vector<double>()[0];
  y.data_ptr<double>()[1] = x.to_vector<double>()[1];
  TempFile lfile("lbfgs_state");
  dydx::save(la, lfile.path());
  dydx::optim::LBFGS lb({y});
  dydx::load(lb, lfile.path());
  EXPECT_TRUE(lb.options().line_search_fn().has_value());
  for (int i = 0; i < 2; ++i) {
    la.step(closure(la, x));
    lb.step(closure(lb, y));
    EXPECT_EQ(x.to_vector<double>(), y.to_vector<double>());
  }
}

TEST(OptimizerCheckpoint, WrongFilesRaiseAndChangeNothing) {
  Tensor w = dydx::tensor({1.0, 2.0}, dydx::dtype(dydx::kFloat64).requires_grad(true));
  dydx::optim::SGD sgd({w}, dydx::optim::SGDOptions(0.1).momentum(0.9));
  w.set_grad(dydx::ones({2}, dydx::dtype(dydx::kFloat64)));
  sgd.step();
  TempFile file("sgd_state");
  dydx::save(sgd, file.path());
  dydx::optim::Adam adam({w}, dydx::optim::AdamOptions(0.5));
  EXPECT_TRUE(ThrowsWith([&] { dydx::load(adam, file.path()); }, {"SGD optimizer, not Adam"}));
  EXPECT_EQ(adam.options().lr(), 0.5);
  Tensor v = dydx::tensor({1.0}, dydx::dtype(dydx::kFloat64).requires_grad(true));
  dydx::optim::SGD two({w, v}, dydx::optim::SGDOptions(0.5));
  EXPECT_TRUE(ThrowsWith([&] { dydx::load(two, file.path()); }, {"state of 1 parameters", "has 2"}));
  Tensor other = dydx::tensor({1.0, 2.0, 3.0}, dydx::dtype(dydx::kFloat64).requires_grad(true));
  dydx::optim::SGD wrong_shape({other}, dydx::optim::SGDOptions(0.5));
  EXPECT_TRUE(ThrowsWith([&] { dydx::load(wrong_shape, file.path()); }, {"momentum_buffer", "[2]", "[3]"}));
  EXPECT_EQ(wrong_shape.options().lr(), 0.5);
  TempFile plain("plain");
  dydx::save_safetensors({{"w", w}}, plain.path());
  EXPECT_TRUE(ThrowsWith([&] { dydx::load(sgd, plain.path()); }, {"not an optimizer checkpoint"}));
  dydx::save_safetensors({{"w", w}}, plain.path(), {{"optimizer", "SGD"}, {"param_count", "1"}});
  EXPECT_TRUE(ThrowsWith([&] { dydx::load(sgd, plain.path()); }, {"\"w\" is not named state.<parameter below 1>"}));
  dydx::save_safetensors({}, plain.path(), {{"optimizer", "SGD"}, {"param_count", "1"}, {"option.lr", "fast"}});
  EXPECT_TRUE(ThrowsWith([&] { dydx::load(sgd, plain.path()); }, {"option \"lr\" is \"fast\""}));
  EXPECT_EQ(sgd.options().lr(), 0.1);
}
