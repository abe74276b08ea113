// An optimizer's state dict in a safetensors file: tensors named "state.<i>.<name>", the optimizer
// and its options in the metadata.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "dydx/error.hpp"
#include "dydx/optim.hpp"
#include "dydx/serialize.hpp"

namespace dydx {
namespace {

/// A double as text that strtod reads back to the same double (nan and inf included).
std::string exact_text(double v) {
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%.17g", v);
  return buffer;
}

/// The metadata value of key, or an error saying the file is no optimizer checkpoint.
const std::string& required(const SafetensorsFile& file, const std::string& key, const std::string& path) {
  const auto it = file.metadata.find(key);
  DYDX_CHECK(it != file.metadata.end(), "load(optimizer): ", path, " is not an optimizer checkpoint (no \"", key,
             "\" in its metadata)");
  return it->second;
}

/// A whole non-negative decimal number, or -1.
long long parse_index(const std::string& text) {
  if (text.empty() || text.size() > 12) return -1;
  for (char c : text)
    if (c < '0' || c > '9') return -1;
  return std::stoll(text);
}

}  // namespace

void save(const optim::Optimizer& optimizer, const std::string& path) {
  const optim::OptimizerStateDict state = optimizer.state_dict();
  std::map<std::string, Tensor> tensors;
  for (size_t i = 0; i < state.state.size(); ++i)
    for (const auto& [name, t] : state.state[i]) tensors["state." + std::to_string(i) + "." + name] = t;
  std::map<std::string, std::string> metadata = {{"optimizer", state.optimizer},
                                                 {"param_count", std::to_string(state.state.size())}};
  for (const auto& [name, value] : state.options) metadata["option." + name] = exact_text(value);
  save_safetensors(tensors, path, metadata);
}

void load(optim::Optimizer& optimizer, const std::string& path) {
  const SafetensorsFile file = read_safetensors(path);
  optim::OptimizerStateDict state;
  state.optimizer = required(file, "optimizer", path);
  const long long count = parse_index(required(file, "param_count", path));
  DYDX_CHECK(count >= 0, "load(optimizer): ", path, ": param_count \"", file.metadata.at("param_count"),
             "\" is not a count");
  DYDX_CHECK(static_cast<size_t>(count) == optimizer.size(), "load(optimizer): ", path, " holds the state of ", count,
             " parameters, the ", state.optimizer, " optimizer has ", optimizer.size());
  state.state.resize(static_cast<size_t>(count));
  for (const auto& [key, value] : file.metadata) {
    if (key.rfind("option.", 0) != 0) continue;
    char* end = nullptr;
    const double v = std::strtod(value.c_str(), &end);
    DYDX_CHECK(!value.empty() && end == value.c_str() + value.size(), "load(optimizer): ", path, ": option \"",
               key.substr(7), "\" is \"", value, "\", not a number");
    state.options[key.substr(7)] = v;
  }
  for (const auto& [key, t] : file.tensors) {
    const size_t dot = key.find('.', 6);
    const long long i = key.rfind("state.", 0) == 0 && dot != std::string::npos ? parse_index(key.substr(6, dot - 6)) : -1;
    DYDX_CHECK(i >= 0 && i < count && dot + 1 < key.size(), "load(optimizer): ", path, ": tensor \"", key,
               "\" is not named state.<parameter below ", count, ">.<name>");
    state.state[static_cast<size_t>(i)][key.substr(dot + 1)] = t;
  }
  optimizer.load_state_dict(state);  // checks the rest before changing anything
}

}  // namespace dydx
