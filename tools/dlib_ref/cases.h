// One-layer reference cases: a tiny net around the layer under test, random parameters from
// dlib::rand with a fixed seed, a random input image, and the files a reader test needs.
#pragma once

#include <dlib/dnn.h>

#include <string>
#include <vector>

#include "dump.h"

namespace dlib_ref
{
    struct case_spec
    {
        std::string name;
        long nr = 13;              // input image rows
        long nc = 11;              // input image columns
        float param_scale = 0.5f;  // parameters ~ N(0, param_scale^2)
        int batch_passes = 0;      // training-mode forwards (batch of 4) to set bn running stats
        bool xml_from_train = false;  // XML of the trained net instead of the reloaded one
        std::string note;
    };

    struct no_config
    {
        template <typename net_type>
        void operator()(net_type&) const {}
    };

    // Every one-layer case sits under a multiclass loss and reads an RGB image.
    template <typename SUBNET> using on = dlib::loss_multiclass_log<SUBNET>;
    using img = dlib::input_rgb_image;

    // configure(): disable the bias of the layer under test (layer<1>, below the loss).
    struct no_bias_top
    {
        template <typename net_type>
        void operator()(net_type& net) const { dlib::layer<1>(net).layer_details().disable_bias(); }
    };

    inline std::vector<dlib::matrix<dlib::rgb_pixel>> random_images(dlib::rand& rnd, size_t count,
                                                                    long nr, long nc)
    {
        std::vector<dlib::matrix<dlib::rgb_pixel>> images(count);
        for (auto& img : images)
        {
            img.set_size(nr, nc);
            for (auto& p : img)
                p = dlib::rgb_pixel(rnd.get_random_8bit_number(), rnd.get_random_8bit_number(),
                                    rnd.get_random_8bit_number());
        }
        return images;
    }

    // Runs case `spec`: `train_net` is built (configure() may disable a bias), set up by one
    // forward pass, given random parameters, optionally run in training mode to set batch-norm
    // running statistics, and serialized to case_<name>.dat. That file is deserialized into
    // `run_net` (dlib converts bn_ -> affine_ and dropout_ -> multiply_ on load), whose output
    // for the first image is the reference. Returns the case's JSON index entry.
    template <typename train_net, typename run_net = train_net, typename configure_fn = no_config>
    std::string run_case(const std::string& outdir, const case_spec& spec,
                         configure_fn configure = {})
    {
        dlib::rand rnd;
        rnd.set_seed("dlib_ref:" + spec.name);
        const auto images = random_images(rnd, 5, spec.nr, spec.nc);
        train_net tnet;
        configure(tnet);
        dlib::resizable_tensor x;
        tnet.to_tensor(images.begin(), images.begin() + 1, x);
        tnet.subnet().forward(x);
        dlib::visit_layer_parameters(tnet, [&](dlib::tensor& t) {
            for (float& v : t)
                v = spec.param_scale * static_cast<float>(rnd.get_random_gaussian());
        });
        if (spec.batch_passes > 0)
        {
            dlib::resizable_tensor batch;
            tnet.to_tensor(images.begin() + 1, images.end(), batch);
            for (int i = 0; i < spec.batch_passes; ++i)
                tnet.subnet().forward(batch);
        }
        const std::string stem = join_path(outdir, "case_" + spec.name);
        dlib::serialize(stem + ".dat") << tnet;

        run_net rnet;
        dlib::deserialize(stem + ".dat") >> rnet;
        rnet.subnet().forward(x);
        save_tensor(stem + "_in.npy", x);
        save_tensor(stem + "_out.npy", rnet.subnet().get_output());
        std::vector<layer_info> infos;
        if (spec.xml_from_train)
        {
            xml_to_file(tnet, stem + ".xml");
            layer_walk<1, train_net::num_layers - 1>::collect(static_cast<const train_net&>(tnet), infos);
        }
        else
        {
            xml_to_file(rnet, stem + ".xml");
            layer_walk<1, run_net::num_layers - 1>::collect(static_cast<const run_net&>(rnet), infos);
        }
        std::string kinds;
        for (const auto& info : infos)
            kinds += (kinds.empty() ? "" : ", ") + json_str(info.kind);
        return "    {\"name\": " + json_str(spec.name) + ", \"dat\": " +
               json_str("case_" + spec.name + ".dat") + ", \"xml\": " +
               json_str("case_" + spec.name + ".xml") + ", \"input\": " +
               json_str("case_" + spec.name + "_in.npy") + ", \"output\": " +
               json_str("case_" + spec.name + "_out.npy") + ", \"input_shape\": " +
               json_shape(shape_of(x)) + ", \"output_shape\": " +
               json_shape(shape_of(rnet.subnet().get_output())) + ", \"layers\": [" + kinds +
               "], \"note\": " + json_str(spec.note) + "}";
    }

}
