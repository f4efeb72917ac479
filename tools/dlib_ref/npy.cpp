// NPY v1.0 (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
// magic "\x93NUMPY", version 1.0, uint16 little-endian header length, then a Python dict
// literal padded with spaces and terminated by '\n' so that the data starts on a multiple
// of 64 bytes.
#include "npy.h"

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace dlib_ref
{
    void write_npy(const std::string& path, const float* data, const std::vector<long>& shape)
    {
        static_assert(sizeof(float) == 4, "float must be IEEE binary32");
        std::ostringstream dict;
        dict << "{'descr': '<f4', 'fortran_order': False, 'shape': (";
        long count = 1;
        for (size_t i = 0; i < shape.size(); ++i)
        {
            dict << shape[i] << (shape.size() == 1 || i + 1 < shape.size() ? "," : "");
            if (i + 1 < shape.size())
                dict << " ";
            count *= shape[i];
        }
        dict << "), }";
        std::string header = dict.str();
        const size_t preamble = 10;  // magic(6) + version(2) + header length(2)
        size_t total = preamble + header.size() + 1;
        header.append((64 - total % 64) % 64, ' ');
        header.push_back('\n');
        const uint16_t hlen = static_cast<uint16_t>(header.size());

        const std::string tmp = path + ".tmp";
        {
            std::ofstream out(tmp, std::ios::binary);
            if (!out)
                throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
            out.write("\x93NUMPY\x01\x00", 8);
            const char len[2] = {static_cast<char>(hlen & 0xff), static_cast<char>(hlen >> 8)};
            out.write(len, 2);
            out.write(header.data(), static_cast<std::streamsize>(header.size()));
            // x86-64 and aarch64 are little-endian, as '<f4' promises.
            out.write(reinterpret_cast<const char*>(data),
                      static_cast<std::streamsize>(count * sizeof(float)));
            if (!out)
                throw std::runtime_error("short write to " + tmp);
        }
        if (std::rename(tmp.c_str(), path.c_str()) != 0)
            throw std::runtime_error("cannot rename " + tmp + " to " + path);
    }

    std::string json_str(const std::string& text)
    {
        std::string out = "\"";
        for (const char c : text)
        {
            if (c == '"' || c == '\\')
            {
                out.push_back('\\');
                out.push_back(c);
            }
            else if (static_cast<unsigned char>(c) < 0x20)
            {
                char buf[8];
                std::snprintf(buf, sizeof(buf), "\\u%04x", c);
                out += buf;
            }
            else
                out.push_back(c);
        }
        return out + "\"";
    }

    std::string json_shape(const std::vector<long>& shape)
    {
        std::string out = "[";
        for (size_t i = 0; i < shape.size(); ++i)
            out += (i ? ", " : "") + std::to_string(shape[i]);
        return out + "]";
    }

    std::string json_num(double value)
    {
        if (!std::isfinite(value))
            return "null";
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.9g", value);
        return buf;
    }

    void write_text(const std::string& path, const std::string& text)
    {
        const std::string tmp = path + ".tmp";
        {
            std::ofstream out(tmp, std::ios::binary);
            out << text;
            if (!out)
                throw std::runtime_error("cannot write " + tmp);
        }
        if (std::rename(tmp.c_str(), path.c_str()) != 0)
            throw std::runtime_error("cannot rename " + tmp + " to " + path);
    }

    std::string join_path(const std::string& dir, const std::string& name)
    {
        if (dir.empty() || dir.back() == '/')
            return dir + name;
        return dir + "/" + name;
    }

    void make_dir(const std::string& path)
    {
        if (::mkdir(path.c_str(), 0777) != 0 && errno != EEXIST)
            throw std::runtime_error("cannot create directory " + path + ": " + std::strerror(errno));
    }
}
