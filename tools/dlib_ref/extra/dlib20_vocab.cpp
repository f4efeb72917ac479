// `dlib20_vocab <outdir>`: dlib 20 reference cases for the layer kinds Debian's dlib 19.24
// cannot build (transformer layers, con_6/relu_2, new inputs and losses, repeat<>, nets
// without a loss layer). Built against a dlib 20 source tree (mk/dlib20_vocab.mk), one TU.
//
// Each case writes case_<name>.dat (dlib::serialize) and case_<name>.xml (net_to_xml); cases
// that run also write case_<name>_in.npy (the input tensor) and case_<name>_out.npy (the top
// computational layer's output after the .dat was deserialized into a fresh net).
#include <dlib/dnn.h>

#include <array>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <string>

using namespace dlib;

namespace
{
    std::string outdir;

    void write_npy(const std::string& path, const tensor& t)
    {
        std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                             std::to_string(t.num_samples()) + ", " + std::to_string(t.k()) + ", " +
                             std::to_string(t.nr()) + ", " + std::to_string(t.nc()) + "), }";
        while ((10 + header.size() + 1) % 64 != 0)
            header += ' ';
        header += '\n';
        std::ofstream out(path, std::ios::binary);
        out.write("\x93NUMPY\x01\x00", 8);
        const uint16_t len = static_cast<uint16_t>(header.size());
        out.put(static_cast<char>(len & 0xff));
        out.put(static_cast<char>(len >> 8));
        out << header;
        out.write(reinterpret_cast<const char*>(t.host()), t.size() * sizeof(float));
    }

    std::string stem(const std::string& name) { return outdir + "/case_" + name; }

    template <typename net_type>
    void save(const std::string& name, const net_type& net)
    {
        serialize(stem(name) + ".dat") << net;
        net_to_xml(net, stem(name) + ".xml");
        std::cout << name << "\n";
    }

    template <typename net_type>
    void randomize(net_type& net, dlib::rand& rnd)
    {
        visit_layer_parameters(net, [&](tensor& t) {
            for (float& v : t)
                v = 0.5f * static_cast<float>(rnd.get_random_gaussian());
        });
    }

    using stack3 = input<std::array<matrix<float>, 3>>;
    using plain = input<matrix<float>>;
    template <typename S> using mse = loss_mean_squared_multioutput<S>;

    std::array<matrix<float>, 3> random_stack(dlib::rand& rnd, long nr, long nc)
    {
        std::array<matrix<float>, 3> img;
        for (auto& m : img)
        {
            m.set_size(nr, nc);
            for (auto& v : m)
                v = static_cast<float>(rnd.get_random_gaussian());
        }
        return img;
    }

    // Forward setup, random params, save, reload into a fresh net, forward, dump in/out.
    template <typename net_type, typename sample_type, typename prep_fn>
    void run_with(const std::string& name, const sample_type& sample, prep_fn prep)
    {
        dlib::rand rnd;
        rnd.set_seed("dlib20_vocab:" + name);
        net_type net;
        resizable_tensor x;
        net.to_tensor(&sample, &sample + 1, x);
        net.subnet().forward(x);
        randomize(net, rnd);
        prep(net);
        save(name, net);
        net_type again;
        deserialize(stem(name) + ".dat") >> again;
        prep(again);
        again.subnet().forward(x);
        write_npy(stem(name) + "_in.npy", x);
        write_npy(stem(name) + "_out.npy", again.subnet().get_output());
    }

    template <typename net_type>
    void run(const std::string& name, long nr = 6, long nc = 8)
    {
        dlib::rand rnd;
        rnd.set_seed("input:" + name);
        run_with<net_type>(name, random_stack(rnd, nr, nc), [](net_type&) {});
    }

    template <typename net_type>
    void structure_only(const std::string& name, net_type net = net_type())
    {
        save(name, net);
        net_type again;
        deserialize(stem(name) + ".dat") >> again;  // dlib must read back what it wrote
    }

    template <typename S> using rsimple = htan<linear<8, S>>;
    template <typename S> using rres = add_prev5<linear<8, gelu<tag5<S>>>>;
    template <typename S> using rconv = relu<con<3, 3, 3, 1, 1, S>>;
}

int main(int argc, char** argv)
{
    if (argc != 2)
    {
        std::cerr << "usage: dlib20_vocab <outdir>\n";
        return 2;
    }
    outdir = argv[1];
    try
    {
        run<mse<con<4, 3, 3, 1, 1, stack3>>>("con6");
        {
            using net_type = mse<relu<con<4, 3, 3, 1, 1, stack3>>>;
            dlib::rand rnd("input:con_relu_fused");
            run_with<net_type>("con_relu_fused", random_stack(rnd, 6, 8),
                               [](net_type& n) { fuse_layers(n); });
        }
        run<mse<relu<con<4, 3, 3, 1, 1, stack3>>>>("relu2");
        run<mse<elu<stack3>>>("elu");
        run<mse<clipped_relu<stack3>>>("clipped_relu");
        run<mse<silu<stack3>>>("silu");
        run<mse<smelu<stack3>>>("smelu");
        run<mse<gelu<stack3>>>("gelu");
        run<mse<mish<stack3>>>("mish");
        run<mse<leaky_relu<stack3>>>("leaky_relu");
        run<mse<prelu<stack3>>>("prelu");
        run<mse<sig<stack3>>>("sig");
        run<mse<htan<stack3>>>("htan");
        run<mse<softmax<stack3>>>("softmax");
        run<mse<softmaxm<stack3>>>("softmaxm");
        run<mse<softmax_all<stack3>>>("softmax_all");
        run<mse<l2normalize<stack3>>>("l2normalize");
        run<mse<layer_norm<stack3>>>("layer_norm");
        run<mse<rms_norm<stack3>>>("rms_norm");
        run<mse<linear<5, stack3>>>("linear");
        run<mse<linear_no_bias<5, stack3>>>("linear_no_bias");
        run<mse<fc<5, stack3>>>("fc3");
        run<mse<positional_encodings<stack3>>>("positional_encodings");
        run<mse<tril<stack3>>>("tril");
        run<mse<tril_mask<stack3>>>("tril_mask");
        run<mse<tril_diag<1, 1, 2, stack3>>>("tril_diag");
        run<mse<transpose<stack3>>>("transpose");
        run<mse<slice<1, 1, 2, 2, 3, 4, stack3>>>("slice");
        run<mse<reorg<stack3>>>("reorg");
        run<mse<reshape_to<2, 8, 9, stack3>>>("reshape_to");
        run<mse<reshape_to<3, 3, 4, stack3>>>("reshape_to_rescale");
        run<mse<flatten<3, 6, 8, stack3>>>("flatten");
        run<mse<multm_prev1<transpose<tag1<stack3>>>>>("multm_prev");
        run<mse<linear<4, repeat<2, rsimple, htan<stack3>>>>>("repeat_simple");
        run<mse<linear<4, repeat<3, rres, relu<stack3>>>>>("repeat_tagged");
        run<mse<max_pool<2, 2, 2, 2, repeat<2, rconv, relu<stack3>>>>>("repeat_conv");
        {
            using net_type = mse<embeddings<10, 6, plain>>;
            matrix<float> tokens(5, 1);
            tokens = 3, 0, 9, 4, 3;
            run_with<net_type>("embeddings", tokens, [](net_type&) {});
        }
        {
            using net_type = mse<con<2, 3, 3, 1, 1, input_grayscale_image_pyramid<pyramid_down<6>>>>;
            dlib::rand rnd("input:grayscale_pyramid");
            matrix<unsigned char> img(40, 30);
            for (auto& v : img)
                v = rnd.get_random_8bit_number();
            run_with<net_type>("grayscale_pyramid", img, [](net_type&) {});
        }
        {
            // A net without a loss layer: the top is an add_layer.
            using net_type = fc<3, relu<stack3>>;
            dlib::rand rnd("input:no_loss");
            auto img = random_stack(rnd, 6, 8);
            net_type net;
            resizable_tensor x;
            net.to_tensor(&img, &img + 1, x);
            net.forward(x);
            randomize(net, rnd);
            save("no_loss", net);
            net_type again;
            deserialize(stem("no_loss") + ".dat") >> again;
            again.forward(x);
            write_npy(stem("no_loss") + "_in.npy", x);
            write_npy(stem("no_loss") + "_out.npy", again.get_output());
        }
        structure_only<mse<relu<input_rgb_image_pair>>>("input_rgb_image_pair");
        structure_only<mse<relu<input_tensor>>>("input_tensor");
        structure_only<loss_multibinary_log<relu<stack3>>>("loss_multibinary_log",
                                                          loss_multibinary_log<relu<stack3>>(0.5));
        structure_only<loss_epsilon_insensitive<relu<stack3>>>(
            "loss_epsilon_insensitive", loss_epsilon_insensitive<relu<stack3>>(0.25));
        {
            std::map<std::string, std::vector<std::string>> labels = {
                {"color", {"red", "green", "blue"}}, {"size", {"small", "big"}}};
            structure_only<loss_multimulticlass_log<relu<stack3>>>(
                "loss_multimulticlass_log", loss_multimulticlass_log<relu<stack3>>(labels));
        }
        structure_only<loss_multiclass_log_weighted<relu<stack3>>>("loss_multiclass_log_weighted");
        structure_only<loss_multiclass_log_per_pixel_weighted<relu<stack3>>>(
            "loss_multiclass_log_per_pixel_weighted");
        structure_only<loss_mean_squared_per_channel_and_pixel<3, relu<stack3>>>(
            "loss_mean_squared_per_channel_and_pixel");
        structure_only<loss_binary_log_per_pixel<relu<stack3>>>("loss_binary_log_per_pixel");
        structure_only<loss_barlow_twins<relu<stack3>>>("loss_barlow_twins");
        structure_only<loss_metric<relu<stack3>>>("loss_metric");
        structure_only<loss_ranking<relu<stack3>>>("loss_ranking");
        structure_only<loss_dot<relu<stack3>>>("loss_dot");
        structure_only<loss_binary_hinge<relu<stack3>>>("loss_binary_hinge");
        {
            yolo_options options;
            options.add_anchors<tag1>({{10, 12}, {20, 18}});
            options.add_anchors<tag2>({{40, 44}});
            options.add_anchors<tag3>({{90, 80}});
            options.labels = {"face", "hand"};
            using net_type = loss_yolo<tag1, tag2, tag3,
                tag1<con<21, 1, 1, 1, 1, skip4<tag2<con<14, 1, 1, 1, 1, skip4<
                tag3<con<14, 1, 1, 1, 1, tag4<stack3>>>>>>>>>>;
            structure_only<net_type>("loss_yolo", net_type(options));
        }
    }
    catch (std::exception& e)
    {
        std::cerr << "dlib20_vocab: error: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
