// `dlib_ref layers <outdir>`: every case group, then index.json listing the cases.
#include <string>
#include <vector>

#include "commands.h"
#include "npy.h"

namespace dlib_ref
{
    int layer_cases(const std::string& outdir)
    {
        make_dir(outdir);
        std::vector<std::string> entries;
        conv_cases(outdir, entries);
        act_cases(outdir, entries);
        graph_cases(outdir, entries);
        std::string json = "{\n  \"dlib_version\": \"" + dlib_version() + "\",\n  \"cases\": [\n";
        for (size_t i = 0; i < entries.size(); ++i)
            json += entries[i] + (i + 1 < entries.size() ? ",\n" : "\n");
        json += "  ]\n}\n";
        write_text(join_path(outdir, "index.json"), json);
        return 0;
    }
}
