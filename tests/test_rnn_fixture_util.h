// Helpers for the RNN fixture tests (tests/test_rnn_parity.cpp against PyTorch,
// tests/test_tensorflow_parity.cpp against TensorFlow): listing the cases of a fixture folder and
// comparing recur's answers to a case's `expected.*` tensors element by element.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "examples/rnn_case.h"
#include "nn/safetensors.h"
#include "nn/state_dict.h"

namespace recur::rnn_fixtures {

// The case names (file stems) of tests/fixtures/<folder>/*.safetensors, sorted.
inline std::vector<std::string> fixture_cases(const std::string& folder) {
  std::vector<std::string> names;
  const std::filesystem::path dir = std::filesystem::path(RECUR_TEST_FIXTURES) / folder;
  if (!std::filesystem::exists(dir)) return names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".safetensors") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// One test of a case: the implementation on the CPU, or the automatic choice on the GPU.
struct FixtureParam {
  std::string name;
  nn::RNNImpl impl;
  bool gpu = false;
};

// The test's name: the case, then _cells, _fused or _cuda.
inline std::string fixture_param_name(const FixtureParam& p) {
  return p.name + (p.gpu ? "_cuda" : p.impl == nn::RNNImpl::Cells ? "_cells" : "_fused");
}

// How GoogleTest prints the parameter (the ctest names of gtest_discover_tests end with it): the
// test's name, rather than the struct's bytes, which hold addresses that change from run to run.
inline void PrintTo(const FixtureParam& p, std::ostream* os) { *os << fixture_param_name(p); }

// A case evaluated by recur, with the tolerances of its dtype and device: float64 1e-10 relative
// (1e-9 on a GPU, where cuDNN sums in another order), float32 1e-5 (1e-4 on a GPU).
struct FixtureRun {
  nn::SafetensorsFile file;
  nn::StateDict result;
  double rtol = 0.0, atol = 0.0;
};

inline FixtureRun run_fixture(const std::string& folder, const FixtureParam& p) {
  FixtureRun run;
  run.file = nn::load_safetensors(std::string(RECUR_TEST_FIXTURES) + "/" + folder + "/" + p.name + ".safetensors");
  run.result = rnn_case::evaluate(run.file.tensors, run.file.metadata, p.gpu ? Device::cuda(0) : Device::cpu(), p.impl);
  const bool f64 = run.file.tensors.at("x").dtype() == DType::Float64;
  run.rtol = f64 ? (p.gpu ? 1e-9 : 1e-10) : (p.gpu ? 1e-4 : 1e-5);
  run.atol = f64 ? 1e-12 : 1e-5;
  return run;
}

struct FixtureComparison {
  int compared = 0;             // expected.* tensors compared
  double worst_relative = 0.0;  // max over them of max |recur - reference| / max |reference|
  std::string worst_key;        // where that is
};

// Expects every `expected.<key>` of `file` to match `result[<key>]`: |recur - reference| <=
// atol + rtol |reference| for each element. `label` and `reference` name the case and the
// framework in the failure messages.
inline FixtureComparison expect_matches_expected(const nn::StateDict& result, const nn::SafetensorsFile& file,
                                                 double rtol, double atol, const std::string& label,
                                                 const std::string& reference) {
  FixtureComparison out;
  for (const auto& [name, expected] : file.tensors) {
    if (name.rfind("expected.", 0) != 0) continue;
    const std::string key = name.substr(9);
    EXPECT_TRUE(result.count(key)) << label << ": recur produced no '" << key << "'";
    if (!result.count(key)) continue;
    const Tensor& got = result.at(key);
    EXPECT_EQ(got.shape(), expected.shape()) << label << " " << key;
    if (got.shape() != expected.shape()) continue;
    const std::vector<double> a = got.to_vector<double>(), b = expected.to_vector<double>();
    double worst = 0.0, max_diff = 0.0, max_ref = 0.0;
    size_t worst_at = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      const double excess = std::abs(a[i] - b[i]) - (atol + rtol * std::abs(b[i]));
      if (excess > worst) worst = excess, worst_at = i;
      max_diff = std::max(max_diff, std::abs(a[i] - b[i]));
      max_ref = std::max(max_ref, std::abs(b[i]));
    }
    if (max_ref > 0.0 && max_diff / max_ref > out.worst_relative)
      out.worst_relative = max_diff / max_ref, out.worst_key = key;
    EXPECT_LE(worst, 0.0) << label << " " << key << "[" << worst_at << "]: recur " << a[worst_at] << ", " << reference
                          << " " << b[worst_at];
    ++out.compared;
  }
  return out;
}

}  // namespace recur::rnn_fixtures
