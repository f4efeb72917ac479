// Cases for normalisation, elementwise activation and softmax layers.
#include "cases.h"
#include "commands.h"

namespace dlib_ref
{
    namespace
    {
        using namespace dlib;
        // A 3x3 convolution in front widens the input range (about N(0, 3^2) with scale 2).
        template <typename SUBNET> using wide = con<4, 3, 3, 1, 1, SUBNET>;
        case_spec wide_spec(const std::string& name) { return {name, 13, 11, 2.0f}; }
    }

    void act_cases(const std::string& d, std::vector<std::string>& e)
    {
        const case_spec bn_con_spec{"bn_con", 13, 11, 0.5f, 3, false, "running stats from 3 batch forwards"};
        e.push_back(run_case<on<bn_con<wide<img>>>>(d, bn_con_spec));
        e.push_back(run_case<on<bn_fc<img>>>(d, {"bn_fc", 5, 4, 0.5f, 3}));
        e.push_back(run_case<on<bn_fc<fc<6, img>>>>(d, {"bn_fc_after_fc", 5, 4, 0.5f, 3}));
        e.push_back(run_case<on<bn_con<wide<img>>>, on<affine<wide<img>>>>(
            d, {"affine_con_from_bn", 13, 11, 0.5f, 3, false, ".dat holds bn_con2; XML of the affine net"}));
        e.push_back(run_case<on<bn_fc<img>>, on<affine<img>>>(
            d, {"affine_fc_from_bn", 5, 4, 0.5f, 3, false, ".dat holds bn_fc2; XML of the affine net"}));
        e.push_back(run_case<on<affine<wide<img>>>>(d, {"affine_default_mode", 13, 11, 0.5f, 0, false, "a default-constructed affine_ is FC_MODE: affine_fc over k*nr*nc"}));
        e.push_back(run_case<on<relu<wide<img>>>>(d, wide_spec("relu")));
        e.push_back(run_case<on<prelu<wide<img>>>>(d, wide_spec("prelu")));
        e.push_back(run_case<on<leaky_relu<wide<img>>>>(d, wide_spec("leaky_relu")));
        e.push_back(run_case<on<elu<wide<img>>>>(d, wide_spec("elu")));
        e.push_back(run_case<on<gelu<wide<img>>>>(d, wide_spec("gelu")));
        e.push_back(run_case<on<mish<wide<img>>>>(d, wide_spec("mish")));
        e.push_back(run_case<on<clipped_relu<wide<img>>>>(d, wide_spec("clipped_relu")));
        e.push_back(run_case<on<sig<wide<img>>>>(d, wide_spec("sig")));
        e.push_back(run_case<on<htan<wide<img>>>>(d, wide_spec("htan")));
        e.push_back(run_case<on<smelu<wide<img>>>>(d, wide_spec("smelu")));
        e.push_back(run_case<on<silu<wide<img>>>>(d, wide_spec("silu")));
        e.push_back(run_case<on<softmax<wide<img>>>>(d, wide_spec("softmax")));
        e.push_back(run_case<on<softmax_all<wide<img>>>>(d, wide_spec("softmax_all")));
        e.push_back(run_case<on<l2normalize<wide<img>>>>(d, wide_spec("l2normalize")));
        e.push_back(run_case<on<l2normalize<fc<5, img>>>>(d, {"l2normalize_fc", 5, 4}));
        e.push_back(run_case<on<layer_norm<wide<img>>>>(d, wide_spec("layer_norm")));
        e.push_back(run_case<on<dropout<wide<img>>>, on<multiply<wide<img>>>>(
            d, {"dropout", 13, 11, 0.5f, 0, true,
                "XML/.dat of the dropout net; reference = dlib's inference form multiply(1-p)"}));
        e.push_back(run_case<on<dropout<wide<img>>>, on<multiply<wide<img>>>>(
            d, {"multiply", 13, 11, 0.5f, 0, false, ".dat holds dropout_ (converted on load); XML of the multiply net"}));
    }
}
