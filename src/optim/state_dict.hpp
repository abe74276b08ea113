// What the optimizers' state_dict()/load_state_dict() share: reading a saved state with every
// check made before anything is changed (load_state_dict builds the new state aside, then swaps).
#pragma once

#include <map>
#include <set>
#include <string>

#include "dydx/creation.hpp"
#include "dydx/error.hpp"
#include "dydx/optim.hpp"

namespace dydx::optim::detail {

/// Errors unless state is this optimizer's, for n parameters.
inline void check_state_kind(const OptimizerStateDict& state, const char* optimizer, size_t n) {
  DYDX_CHECK(state.optimizer == optimizer, optimizer, "::load_state_dict: the state is of a ",
             state.optimizer.empty() ? "nameless" : state.optimizer, " optimizer, not ", optimizer);
  DYDX_CHECK(state.state.size() == n, optimizer, "::load_state_dict: the state has ", state.state.size(),
             " parameters, the optimizer ", n);
}

/// The options of a saved state by name; finish() errors for a name no getter asked for.
class OptionReader {
 public:
  OptionReader(const std::map<std::string, double>& options, const char* optimizer)
      : options_(options), optimizer_(optimizer) {}
  double get(const std::string& key) {
    const auto it = options_.find(key);
    DYDX_CHECK(it != options_.end(), optimizer_, "::load_state_dict: the state has no option \"", key, "\"");
    used_.insert(key);
    return it->second;
  }
  bool get_bool(const std::string& key) {
    const double v = get(key);
    DYDX_CHECK(v == 0 || v == 1, optimizer_, "::load_state_dict: option \"", key, "\" is ", v, ", not 0 or 1");
    return v == 1;
  }
  int64_t get_int(const std::string& key) {
    const double v = get(key);
    DYDX_CHECK(v == std::floor(v) && std::abs(v) < 9e15, optimizer_, "::load_state_dict: option \"", key, "\" is ",
               v, ", not an integer");
    return static_cast<int64_t>(v);
  }
  void finish() const {
    for (const auto& [key, value] : options_)
      DYDX_CHECK(used_.count(key), optimizer_, "::load_state_dict: unknown option \"", key, "\"");
  }

 private:
  const std::map<std::string, double>& options_;
  const char* optimizer_;
  std::set<std::string> used_;
};

/// Errors, naming the unknown one, unless every name in a parameter's state is one of known.
inline void check_state_names(const std::map<std::string, Tensor>& s, const std::set<std::string>& known,
                              const char* optimizer, size_t i) {
  for (const auto& [key, t] : s)
    DYDX_CHECK(known.count(key), optimizer, "::load_state_dict: parameter ", i, "'s state has unknown \"", key, "\"");
}

/// A copy of state tensor key of parameter i, checked to have the shape and dtype of like
/// (undefined when it is absent and not required).
inline Tensor state_tensor(const std::map<std::string, Tensor>& s, const std::string& key, const Tensor& like,
                           const char* optimizer, size_t i, bool required = true) {
  const auto it = s.find(key);
  if (it == s.end()) {
    DYDX_CHECK(!required, optimizer, "::load_state_dict: parameter ", i, "'s state has no \"", key, "\"");
    return Tensor();
  }
  const Tensor& t = it->second;
  DYDX_CHECK(t.defined(), optimizer, "::load_state_dict: parameter ", i, "'s \"", key, "\" is undefined");
  DYDX_CHECK(t.sizes() == like.sizes() && t.dtype() == like.dtype(), optimizer, "::load_state_dict: parameter ", i,
             "'s \"", key, "\" has shape ", t.sizes(), " and dtype ", t.dtype(), ", but needs shape ", like.sizes(),
             " and dtype ", like.dtype());
  return t.detach().clone().contiguous();
}

/// A step count stored as a one-element tensor (PyTorch stores a float tensor; dydx an int64
/// one): a non-negative whole number, else an error.
inline int64_t state_count(const std::map<std::string, Tensor>& s, const std::string& key, const char* optimizer,
                           size_t i) {
  const auto it = s.find(key);
  DYDX_CHECK(it != s.end(), optimizer, "::load_state_dict: parameter ", i, "'s state has no \"", key, "\"");
  const Tensor& t = it->second;
  DYDX_CHECK(t.defined() && t.numel() == 1, optimizer, "::load_state_dict: parameter ", i, "'s \"", key,
             "\" must hold one number");
  const double v = t.item<double>();
  DYDX_CHECK(v >= 0 && v == std::floor(v) && v < 9e15, optimizer, "::load_state_dict: parameter ", i, "'s \"", key,
             "\" is ", v, ", not a step count");
  return static_cast<int64_t>(v);
}

inline Tensor count_tensor(int64_t n) { return full({}, n, dtype(kInt64)); }

inline Tensor copy_of(const Tensor& t) { return t.detach().clone(); }

}  // namespace dydx::optim::detail
