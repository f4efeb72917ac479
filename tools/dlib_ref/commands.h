// Sub-commands of dlib_ref; each returns a process exit status.
#pragma once

#include <string>
#include <vector>

namespace dlib_ref
{
    int dump_mmod(const std::string& model, const std::string& image, const std::string& outdir,
                  int upsample);
    int xml_mmod(const std::string& model, const std::string& out_xml);
    int dump_resnet(const std::string& model, const std::string& chip, const std::string& outdir);
    int xml_resnet(const std::string& model, const std::string& out_xml);
    int layer_cases(const std::string& outdir);

    // Case groups of `layers`, one translation unit each so that `make -j` compiles them in
    // parallel; each appends one JSON index entry per case.
    void conv_cases(const std::string& outdir, std::vector<std::string>& entries);
    void act_cases(const std::string& outdir, std::vector<std::string>& entries);
    void graph_cases(const std::string& outdir, std::vector<std::string>& entries);

    // "19.24.0", from dlib/revision.h.
    std::string dlib_version();
}
