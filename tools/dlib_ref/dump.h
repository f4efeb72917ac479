// Per-layer dumping for any dlib network type (header-only templates over dlib/dnn.h).
//
// dlib runs "in-place" layers (relu, affine, ...) on their input's tensor: after a forward
// pass the tensor of the layer below holds the values of the layers above it. get_output()
// of such a layer may throw (dlib disables it when it builds the net) or may not (the flag is
// serialized, so a net loaded from a .dat written by a different network type keeps the
// writer's flag). dump_layers() therefore finds overwritten layers by tensor identity: a
// layer whose tensor is also the output of a computational layer above it is recomputed by
// forwarding layer<i> alone (add_layer::forward returns the layer's own output tensor), and
// every output is dumped right after it was produced.
#pragma once

#include <dlib/dnn.h>

#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "npy.h"

namespace dlib_ref
{
    inline std::vector<long> shape_of(const dlib::tensor& t)
    {
        return {t.num_samples(), t.k(), t.nr(), t.nc()};
    }

    inline void save_tensor(const std::string& path, const dlib::tensor& t)
    {
        write_npy(path, t.host(), shape_of(t));
    }

    // The tag net_to_xml() writes for a layer's details (e.g. "con", "affine_con").
    template <typename details_type>
    std::string xml_kind(const details_type& details)
    {
        std::ostringstream xml;
        to_xml(details, xml);
        const std::string text = xml.str();
        size_t start = text.find_first_not_of("< \n\t");
        size_t end = start;
        while (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_'))
            ++end;
        return start == std::string::npos ? std::string("?") : text.substr(start, end - start);
    }

    struct layer_info
    {
        std::string kind;
        long tag_id = -1;       // tag/skip id, -1 for computational layers
        bool computes = false;  // a computational layer (may write its input in place)
        const dlib::tensor* tensor = nullptr;
        bool disabled = false;  // get_output() threw: an in-place layer sits on top
    };

    template <typename T, typename U, typename E>
    layer_info info_of(const dlib::add_layer<T, U, E>& l)
    {
        return {xml_kind(l.layer_details()), -1, true};
    }

    template <unsigned long ID, typename U, typename E>
    layer_info info_of(const dlib::add_tag_layer<ID, U, E>& l)
    {
        return {"tag", static_cast<long>(ID)};
    }

    template <template <typename> class TAG, typename U>
    layer_info info_of(const dlib::add_skip_layer<TAG, U>& l)
    {
        return {"skip", static_cast<long>(dlib::tag_id<TAG>::id)};
    }

    // Layers first..last-1 (compile-time indices) of `net`.
    template <size_t i, size_t last>
    struct layer_walk
    {
        template <typename net_type>
        static void collect(const net_type& net, std::vector<layer_info>& infos)
        {
            infos.push_back(info_of(dlib::layer<i>(net)));
            layer_walk<i + 1, last>::collect(net, infos);
        }

        // Also records each layer's output tensor (after a full forward of `x`).
        template <typename net_type>
        static void locate(net_type& net, const dlib::tensor& x, std::vector<layer_info>& infos)
        {
            auto& l = dlib::layer<i>(net);
            layer_info info = info_of(std::as_const(l));
            try
            {
                info.tensor = &l.get_output();
            }
            catch (const dlib::error&)
            {
                info.disabled = true;
                info.tensor = &l.forward(x);
            }
            infos.push_back(info);
            layer_walk<i + 1, last>::locate(net, x, infos);
        }

        template <typename net_type>
        static void dump(net_type& net, const dlib::tensor& x, const std::vector<layer_info>& infos,
                         size_t first, const std::string& outdir, std::string& json)
        {
            const layer_info& info = infos[i - first];
            bool overwritten = info.disabled;
            for (size_t j = first; j < i; ++j)
                overwritten |= infos[j - first].computes && infos[j - first].tensor == info.tensor;
            auto& l = dlib::layer<i>(net);
            const dlib::tensor* out = info.tensor;
            if (overwritten)
                out = &l.forward(x);  // this layer's own output, before the layers above ran
            char name[32];
            std::snprintf(name, sizeof(name), "layer_%03zu.npy", i);
            save_tensor(join_path(outdir, name), *out);
            json += std::string(json.empty() ? "" : ",\n") + "    {\"idx\": " + std::to_string(i) +
                    ", \"kind\": " + json_str(info.kind) + ", \"name\": " +
                    json_str(info.kind + "_" + std::to_string(i)) +
                    (info.tag_id >= 0 ? ", \"id\": " + std::to_string(info.tag_id) : "") +
                    ", \"recomputed\": " + (overwritten ? "true" : "false") + ", \"file\": " +
                    json_str(name) + ", \"shape\": " + json_shape(shape_of(*out)) + "}";
            layer_walk<i + 1, last>::dump(net, x, infos, first, outdir, json);
        }
    };

    template <size_t last>
    struct layer_walk<last, last>
    {
        template <typename net_type>
        static void collect(const net_type&, std::vector<layer_info>&) {}

        template <typename net_type>
        static void locate(net_type&, const dlib::tensor&, std::vector<layer_info>&) {}

        template <typename net_type>
        static void dump(net_type&, const dlib::tensor&, const std::vector<layer_info>&, size_t,
                         const std::string&, std::string&)
        {
        }
    };

    // Forward `x` through `net` (a net with a loss layer) and dump input.npy and every layer
    // between the loss (index 0) and the input layer (index num_layers-1). Returns the JSON
    // body of the "layers" list.
    template <typename net_type>
    std::string dump_layers(net_type& net, const dlib::tensor& x, const std::string& outdir)
    {
        constexpr size_t last = net_type::num_layers - 1;
        save_tensor(join_path(outdir, "input.npy"), x);
        net.subnet().forward(x);
        std::vector<layer_info> infos;
        layer_walk<1, last>::locate(net, x, infos);
        for (const auto& info : infos)
        {
            if (info.disabled)
            {
                // locate() forwarded some layers alone: restore the full forward's tensors
                net.subnet().forward(x);
                break;
            }
        }
        std::string json;
        layer_walk<1, last>::dump(net, x, infos, 1, outdir, json);
        return json;
    }

    // dlib's net_to_xml() into a file, written atomically.
    template <typename net_type>
    void xml_to_file(const net_type& net, const std::string& path)
    {
        std::ostringstream xml;
        dlib::net_to_xml(net, xml);
        write_text(path, xml.str());
    }
}
