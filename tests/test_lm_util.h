// Helpers for the language-model tests (tests/test_lm_*.cpp): scratch folders, small corpora and
// a tiny training configuration that runs in a fraction of a second.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "examples/lm/corpus.h"
#include "examples/lm/train_options.h"

namespace recur::lm::testing {

// A fresh folder under the system's temporary folder, removed with the object.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name) {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("recur_lm_" + name + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A 2-layer LSTM of 16 units on a ~1500-character corpus: an epoch is 33 batches of 4 x 8.
inline TrainOptions tiny_options(const std::string& data, const std::string& out) {
  TrainOptions o;
  o.data = data;
  o.out = out;
  o.vocab = "chars";
  o.embedding = 8;
  o.hidden = 16;
  o.layers = 2;
  o.dropout = 0.1;
  o.batch = 4;
  o.bptt = 8;
  o.steps = 40;
  o.lr = 1e-2;
  o.lr_schedule = "cosine";
  o.warmup = 3;
  o.log_every = 1;
  o.eval_every = 10;
  o.eval_batch = 4;
  o.eval_bptt = 16;
  o.seed = 7;
  return o;
}

inline std::string tiny_corpus(ScratchDir& dir, int64_t chars = 1500) {
  const std::string path = dir / "corpus.txt";
  write_text(path, generate_corpus(chars, 3));
  return path;
}

}  // namespace recur::lm::testing
