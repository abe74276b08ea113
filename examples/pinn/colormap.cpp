#include "colormap.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace pinn {

namespace {

// sRGB's transfer function: linear light to the encoded value, both in [0, 1].
double encode_srgb(double v) { return v <= 0.0031308 ? 12.92 * v : 1.055 * std::pow(v, 1 / 2.4) - 0.055; }

// CIE L*a*b* (D65 white) to linear sRGB; false when the colour lies outside [0, 1]^3.
bool lab_to_linear_srgb(double L, double a, double b, double rgb[3]) {
  const double fy = (L + 16) / 116, fx = fy + a / 500, fz = fy - b / 200;
  auto finv = [](double f) { return f > 6.0 / 29 ? f * f * f : 3 * (6.0 / 29) * (6.0 / 29) * (f - 4.0 / 29); };
  const double X = 0.95047 * finv(fx), Y = finv(fy), Z = 1.08883 * finv(fz);
  rgb[0] = 3.2404542 * X - 1.5371385 * Y - 0.4985314 * Z;
  rgb[1] = -0.9692660 * X + 1.8760108 * Y + 0.0415560 * Z;
  rgb[2] = 0.0556434 * X - 0.2040259 * Y + 1.0572252 * Z;
  for (int i = 0; i < 3; ++i)
    if (rgb[i] < -1e-9 || rgb[i] > 1 + 1e-9) return false;
  return true;
}

}  // namespace

Rgb viridis_like(double t) {
  t = std::clamp(std::isnan(t) ? 0.0 : t, 0.0, 1.0);
  // Lightness rises linearly (so equal steps in value read as equal steps in brightness); the hue turns from
  // violet (305 degrees) through blue and teal to yellow (100 degrees); the chroma dips in the middle, where
  // teal is dull, and rises towards the saturated yellow end.
  const double L = 20 + 72 * t;
  const double hue = (305 - 205 * t) * std::numbers::pi / 180;
  const double wanted = 45 + 40 * t * t * t - 15 * std::sin(std::numbers::pi * t);
  // The largest chroma up to `wanted` that sRGB can show at this lightness and hue (bisection).
  double lo = 0, hi = wanted, rgb[3];
  if (!lab_to_linear_srgb(L, hi * std::cos(hue), hi * std::sin(hue), rgb)) {
    for (int i = 0; i < 40; ++i) {
      const double mid = (lo + hi) / 2;
      (lab_to_linear_srgb(L, mid * std::cos(hue), mid * std::sin(hue), rgb) ? lo : hi) = mid;
    }
    lab_to_linear_srgb(L, lo * std::cos(hue), lo * std::sin(hue), rgb);
  }
  auto byte = [](double v) { return static_cast<uint8_t>(std::lround(255 * encode_srgb(std::clamp(v, 0.0, 1.0)))); };
  return {byte(rgb[0]), byte(rgb[1]), byte(rgb[2])};
}

}  // namespace pinn
