// Image loading: binary PPM (P6, maxval 255) parsed here, bit-exact; anything else via
// dlib::load_image (PNG/JPEG through libpng/libjpeg).
#pragma once

#include <dlib/matrix.h>
#include <dlib/pixel.h>

#include <string>

namespace dlib_ref
{
    void load_rgb(const std::string& path, dlib::matrix<dlib::rgb_pixel>& img);
}
