#include "nn/tf_rnn_convert.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/error.h"
#include "nn/rnn.h"

namespace recur::nn {
namespace {

constexpr std::string_view kObjectSuffix = "/.ATTRIBUTES/VARIABLE_VALUE";

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// "cell_2" before "cell_10": runs of digits compare as numbers.
bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      size_t i_end = i, j_end = j;
      while (i_end < a.size() && digit(a[i_end])) ++i_end;
      while (j_end < b.size() && digit(b[j_end])) ++j_end;
      std::string_view x(a.data() + i, i_end - i), y(b.data() + j, j_end - j);
      while (x.size() > 1 && x[0] == '0') x.remove_prefix(1);
      while (y.size() > 1 && y[0] == '0') y.remove_prefix(1);
      if (x.size() != y.size()) return x.size() < y.size();
      if (x != y) return x < y;
      i = i_end, j = j_end;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i, ++j;
    }
  }
  if (a.size() - i != b.size() - j) return a.size() - i < b.size() - j;
  return a < b;  // equal as numbers ("a01", "a1"): the text decides, so that the order is total
}

// A row-major matrix of doubles (a vector is one row), for the weights' rearrangement.
struct Matrix {
  int64_t rows = 0, cols = 0;
  std::vector<double> values;
  double& at(int64_t r, int64_t c) { return values[static_cast<size_t>(r * cols + c)]; }
  double at(int64_t r, int64_t c) const { return values[static_cast<size_t>(r * cols + c)]; }
};

Matrix zeros_matrix(int64_t rows, int64_t cols) {
  return {rows, cols, std::vector<double>(static_cast<size_t>(rows * cols), 0.0)};
}

Matrix transpose(const Matrix& m) {
  Matrix out = zeros_matrix(m.cols, m.rows);
  for (int64_t r = 0; r < m.rows; ++r) {
    for (int64_t c = 0; c < m.cols; ++c) out.at(c, r) = m.at(r, c);
  }
  return out;
}

Matrix row_range(const Matrix& m, int64_t begin, int64_t end) {
  Matrix out = zeros_matrix(end - begin, m.cols);
  std::copy(m.values.begin() + begin * m.cols, m.values.begin() + end * m.cols, out.values.begin());
  return out;
}

Matrix stack_rows(const std::vector<Matrix>& parts) {
  Matrix out{0, parts.front().cols, {}};
  for (const Matrix& p : parts) {
    out.rows += p.rows;
    out.values.insert(out.values.end(), p.values.begin(), p.values.end());
  }
  return out;
}

// The row blocks of m (it has order.size() equal ones) taken in `order`: block k of the result
// is block order[k] of m.
Matrix reorder_row_blocks(const Matrix& m, const std::vector<int64_t>& order) {
  const auto blocks = static_cast<int64_t>(order.size());
  const int64_t block = m.rows / blocks;
  std::vector<Matrix> parts;
  for (const int64_t k : order) parts.push_back(row_range(m, k * block, (k + 1) * block));
  return stack_rows(parts);
}

// Gate orders, as the source block each of recur's blocks comes from.
const std::vector<int64_t> kIjfoToIfgo = {0, 2, 1, 3};  // LSTMCell (i, j, f, o) -> (i, f, g, o)
const std::vector<int64_t> kZrhToRzn = {1, 0, 2};       // Keras GRU (z, r, h) -> (r, z, n)

// One cell: the weights of one layer and direction in recur's layout, and where they came from.
struct Cell {
  std::string scope;
  std::string layout;
  std::string layer_key;  // the scope without its direction component
  int direction = -1;     // -1 none, 0 forward, 1 reverse
  RNNMode mode = RNNMode::LSTM;
  GRUVariant gru_variant = GRUVariant::LinearBeforeReset;
  int64_t input_size = 0, hidden_size = 0, proj_size = 0;
  bool peepholes = false;
  std::map<std::string, Matrix> weights;      // weight_ih, weight_hh, bias_ih, bias_hh, weight_hr, weight_peephole
  std::map<std::string, std::string> source;  // the same keys: where from
};

class Reader {
 public:
  Reader(const TfCheckpoint& checkpoint, const std::string& scope) : checkpoint_(checkpoint) {
    for (const TfCheckpointEntry& entry : checkpoint.entries()) {
      const std::string name = tf_variable_name(entry.name);
      if (!starts_with(name, scope)) continue;
      logical_[name] = entry.name;
    }
  }

  const std::map<std::string, std::string>& logical() const { return logical_; }
  bool has(const std::string& name) const { return logical_.count(name) != 0; }
  // The rank of `name`, -1 when absent.
  int rank(const std::string& name) const {
    auto it = logical_.find(name);
    return it == logical_.end() ? -1 : static_cast<int>(checkpoint_.find(it->second)->shape.size());
  }

  // The tensor `name` as a matrix: a rank-1 tensor is one row (or one column with `column`).
  Matrix matrix(const std::string& name, int rank, const std::string& cell) {
    auto it = logical_.find(name);
    RECUR_CHECK(it != logical_.end(), "{}: the cell at '{}' needs '{}', which the checkpoint does not hold",
                checkpoint_.name(), cell, name);
    const TfCheckpointEntry* entry = checkpoint_.find(it->second);
    RECUR_CHECK(entry->dtype == DType::Float32 || entry->dtype == DType::Float64 || entry->dtype == DType::Float16 ||
                    entry->dtype == DType::BFloat16,
                "{}: '{}' is {}, expected a floating-point weight", checkpoint_.name(), name, entry->dtype_name);
    RECUR_CHECK(static_cast<int>(entry->shape.size()) == rank, "{}: '{}' has shape {}, expected a rank-{} tensor",
                checkpoint_.name(), name, shape_str(entry->shape), rank);
    used_.insert(it->second);
    all_double_ = all_double_ && entry->dtype == DType::Float64;
    const Tensor t = checkpoint_.read(it->second);
    Matrix m;
    m.rows = rank == 2 ? t.size(0) : 1;
    m.cols = rank == 2 ? t.size(1) : rank == 1 ? t.size(0) : 1;
    m.values = t.to(DType::Float64).to_vector<double>();
    return m;
  }
  std::vector<std::string> unused() const {
    std::vector<std::string> out;
    for (const TfCheckpointEntry& entry : checkpoint_.entries()) {
      if (!used_.count(entry.name)) out.push_back(entry.name);
    }
    return out;
  }
  bool all_double() const { return all_double_; }
  const std::string& name() const { return checkpoint_.name(); }

 private:
  const TfCheckpoint& checkpoint_;
  std::map<std::string, std::string> logical_;  // name without the object suffix -> entry name
  std::set<std::string> used_;
  bool all_double_ = true;
};

std::string describe(const std::string& name, const Matrix& m, bool vector = false) {
  return vector ? fmt::format("{} [{}]", name, m.cols) : fmt::format("{} [{}, {}]", name, m.rows, m.cols);
}

void check_cols(const Reader& reader, const std::string& name, const Matrix& m, int64_t cols) {
  RECUR_CHECK(m.cols == cols, "{}: '{}' has {} columns, expected {}", reader.name(), name, m.cols, cols);
}

// Keras LSTM and GRU layers: SCOPE/kernel [I, G*H], SCOPE/recurrent_kernel [H, G*H], SCOPE/bias.
Cell keras_cell(Reader& reader, const std::string& scope) {
  Cell cell;
  const std::string k = scope + "/kernel", rk = scope + "/recurrent_kernel", b = scope + "/bias";
  const Matrix kernel = reader.matrix(k, 2, scope), recurrent = reader.matrix(rk, 2, scope);
  const int64_t H = recurrent.rows;
  RECUR_CHECK(H > 0 && (recurrent.cols == 4 * H || recurrent.cols == 3 * H),
              "{}: '{}' has shape [{}, {}], expected [H, 4H] (LSTM) or [H, 3H] (GRU)", reader.name(), rk,
              recurrent.rows, recurrent.cols);
  const bool lstm = recurrent.cols == 4 * H;
  cell.layout = lstm ? "keras_lstm" : "keras_gru";
  cell.mode = lstm ? RNNMode::LSTM : RNNMode::GRU;
  cell.hidden_size = H;
  cell.input_size = kernel.rows;
  check_cols(reader, k, kernel, recurrent.cols);
  const std::vector<int64_t> order = lstm ? std::vector<int64_t>{0, 1, 2, 3} : kZrhToRzn;
  const std::string reorder = lstm ? "" : ", gates (z, r, h) -> (r, z, n)";
  cell.weights["weight_ih"] = reorder_row_blocks(transpose(kernel), order);
  cell.source["weight_ih"] = describe(k, kernel) + " transposed" + reorder;
  cell.weights["weight_hh"] = reorder_row_blocks(transpose(recurrent), order);
  cell.source["weight_hh"] = describe(rk, recurrent) + " transposed" + reorder;
  const bool two_biases = !lstm && reader.rank(b) == 2;
  const Matrix bias = two_biases ? reader.matrix(b, 2, scope) : reader.matrix(b, 1, scope);
  check_cols(reader, b, bias, recurrent.cols);
  RECUR_CHECK(!two_biases || bias.rows == 2, "{}: '{}' has {} rows, expected 2 (the input and the recurrent bias)",
              reader.name(), b, bias.rows);
  const Matrix zero = zeros_matrix(1, recurrent.cols);
  if (two_biases) {  // reset_after=True: (input, recurrent)
    cell.weights["bias_ih"] = transpose(reorder_row_blocks(transpose(row_range(bias, 0, 1)), order));
    cell.weights["bias_hh"] = transpose(reorder_row_blocks(transpose(row_range(bias, 1, 2)), order));
    cell.source["bias_ih"] = fmt::format("{} [2, {}] row 0{}", b, bias.cols, reorder);
    cell.source["bias_hh"] = fmt::format("{} [2, {}] row 1{}", b, bias.cols, reorder);
  } else {
    cell.weights["bias_ih"] = transpose(reorder_row_blocks(transpose(bias), order));
    cell.weights["bias_hh"] = zero;
    cell.source["bias_ih"] = describe(b, bias, true) + reorder;
    cell.source["bias_hh"] = "zeros (TensorFlow has one bias)";
    if (!lstm) cell.gru_variant = GRUVariant::ResetBeforeLinear;  // reset_after=False
  }
  return cell;
}

// tf.compat.v1.nn.rnn_cell.LSTMCell and CudnnCompatibleLSTMCell: SCOPE/kernel [I + R, 4H] over
// the concatenation [x, h], gates (i, j, f, o).
Cell lstm_cell(Reader& reader, const std::string& scope, double forget_bias) {
  Cell cell;
  cell.layout = "lstm_cell";
  const std::string k = scope + "/kernel", b = scope + "/bias", proj = scope + "/projection/kernel";
  const Matrix kernel = reader.matrix(k, 2, scope), bias = reader.matrix(b, 1, scope);
  RECUR_CHECK(bias.cols > 0 && bias.cols % 4 == 0, "{}: '{}' has {} elements, expected 4H", reader.name(), b,
              bias.cols);
  const int64_t H = bias.cols / 4;
  check_cols(reader, k, kernel, 4 * H);
  cell.hidden_size = H;
  int64_t R = H;
  if (reader.has(proj)) {
    const Matrix projection = reader.matrix(proj, 2, scope);
    RECUR_CHECK(projection.rows == H && projection.cols > 0, "{}: '{}' has shape [{}, {}], expected [{}, P]",
                reader.name(), proj, projection.rows, projection.cols, H);
    R = cell.proj_size = projection.cols;
    cell.weights["weight_hr"] = transpose(projection);
    cell.source["weight_hr"] = describe(proj, projection) + " transposed";
  }
  RECUR_CHECK(kernel.rows > R, "{}: '{}' has {} rows, expected input size + {} (the recurrent state)", reader.name(), k,
              kernel.rows, R);
  cell.input_size = kernel.rows - R;
  const std::string reorder = ", gates (i, j, f, o) -> (i, f, g, o)";
  cell.weights["weight_ih"] = reorder_row_blocks(transpose(row_range(kernel, 0, cell.input_size)), kIjfoToIfgo);
  cell.source["weight_ih"] = fmt::format("{} rows [0, {}) transposed{}", describe(k, kernel), cell.input_size, reorder);
  cell.weights["weight_hh"] =
      reorder_row_blocks(transpose(row_range(kernel, cell.input_size, kernel.rows)), kIjfoToIfgo);
  cell.source["weight_hh"] =
      fmt::format("{} rows [{}, {}) transposed{}", describe(k, kernel), cell.input_size, kernel.rows, reorder);
  Matrix bias_ih = transpose(reorder_row_blocks(transpose(bias), kIjfoToIfgo));
  for (int64_t j = H; j < 2 * H; ++j) bias_ih.at(0, j) += forget_bias;
  cell.weights["bias_ih"] = bias_ih;
  cell.source["bias_ih"] = describe(b, bias, true) + reorder +
                           (forget_bias != 0 ? fmt::format(", forget_bias {} added to the f block", forget_bias) : "");
  cell.weights["bias_hh"] = zeros_matrix(1, 4 * H);
  cell.source["bias_hh"] = "zeros (TensorFlow has one bias)";
  const std::string diag[3] = {scope + "/w_i_diag", scope + "/w_f_diag", scope + "/w_o_diag"};
  if (reader.has(diag[0]) || reader.has(diag[1]) || reader.has(diag[2])) {
    std::vector<Matrix> rows;
    for (const std::string& name : diag) {
      rows.push_back(reader.matrix(name, 1, scope));
      check_cols(reader, name, rows.back(), H);
    }
    cell.peepholes = true;
    cell.weights["weight_peephole"] = stack_rows(rows);
    cell.source["weight_peephole"] = fmt::format("rows {}, {}, {} [{}]", diag[0], diag[1], diag[2], H);
  }
  return cell;
}

// CudnnCompatibleGRUCell: gates (r, u) over [x, h], then the candidate's two projections.
Cell cudnn_gru_cell(Reader& reader, const std::string& scope) {
  Cell cell;
  cell.layout = "cudnn_compatible_gru_cell";
  cell.mode = RNNMode::GRU;
  const std::string gk = scope + "/gates/kernel", gb = scope + "/gates/bias";
  const std::string ik = scope + "/candidate/input_projection/kernel", ib = scope + "/candidate/input_projection/bias";
  const std::string hk = scope + "/candidate/hidden_projection/kernel",
                    hb = scope + "/candidate/hidden_projection/bias";
  const Matrix gates = reader.matrix(gk, 2, scope), gates_bias = reader.matrix(gb, 1, scope);
  const Matrix input = reader.matrix(ik, 2, scope), input_bias = reader.matrix(ib, 1, scope);
  const Matrix hidden = reader.matrix(hk, 2, scope), hidden_bias = reader.matrix(hb, 1, scope);
  const int64_t H = hidden.rows;
  RECUR_CHECK(H > 0 && hidden.cols == H, "{}: '{}' has shape [{}, {}], expected [H, H]", reader.name(), hk, hidden.rows,
              hidden.cols);
  const int64_t I = input.rows;
  check_cols(reader, ik, input, H);
  check_cols(reader, gk, gates, 2 * H);
  RECUR_CHECK(gates.rows == I + H, "{}: '{}' has {} rows, expected {} (input {} + hidden {})", reader.name(), gk,
              gates.rows, I + H, I, H);
  check_cols(reader, gb, gates_bias, 2 * H);
  check_cols(reader, ib, input_bias, H);
  check_cols(reader, hb, hidden_bias, H);
  cell.input_size = I;
  cell.hidden_size = H;
  cell.weights["weight_ih"] = stack_rows({transpose(row_range(gates, 0, I)), transpose(input)});
  cell.source["weight_ih"] = fmt::format("{} rows [0, {}) transposed (r, z), then {} transposed (n)",
                                         describe(gk, gates), I, describe(ik, input));
  cell.weights["weight_hh"] = stack_rows({transpose(row_range(gates, I, I + H)), transpose(hidden)});
  cell.source["weight_hh"] = fmt::format("{} rows [{}, {}) transposed (r, z), then {} transposed (n)",
                                         describe(gk, gates), I, I + H, describe(hk, hidden));
  Matrix bias_ih = gates_bias;
  bias_ih.cols += H;
  bias_ih.values.insert(bias_ih.values.end(), input_bias.values.begin(), input_bias.values.end());
  cell.weights["bias_ih"] = bias_ih;
  cell.source["bias_ih"] =
      fmt::format("{} (r, z), then {} (n)", describe(gb, gates_bias, true), describe(ib, input_bias, true));
  Matrix bias_hh = zeros_matrix(1, 3 * H);
  std::copy(hidden_bias.values.begin(), hidden_bias.values.end(), bias_hh.values.begin() + 2 * H);
  cell.weights["bias_hh"] = bias_hh;
  cell.source["bias_hh"] = fmt::format("zeros (r, z), then {} (n)", describe(hb, hidden_bias, true));
  return cell;
}

// The direction a scope component marks: 0 forward, 1 reverse, -1 none.
int direction_of(std::string_view component) {
  if (component == "fw" || starts_with(component, "forward")) return 0;
  if (component == "bw" || starts_with(component, "backward")) return 1;
  return -1;
}

void set_direction(Cell& cell) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t slash = cell.scope.find('/', start);
    parts.push_back(cell.scope.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  for (std::string& part : parts) {
    const int d = direction_of(part);
    if (d < 0) continue;
    RECUR_CHECK(cell.direction < 0, "the cell at '{}' names two directions", cell.scope);
    cell.direction = d;
    part = "*";
  }
  cell.layer_key.clear();
  for (size_t i = 0; i < parts.size(); ++i) cell.layer_key += (i ? "/" : "") + parts[i];
}

// LSTMCell adds forget_bias at run time; CudnnCompatibleLSTMCell has none.
bool takes_forget_bias(const std::string& scope) { return !ends_with(scope, "cudnn_compatible_lstm_cell"); }

Tensor tensor_of(const Matrix& m, bool vector, DType dtype) {
  const Shape shape = vector ? Shape{m.cols} : Shape{m.rows, m.cols};
  return from_vector<double>(m.values, shape, TensorOptions().with_dtype(DType::Float64)).to(dtype);
}

}  // namespace

std::string tf_variable_name(const std::string& entry_name) {
  return ends_with(entry_name, kObjectSuffix) ? entry_name.substr(0, entry_name.size() - kObjectSuffix.size())
                                              : entry_name;
}

TfConversion convert_tf_rnn(const TfCheckpoint& checkpoint, const TfConvertOptions& options) {
  Reader reader(checkpoint, options.scope);
  std::vector<Cell> cells;
  for (const auto& [name, entry] : reader.logical()) {
    std::string scope;
    if (ends_with(name, "/recurrent_kernel")) {
      scope = name.substr(0, name.size() - std::string_view("/recurrent_kernel").size());
      cells.push_back(keras_cell(reader, scope));
    } else if (ends_with(name, "/gates/kernel")) {
      scope = name.substr(0, name.size() - std::string_view("/gates/kernel").size());
      cells.push_back(cudnn_gru_cell(reader, scope));
    } else if (ends_with(name, "lstm_cell/kernel") &&
               !reader.has(name.substr(0, name.size() - 6) + "recurrent_kernel")) {
      scope = name.substr(0, name.size() - std::string_view("/kernel").size());
      cells.push_back(lstm_cell(reader, scope, takes_forget_bias(scope) ? options.forget_bias.value_or(1.0) : 0.0));
    } else {
      continue;
    }
    cells.back().scope = scope;
    set_direction(cells.back());
  }
  RECUR_CHECK(!cells.empty(),
              "{}: no recurrent cell found{} (expected Keras LSTM/GRU variables SCOPE/kernel, recurrent_kernel and "
              "bias, an LSTMCell's .../lstm_cell/kernel and bias, or a CudnnCompatibleGRUCell's gates/kernel)",
              checkpoint.name(), options.scope.empty() ? "" : " under '" + options.scope + "'");

  // Layers in natural order, each with one cell per direction.
  std::sort(cells.begin(), cells.end(), [](const Cell& a, const Cell& b) {
    if (a.layer_key != b.layer_key) return natural_less(a.layer_key, b.layer_key);
    return a.direction < b.direction;
  });
  const Cell& first = cells.front();
  const int64_t directions = first.direction < 0 ? 1 : 2;
  const int64_t layers = (static_cast<int64_t>(cells.size()) + directions - 1) / directions;
  const int64_t R = first.proj_size > 0 ? first.proj_size : first.hidden_size;
  TfConversion out;
  out.layout = first.layout;
  for (size_t k = 0; k < cells.size(); ++k) {
    const Cell& cell = cells[k];
    const int64_t layer = static_cast<int64_t>(k) / directions, d = static_cast<int64_t>(k) % directions;
    RECUR_CHECK(cell.layout == first.layout && cell.mode == first.mode && cell.gru_variant == first.gru_variant &&
                    cell.hidden_size == first.hidden_size && cell.proj_size == first.proj_size &&
                    cell.peepholes == first.peepholes,
                "{}: the cell at '{}' ({}, hidden {}, projection {}{}) differs from the one at '{}' ({}, hidden {}, "
                "projection {}{}); recur converts stacks of one kind of cell",
                checkpoint.name(), cell.scope, cell.layout, cell.hidden_size, cell.proj_size,
                cell.peepholes ? ", peepholes" : "", first.scope, first.layout, first.hidden_size, first.proj_size,
                first.peepholes ? ", peepholes" : "");
    RECUR_CHECK((directions == 1 && cell.direction < 0) || cell.direction == d,
                "{}: the cell at '{}' should be layer {}'s {} direction; found {} (each layer needs one forward and "
                "one backward cell, or all have no direction)",
                checkpoint.name(), cell.scope, layer, d == 0 ? "forward" : "backward",
                cell.direction < 0    ? "no direction"
                : cell.direction == 0 ? "forward"
                                      : "backward");
    RECUR_CHECK(d == 0 || cell.layer_key == cells[k - 1].layer_key,
                "{}: the backward cell at '{}' has no forward cell beside it", checkpoint.name(), cell.scope);
    const int64_t expected_input = layer == 0 ? first.input_size : directions * R;
    RECUR_CHECK(cell.input_size == expected_input,
                "{}: the cell at '{}' (layer {}) takes {} inputs, but {} expected (the {})", checkpoint.name(),
                cell.scope, layer, cell.input_size, expected_input,
                layer == 0 ? "first layer's input size" : "previous layer's output");
  }
  RECUR_CHECK(static_cast<int64_t>(cells.size()) % directions == 0,
              "{}: {} cells found, which is no whole number of bidirectional layers", checkpoint.name(), cells.size());
  RNNOptions& o = out.options;
  o.mode = first.mode;
  o.input_size = first.input_size;
  o.hidden_size = first.hidden_size;
  o.num_layers = layers;
  o.direction = directions == 2 ? Direction::Bidirectional : Direction::Unidirectional;
  o.proj_size = first.proj_size;
  o.use_peepholes = first.peepholes;
  o.gru_variant = first.gru_variant;
  if (options.cell_clip != 0.0 || options.proj_clip != 0.0 || options.activation != Activation::Tanh) {
    RECUR_CHECK(first.layout == "lstm_cell",
                "{}: cell_clip, proj_clip and activation are LSTMCell's options, but the cells are {} ('{}')",
                checkpoint.name(), first.layout, first.scope);
    o.cell_clip = options.cell_clip;
    o.proj_clip = options.proj_clip;
    o.activation = options.activation;
  }
  o.validate();
  const DType dtype = reader.all_double() ? DType::Float64 : DType::Float32;
  std::map<std::string, std::string> sources;
  for (size_t k = 0; k < cells.size(); ++k) {
    const std::string suffix = fmt::format("_l{}{}", static_cast<int64_t>(k) / directions,
                                           static_cast<int64_t>(k) % directions == 1 ? "_reverse" : "");
    for (const auto& [field, matrix] : cells[k].weights) {
      const bool vector = field == "bias_ih" || field == "bias_hh";
      out.weights[field + suffix] = tensor_of(matrix, vector, dtype);
      sources[field + suffix] = cells[k].source.at(field);
    }
  }
  // Every weight the module has, with its shape, and where it came from, in the module's order.
  for (const RNNWeightShape& w : rnn_weight_shapes(o)) {
    auto it = out.weights.find(w.name);
    RECUR_CHECK(it != out.weights.end() && it->second.shape() == w.shape,
                "{}: internal: weight '{}' {} is missing or misshapen", checkpoint.name(), w.name, shape_str(w.shape));
    out.mapping.push_back(fmt::format("{} {} <- {}", w.name, shape_str(w.shape), sources.at(w.name)));
  }
  if (takes_forget_bias(first.scope) && first.layout == "lstm_cell") {
    out.forget_bias_folded = options.forget_bias.value_or(1.0);
  } else {
    RECUR_CHECK(!options.forget_bias.has_value() || *options.forget_bias == 0.0,
                "{}: a forget bias of {} was asked for, but the cells are {} ('{}'), whose forget bias is in the "
                "checkpoint's bias already (it applies to LSTMCell only)",
                checkpoint.name(), *options.forget_bias,
                ends_with(first.scope, "cudnn_compatible_lstm_cell") ? "CudnnCompatibleLSTMCell" : first.layout,
                first.scope);
  }
  out.left_out = reader.unused();
  return out;
}

}  // namespace recur::nn
