// Load a faceport TorchScript export with libtorch (no Python), run it once, write the outputs.
//
//   loader MODEL.pt INPUT.f32 N C H W OUT_PREFIX
//
// INPUT.f32: N*C*H*W little-endian float32 values, NCHW, nothing else (numpy's
// `x.astype("<f4").tofile(path)`). Writes OUT_PREFIX.<i>.f32 per output tensor (float32,
// contiguous) and OUT_PREFIX.shapes.txt, one line of space-separated dims per output.
// Exit status: 0 ok, 2 bad arguments or input file, 3 model failed to load or run.
#include <torch/script.h>

#include <cstdint>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace {

constexpr int64_t kMaxDim = 1 << 16;       // one axis; faceport's inputs are images
constexpr int64_t kMaxElements = 1LL << 30;  // 4 GiB of float32

int fail(int code, const std::string& message) {
  std::cerr << "loader: " << message << "\n";
  return code;
}

bool parse_dim(const char* text, int64_t* out) {
  try {
    size_t used = 0;
    const long long value = std::stoll(text, &used);
    if (used != std::string(text).size() || value < 1 || value > kMaxDim) return false;
    *out = value;
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

void collect(const c10::IValue& value, std::vector<at::Tensor>* out) {
  if (value.isTensor()) {
    out->push_back(value.toTensor());
  } else if (value.isTuple()) {
    for (const auto& item : value.toTupleRef().elements()) collect(item, out);
  } else if (value.isList()) {
    for (const auto& item : value.toListRef()) collect(item, out);
  } else {
    throw std::runtime_error("model output is neither a tensor nor a tuple/list of tensors");
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 8) {
    return fail(2, "usage: loader MODEL.pt INPUT.f32 N C H W OUT_PREFIX");
  }
  std::vector<int64_t> shape(4);
  for (int i = 0; i < 4; ++i) {
    if (!parse_dim(argv[3 + i], &shape[i])) {
      return fail(2, std::string("dimension ") + std::to_string(i) + " must be an integer in [1, " +
                         std::to_string(kMaxDim) + "], got '" + argv[3 + i] + "'");
    }
  }
  int64_t count = 1;
  for (int64_t d : shape) {
    count *= d;
    if (count > kMaxElements) return fail(2, "input has more than 2^30 elements");
  }
  std::ifstream in(argv[2], std::ios::binary | std::ios::ate);
  if (!in) return fail(2, std::string("cannot open input ") + argv[2]);
  const std::streamoff size = in.tellg();
  const std::streamoff expected = static_cast<std::streamoff>(count) * 4;
  if (size != expected) {
    return fail(2, std::string(argv[2]) + ": expected " + std::to_string(expected) +
                       " bytes (N*C*H*W float32), found " + std::to_string(size));
  }
  at::Tensor input = torch::empty(shape, torch::kFloat32);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(input.data_ptr<float>()), expected);
  if (!in) return fail(2, std::string("short read from ") + argv[2]);

  std::vector<at::Tensor> outputs;
  try {
    torch::jit::Module module = torch::jit::load(argv[1], torch::kCPU);
    module.eval();
    c10::InferenceMode guard;
    collect(module.forward({input}), &outputs);
  } catch (const std::exception& exc) {
    return fail(3, std::string("model ") + argv[1] + ": " + exc.what());
  }

  const std::string prefix = argv[7];
  std::ofstream shapes(prefix + ".shapes.txt");
  for (size_t i = 0; i < outputs.size(); ++i) {
    at::Tensor out = outputs[i].to(torch::kFloat32).contiguous();
    for (int64_t d = 0; d < out.dim(); ++d) shapes << (d ? " " : "") << out.size(d);
    shapes << "\n";
    std::ofstream file(prefix + "." + std::to_string(i) + ".f32", std::ios::binary);
    file.write(reinterpret_cast<const char*>(out.data_ptr<float>()),
               static_cast<std::streamsize>(out.numel()) * 4);
    if (!file) return fail(2, "cannot write " + prefix + "." + std::to_string(i) + ".f32");
  }
  if (!shapes) return fail(2, "cannot write " + prefix + ".shapes.txt");
  return 0;
}
