// The example's two kinds of figure: a heat map of a field on the unit square with a colour bar, and a loss
// curve on a logarithmic scale.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "image.hpp"

namespace pinn {

/// values[j * n + i] is the field at x = i / (n - 1), y = j / (n - 1); y grows upwards in the picture. The
/// colour bar spans the values' range and is labelled at five points.
Image heat_map(const std::vector<double>& values, int n, const std::string& title);

/// losses[k] is the loss after step k + 1; a dashed line marks where the second optimiser took over
/// (switch_step; none when it is 0 or past the end). Non-positive and non-finite losses are left out.
Image loss_curve(const std::vector<double>& losses, int64_t switch_step, const std::string& title);

}  // namespace pinn
