// fmt::format("{}", tensor): PyTorch-like printing, at most 6 values per axis (the first and
// last 3 around "..."), then the dtype and shape (and the device when not the CPU):
//   tensor([[ 0.1000, -1.2000,  0.3000],
//           [ 1.0000,  2.0000,  3.0000]], dtype=float32, shape=[2, 3])
// GPU tensors are copied to the CPU first.
#include <algorithm>
#include <cmath>
#include <string>

#include "core/tensor.h"
#include "core/tensor_hooks.h"

namespace recur {
namespace {

constexpr int64_t kEdgeItems = 3;  // values shown at each end of a long axis

double read_element(const Tensor& t, int64_t offset) { return load_as_double(t.raw_data(), t.dtype(), offset); }

// Positions shown along an axis of `size`; -1 marks the "..." between the two ends.
std::vector<int64_t> shown_positions(int64_t size) {
  std::vector<int64_t> positions;
  if (size <= 2 * kEdgeItems) {
    for (int64_t i = 0; i < size; ++i) positions.push_back(i);
    return positions;
  }
  for (int64_t i = 0; i < kEdgeItems; ++i) positions.push_back(i);
  positions.push_back(-1);
  for (int64_t i = size - kEdgeItems; i < size; ++i) positions.push_back(i);
  return positions;
}

class Printer {
 public:
  explicit Printer(const Tensor& t) : tensor_(t) {
    collect(0, 0);
    choose_format();
  }

  std::string render() const {
    if (tensor_.dim() == 0) return number(values_.empty() ? 0.0 : values_[0]);
    std::string out;
    size_t next = 0;
    render_axis(0, 0, out, next);
    return out;
  }

 private:
  // Reads every shown value in order, so that all share one width.
  void collect(int64_t axis, int64_t offset) {
    if (axis == tensor_.dim()) {
      values_.push_back(read_element(tensor_, offset));
      return;
    }
    for (int64_t position : shown_positions(tensor_.shape()[axis])) {
      if (position >= 0) collect(axis + 1, offset + position * tensor_.strides()[axis]);
    }
  }

  void choose_format() {
    integral_ = true;
    double largest = 0.0, smallest = INFINITY;
    for (double value : values_) {
      if (!std::isfinite(value)) continue;
      integral_ = integral_ && value == std::round(value);
      largest = std::max(largest, std::abs(value));
      if (value != 0.0) smallest = std::min(smallest, std::abs(value));
    }
    scientific_ = largest >= 1e8 || (!integral_ && smallest < 1e-4);
    for (double value : values_) width_ = std::max(width_, number(value).size());
  }

  std::string number(double value) const {
    std::string text;
    if (tensor_.dtype() == DType::Int64) {
      text = fmt::format("{}", static_cast<int64_t>(value));
    } else if (!std::isfinite(value)) {
      text = fmt::format("{}", value);
    } else if (scientific_) {
      text = fmt::format("{:.4e}", value);
    } else if (integral_) {
      text = fmt::format("{:.0f}.", value);
    } else {
      text = fmt::format("{:.4f}", value);
    }
    return text.size() < width_ ? std::string(width_ - text.size(), ' ') + text : text;
  }

  void render_axis(int64_t axis, int64_t offset, std::string& out, size_t& next) const {
    // Between values: ", "; between sub-arrays: a comma, one line break per axis below, and
    // an indent under the opening bracket (7 = the width of "tensor(").
    std::string separator = ",";
    if (axis + 1 == tensor_.dim()) {
      separator += ' ';
    } else {
      separator.append(static_cast<size_t>(tensor_.dim() - axis - 1), '\n');
      separator.append(static_cast<size_t>(7 + axis + 1), ' ');
    }
    out += '[';
    bool first = true;
    for (int64_t position : shown_positions(tensor_.shape()[axis])) {
      if (!first) out += separator;
      first = false;
      if (position < 0) {
        out += "...";
      } else if (axis + 1 == tensor_.dim()) {
        out += number(values_[next++]);
      } else {
        render_axis(axis + 1, offset + position * tensor_.strides()[axis], out, next);
      }
    }
    out += ']';
  }

  const Tensor& tensor_;
  std::vector<double> values_;
  bool integral_ = false, scientific_ = false;
  size_t width_ = 0;
};

}  // namespace
}  // namespace recur

fmt::format_context::iterator fmt::formatter<recur::Tensor>::format(const recur::Tensor& tensor,
                                                                    format_context& ctx) const {
  using namespace recur;
  if (!tensor.defined()) return fmt::format_to(ctx.out(), "tensor(undefined)");
  const Tensor host = tensor.device().is_cpu()
                          ? tensor
                          : backend_hooks("fmt::formatter<Tensor>").convert(tensor, tensor.dtype(), Device::cpu());
  const std::string device = tensor.device().is_cpu() ? "" : ", device=" + tensor.device().str();
  return fmt::format_to(ctx.out(), "tensor({}, dtype={}, shape={}{})", Printer(host).render(), tensor.dtype(),
                        shape_str(tensor.shape()), device);
}
