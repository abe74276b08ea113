// dydx::nn: modules, layers, losses, initialisation and functional_call, as torch::nn.
#pragma once

#include "dydx/nn/functional.hpp"
#include "dydx/nn/functional_call.hpp"
#include "dydx/nn/init.hpp"
#include "dydx/nn/module.hpp"
#include "dydx/nn/modules/activation.hpp"
#include "dydx/nn/modules/container.hpp"
#include "dydx/nn/modules/conv.hpp"
#include "dydx/nn/modules/linear.hpp"
#include "dydx/nn/modules/loss.hpp"
#include "dydx/nn/modules/normalization.hpp"
#include "dydx/nn/modules/dropout.hpp"
#include "dydx/nn/modules/pooling.hpp"
#include "dydx/nn/pimpl.hpp"
#include "dydx/ordered_dict.hpp"
