#include "image.h"

#include <dlib/image_io.h>

#include <fstream>
#include <stdexcept>

namespace dlib_ref
{
    namespace
    {
        long read_header_int(std::istream& in, const std::string& path)
        {
            int c = in.peek();
            while (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '#')
            {
                if (c == '#')
                    in.ignore(1 << 20, '\n');
                else
                    in.get();
                c = in.peek();
            }
            long value = -1;
            if (!(in >> value) || value <= 0 || value > 65535)
                throw std::runtime_error(path + ": bad PPM header field");
            return value;
        }

        void load_ppm(const std::string& path, dlib::matrix<dlib::rgb_pixel>& img)
        {
            std::ifstream in(path, std::ios::binary);
            char magic[2] = {0, 0};
            in.read(magic, 2);
            if (!in || magic[0] != 'P' || magic[1] != '6')
                throw std::runtime_error(path + ": not a binary PPM (P6)");
            const long width = read_header_int(in, path);
            const long height = read_header_int(in, path);
            const long maxval = read_header_int(in, path);
            if (maxval != 255)
                throw std::runtime_error(path + ": PPM maxval must be 255");
            in.get();  // the single whitespace byte before the raster
            img.set_size(height, width);
            std::vector<unsigned char> row(static_cast<size_t>(width) * 3);
            for (long r = 0; r < height; ++r)
            {
                in.read(reinterpret_cast<char*>(row.data()), static_cast<std::streamsize>(row.size()));
                if (!in)
                    throw std::runtime_error(path + ": PPM raster truncated");
                for (long c = 0; c < width; ++c)
                    img(r, c) = dlib::rgb_pixel(row[3 * c], row[3 * c + 1], row[3 * c + 2]);
            }
        }
    }

    void load_rgb(const std::string& path, dlib::matrix<dlib::rgb_pixel>& img)
    {
        if (path.size() > 4 && path.compare(path.size() - 4, 4, ".ppm") == 0)
            load_ppm(path, img);
        else
            dlib::load_image(img, path);
    }
}
