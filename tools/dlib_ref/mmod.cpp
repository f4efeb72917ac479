// The mmod face detector: net_type of dlib's examples/dnn_mmod_face_detection_ex.cpp.
#include <dlib/dnn.h>
#include <dlib/image_transforms.h>

#include "commands.h"
#include "dump.h"
#include "image.h"

namespace dlib_ref
{
    namespace
    {
        using namespace dlib;
        template <long num_filters, typename SUBNET> using con5d = con<num_filters, 5, 5, 2, 2, SUBNET>;
        template <long num_filters, typename SUBNET> using con5 = con<num_filters, 5, 5, 1, 1, SUBNET>;
        template <typename SUBNET>
        using downsampler = relu<affine<con5d<32, relu<affine<con5d<32, relu<affine<con5d<16, SUBNET>>>>>>>>>;
        template <typename SUBNET> using rcon5 = relu<affine<con5<45, SUBNET>>>;
        using mmod_net = loss_mmod<con<1, 9, 9, 1, 1,
            rcon5<rcon5<rcon5<downsampler<input_rgb_image_pyramid<pyramid_down<6>>>>>>>>;
    }

    int dump_mmod(const std::string& model, const std::string& image, const std::string& outdir,
                  int upsample)
    {
        mmod_net net;
        deserialize(model) >> net;
        matrix<rgb_pixel> img;
        load_rgb(image, img);
        const long orig_nr = img.nr(), orig_nc = img.nc();
        // dlib's Python cnn_face_detection_model_v1 upsamples with pyramid_up (pyramid_down<2>).
        for (int i = 0; i < upsample; ++i)
            pyramid_up(img, pyramid_down<2>());
        make_dir(outdir);
        resizable_tensor x;
        net.to_tensor(&img, &img + 1, x);
        const std::string layers = dump_layers(net, x, outdir);
        const std::vector<mmod_rect> dets = net(img);
        std::string json = "{\n  \"kind\": \"mmod\",\n  \"dlib_version\": \"" + dlib_version() + "\",\n";
        json += "  \"model\": " + json_str(model) + ",\n  \"image\": " + json_str(image) + ",\n";
        json += "  \"image_shape\": [" + std::to_string(orig_nr) + ", " + std::to_string(orig_nc) +
                "],\n  \"upsample\": " + std::to_string(upsample) + ",\n";
        json += "  \"network_image_shape\": [" + std::to_string(img.nr()) + ", " +
                std::to_string(img.nc()) + "],\n";
        json += "  \"loss\": " + json_str(xml_kind(net.loss_details())) + ",\n";
        json += "  \"input\": {\"file\": \"input.npy\", \"shape\": " + json_shape(shape_of(x)) + "},\n";
        json += "  \"layers\": [\n" + layers + "\n  ],\n  \"detections\": [";
        for (size_t i = 0; i < dets.size(); ++i)
        {
            const rectangle& r = dets[i].rect;
            json += std::string(i ? "," : "") + "\n    {\"left\": " + std::to_string(r.left()) +
                    ", \"top\": " + std::to_string(r.top()) + ", \"right\": " +
                    std::to_string(r.right()) + ", \"bottom\": " + std::to_string(r.bottom()) +
                    ", \"confidence\": " + json_num(dets[i].detection_confidence) +
                    ", \"label\": " + json_str(dets[i].label) + "}";
        }
        json += "\n  ]\n}\n";
        write_text(join_path(outdir, "index.json"), json);
        return 0;
    }

    int xml_mmod(const std::string& model, const std::string& out_xml)
    {
        mmod_net net;
        deserialize(model) >> net;
        xml_to_file(net, out_xml);
        return 0;
    }
}
