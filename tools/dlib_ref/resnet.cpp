// The face-recognition ResNet: anet_type of dlib's examples/dnn_face_recognition_ex.cpp.
#include <dlib/dnn.h>

#include <stdexcept>

#include "commands.h"
#include "dump.h"
#include "image.h"

namespace dlib_ref
{
    namespace
    {
        using namespace dlib;
        template <template <int, template <typename> class, int, typename> class block, int N,
                  template <typename> class BN, typename SUBNET>
        using residual = add_prev1<block<N, BN, 1, tag1<SUBNET>>>;

        template <template <int, template <typename> class, int, typename> class block, int N,
                  template <typename> class BN, typename SUBNET>
        using residual_down = add_prev2<avg_pool<2, 2, 2, 2, skip1<tag2<block<N, BN, 2, tag1<SUBNET>>>>>>;

        template <int N, template <typename> class BN, int stride, typename SUBNET>
        using block = BN<con<N, 3, 3, 1, 1, relu<BN<con<N, 3, 3, stride, stride, SUBNET>>>>>;

        template <int N, typename SUBNET> using ares = relu<residual<block, N, affine, SUBNET>>;
        template <int N, typename SUBNET> using ares_down = relu<residual_down<block, N, affine, SUBNET>>;

        template <typename SUBNET> using alevel0 = ares_down<256, SUBNET>;
        template <typename SUBNET> using alevel1 = ares<256, ares<256, ares_down<256, SUBNET>>>;
        template <typename SUBNET> using alevel2 = ares<128, ares<128, ares_down<128, SUBNET>>>;
        template <typename SUBNET> using alevel3 = ares<64, ares<64, ares<64, ares_down<64, SUBNET>>>>;
        template <typename SUBNET> using alevel4 = ares<32, ares<32, ares<32, SUBNET>>>;

        using resnet_net = loss_metric<fc_no_bias<128, avg_pool_everything<
            alevel0<alevel1<alevel2<alevel3<alevel4<
            max_pool<3, 3, 2, 2, relu<affine<con<32, 7, 7, 2, 2, input_rgb_image_sized<150>>>>>>>>>>>>>;
    }

    int dump_resnet(const std::string& model, const std::string& chip, const std::string& outdir)
    {
        resnet_net net;
        deserialize(model) >> net;
        matrix<rgb_pixel> img;
        load_rgb(chip, img);
        if (img.nr() != 150 || img.nc() != 150)
            throw std::runtime_error(chip + ": the face chip must be 150x150, found " +
                                     std::to_string(img.nr()) + "x" + std::to_string(img.nc()));
        make_dir(outdir);
        resizable_tensor x;
        net.to_tensor(&img, &img + 1, x);
        const std::string layers = dump_layers(net, x, outdir);
        const matrix<float, 0, 1> desc = net(img);
        write_npy(join_path(outdir, "descriptor.npy"), &desc(0), {desc.size()});
        std::string json = "{\n  \"kind\": \"resnet\",\n  \"dlib_version\": \"" + dlib_version() + "\",\n";
        json += "  \"model\": " + json_str(model) + ",\n  \"image\": " + json_str(chip) + ",\n";
        json += "  \"loss\": " + json_str(xml_kind(net.loss_details())) + ",\n";
        json += "  \"input\": {\"file\": \"input.npy\", \"shape\": " + json_shape(shape_of(x)) + "},\n";
        json += "  \"layers\": [\n" + layers + "\n  ],\n  \"descriptor\": [";
        for (long i = 0; i < desc.size(); ++i)
            json += (i ? ", " : "") + json_num(desc(i));
        json += "]\n}\n";
        write_text(join_path(outdir, "index.json"), json);
        return 0;
    }

    int xml_resnet(const std::string& model, const std::string& out_xml)
    {
        resnet_net net;
        deserialize(model) >> net;
        xml_to_file(net, out_xml);
        return 0;
    }
}
