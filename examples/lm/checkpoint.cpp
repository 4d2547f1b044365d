#include "examples/lm/checkpoint.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "nn/json_integer.h"
#include "nn/safetensors.h"
#include "optim/optimizer.h"

namespace recur::lm {
namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "recur-lm";
constexpr int kStateVersion = 1;

std::string read_small_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  RECUR_CHECK(in.good(), "cannot read '{}': {}", path, std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

nlohmann::json parse_json(const std::string& text, const std::string& what) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    RECUR_FAIL("{} is corrupt: it is not valid JSON ({})", what, e.what());
  }
}

double nan_from_null(const nlohmann::json& value) {
  return value.is_null() ? std::numeric_limits<double>::quiet_NaN() : value.get<double>();
}

nlohmann::json null_from_nan(double value) { return std::isfinite(value) ? nlohmann::json(value) : nullptr; }

void sync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// Makes `fresh` (a complete checkpoint folder) the checkpoint at `target`, atomically.
void swap_into_place(const std::string& fresh, const std::string& target, const std::string& run_dir) {
  std::error_code ignored;
  if (!fs::exists(target)) {
    RECUR_CHECK(std::rename(fresh.c_str(), target.c_str()) == 0, "cannot move the checkpoint '{}' to '{}': {}", fresh,
                target, std::strerror(errno));
  } else if (::renameat2(AT_FDCWD, fresh.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
    fs::remove_all(fresh, ignored);  // now the previous checkpoint
  } else {
    // No atomic exchange on this file system: keep the old one as checkpoint.old until the new
    // one is in place (find_checkpoint_dir falls back to it).
    const std::string old = target + ".old";
    fs::remove_all(old, ignored);
    RECUR_CHECK(std::rename(target.c_str(), old.c_str()) == 0, "cannot move '{}' aside: {}", target,
                std::strerror(errno));
    RECUR_CHECK(std::rename(fresh.c_str(), target.c_str()) == 0, "cannot move the checkpoint '{}' to '{}': {}", fresh,
                target, std::strerror(errno));
    fs::remove_all(old, ignored);
  }
  sync_dir(run_dir);
}

// Refuses weights other than those `model` implies, by name and shape, before anything of the
// configuration's size is built: a file's metadata may name any sizes, and a model is allocated
// (and initialised) from them. `declared`: each weight's shape, as the file's header declares it
// or as it was loaded.
void check_weight_shapes(const ModelConfig& model, const std::map<std::string, Shape>& declared,
                         const std::string& path) {
  const std::string what = fmt::format("{} does not match its own configuration ({})", path, model.summary());
  // Every layer has a weight_hh: this bounds the list below by the file.
  RECUR_CHECK(model.rnn.num_layers <= static_cast<int64_t>(declared.size()),
              "{}: the configuration has {} layers, but the file holds only {} tensors", what, model.rnn.num_layers,
              declared.size());
  std::vector<nn::RNNWeightShape> expected;
  try {
    expected = weight_shapes(model);
  } catch (const Error& e) {
    RECUR_FAIL("{}: {}", what, e.what());
  }
  std::vector<std::string> problems;
  std::set<std::string> names;
  for (const auto& [name, shape] : expected) {
    names.insert(name);
    const auto it = declared.find(name);
    if (it == declared.end()) {
      problems.push_back(fmt::format("no '{}' (expected {})", name, shape_str(shape)));
    } else if (it->second != shape) {
      problems.push_back(fmt::format("'{}' is {}, expected {}", name, shape_str(it->second), shape_str(shape)));
    }
  }
  for (const auto& [name, shape] : declared) {
    if (names.count(name) == 0)
      problems.push_back(fmt::format("'{}' {} is no weight of this model", name, shape_str(shape)));
  }
  constexpr size_t kShown = 4;
  if (problems.size() > kShown) {
    const size_t more = problems.size() - kShown;
    problems.resize(kShown);
    problems.push_back(fmt::format("and {} more", more));
  }
  RECUR_CHECK(problems.empty(), "{}: {}", what, fmt::join(problems, "; "));
}

}  // namespace

void to_json(nlohmann::json& j, const TrainProgress& p) {
  nlohmann::json generators = nlohmann::json::object();
  for (const auto& [name, state] : p.generators) generators[name] = {{"seed", state.seed}, {"offset", state.offset}};
  j = nlohmann::json{{"format", "recur-lm-state"},
                     {"version", kStateVersion},
                     {"step", p.step},
                     {"epoch", p.epoch},
                     {"batch_in_epoch", p.batch_in_epoch},
                     {"position", p.position},
                     {"tokens", p.tokens},
                     {"elapsed_s", p.elapsed_s},
                     {"skipped_steps", p.skipped_steps},
                     {"bad_in_a_row", p.bad_in_a_row},
                     {"has_carry", p.has_carry},
                     {"interval",
                      {{"steps", p.interval_steps},
                       {"tokens", p.interval_tokens},
                       {"norms", p.interval_norms},
                       {"loss_sum", p.interval_loss_sum},
                       {"norm_sum", p.interval_norm_sum},
                       {"seconds", p.interval_seconds}}},
                     {"last_val_loss", null_from_nan(p.last_val_loss)},
                     {"best", {{"val_loss", null_from_nan(p.best_val_loss)}, {"step", p.best_step}}},
                     {"generators", generators}};
  if (!p.val_losses.empty() || p.averaging_from >= 0) {
    nlohmann::json losses = nlohmann::json::array();
    for (const double loss : p.val_losses) losses.push_back(null_from_nan(loss));
    j["ntasgd"] = {{"val_losses", losses}, {"averaging_from", p.averaging_from}};
  }
}

void from_json(const nlohmann::json& j, TrainProgress& p) {
  RECUR_CHECK(j.is_object() && j.contains("format") && j["format"] == "recur-lm-state",
              "expected a recur-lm-state object, got {}", j.dump().substr(0, 80));
  RECUR_CHECK(j.contains("version") && j["version"] == kStateVersion, "state version {} is not supported (expected {})",
              j.contains("version") ? j["version"].dump() : "(none)", kStateVersion);
  try {
    p.step = nn::json_integer<int64_t>(j.at("step"), "\"step\"");
    p.epoch = nn::json_integer<int64_t>(j.at("epoch"), "\"epoch\"");
    p.batch_in_epoch = nn::json_integer<int64_t>(j.at("batch_in_epoch"), "\"batch_in_epoch\"");
    p.tokens = nn::json_integer<int64_t>(j.at("tokens"), "\"tokens\"");
    p.elapsed_s = j.at("elapsed_s").get<double>();
    p.skipped_steps = nn::json_integer<int64_t>(j.at("skipped_steps"), "\"skipped_steps\"");
    p.bad_in_a_row = nn::json_integer<int64_t>(j.at("bad_in_a_row"), "\"bad_in_a_row\"");
    p.has_carry = j.at("has_carry").get<bool>();
    const nlohmann::json& interval = j.at("interval");
    p.interval_steps = nn::json_integer<int64_t>(interval.at("steps"), "\"interval\".\"steps\"");
    p.interval_tokens = nn::json_integer<int64_t>(interval.at("tokens"), "\"interval\".\"tokens\"");
    p.interval_norms = nn::json_integer<int64_t>(interval.at("norms"), "\"interval\".\"norms\"");
    p.interval_loss_sum = interval.at("loss_sum").get<double>();
    p.interval_norm_sum = interval.at("norm_sum").get<double>();
    p.interval_seconds = interval.at("seconds").get<double>();
    p.last_val_loss = nan_from_null(j.at("last_val_loss"));
    if (const auto best = j.find("best"); best != j.end()) {  // absent in checkpoints before checkpoint-best/
      p.best_val_loss = nan_from_null(best->at("val_loss"));
      p.best_step = best->at("step").get<int64_t>();
    }
    p.position = j.contains("position") ? nn::json_integer<int64_t>(j.at("position"), "\"position\"") : 0;
    p.val_losses.clear();
    p.averaging_from = -1;
    if (const auto ntasgd = j.find("ntasgd"); ntasgd != j.end()) {
      for (const nlohmann::json& loss : ntasgd->at("val_losses")) p.val_losses.push_back(nan_from_null(loss));
      p.averaging_from = nn::json_integer<int64_t>(ntasgd->at("averaging_from"), "\"ntasgd\".\"averaging_from\"");
    }
    p.generators.clear();
    for (const auto& [name, state] : j.at("generators").items()) {
      const std::string what = fmt::format("generator \"{}\"", name);
      p.generators[name] = {nn::json_integer<uint64_t>(state.at("seed"), what + " seed"),
                            nn::json_integer<uint64_t>(state.at("offset"), what + " offset")};
    }
  } catch (const nlohmann::json::exception& e) {
    RECUR_FAIL("{}", e.what());
  }
  RECUR_CHECK(p.step >= 0 && p.epoch >= 0 && p.batch_in_epoch >= 0 && p.tokens >= 0 && p.position >= 0,
              "negative counters (step {}, epoch {}, batch {}, position {}, tokens {})", p.step, p.epoch,
              p.batch_in_epoch, p.position, p.tokens);
  RECUR_CHECK(p.averaging_from >= -1 && p.averaging_from <= p.step,
              "\"ntasgd\".\"averaging_from\" is {}, expected -1 or a step up to {}", p.averaging_from, p.step);
}

std::map<std::string, std::string> model_metadata(const ModelConfig& model, const Vocabulary& vocab, int64_t step) {
  return {{"format", kFormat},
          {"model", nlohmann::json(model).dump()},
          {"vocab", vocab.to_json().dump()},
          {"step", std::to_string(step)}};
}

Which parse_which(const std::string& name) {
  if (name == "latest") return Which::Latest;
  RECUR_CHECK(name == "best", "unknown checkpoint '{}' (expected latest or best)", name);
  return Which::Best;
}

std::string checkpoint_name(Which which) { return which == Which::Best ? "checkpoint-best" : "checkpoint"; }

std::string checkpoint_dir_if_any(const std::string& path, Which which) {
  // A checkpoint's own model file names its folder.
  if (fs::is_regular_file(path) && fs::path(path).filename() == "model.safetensors") {
    const std::string dir = fs::path(path).parent_path().string();
    return dir.empty() ? "." : dir;
  }
  const std::string run_checkpoint = path + "/" + checkpoint_name(which);
  for (const std::string& dir : {path, run_checkpoint, run_checkpoint + ".old"}) {
    if (fs::is_regular_file(dir + "/model.safetensors")) return dir;
  }
  return "";
}

std::string find_checkpoint_dir(const std::string& path, Which which) {
  RECUR_CHECK(!path.empty(), "no checkpoint given (--checkpoint DIR)");
  RECUR_CHECK(fs::exists(path), "checkpoint '{}' does not exist", path);
  const std::string dir = checkpoint_dir_if_any(path, which);
  RECUR_CHECK(!dir.empty(), "'{}' holds no {}checkpoint: expected {}/model.safetensors or {}/{}/model.safetensors{}",
              path, which == Which::Best ? "best " : "", path, path, checkpoint_name(which),
              which == Which::Best ? " (written at a run's first evaluation)" : "");
  return dir;
}

Checkpoint load_checkpoint(const std::string& path, LoadParts parts, Which which) {
  Checkpoint checkpoint;
  checkpoint.dir = find_checkpoint_dir(path, which);
  const std::string model_path = checkpoint.dir + "/model.safetensors";
  // The header first: the configuration in its metadata must describe the weights it declares
  // before the weights are read and a model of that configuration is built.
  const nn::SafetensorsHeader header = nn::read_safetensors_header(model_path);
  const auto field = [&](const char* key) {
    const auto it = header.metadata.find(key);
    RECUR_CHECK(it != header.metadata.end(), "{} is not a recur language-model checkpoint: no \"{}\" in its metadata",
                model_path, key);
    return it->second;
  };
  RECUR_CHECK(field("format") == kFormat, "{} is not a recur language-model checkpoint: format '{}', expected '{}'",
              model_path, field("format"), kFormat);
  try {
    checkpoint.model = parse_json(field("model"), model_path + "'s model metadata").get<ModelConfig>();
    checkpoint.vocab = Vocabulary::from_json(parse_json(field("vocab"), model_path + "'s vocab metadata"));
  } catch (const nlohmann::json::exception& e) {
    RECUR_FAIL("{}: bad metadata: {}", model_path, e.what());
  } catch (const Error& e) {
    RECUR_FAIL("{}: bad metadata: {}", model_path, e.what());
  }
  RECUR_CHECK(checkpoint.vocab.size() == checkpoint.model.vocab_size,
              "{}: the vocabulary has {} symbols but the model was built for {}", model_path, checkpoint.vocab.size(),
              checkpoint.model.vocab_size);
  std::map<std::string, Shape> declared;
  for (const nn::SafetensorsEntry& entry : header.entries) declared[entry.name] = entry.shape;
  check_weight_shapes(checkpoint.model, declared, model_path);
  checkpoint.weights = nn::load_safetensors(model_path).tensors;
  if (parts == LoadParts::Model) return checkpoint;

  const std::string state_path = checkpoint.dir + "/state.json", config_path = checkpoint.dir + "/config.json";
  try {
    checkpoint.progress = parse_json(read_small_file(state_path), state_path).get<TrainProgress>();
  } catch (const Error& e) {
    RECUR_FAIL("{} is corrupt: {}", state_path, e.what());
  }
  checkpoint.config = parse_json(read_small_file(config_path), config_path);
  checkpoint.optimizer = nn::load_safetensors(checkpoint.dir + "/optimizer.safetensors").tensors;
  checkpoint.carry = nn::load_safetensors(checkpoint.dir + "/carry.safetensors").tensors;
  return checkpoint;
}

std::unique_ptr<LanguageModel> model_from_checkpoint(const Checkpoint& checkpoint) {
  std::map<std::string, Shape> loaded;
  for (const auto& [name, tensor] : checkpoint.weights) {
    if (tensor.defined()) loaded[name] = tensor.shape();
  }
  check_weight_shapes(checkpoint.model, loaded, checkpoint.dir + "/model.safetensors");
  auto model = std::make_unique<LanguageModel>(checkpoint.model, 0);
  // The weights of a `train --dtype float64` run load into a float64 model.
  if (!checkpoint.weights.empty() && checkpoint.weights.begin()->second.dtype() == DType::Float64) {
    model->to(DType::Float64);
  }
  try {
    model->load_state_dict(checkpoint.weights);
  } catch (const Error& e) {
    RECUR_FAIL("{}/model.safetensors does not match its own configuration ({}): {}", checkpoint.dir,
               checkpoint.model.summary(), e.what());
  }
  return model;
}

void save_checkpoint(const std::string& run_dir, Which which, LanguageModel& model, const Vocabulary& vocab,
                     const nlohmann::json& config, const optim::Optimizer& optimizer, const nn::RNNState& carry,
                     const TrainProgress& progress) {
  const std::string target = run_dir + "/" + checkpoint_name(which), fresh = target + ".tmp";
  std::error_code error;
  fs::remove_all(fresh, error);  // a leftover of an interrupted save
  RECUR_CHECK(fs::create_directories(fresh, error) || fs::is_directory(fresh), "cannot create '{}': {}", fresh,
              error.message());

  nn::save_safetensors(fresh + "/model.safetensors", model.state_dict(),
                       model_metadata(model.config(), vocab, progress.step));
  nn::save_safetensors(fresh + "/optimizer.safetensors", optimizer.state_dict(), {{"optimizer", optimizer.name()}});
  nn::StateDict carry_tensors;
  if (progress.has_carry) {
    carry_tensors["h"] = carry.h;
    if (carry.c.defined()) carry_tensors["c"] = carry.c;
  }
  nn::save_safetensors(fresh + "/carry.safetensors", carry_tensors);
  write_file_atomically(fresh + "/config.json", config.dump(2) + "\n");
  write_file_atomically(fresh + "/state.json", nlohmann::json(progress).dump(2) + "\n");
  swap_into_place(fresh, target, run_dir);
}

}  // namespace recur::lm
