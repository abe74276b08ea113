// A small RGB raster for the example's figures: filled rectangles, lines, and text in a built-in 5x7 font.
// Just what a heat map with a colour bar and a loss curve need; written out by write_png (png_writer.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pinn {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

inline constexpr Rgb kWhite{255, 255, 255};
inline constexpr Rgb kBlack{0, 0, 0};
inline constexpr Rgb kGrey{200, 200, 200};

class Image {
 public:
  Image(int width, int height, Rgb background = kWhite);

  int width() const { return width_; }
  int height() const { return height_; }
  /// Row-major RGB bytes, three per pixel, top row first (PNG's order).
  const std::vector<uint8_t>& bytes() const { return rgb_; }

  /// Pixels outside the image are ignored, so callers may draw across its edges.
  void set(int x, int y, Rgb c);
  void fill_rect(int x0, int y0, int x1, int y1, Rgb c);  // [x0, x1) x [y0, y1)
  void rect_outline(int x0, int y0, int x1, int y1, Rgb c);
  /// A line `thickness` pixels wide; every `dash`-th run of pixels is left out when dash > 0.
  void line(double x0, double y0, double x1, double y1, Rgb c, int thickness = 1, int dash = 0);
  /// Text whose top-left corner is (x, y), each font pixel scale x scale; returns its width.
  int text(int x, int y, const std::string& s, Rgb c, int scale = 2);
  /// The width text() would draw.
  static int text_width(const std::string& s, int scale = 2);
  static int text_height(int scale = 2) { return 7 * scale; }

 private:
  int width_, height_;
  std::vector<uint8_t> rgb_;
};

}  // namespace pinn
