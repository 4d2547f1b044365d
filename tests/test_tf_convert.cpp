// TensorFlow checkpoints converted to recur's RNN (nn/tf_rnn_convert.h): each checkpoint of
// tests/fixtures/tensorflow_checkpoints/ (written by TensorFlow 2.15, make_tensorflow_checkpoints.py:
// Keras LSTM and GRU layers, stacked and bidirectional, LSTMCell with peepholes and a projection
// and with every run-time option (given to the conversion from the case's metadata),
// CudnnLSTM's and CudnnGRU's canonical names, one checkpoint in two shards) is converted, loaded
// into nn::RNN and run on the input next to it; the outputs and final states must match
// TensorFlow's: float64 to 1e-10 relative, float32 to 1e-5.
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>

#include "examples/rnn_case.h"
#include "nn/safetensors.h"
#include "nn/tf_rnn_convert.h"
#include "test_rnn_fixture_util.h"

namespace recur {
namespace {

std::string checkpoint_prefix(const std::string& name) {
  return std::string(RECUR_TEST_FIXTURES) + "/tensorflow_checkpoints/" + name;
}

std::vector<std::string> checkpoint_cases() {
  std::vector<std::string> out;
  const std::string suffix = ".expected.safetensors";
  for (const auto& entry : std::filesystem::directory_iterator(checkpoint_prefix(""))) {
    const std::string file = entry.path().filename().string();
    if (file.size() > suffix.size() && file.substr(file.size() - suffix.size()) == suffix) {
      out.push_back(file.substr(0, file.size() - suffix.size()));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Runs the converted RNN as an RNN case (examples/rnn_case.h): the weights and the metadata that
// `recur convert` writes, with the input and initial state of the TensorFlow case.
nn::StateDict run_converted(const nn::TfConversion& conversion, const nn::SafetensorsFile& file) {
  nn::StateDict tensors = conversion.weights;
  for (const char* name : {"x", "h0", "c0"}) {
    if (file.tensors.count(name)) tensors[name] = file.tensors.at(name);
  }
  tensors["dy"] = zeros_like(file.tensors.at("expected.y"));
  const rnn_case::Metadata metadata = rnn_case::metadata(conversion.options);
  EXPECT_EQ(nn::options_to_json(rnn_case::options(metadata)), nn::options_to_json(conversion.options));
  return rnn_case::evaluate(tensors, metadata);
}

// LSTMCell's run-time options that the case's metadata names (no checkpoint holds them).
nn::TfConvertOptions with_forget_bias(std::optional<double> forget_bias, const std::string& scope = "") {
  nn::TfConvertOptions options;
  options.forget_bias = forget_bias;
  options.scope = scope;
  return options;
}

nn::TfConvertOptions run_time_options(const std::map<std::string, std::string>& metadata) {
  nn::TfConvertOptions options;
  if (metadata.count("forget_bias")) options.forget_bias = std::stod(metadata.at("forget_bias"));
  if (metadata.count("cell_clip")) options.cell_clip = std::stod(metadata.at("cell_clip"));
  if (metadata.count("proj_clip")) options.proj_clip = std::stod(metadata.at("proj_clip"));
  if (metadata.count("activation") && metadata.at("activation") == "relu") options.activation = nn::Activation::Relu;
  return options;
}

class TfConvert : public testing::TestWithParam<std::string> {};

TEST_P(TfConvert, ReproducesTensorFlowsOutputs) {
  const std::string& name = GetParam();
  const nn::TfCheckpoint checkpoint = nn::TfCheckpoint::open(checkpoint_prefix(name));
  const nn::SafetensorsFile file = nn::load_safetensors(checkpoint_prefix(name) + ".expected.safetensors");
  const nn::TfConversion conversion = nn::convert_tf_rnn(checkpoint, run_time_options(file.metadata));
  const bool f64 = file.tensors.at("x").dtype() == DType::Float64;
  const nn::StateDict result = run_converted(conversion, file);
  const rnn_fixtures::FixtureComparison c =
      rnn_fixtures::expect_matches_expected(result, file, f64 ? 1e-10 : 1e-5, f64 ? 1e-12 : 1e-5,
                                            name + " (" + file.metadata.at("source") + ")", "TensorFlow");
  EXPECT_GE(c.compared, 2);
  EXPECT_EQ(conversion.mapping.size(), conversion.weights.size());
  EXPECT_DOUBLE_EQ(conversion.forget_bias_folded,
                   file.metadata.count("forget_bias") ? std::stod(file.metadata.at("forget_bias")) : 0.0);
  std::cout << "[ tf-convert ] " << name << " (" << conversion.layout << ", " << conversion.options.num_layers
            << " layers, " << conversion.options.num_directions() << " directions): max relative difference "
            << c.worst_relative << " (" << c.worst_key << ")\n";
}

INSTANTIATE_TEST_SUITE_P(Checkpoints, TfConvert, testing::ValuesIn(checkpoint_cases()),
                         [](const auto& info) { return info.param; });

TEST(TfConvertOptions, LstmCellsForgetBiasIsFoldedIntoTheForgetGateBlock) {
  const nn::TfCheckpoint checkpoint = nn::TfCheckpoint::open(checkpoint_prefix("lstmcell_peepholes_proj_f64"));
  const nn::TfConversion one = nn::convert_tf_rnn(checkpoint);
  const nn::TfConversion zero = nn::convert_tf_rnn(checkpoint, with_forget_bias(0.0));
  EXPECT_EQ(one.forget_bias_folded, 1.0);
  EXPECT_EQ(zero.forget_bias_folded, 0.0);
  const std::vector<double> a = one.weights.at("bias_ih_l0").to_vector<double>();
  const std::vector<double> b = zero.weights.at("bias_ih_l0").to_vector<double>();
  const int64_t H = one.options.hidden_size;
  for (int64_t j = 0; j < 4 * H; ++j) {
    EXPECT_DOUBLE_EQ(a[j] - b[j], j >= H && j < 2 * H ? 1.0 : 0.0) << j;  // blocks (i, f, g, o)
  }
  EXPECT_TRUE(one.options.use_peepholes);
  EXPECT_EQ(one.options.proj_size, 3);
}

TEST(TfConvertOptions, ABadRequestOrNoCellIsAnErrorThatSaysWhy) {
  const nn::TfCheckpoint cudnn = nn::TfCheckpoint::open(checkpoint_prefix("cudnn_lstm_f32"));
  try {
    nn::convert_tf_rnn(cudnn, with_forget_bias(1.0));
    ADD_FAILURE() << "a forget bias for CudnnCompatibleLSTMCell was accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("CudnnCompatibleLSTMCell"), std::string::npos) << error.what();
  }
  try {
    nn::TfConvertOptions clip;
    clip.cell_clip = 1.0;
    nn::convert_tf_rnn(nn::TfCheckpoint::open(checkpoint_prefix("keras_lstm_2layer_f64")), clip);
    ADD_FAILURE() << "a cell_clip for Keras cells was accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("are LSTMCell's options, but the cells are keras_lstm"), std::string::npos)
        << error.what();
  }
  const nn::TfCheckpoint dtypes = nn::TfCheckpoint::open(checkpoint_prefix("dtypes"));
  try {
    nn::convert_tf_rnn(dtypes);
    ADD_FAILURE() << "a checkpoint without cells was converted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("no recurrent cell found"), std::string::npos) << error.what();
  }
  try {
    nn::convert_tf_rnn(cudnn, with_forget_bias(std::nullopt, "elsewhere/"));
    ADD_FAILURE() << "a scope without cells was converted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("under 'elsewhere/'"), std::string::npos) << error.what();
  }
}

// Checkpoints written by TensorFlow whose variables make no RNN: each refused, naming the variable.
TEST(TfConvertOptions, LayoutsThatMakeNoRnnAreRefusedNamingTheVariable) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"bad_gru_bias", "'gru/gru_cell/bias' has 3 rows, expected 2 (the input and the recurrent bias)"},
      {"mixed_cells",
       "the cell at 'lstm_1/gru_cell' (keras_gru, hidden 4, projection 0) differs from the one at "
       "'lstm/lstm_cell' (keras_lstm, hidden 4, projection 0)"},
      {"layer_inputs",
       "the cell at 'rnn/multi_rnn_cell/cell_1/lstm_cell' (layer 1) takes 5 inputs, but 4 expected "
       "(the previous layer's output)"},
      {"lone_backward",
       "the cell at 'bidirectional/backward_lstm/lstm_cell' should be layer 0's forward direction; "
       "found backward"},
  };
  for (const auto& [name, expected] : cases) {
    const nn::TfCheckpoint checkpoint = nn::TfCheckpoint::open(checkpoint_prefix("malformed_" + name));
    try {
      nn::convert_tf_rnn(checkpoint);
      ADD_FAILURE() << name << " was converted";
    } catch (const Error& error) {
      EXPECT_NE(std::string(error.what()).find(expected), std::string::npos) << name << ": " << error.what();
    }
  }
}

TEST(TfConvertOptions, AKerasModelsOtherVariablesAreListedAsLeftOut) {
  const nn::TfConversion conversion =
      nn::convert_tf_rnn(nn::TfCheckpoint::open(checkpoint_prefix("keras_lstm_2layer_bi_f32")));
  EXPECT_EQ(conversion.left_out, std::vector<std::string>{"_CHECKPOINTABLE_OBJECT_GRAPH"});
  EXPECT_EQ(conversion.options.num_layers, 2);
  EXPECT_EQ(conversion.options.direction, nn::Direction::Bidirectional);
}

}  // namespace
}  // namespace recur
