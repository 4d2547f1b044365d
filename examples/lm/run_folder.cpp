#include "examples/lm/run_folder.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace recur::lm {
namespace fs = std::filesystem;

namespace {

std::string default_run_dir() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  const std::string base = fmt::format("runs/{:%Y%m%d-%H%M%S}", local);
  std::string dir = base;
  for (int suffix = 2; fs::exists(dir); ++suffix) dir = fmt::format("{}-{}", base, suffix);
  return dir;
}

// A new run may not start in a folder that holds one.
void check_holds_no_run(const std::string& dir) {
  RECUR_CHECK(!fs::exists(dir + "/config.json") && !fs::exists(dir + "/checkpoint"),
              "'{}' already holds a run: continue it with --resume {}, or choose another --out", dir, dir);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

RunFolder::RunFolder(std::string dir, Reporter& reporter) : dir_(std::move(dir)), lock_(RunLock::acquire(dir_)) {
  if (!lock_.unsupported().empty()) {
    reporter.warning(lock_.unsupported() + ": nothing stops another `recur train` from using this run folder");
  }
}

RunFolder RunFolder::create(const std::string& out, Reporter& reporter) {
  const std::string dir = out.empty() ? default_run_dir() : out;
  check_holds_no_run(dir);
  std::error_code error;
  fs::create_directories(dir, error);
  RECUR_CHECK(fs::is_directory(dir), "cannot create the run folder '{}': {}", dir, error.message());
  RunFolder folder(dir, reporter);
  // Again under the lock: another process may have started a run there since the first check.
  check_holds_no_run(dir);
  return folder;
}

RunFolder RunFolder::open(const std::string& dir, Reporter& reporter) {
  RECUR_CHECK(fs::is_directory(dir), "--resume {}: no such run folder", dir);
  return RunFolder(dir, reporter);
}

RunFolder RunFolder::read_only(const std::string& dir) {
  RECUR_CHECK(fs::is_directory(dir), "--resume {}: no such run folder", dir);
  RunFolder folder;
  folder.dir_ = dir;
  return folder;
}

bool RunFolder::has_config() const { return fs::exists(config_path()); }

bool RunFolder::has_checkpoint() const { return !checkpoint_dir_if_any(dir_).empty(); }

nlohmann::json RunFolder::read_config() const {
  try {
    return nlohmann::json::parse(read_text(config_path()));
  } catch (const nlohmann::json::exception& e) {
    RECUR_FAIL("{} is corrupt: it is not valid JSON ({})", config_path(), e.what());
  }
}

void RunFolder::write_config(const nlohmann::json& config) const {
  write_file_atomically(config_path(), config.dump(2) + "\n");
}

std::vector<MetricsRow> RunFolder::read_metrics(int64_t last_step) const {
  const std::string path = dir_ + "/metrics.csv";
  std::vector<MetricsRow> rows;
  if (!fs::exists(path)) return rows;
  for (const MetricsRow& row : parse_metrics_csv(read_text(path), path)) {
    if (row.step <= last_step) rows.push_back(row);
  }
  return rows;
}

void RunFolder::write_logs(const std::vector<MetricsRow>& rows, const std::string& title,
                           const std::string& unit) const {
  write_file_atomically(dir_ + "/metrics.csv", metrics_csv(rows));
  write_file_atomically(dir_ + "/loss.svg", loss_svg(rows, title, unit));
}

void RunFolder::save_checkpoint(Which which, LanguageModel& model, const Vocabulary& vocab,
                                const nlohmann::json& config, const optim::Optimizer& optimizer,
                                const nn::RNNState& carry, const TrainProgress& progress) const {
  lm::save_checkpoint(dir_, which, model, vocab, config, optimizer, carry, progress);
}

}  // namespace recur::lm
