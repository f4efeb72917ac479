// Cases for fully connected layers, tags/skips and the layers that combine tagged tensors.
#include "cases.h"
#include "commands.h"

namespace dlib_ref
{
    namespace
    {
        using namespace dlib;
    }

    void graph_cases(const std::string& d, std::vector<std::string>& e)
    {
        e.push_back(run_case<on<fc<7, img>>>(d, {"fc", 5, 4}));
        e.push_back(run_case<on<fc_no_bias<7, img>>>(d, {"fc_no_bias", 5, 4}));
        e.push_back(run_case<on<fc<7, img>>>(d, {"fc_disable_bias", 5, 4, 0.5f, 0, false, "fc<> with disable_bias()"}, no_bias_top{}));
        e.push_back(run_case<on<fc<3, relu<fc<6, img>>>>>(d, {"fc_relu_fc", 5, 4}));
        e.push_back(run_case<on<add_prev1<con<3, 3, 3, 1, 1, tag1<img>>>>>(d, {"add_prev_same_shape"}));
        e.push_back(run_case<on<add_prev1<con<5, 3, 3, 2, 2, tag1<img>>>>>(
            d, {"add_prev_mismatched", 13, 11, 0.5f, 0, false, "tag1 3x13x11 + 5x6x5: zero-extended"}));
        e.push_back(run_case<on<add_prev2<avg_pool<2, 2, 2, 2, skip1<tag2<con<3, 3, 3, 2, 2, tag1<img>>>>>>>>(
            d, {"add_prev_skip", 12, 10, 0.5f, 0, false, "residual_down wiring of the face ResNet"}));
        e.push_back(run_case<on<relu<add_prev1<con<3, 3, 3, 1, 1, relu<con<3, 3, 3, 1, 1, tag1<img>>>>>>>>(
            d, {"residual_relu"}));
        e.push_back(run_case<on<mult_prev1<con<3, 3, 3, 1, 1, tag1<img>>>>>(d, {"mult_prev_same_shape"}));
        e.push_back(run_case<on<mult_prev1<con<5, 3, 3, 2, 2, tag1<img>>>>>(d, {"mult_prev_mismatched"}));
        e.push_back(run_case<on<concat2<tag1, tag2, tag2<con<4, 3, 3, 1, 1, skip3<tag1<con<2, 1, 1, 1, 1, tag3<img>>>>>>>>>(
            d, {"concat2"}));
        e.push_back(run_case<on<concat3<tag4, tag5, tag6, tag4<relu<skip3<tag5<con<2, 3, 3, 1, 1, skip3<tag6<con<3, 1, 1, 1, 1, tag3<img>>>>>>>>>>>>(
            d, {"concat3"}));
        e.push_back(run_case<on<extract<5, 2, 3, 4, img>>>(d, {"extract", 5, 4}));
        e.push_back(run_case<on<extract<0, 12, 1, 1, fc<20, img>>>>(d, {"extract_fc", 5, 4}));
        e.push_back(run_case<on<resize_prev_to_tagged<tag1, avg_pool<2, 2, 2, 2, tag1<con<2, 3, 3, 1, 1, img>>>>>>(
            d, {"resize_prev_to_tagged", 12, 10}));
        e.push_back(run_case<on<scale1<sig<con<3, 1, 1, 1, 1, avg_pool_everything<tag1<img>>>>>>>(
            d, {"scale"}));
        e.push_back(run_case<on<scale_prev1<con<3, 3, 3, 1, 1, skip2<tag1<sig<con<3, 1, 1, 1, 1, avg_pool_everything<tag2<img>>>>>>>>>>(
            d, {"scale_prev"}));
        e.push_back(run_case<loss_metric<fc_no_bias<4, avg_pool_everything<relu<con<3, 3, 3, 2, 2, input_rgb_image_sized<15>>>>>>>(
            d, {"loss_metric_sized_input", 15, 15}));
        e.push_back(run_case<loss_binary_log<fc<1, img>>>(d, {"loss_binary_log_fc", 5, 4}));
    }
}
