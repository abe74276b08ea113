// A perceptually ordered colour map like matplotlib's viridis (dark blue-violet through teal and green to
// yellow), computed here rather than read from a table: a path through CIE LCh whose lightness rises evenly,
// converted to sRGB, with chroma pulled in wherever the path would leave the sRGB gamut.
#pragma once

#include "image.hpp"

namespace pinn {

/// The colour of t in [0, 1] (clamped): t = 0 is dark violet, t = 1 light yellow.
Rgb viridis_like(double t);

}  // namespace pinn
