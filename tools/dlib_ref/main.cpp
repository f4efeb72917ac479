// dlib_ref: dlib's own C++ library as a reference for faceport (see README.md).
#include <dlib/revision.h>

#include <exception>
#include <iostream>
#include <string>

#include "commands.h"

std::string dlib_ref::dlib_version()
{
    return std::to_string(DLIB_MAJOR_VERSION) + "." + std::to_string(DLIB_MINOR_VERSION) + "." +
           std::to_string(DLIB_PATCH_VERSION);
}

namespace
{
    const char* const usage =
        "usage:\n"
        "  dlib_ref dump-mmod <model.dat> <image.png|.jpg|.ppm> <outdir> [upsample]\n"
        "  dlib_ref dump-resnet <model.dat> <chip150.png|.ppm> <outdir>\n"
        "  dlib_ref to-xml <mmod|resnet> <model.dat> <out.xml>\n"
        "  dlib_ref layers <outdir>\n";

    int run(int argc, char** argv)
    {
        const std::string cmd = argc > 1 ? argv[1] : "";
        if (cmd == "dump-mmod" && (argc == 5 || argc == 6))
            return dlib_ref::dump_mmod(argv[2], argv[3], argv[4], argc == 6 ? std::stoi(argv[5]) : 0);
        if (cmd == "dump-resnet" && argc == 5)
            return dlib_ref::dump_resnet(argv[2], argv[3], argv[4]);
        if (cmd == "to-xml" && argc == 5 && std::string(argv[2]) == "mmod")
            return dlib_ref::xml_mmod(argv[3], argv[4]);
        if (cmd == "to-xml" && argc == 5 && std::string(argv[2]) == "resnet")
            return dlib_ref::xml_resnet(argv[3], argv[4]);
        if (cmd == "layers" && argc == 3)
            return dlib_ref::layer_cases(argv[2]);
        std::cerr << usage;
        return 2;
    }
}

int main(int argc, char** argv)
{
    try
    {
        return run(argc, argv);
    }
    catch (const std::exception& e)
    {
        std::cerr << "dlib_ref: error: " << e.what() << "\n";
        return 1;
    }
}
