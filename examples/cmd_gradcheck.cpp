// recur gradcheck: checks nn::RNN's gradients.
//
//   recur gradcheck [model options] [--device D]
//     float64 central differences against autograd on device D: one row per input (x, h0, c0)
//     and per named parameter, with the largest error. An element passes when
//     |analytic - numeric| <= atol + rtol * |numeric| (autograd/gradcheck.h's defaults).
//   recur gradcheck --compare A,B [model options] [--dtype float64|float32|both]
//     the same model (weights drawn once with --seed, then loaded on both sides) and the same
//     data on devices A and B: one row per output, final state and gradient, with the largest
//     difference relative to the largest |value| on A.
//
// Both run the case contract of `recur rnn-eval` (examples/rnn_case.h): loss = sum(output * dy) +
// sum(h_n * dhn) (+ sum(c_n * dcn)) with fixed random dy, dhn, dcn, so every output gets a
// nonzero gradient. Exit status 0 when every row passes, 1 otherwise or on an error.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "autograd/gradcheck.h"
#include "backends/backend.h"
#include "core/atomic_file.h"
#include "examples/command.h"
#include "examples/rnn_case.h"
#include "nn/rnn.h"

namespace recur::cli {

namespace {

// Relative tolerances of --compare (max |A - B| / max |A|).
constexpr double kFloat64Tolerance = 1e-10;
constexpr double kFloat32Tolerance = 1e-5;

struct GradcheckCliOptions {
  std::string mode = "lstm", device, dtype, compare, impl = "auto", lengths, json_path;
  int64_t input_size = 3, hidden = 4, layers = 2, proj_size = 0, batch = 2, seq = 3;
  uint64_t seed = 1;  // as train and sample
  bool bidirectional = false, no_bias = false;
};

// One compared quantity (--compare) or one checked input (finite differences).
struct Row {
  std::string dtype;
  std::string name;
  int64_t elements = 0;
  double max_abs = 0.0, max_rel = 0.0, tolerance = 0.0;
  bool pass = true;
};

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

// The model, its weights and the data, in float64 on the CPU (an RNN case, examples/rnn_case.h).
struct Case {
  nn::RNNOptions options;
  int64_t batch = 0, seq = 0;
  std::vector<int64_t> lengths;  // empty: every sequence is seq long
  rnn_case::Metadata metadata;
  nn::StateDict tensors;                  // x, h0, c0, lengths, dy, dhn, dcn and the weights
  std::vector<std::string> weight_names;  // in the module's order

  bool lstm() const { return options.mode == nn::RNNMode::LSTM; }
  // A copy of the case with every floating-point tensor in dtype (new storage throughout).
  nn::StateDict in(DType dtype) const {
    nn::StateDict out;
    for (const auto& [name, t] : tensors) {
      out[name] = is_floating(t.dtype()) && t.dtype() != dtype ? t.to(dtype) : t.clone();
    }
    return out;
  }
};

std::vector<int64_t> parse_lengths(const std::string& text, int64_t batch, int64_t seq) {
  std::vector<int64_t> lengths;
  for (const std::string& part : split(text, ',')) {
    int64_t value = 0;
    try {
      size_t used = 0;
      value = std::stoll(part, &used);
      RECUR_CHECK(used == part.size(), "");
    } catch (...) {
      RECUR_FAIL("gradcheck: --lengths must be comma-separated integers like 3,2, got '{}'", text);
    }
    RECUR_CHECK(value >= 1 && value <= seq, "gradcheck: --lengths value {} is out of range 1..{} (--bptt)", value, seq);
    lengths.push_back(value);
  }
  RECUR_CHECK(static_cast<int64_t>(lengths.size()) == batch,
              "gradcheck: --lengths needs one length per sequence (--batch {}), got {}", batch, lengths.size());
  return lengths;
}

Case make_case(const GradcheckCliOptions& o) {
  Case c;
  nn::RNNOptions& ro = c.options;
  ro.mode = nn::parse_mode(o.mode);
  ro.input_size = o.input_size;
  ro.hidden_size = o.hidden;
  ro.num_layers = o.layers;
  ro.direction = o.bidirectional ? nn::Direction::Bidirectional : nn::Direction::Unidirectional;
  ro.proj_size = o.proj_size;
  ro.bias = !o.no_bias;
  ro.validate();
  RECUR_CHECK(o.batch >= 1, "gradcheck: --batch must be >= 1, got {}", o.batch);
  RECUR_CHECK(o.seq >= 1, "gradcheck: --bptt must be >= 1, got {}", o.seq);
  c.batch = o.batch;
  c.seq = o.seq;
  if (!o.lengths.empty()) c.lengths = parse_lengths(o.lengths, o.batch, o.seq);

  // The weights: PyTorch's initialisation from the seed, kept in float64 (float32 values, so
  // the float32 run sees exactly the same weights).
  Generator generator(o.seed);
  nn::RNN rnn(ro, &generator);
  rnn.to(DType::Float64);
  for (const auto& [name, param] : rnn.named_parameters()) {
    c.tensors[name] = param.detach().clone();
    c.weight_names.push_back(name);
  }
  // The data and the loss weights, from the same stream.
  const TensorOptions f64 = TensorOptions{}.with_dtype(DType::Float64);
  const int64_t states = ro.num_layers * ro.num_directions(), rec = ro.output_hidden_size();
  c.tensors["x"] = randn({o.seq, o.batch, o.input_size}, f64, &generator);
  c.tensors["h0"] = randn({states, o.batch, rec}, f64, &generator);
  if (c.lstm()) c.tensors["c0"] = randn({states, o.batch, o.hidden}, f64, &generator);
  c.tensors["dy"] = randn({o.seq, o.batch, ro.num_directions() * rec}, f64, &generator);
  c.tensors["dhn"] = randn({states, o.batch, rec}, f64, &generator);
  if (c.lstm()) c.tensors["dcn"] = randn({states, o.batch, o.hidden}, f64, &generator);
  if (!c.lengths.empty()) {
    c.tensors["lengths"] = from_vector<int64_t>(c.lengths, {o.batch}, TensorOptions{}.with_dtype(DType::Int64));
  }

  c.metadata = rnn_case::metadata(ro);
  return c;
}

std::string describe(const Case& c, uint64_t seed) {
  const nn::RNNOptions& o = c.options;
  std::string text =
      fmt::format("{}, input_size {}, hidden_size {}, num_layers {}, {}", nn::mode_name(o.mode), o.input_size,
                  o.hidden_size, o.num_layers, o.num_directions() == 2 ? "bidirectional" : "unidirectional");
  if (o.proj_size > 0) text += fmt::format(", proj_size {}", o.proj_size);
  if (!o.bias) text += ", no bias";
  text += fmt::format(", batch {}, seq {}", c.batch, c.seq);
  if (!c.lengths.empty()) text += fmt::format(", lengths {}", fmt::join(c.lengths, ","));
  return text + fmt::format(", seed {}", seed);
}

Device parse_device(const std::string& text, const std::string& flag) {
  try {
    return Device::parse(text);
  } catch (const Error& e) {
    throw Error(fmt::format("gradcheck {}: {}", flag, e.what()));
  }
}

// Which implementation a forward on `device` runs ("fused, cuDNN" on a GPU).
std::string impl_label(const nn::RNNOptions& options, Device device, nn::RNNImpl requested) {
  const nn::RNNImpl impl = nn::resolve_impl(options, device, requested);
  return impl == nn::RNNImpl::Fused && device.is_cuda() ? "fused, cuDNN" : nn::impl_name(impl);
}

// The result tensors compared by --compare, in order: (key in rnn_case::evaluate's result, row name).
std::vector<std::pair<std::string, std::string>> quantities(const Case& c) {
  std::vector<std::pair<std::string, std::string>> q = {{"y", "output"}, {"hn", "h_n"}};
  if (c.lstm()) q.emplace_back("cn", "c_n");
  q.emplace_back("grad.x", "grad.input");
  q.emplace_back("grad.h0", "grad.h0");
  if (c.lstm()) q.emplace_back("grad.c0", "grad.c0");
  for (const std::string& name : c.weight_names) q.emplace_back("grad." + name, "grad." + name);
  return q;
}

Row compare_tensors(const std::string& name, const Tensor& reference, const Tensor& other, double tolerance) {
  Row row;
  row.name = name;
  row.tolerance = tolerance;
  row.elements = reference.numel();
  if (reference.shape() != other.shape()) {
    row.max_abs = row.max_rel = std::numeric_limits<double>::infinity();
    row.pass = false;
    return row;
  }
  const std::vector<double> a = reference.to_vector<double>(), b = other.to_vector<double>();
  double scale = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double diff = std::abs(a[i] - b[i]);
    row.max_abs = std::isnan(diff) ? std::numeric_limits<double>::infinity() : std::max(row.max_abs, diff);
    scale = std::max(scale, std::abs(a[i]));
  }
  row.max_rel = row.max_abs == 0.0 ? 0.0 : row.max_abs / std::max(scale, std::numeric_limits<double>::min());
  row.pass = row.max_rel <= tolerance;
  return row;
}

double dot(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double total = 0.0;
  for (size_t i = 0; i < x.size(); ++i) total += x[i] * y[i];
  return total;
}

// Central differences of the case's loss against the analytic gradients, per input
// (autograd/gradcheck.h's comparison).
std::vector<Row> finite_differences(const Case& c, Device device, nn::RNNImpl impl, const GradcheckOptions& tol) {
  nn::StateDict tensors = c.in(DType::Float64);  // fresh copies, perturbed in place by the check
  const nn::StateDict analytic = rnn_case::evaluate(tensors, c.metadata, device, impl);
  auto loss = [&] {
    const nn::StateDict r = rnn_case::evaluate(tensors, c.metadata, device, impl);
    double total = dot(r.at("y"), tensors.at("dy")) + dot(r.at("hn"), tensors.at("dhn"));
    if (c.lstm()) total += dot(r.at("cn"), tensors.at("dcn"));
    return total;
  };

  std::vector<std::pair<std::string, std::string>> inputs = {{"x", "grad.x"}, {"h0", "grad.h0"}};
  if (c.lstm()) inputs.emplace_back("c0", "grad.c0");
  for (const std::string& name : c.weight_names) inputs.emplace_back(name, "grad." + name);

  std::vector<Tensor> perturbed, gradients;
  std::vector<std::string> names;
  for (const auto& [key, grad_key] : inputs) {
    perturbed.push_back(tensors.at(key));
    gradients.push_back(analytic.at(grad_key));
    names.push_back(key == "x" ? "grad.input" : grad_key);
  }
  const GradcheckResult result = compare_central_differences(loss, perturbed, gradients, tol, names);
  std::vector<Row> rows;
  for (size_t i = 0; i < names.size(); ++i) {
    const GradcheckInput& checked = result.inputs[i];
    rows.push_back(
        {"float64", names[i], checked.elements, checked.max_abs_error, checked.max_rel_error, 0.0, checked.ok});
  }
  return rows;
}

std::vector<DType> compare_dtypes(const std::string& text) {
  if (text.empty() || text == "both") return {DType::Float64, DType::Float32};
  if (text == "float64") return {DType::Float64};
  if (text == "float32") return {DType::Float32};
  RECUR_FAIL("gradcheck: --dtype must be float64, float32 or both, got '{}'", text);
}

// Prints the rows and a summary; returns whether all pass.
bool print_rows(const std::vector<Row>& rows, bool with_tolerance, const char* abs_title, const char* rel_title) {
  size_t width = 8;
  for (const Row& row : rows) width = std::max(width, row.name.size());
  fmt::print("{:<8} {:<{}} {:>8} {:>14} {:>14}{}  result\n", "dtype", "quantity", width, "elements", abs_title,
             rel_title, with_tolerance ? fmt::format(" {:>10}", "tolerance") : "");
  int failed = 0;
  for (const Row& row : rows) {
    fmt::print("{:<8} {:<{}} {:>8} {:>14.3e} {:>14.3e}{}  {}\n", row.dtype, row.name, width, row.elements, row.max_abs,
               row.max_rel, with_tolerance ? fmt::format(" {:>10.0e}", row.tolerance) : "", row.pass ? "PASS" : "FAIL");
    if (!row.pass) ++failed;
  }
  if (failed == 0) {
    fmt::print("all {} rows pass\n", rows.size());
  } else {
    fmt::print("FAIL: {} of {} rows\n", failed, rows.size());
  }
  return failed == 0;
}

nlohmann::json rows_json(const std::vector<Row>& rows, bool compare) {
  nlohmann::json out = nlohmann::json::array();
  for (const Row& row : rows) {
    nlohmann::json r = {{"dtype", row.dtype}, {"name", row.name}, {"elements", row.elements}};
    r[compare ? "max_abs_diff" : "max_abs_error"] = row.max_abs;
    r[compare ? "max_rel_diff" : "max_rel_error"] = row.max_rel;
    if (compare) r["tolerance"] = row.tolerance;
    r["pass"] = row.pass;
    out.push_back(r);
  }
  return out;
}

nlohmann::json case_json(const Case& c, uint64_t seed) {
  nlohmann::json j = {{"options", c.options}, {"batch", c.batch}, {"seq", c.seq}, {"seed", seed}};
  j["lengths"] = c.lengths.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.lengths);
  return j;
}

void write_json(const std::string& path, const nlohmann::json& j) {
  if (!path.empty()) write_file_atomically(path, j.dump(2) + "\n");
}

int run_compare(const GradcheckCliOptions& o) {
  const std::vector<std::string> names = split(o.compare, ',');
  RECUR_CHECK(names.size() == 2 && !names[0].empty() && !names[1].empty(),
              "gradcheck: --compare needs two devices like cpu,cuda, got '{}'", o.compare);
  RECUR_CHECK(o.device.empty(), "gradcheck: --device is for the finite-difference check; --compare names both devices");
  const std::string flag = "--compare " + o.compare;
  const Device a = parse_device(names[0], flag), b = parse_device(names[1], flag);
  const std::vector<std::string> impl_names = split(o.impl, ',');
  RECUR_CHECK(impl_names.size() == 1 || impl_names.size() == 2,
              "gradcheck: --impl takes one implementation or two (A,B), got '{}'", o.impl);
  const nn::RNNImpl impl_a = nn::parse_impl(impl_names[0]), impl_b = nn::parse_impl(impl_names.back());
  const std::vector<DType> dtypes = compare_dtypes(o.dtype);
  const Case c = make_case(o);
  check_device(a, "gradcheck " + flag);
  check_device(b, "gradcheck " + flag);
  const std::string label_a = impl_label(c.options, a, impl_a), label_b = impl_label(c.options, b, impl_b);

  fmt::print("recur gradcheck --compare: {}\n", describe(c, o.seed));
  fmt::print("A = {} ({}), B = {} ({}); a row passes when max|A-B| / max|A| <= {:.0e} (float64), {:.0e} (float32)\n", a,
             label_a, b, label_b, kFloat64Tolerance, kFloat32Tolerance);
  std::vector<Row> rows;
  for (DType dtype : dtypes) {
    const nn::StateDict input = c.in(dtype);
    const nn::StateDict ra = rnn_case::evaluate(input, c.metadata, a, impl_a);
    const nn::StateDict rb = rnn_case::evaluate(input, c.metadata, b, impl_b);
    const double tolerance = dtype == DType::Float64 ? kFloat64Tolerance : kFloat32Tolerance;
    for (const auto& [key, name] : quantities(c)) {
      Row row = compare_tensors(name, ra.at(key), rb.at(key), tolerance);
      row.dtype = dtype_name(dtype);
      rows.push_back(row);
    }
  }
  const bool pass = print_rows(rows, true, "max abs diff", "max rel diff");

  nlohmann::json j = case_json(c, o.seed);
  j["check"] = "compare";
  j["a"] = {{"device", a.str()}, {"impl", label_a}};
  j["b"] = {{"device", b.str()}, {"impl", label_b}};
  j["tolerance"] = {{"float64", kFloat64Tolerance}, {"float32", kFloat32Tolerance}};
  j["rows"] = rows_json(rows, true);
  j["pass"] = pass;
  write_json(o.json_path, j);
  return pass ? 0 : 1;
}

int run_finite_differences(const GradcheckCliOptions& o) {
  RECUR_CHECK(o.dtype.empty() || o.dtype == "float64",
              "gradcheck: the finite-difference check runs in float64; --dtype {} needs --compare", o.dtype);
  RECUR_CHECK(o.impl.find(',') == std::string::npos, "gradcheck: --impl A,B needs --compare, got '{}'", o.impl);
  const std::string device_name = o.device.empty() ? "cpu" : o.device;
  const Device device = parse_device(device_name, "--device");
  const nn::RNNImpl impl = nn::parse_impl(o.impl);
  const Case c = make_case(o);
  check_device(device, "gradcheck --device " + device_name);
  const std::string label = impl_label(c.options, device, impl);
  const GradcheckOptions tol;

  fmt::print("recur gradcheck: {}\n", describe(c, o.seed));
  fmt::print(
      "{} ({}), float64 central differences (eps {:.0e}) against autograd; an element passes when "
      "|analytic - numeric| <= {:.0e} + {:.0e} * |numeric|\n",
      device, label, tol.eps, tol.atol, tol.rtol);
  const std::vector<Row> rows = finite_differences(c, device, impl, tol);
  const bool pass = print_rows(rows, false, "max abs error", "max rel error");

  nlohmann::json j = case_json(c, o.seed);
  j["check"] = "finite_differences";
  j["device"] = device.str();
  j["impl"] = label;
  j["eps"] = tol.eps;
  j["atol"] = tol.atol;
  j["rtol"] = tol.rtol;
  j["rows"] = rows_json(rows, false);
  j["pass"] = pass;
  write_json(o.json_path, j);
  return pass ? 0 : 1;
}

}  // namespace

Command add_gradcheck_command(CLI::App& parent) {
  auto options = std::make_shared<GradcheckCliOptions>();
  CLI::App* app = parent.add_subcommand(
      "gradcheck", "Check the RNN's gradients against finite differences, or one device against another");
  app->add_option("--mode", options->mode, "lstm, gru, rnn_tanh or rnn_relu")
      ->check(CLI::IsMember({"lstm", "gru", "rnn_tanh", "rnn_relu"}));
  app->add_option("--embedding", options->input_size, "the RNN's input size (a language model's embedding size)");
  app->add_option("--hidden", options->hidden, "hidden size");
  app->add_option("--layers", options->layers, "RNN layers");
  app->add_flag("--bidirectional", options->bidirectional, "two directions");
  app->add_option("--proj", options->proj_size, "LSTM projection size (0 = none)");
  app->add_flag("--no-bias", options->no_bias, "no bias vectors");
  app->add_option("--batch", options->batch, "batch size B");
  app->add_option("--bptt", options->seq, "sequence length T (time steps)");
  app->add_option("--lengths", options->lengths, "variable lengths, one per sequence, e.g. 3,2");
  app->add_option("--seed", options->seed, "seed of the weights and the data");
  app->add_option("--dtype", options->dtype,
                  "float64, float32 or both (--compare); the finite-difference check is float64")
      ->default_str("both");
  app->add_option("--device", options->device, "device of the finite-difference check: cpu or cuda[:N]")
      ->default_str("cpu");
  app->add_option("--compare", options->compare, "compare two devices, e.g. cpu,cuda (A is the reference)");
  app->add_option("--impl", options->impl, "auto, cells or fused; with --compare also A,B, e.g. cells,fused");
  app->add_option("--json", options->json_path, "also write the table as JSON to this file");
  return {app,
          [options] { return options->compare.empty() ? run_finite_differences(*options) : run_compare(*options); }};
}

}  // namespace recur::cli
