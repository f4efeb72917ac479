// Cases for convolution, transposed convolution, pooling and resampling layers.
#include "cases.h"
#include "commands.h"

namespace dlib_ref
{
    namespace
    {
        using namespace dlib;
    }

    void conv_cases(const std::string& d, std::vector<std::string>& e)
    {
        e.push_back(run_case<on<con<4, 3, 3, 1, 1, img>>>(d, {"con_3x3"}));
        e.push_back(run_case<on<con<4, 3, 3, 1, 1, img>>>(d, {"con_no_bias", 13, 11, 0.5f, 0, false, "disable_bias()"}, no_bias_top{}));
        e.push_back(run_case<on<con<5, 5, 5, 2, 2, img>>>(d, {"con_5x5_stride2"}));
        e.push_back(run_case<on<add_layer<con_<4, 3, 5, 1, 2, 2, 1>, img>>>(d, {"con_pad2x1_stride1x2"}));
        e.push_back(run_case<on<add_layer<con_<3, 4, 2, 1, 1>, img>>>(d, {"con_even_kernel"}));
        e.push_back(run_case<on<add_layer<con_<3, 3, 3, 2, 2, 1, 1>, img>>>(d, {"con_stride2_pad1"}));
        e.push_back(run_case<on<con<2, 1, 1, 1, 1, img>>>(d, {"con_1x1"}));
        e.push_back(run_case<on<cont<3, 4, 4, 2, 2, img>>>(d, {"cont_4x4_stride2"}));
        e.push_back(run_case<on<add_layer<cont_<3, 3, 3, 2, 2, 1, 1>, img>>>(d, {"cont_3x3_stride2_pad1"}));
        e.push_back(run_case<on<cont<2, 3, 3, 1, 1, img>>>(d, {"cont_3x3_stride1"}));
        e.push_back(run_case<on<cont<2, 3, 3, 1, 1, img>>>(d, {"cont_no_bias", 13, 11, 0.5f, 0, false, "disable_bias()"}, no_bias_top{}));
        e.push_back(run_case<on<max_pool<3, 3, 2, 2, img>>>(d, {"max_pool_3x3_stride2"}));
        e.push_back(run_case<on<add_layer<max_pool_<3, 3, 2, 2, 1, 1>, img>>>(d, {"max_pool_3x3_stride2_pad1"}));
        e.push_back(run_case<on<max_pool<2, 3, 1, 1, img>>>(d, {"max_pool_2x3_stride1"}));
        e.push_back(run_case<on<max_pool_everything<img>>>(d, {"max_pool_everything"}));
        e.push_back(run_case<on<avg_pool<3, 3, 2, 2, img>>>(d, {"avg_pool_3x3_stride2"}));
        e.push_back(run_case<on<add_layer<avg_pool_<3, 3, 2, 2, 1, 1>, img>>>(d, {"avg_pool_3x3_stride2_pad1"}));
        e.push_back(run_case<on<avg_pool<2, 2, 2, 2, img>>>(d, {"avg_pool_2x2_stride2"}));
        e.push_back(run_case<on<avg_pool<5, 3, 1, 1, img>>>(d, {"avg_pool_5x3_stride1"}));
        e.push_back(run_case<on<avg_pool_everything<img>>>(d, {"avg_pool_everything"}));
        e.push_back(run_case<on<upsample<2, img>>>(d, {"upsample_2"}));
        e.push_back(run_case<on<upsample<3, img>>>(d, {"upsample_3"}));
        e.push_back(run_case<on<resize_to<7, 17, img>>>(d, {"resize_to_7x17"}));
        e.push_back(run_case<on<reorg<img>>>(d, {"reorg_2x2", 12, 10}));
    }
}
