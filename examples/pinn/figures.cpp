#include "figures.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "colormap.hpp"

namespace pinn {

namespace {

std::string format(const char* spec, double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, spec, v);
  return buf;
}

// Ticks at a round spacing (1, 2 or 5 times a power of ten) giving about `count` of them over [lo, hi].
std::vector<double> round_ticks(double lo, double hi, int count) {
  const double raw = (hi - lo) / count;
  const double decade = std::pow(10, std::floor(std::log10(raw)));
  double step = decade;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * decade >= raw) {
      step = m * decade;
      break;
    }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push_back(t);
  return ticks;
}

void centred_text(Image& img, int cx, int y, const std::string& s, Rgb c, int scale = 2) {
  img.text(cx - Image::text_width(s, scale) / 2, y, s, c, scale);
}

// viridis_like at 1024 evenly spaced points, computed on first use: each of its calls solves for the gamut's
// edge, too slow to repeat for every pixel of a picture.
Rgb colour_of(double t) {
  static const std::vector<Rgb> table = [] {
    std::vector<Rgb> colours(1024);
    for (size_t k = 0; k < colours.size(); ++k) colours[k] = viridis_like(static_cast<double>(k) / (colours.size() - 1));
    return colours;
  }();
  const double index = std::clamp(std::isnan(t) ? 0.0 : t, 0.0, 1.0) * (table.size() - 1);
  return table[static_cast<size_t>(std::lround(index))];
}

}  // namespace

Image heat_map(const std::vector<double>& values, int n, const std::string& title) {
  if (n < 2 || values.size() != static_cast<size_t>(n) * n) throw std::invalid_argument("heat_map: need n*n values, n >= 2");
  const int left = 74, top = 50, size = 360, bar_x = left + size + 30, bar_w = 20;
  Image img(bar_x + bar_w + 8 + Image::text_width("-0.00e+00") + 10, top + size + 50);
  const auto [lo_it, hi_it] = std::minmax_element(values.begin(), values.end());
  const double lo = *lo_it, hi = *hi_it, span = hi > lo ? hi - lo : 1;
  // Each pixel samples the field bilinearly between the grid's nodes.
  for (int py = 0; py < size; ++py) {
    const double gy = (1 - (py + 0.5) / size) * (n - 1);
    const int j = std::min(static_cast<int>(gy), n - 2);
    const double fy = gy - j;
    for (int px = 0; px < size; ++px) {
      const double gx = (px + 0.5) / size * (n - 1);
      const int i = std::min(static_cast<int>(gx), n - 2);
      const double fx = gx - i;
      auto at = [&](int ii, int jj) { return values[static_cast<size_t>(jj) * n + ii]; };
      const double v = (1 - fy) * ((1 - fx) * at(i, j) + fx * at(i + 1, j)) + fy * ((1 - fx) * at(i, j + 1) + fx * at(i + 1, j + 1));
      img.set(left + px, top + py, colour_of((v - lo) / span));
    }
  }
  img.rect_outline(left - 1, top - 1, left + size + 1, top + size + 1, kBlack);
  centred_text(img, img.width() / 2, 15, title, kBlack);
  for (double t : {0.0, 0.5, 1.0}) {  // axes: x along the bottom, y up the left side
    const int px = left + static_cast<int>(std::lround(t * (size - 1)));
    const int py = top + size - 1 - static_cast<int>(std::lround(t * (size - 1)));
    img.fill_rect(px, top + size, px + 1, top + size + 5, kBlack);
    centred_text(img, px, top + size + 9, format("%g", t), kBlack);
    img.fill_rect(left - 6, py, left, py + 1, kBlack);
    img.text(left - 10 - Image::text_width(format("%g", t)), py - 7, format("%g", t), kBlack);
  }
  centred_text(img, left + size / 2, top + size + 30, "x", kBlack);
  img.text(8, top + size / 2 - 7, "y", kBlack);
  // The colour bar, value rising upwards, labelled at five evenly spaced values.
  for (int py = 0; py < size; ++py)
    img.fill_rect(bar_x, top + py, bar_x + bar_w, top + py + 1, colour_of(1 - (py + 0.5) / size));
  img.rect_outline(bar_x - 1, top - 1, bar_x + bar_w + 1, top + size + 1, kBlack);
  const bool small = std::max(std::abs(lo), std::abs(hi)) < 1e-2;
  for (int k = 0; k <= 4; ++k) {
    const int py = top + size - 1 - k * (size - 1) / 4;
    img.fill_rect(bar_x + bar_w, py, bar_x + bar_w + 5, py + 1, kBlack);
    img.text(bar_x + bar_w + 8, py - 7, format(small ? "%.2e" : "%.3f", lo + span * k / 4), kBlack);
  }
  return img;
}

Image loss_curve(const std::vector<double>& losses, int64_t switch_step, const std::string& title) {
  const int left = 100, top = 50, width = 460, height = 320;
  Image img(left + width + 30, top + height + 60);
  std::vector<std::pair<double, double>> points;  // (step, log10 loss)
  for (size_t k = 0; k < losses.size(); ++k)
    if (std::isfinite(losses[k]) && losses[k] > 0) points.emplace_back(static_cast<double>(k + 1), std::log10(losses[k]));
  centred_text(img, img.width() / 2, 15, title, kBlack);
  img.rect_outline(left - 1, top - 1, left + width + 1, top + height + 1, kBlack);
  if (points.empty()) return img;
  double ylo = points[0].second, yhi = ylo;
  for (const auto& p : points) ylo = std::min(ylo, p.second), yhi = std::max(yhi, p.second);
  ylo = std::floor(ylo), yhi = std::max(std::ceil(yhi), ylo + 1);
  const double xhi = std::max(2.0, static_cast<double>(losses.size()));
  auto sx = [&](double step) { return left + (step - 1) / (xhi - 1) * (width - 1); };
  auto sy = [&](double y) { return top + (yhi - y) / (yhi - ylo) * (height - 1); };
  // One grey line and a label per decade (every second or fifth decade when there are many).
  const int decade_step = yhi - ylo > 16 ? 5 : yhi - ylo > 8 ? 2 : 1;
  for (int d = static_cast<int>(ylo); d <= static_cast<int>(yhi); ++d) {
    const int py = static_cast<int>(std::lround(sy(d)));
    img.line(left, py, left + width - 1, py, kGrey);
    if ((d - static_cast<int>(ylo)) % decade_step) continue;
    const std::string label = "1e" + std::to_string(d);
    img.text(left - 10 - Image::text_width(label), py - 7, label, kBlack);
  }
  for (double t : round_ticks(1, xhi, 5)) {
    const int px = static_cast<int>(std::lround(sx(t)));
    img.fill_rect(px, top + height, px + 1, top + height + 5, kBlack);
    centred_text(img, px, top + height + 9, format("%.0f", t), kBlack);
  }
  centred_text(img, left + width / 2, top + height + 32, "forward-backward passes", kBlack);
  if (switch_step > 0 && switch_step < static_cast<int64_t>(losses.size())) {
    const double px = sx(static_cast<double>(switch_step) + 0.5);
    img.line(px, top, px, top + height - 1, Rgb{200, 60, 60}, 1, 4);
  }
  const Rgb curve{40, 70, 160};
  for (size_t k = 1; k < points.size(); ++k)
    img.line(sx(points[k - 1].first), sy(points[k - 1].second), sx(points[k].first), sy(points[k].second), curve, 2);
  if (points.size() == 1) img.line(sx(points[0].first), sy(points[0].second), sx(points[0].first), sy(points[0].second), curve, 3);
  return img;
}

}  // namespace pinn
