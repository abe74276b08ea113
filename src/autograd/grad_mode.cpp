// Grad mode: a per-thread flag, so that a NoGradGuard on one thread never affects another.
#include "dydx/autograd.hpp"

namespace dydx {

namespace {
thread_local bool grad_enabled = true;
}

bool is_grad_enabled() { return grad_enabled; }
void set_grad_enabled(bool enabled) { grad_enabled = enabled; }

}  // namespace dydx
