// A module's parameters and buffers in a safetensors file, under their dotted names
// ("fc1.weight", "bn.running_mean"), as PyTorch's state_dict() keys them. Loading checks every
// key, shape and dtype first and copies nothing unless all match, so a wrong file leaves the
// module as it was.
#include <sstream>
#include <string>
#include <vector>

#include "dydx/autograd.hpp"
#include "dydx/error.hpp"
#include "dydx/nn/module.hpp"
#include "dydx/serialize.hpp"

namespace dydx {
namespace {

/// The module's parameters, then its buffers, by dotted name (the handles themselves).
std::vector<std::pair<std::string, Tensor>> module_entries(const nn::Module& module, const char* op) {
  std::vector<std::pair<std::string, Tensor>> out;
  std::map<std::string, int> seen;
  for (const auto& item : module.named_parameters()) out.emplace_back(item.key(), item.value());
  for (const auto& item : module.named_buffers()) out.emplace_back(item.key(), item.value());
  for (const auto& [name, t] : out)
    DYDX_CHECK(++seen[name] == 1, op, ": the module has a parameter and a buffer both called \"", name, "\"");
  return out;
}

std::string list(const std::vector<std::string>& names) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < names.size(); ++i) out << (i ? ", " : "") << names[i];
  out << "]";
  return out.str();
}

}  // namespace

void save(const nn::Module& module, const std::string& path, const std::map<std::string, std::string>& metadata) {
  std::map<std::string, Tensor> tensors;
  for (const auto& [name, t] : module_entries(module, "save(module)")) tensors[name] = t;
  // "format": "pt" marks PyTorch-layout tensors, as Hugging Face's loaders expect.
  std::map<std::string, std::string> meta = metadata;
  meta.emplace("format", "pt");
  save_safetensors(tensors, path, meta);
}

void load(nn::Module& module, const std::string& path) {
  const std::map<std::string, Tensor> file = load_safetensors(path);
  const auto entries = module_entries(module, "load(module)");
  std::vector<std::string> missing, unexpected, mismatched;
  std::map<std::string, int> in_module;
  for (const auto& [name, t] : entries) {
    in_module[name] = 1;
    const auto it = file.find(name);
    if (it == file.end()) {
      missing.push_back(name);
      continue;
    }
    const Tensor& saved = it->second;
    if (saved.sizes() != t.sizes() || saved.dtype() != t.dtype()) {
      std::ostringstream m;
      m << name << " (file " << saved.sizes() << " " << saved.dtype() << ", module " << t.sizes() << " "
        << t.dtype() << ")";
      mismatched.push_back(m.str());
    }
  }
  for (const auto& [name, t] : file)
    if (!in_module.count(name)) unexpected.push_back(name);
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::ostringstream message;
    message << "load(module): " << path << " does not match the module (nothing was loaded):";
    if (!missing.empty()) message << " missing keys " << list(missing) << ";";
    if (!unexpected.empty()) message << " unexpected keys " << list(unexpected) << ";";
    if (!mismatched.empty()) message << " wrong shape or dtype " << list(mismatched) << ";";
    throw Error(message.str());
  }
  // Every key, shape and dtype matched: now copy, in place, so that every handle to a parameter
  // (a layer's member, an optimizer's list) sees the loaded values.
  NoGradGuard no_grad;
  for (const auto& [name, t] : entries) Tensor(t).copy_(file.at(name));
}

}  // namespace dydx
