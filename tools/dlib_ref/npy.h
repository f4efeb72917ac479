// Minimal NPY v1.0 writer and JSON helpers (no dlib headers: compiles in a second).
#pragma once

#include <string>
#include <vector>

namespace dlib_ref
{
    // Writes `count` float32 values as a little-endian '<f4' C-order array of `shape`.
    // Throws std::runtime_error when the file cannot be written.
    void write_npy(const std::string& path, const float* data, const std::vector<long>& shape);

    // `text` as a JSON string literal (quotes included).
    std::string json_str(const std::string& text);

    // `shape` as a JSON list of integers.
    std::string json_shape(const std::vector<long>& shape);

    // A JSON number that survives a float32 round trip (9 significant digits).
    std::string json_num(double value);

    // Writes `text` to `path` via a temporary file and rename (never a half-written file).
    void write_text(const std::string& path, const std::string& text);

    // "a/b" joined without doubling the separator.
    std::string join_path(const std::string& dir, const std::string& name);

    // mkdir -p for one directory level that may already exist.
    void make_dir(const std::string& path);
}
