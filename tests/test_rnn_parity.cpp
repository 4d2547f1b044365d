// Every RNN configuration against PyTorch: the fixtures in tests/fixtures/rnn/ (made by
// make_rnn_fixtures.py) hold a case and PyTorch's outputs and gradients; both implementations
// (cell graph and fused) must match them: float64 to about 1e-10 relative, float32 to 1e-5.
// On a GPU each case runs with the automatic choice (cuDNN's RNN), within 1e-9 (float64) and
// 1e-4 (float32) relative: cuDNN sums in another order. Without a GPU those cases skip.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "backends/backend.h"
#include "nn/rnn_case.h"
#include "nn/safetensors.h"

namespace recur {
namespace {

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  const std::filesystem::path dir = std::filesystem::path(RECUR_TEST_FIXTURES) / "rnn";
  if (!std::filesystem::exists(dir)) return names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".safetensors") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

struct Param {
  std::string name;
  nn::RNNImpl impl;
  bool gpu = false;
};

std::vector<Param> params() {
  std::vector<Param> out;
  for (const std::string& name : case_names()) {
    out.push_back({name, nn::RNNImpl::Cells});
    out.push_back({name, nn::RNNImpl::Fused});
    out.push_back({name, nn::RNNImpl::Auto, true});
  }
  return out;
}

class RnnParity : public testing::TestWithParam<Param> {};

TEST_P(RnnParity, MatchesPyTorchOutputsAndGradients) {
  const Param& p = GetParam();
  if (p.gpu) {
    std::string why;
    if (cuda_device_count(&why) == 0) GTEST_SKIP() << "no CUDA device: " << why;
  }
  const std::string path = std::string(RECUR_TEST_FIXTURES) + "/rnn/" + p.name + ".safetensors";
  nn::SafetensorsFile file = nn::load_safetensors(path);
  nn::StateDict result =
      nn::evaluate_rnn_case(file.tensors, file.metadata, p.gpu ? Device::cuda(0) : Device::cpu(), p.impl);
  const bool f64 = file.tensors.at("x").dtype() == DType::Float64;
  const double rtol = f64 ? (p.gpu ? 1e-9 : 1e-10) : (p.gpu ? 1e-4 : 1e-5), atol = f64 ? 1e-12 : 1e-5;
  int compared = 0;
  for (const auto& [name, expected] : file.tensors) {
    if (name.rfind("expected.", 0) != 0) continue;
    const std::string key = name.substr(9);
    ASSERT_TRUE(result.count(key)) << "recur produced no '" << key << "'";
    const Tensor& got = result.at(key);
    ASSERT_EQ(got.shape(), expected.shape()) << key;
    const std::vector<double> a = got.to_vector<double>(), b = expected.to_vector<double>();
    double worst = 0.0;
    size_t worst_at = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      const double excess = std::abs(a[i] - b[i]) - (atol + rtol * std::abs(b[i]));
      if (excess > worst) worst = excess, worst_at = i;
    }
    EXPECT_LE(worst, 0.0) << p.name << " " << key << "[" << worst_at << "]: recur " << a[worst_at] << ", PyTorch "
                          << b[worst_at];
    ++compared;
  }
  EXPECT_GE(compared, 5);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, RnnParity, testing::ValuesIn(params()), [](const auto& info) {
  return info.param.name + (info.param.gpu ? "_cuda" : info.param.impl == nn::RNNImpl::Cells ? "_cells" : "_fused");
});

}  // namespace
}  // namespace recur
