// DYDX_ARG: an option with libtorch's accessors (TORCH_ARG's): name(value) sets it and returns the
// options, so that calls chain; name() reads it. Shared by the options of nn::functional and optim.
#pragma once

#define DYDX_ARG(T, name)                    \
 public:                                     \
  auto& name(const T& value) {               \
    name##_ = value;                         \
    return *this;                            \
  }                                          \
  const T& name() const { return name##_; }  \
                                             \
 private:                                    \
  T name##_
