// Writes an Image as an 8-bit RGB PNG with libpng (Debian: libpng-dev).
#pragma once

#include <string>

#include "image.hpp"

namespace pinn {

/// Throws std::runtime_error naming the path if the file cannot be written.
void write_png(const std::string& path, const Image& image);

}  // namespace pinn
