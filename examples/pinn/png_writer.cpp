#include "png_writer.hpp"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <stdexcept>
#include <vector>

namespace pinn {

namespace {

// The libpng calls, apart from any C++ object: libpng reports an error by longjmp back to the setjmp here,
// which is safe only when no destructor lies between the two.
bool write_rows(FILE* file, png_structp png, png_infop info, int width, int height, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_init_io(png, file);
  png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, 9);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  return true;
}

}  // namespace

void write_png(const std::string& path, const Image& image) {
  std::vector<png_bytep> rows(image.height());
  for (int y = 0; y < image.height(); ++y)
    rows[y] = const_cast<png_bytep>(image.bytes().data() + static_cast<size_t>(y) * image.width() * 3);
  FILE* file = std::fopen(path.c_str(), "wb");
  if (!file) throw std::runtime_error("write_png: cannot open " + path + " for writing");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  const bool ok = info && write_rows(file, png, info, image.width(), image.height(), rows.data());
  png_destroy_write_struct(&png, &info);
  const bool closed = std::fclose(file) == 0;
  if (!ok || !closed) throw std::runtime_error("write_png: cannot write " + path);
}

}  // namespace pinn
