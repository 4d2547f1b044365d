// Module's registry walks: names, modes, placement and checkpoints.
#include "nn/module.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>

#include "autograd/grad_mode.h"
#include "backends/compute.h"

namespace recur::nn {

namespace {

std::string joined(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// Points `target`'s TensorImpl at `converted`'s data, so every handle to `target` sees it.
void replace_data(const Tensor& target, const Tensor& converted) {
  TensorImpl& impl = target.impl();
  const TensorImpl& from = converted.impl();
  impl.storage = from.storage;
  impl.offset = from.offset;
  impl.shape = from.shape;
  impl.strides = from.strides;
  impl.dtype = from.dtype;
}

// Converts a tensor (and its gradient) in place to dtype on device.
void convert_in_place(const Tensor& tensor, DType dtype, Device device) {
  if (tensor.dtype() != dtype || tensor.device() != device) {
    replace_data(tensor, compute::convert(tensor.detach(), dtype, device));
  }
  TensorImpl& impl = tensor.impl();
  if (impl.grad) {
    Tensor grad(impl.grad);
    if (grad.dtype() != dtype || grad.device() != device) impl.grad = compute::convert(grad, dtype, device).impl_ptr();
  }
}

}  // namespace

// ---- registration ---------------------------------------------------------------------------

void Module::check_new_name(const std::string& name, const char* what) const {
  RECUR_CHECK(!name.empty(), "{}: cannot register a {} with an empty name", this->name(), what);
  RECUR_CHECK(name.find('.') == std::string::npos, "{}: {} name '{}' must not contain '.'", this->name(), what, name);
  auto taken = [&](const auto& list) {
    for (const auto& [existing, _] : list) {
      if (existing == name) return true;
    }
    return false;
  };
  RECUR_CHECK(!taken(parameters_) && !taken(buffers_) && !taken(children_),
              "{}: cannot register {} '{}': the name is already taken", this->name(), what, name);
}

Tensor Module::register_parameter(const std::string& name, Tensor tensor) {
  check_new_name(name, "parameter");
  RECUR_CHECK(tensor.defined(), "{}: parameter '{}' is an undefined tensor", this->name(), name);
  RECUR_CHECK(is_floating(tensor.dtype()), "{}: parameter '{}' must be floating point, got {}", this->name(), name,
              tensor.describe());
  RECUR_CHECK(tensor.is_leaf(), "{}: parameter '{}' must be a leaf tensor (detach it first)", this->name(), name);
  tensor.requires_grad_(true);
  parameters_.emplace_back(name, tensor);
  return tensor;
}

Tensor Module::register_buffer(const std::string& name, Tensor tensor) {
  check_new_name(name, "buffer");
  RECUR_CHECK(tensor.defined(), "{}: buffer '{}' is an undefined tensor", this->name(), name);
  buffers_.emplace_back(name, tensor);
  return tensor;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name, "module");
  RECUR_CHECK(module != nullptr, "{}: module '{}' is null", this->name(), name);
  RECUR_CHECK(module.get() != this, "{}: a module cannot be its own child ('{}')", this->name(), name);
  children_.emplace_back(name, std::move(module));
}

// ---- walking ----------------------------------------------------------------------------------

// Iterative over the tree would be overkill: module trees are a few levels deep.
void Module::collect(const std::string& prefix, bool buffers, std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const auto& [name, tensor] : buffers ? buffers_ : parameters_) out.emplace_back(joined(prefix, name), tensor);
  for (const auto& [name, child] : children_) child->collect(joined(prefix, name), buffers, out);
}

namespace {
std::vector<std::pair<std::string, Tensor>> unique_by_identity(std::vector<std::pair<std::string, Tensor>> all) {
  std::set<const TensorImpl*> seen;
  std::vector<std::pair<std::string, Tensor>> out;
  for (auto& entry : all) {
    if (seen.insert(entry.second.impl_ptr().get()).second) out.push_back(std::move(entry));
  }
  return out;
}
}  // namespace

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> all;
  collect("", false, all);
  return unique_by_identity(std::move(all));
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [_, tensor] : named_parameters()) out.push_back(tensor);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> all;
  collect("", true, all);
  return unique_by_identity(std::move(all));
}

std::vector<Tensor> Module::buffers() const {
  std::vector<Tensor> out;
  for (auto& [_, tensor] : named_buffers()) out.push_back(tensor);
  return out;
}

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (const auto& [_, child] : children_) out.push_back(child);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t total = 0;
  for (const Tensor& p : parameters()) total += p.numel();
  return total;
}

// ---- mode and placement -------------------------------------------------------------------

void Module::train(bool on) {
  training_ = on;
  for (const auto& [_, child] : children_) child->train(on);
}

void Module::to(Device device) {
  NoGradGuard no_grad;
  for (const Tensor& t : parameters()) convert_in_place(t, t.dtype(), device);
  for (const Tensor& t : buffers()) convert_in_place(t, t.dtype(), device);
  after_to_tree();
}

void Module::to(DType dtype) {
  RECUR_CHECK(is_floating(dtype), "{}.to: parameters must stay floating point, got {}", name(), dtype);
  NoGradGuard no_grad;
  for (const Tensor& t : parameters()) convert_in_place(t, dtype, t.device());
  for (const Tensor& t : buffers()) {
    if (is_floating(t.dtype())) convert_in_place(t, dtype, t.device());
  }
  after_to_tree();
}

void Module::after_to_tree() {
  for (const auto& [_, child] : children_) child->after_to_tree();
  after_to();
}

void Module::zero_grad() {
  for (const Tensor& p : parameters()) p.impl().grad = nullptr;
}

// ---- checkpoints ----------------------------------------------------------------------------

StateDict Module::state_dict() const {
  std::vector<std::pair<std::string, Tensor>> all;
  collect("", false, all);
  collect("", true, all);
  StateDict state;
  for (const auto& [name, tensor] : all) state.emplace(name, tensor.detach());
  return state;
}

void Module::load_state_dict(const StateDict& state, bool strict) {
  std::vector<std::pair<std::string, Tensor>> expected;
  collect("", false, expected);
  collect("", true, expected);

  std::vector<std::string> missing, unexpected, problems;
  std::set<std::string> known;
  for (const auto& [name, target] : expected) {
    known.insert(name);
    auto found = state.find(name);
    if (found == state.end()) {
      missing.push_back(name);
      continue;
    }
    const Tensor& source = found->second;
    if (!source.defined()) {
      problems.push_back(fmt::format("undefined tensor: {}", name));
    } else if (source.shape() != target.shape()) {
      problems.push_back(fmt::format("shape mismatch: {} expected {}, got {}", name, shape_str(target.shape()),
                                     shape_str(source.shape())));
    } else if (source.dtype() != target.dtype()) {
      problems.push_back(fmt::format("dtype mismatch: {} expected {}, got {}", name, target.dtype(), source.dtype()));
    }
  }
  for (const auto& [name, _] : state) {
    if (!known.count(name)) unexpected.push_back(name);
  }

  std::vector<std::string> parts;
  if (strict && !missing.empty()) parts.push_back(fmt::format("missing keys: [{}]", fmt::join(missing, ", ")));
  if (strict && !unexpected.empty()) {
    parts.push_back(fmt::format("unexpected keys: [{}]", fmt::join(unexpected, ", ")));
  }
  parts.insert(parts.end(), problems.begin(), problems.end());
  RECUR_CHECK(parts.empty(), "load_state_dict: {}", fmt::join(parts, "; "));

  NoGradGuard no_grad;
  for (const auto& [name, target] : expected) {
    auto found = state.find(name);
    if (found == state.end()) continue;
    const Tensor& source = found->second;
    const bool aliased = source.storage() == target.storage() && source.offset() == target.offset() &&
                         source.strides() == target.strides();
    if (aliased) continue;  // loading a module's own state dict
    Tensor destination = target.detach();
    destination.copy_(source);
  }
}

// ---- describe -------------------------------------------------------------------------------

void Module::describe_into(std::string& out, int indent) const {
  const std::string pad(static_cast<size_t>(indent) + 2, ' ');
  const std::string extra = extra_repr();
  out += name() + "(";
  if (children_.empty()) {
    out += extra + ")";
    return;
  }
  out += "\n";
  if (!extra.empty()) out += pad + extra + "\n";
  for (const auto& [child_name, child] : children_) {
    out += pad + "(" + child_name + "): ";
    child->describe_into(out, indent + 2);
    out += "\n";
  }
  out += std::string(static_cast<size_t>(indent), ' ') + ")";
}

std::string Module::describe() const {
  std::string out;
  describe_into(out, 0);
  return out;
}

}  // namespace recur::nn
