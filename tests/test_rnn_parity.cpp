// Every RNN configuration against PyTorch: the fixtures in tests/fixtures/rnn/ (made by
// make_rnn_fixtures.py) hold a case and PyTorch's outputs and gradients; both implementations
// (cell graph and fused) must match them: float64 to about 1e-10 relative, float32 to 1e-5.
// On a GPU each case runs with the automatic choice (cuDNN's RNN), within 1e-9 (float64) and
// 1e-4 (float32) relative: cuDNN sums in another order. Without a GPU those cases skip.
#include <gtest/gtest.h>

#include "backends/backend.h"
#include "examples/rnn_case.h"
#include "nn/safetensors.h"
#include "test_rnn_fixture_util.h"

namespace recur {
namespace {

using Param = rnn_fixtures::FixtureParam;

std::vector<Param> params() {
  std::vector<Param> out;
  for (const std::string& name : rnn_fixtures::fixture_cases("rnn")) {
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
  const rnn_fixtures::FixtureRun run = rnn_fixtures::run_fixture("rnn", p);
  const rnn_fixtures::FixtureComparison c =
      rnn_fixtures::expect_matches_expected(run.result, run.file, run.rtol, run.atol, p.name, "PyTorch");
  EXPECT_GE(c.compared, 5);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, RnnParity, testing::ValuesIn(params()),
                         [](const auto& info) { return rnn_fixtures::fixture_param_name(info.param); });

}  // namespace
}  // namespace recur
