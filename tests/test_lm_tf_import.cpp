// A Keras character model (Embedding -> LSTM -> Dense, saved by tf.train.Checkpoint; written by
// tests/fixtures/make_tensorflow_checkpoints.py with TensorFlow 2.15) converted into recur's
// language model (examples/lm/tf_import.h), saved as a checkpoint folder, read back as `recur
// sample` and `recur eval` read it, and run on the same tokens: the logits must match Keras'
// within 1e-5 (float32).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "autograd/grad_mode.h"
#include "examples/lm/checkpoint.h"
#include "examples/lm/tf_import.h"
#include "nn/safetensors.h"

namespace recur {
namespace {

std::string fixture(const std::string& file) {
  return std::string(RECUR_TEST_FIXTURES) + "/tensorflow_checkpoints/" + file;
}

lm::Vocabulary keras_lm_vocabulary() {
  std::ifstream in(fixture("keras_lm.txt"), std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return lm::Vocabulary::build(text.str(), lm::VocabKind::Chars);
}

TEST(LmTfImport, AKerasCharacterModelGivesKerasLogitsFromASavedCheckpoint) {
  const nn::TfCheckpoint checkpoint = nn::TfCheckpoint::open(fixture("keras_lm"));
  const nn::TfConversion rnn = nn::convert_tf_rnn(checkpoint);
  const lm::Vocabulary vocab = keras_lm_vocabulary();
  const lm::TfLanguageModel converted = lm::convert_tf_language_model(checkpoint, rnn, vocab);
  EXPECT_EQ(converted.config.vocab_size, vocab.size());
  EXPECT_EQ(converted.config.embedding_dim, 5);
  EXPECT_EQ(converted.config.rnn.hidden_size, 6);

  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "recur_lm_tf_import";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  nn::save_safetensors((dir / "model.safetensors").string(), converted.weights,
                       lm::model_metadata(converted.config, vocab, 0));
  const lm::Checkpoint loaded = lm::load_checkpoint(dir.string(), lm::LoadParts::Model);
  std::unique_ptr<lm::LanguageModel> model = lm::model_from_checkpoint(loaded);
  model->eval();
  std::filesystem::remove_all(dir);

  const nn::SafetensorsFile expected = nn::load_safetensors(fixture("keras_lm.lm.safetensors"));
  NoGradGuard no_grad;
  const auto [logits, state] = model->forward(expected.tensors.at("tokens"), {});
  const Tensor& keras = expected.tensors.at("expected.logits");
  ASSERT_EQ(logits.shape(), keras.shape());
  const std::vector<double> a = logits.to_vector<double>(), b = keras.to_vector<double>();
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR(a[i], b[i], 1e-5 + 1e-5 * std::abs(b[i])) << i;
    worst = std::max(worst, std::abs(a[i] - b[i]));
  }
  std::cout << "[ tf-lm ] keras_lm: max |recur - Keras| of the logits " << worst << "\n";
}

TEST(LmTfImport, AVocabularyOfAnotherSizeIsRefused) {
  const nn::TfCheckpoint checkpoint = nn::TfCheckpoint::open(fixture("keras_lm"));
  const nn::TfConversion rnn = nn::convert_tf_rnn(checkpoint);
  try {
    lm::convert_tf_language_model(checkpoint, rnn, lm::Vocabulary::build("ab", lm::VocabKind::Chars));
    ADD_FAILURE() << "a vocabulary of 2 symbols was accepted for an embedding of 11";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("no Dense layer"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace recur
