// The umbrella header: everything a dydx user needs.
#pragma once

#include "dydx/autograd.hpp"
#include "dydx/creation.hpp"
#include "dydx/detail/node.hpp"
#include "dydx/expanding_array.hpp"
#include "dydx/dtype.hpp"
#include "dydx/error.hpp"
#include "dydx/forward_ad.hpp"
#include "dydx/func.hpp"
#include "dydx/indexing.hpp"
#include "dydx/memory.hpp"
#include "dydx/nn/functional.hpp"
#include "dydx/ops.hpp"
#include "dydx/optim.hpp"
#include "dydx/print.hpp"
#include "dydx/threads.hpp"
#include "dydx/tensor.hpp"
