// The backward pass: an iterative walk of the graph in reverse topological order.
//
// 1. Discover every node reachable from the roots with an explicit stack and count, for each,
//    how many edges point at it (its consumers).
// 2. Kahn's algorithm: a node runs once all its consumers have passed their gradients to it.
//    Gradients for the same output accumulate (sum); leaves accumulate into .grad.
// 3. Unless retain_graph, every visited node frees what its closure saved.
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "backends/compute.h"

namespace recur {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool enabled) { g_grad_enabled = enabled; }

}  // namespace recur

namespace recur::autograd {

Node::~Node() {
  // Destroying a node can drop the last reference to its inputs' nodes, and so on down a chain
  // as long as the unrolled graph. Collect them here and release them in a loop instead.
  thread_local std::vector<std::shared_ptr<Node>> pending;
  thread_local bool draining = false;
  for (Edge& edge : inputs_) {
    if (edge.node) pending.push_back(std::move(edge.node));
  }
  if (draining) return;
  draining = true;
  while (!pending.empty()) {
    std::shared_ptr<Node> node = std::move(pending.back());
    pending.pop_back();
    node.reset();  // may run ~Node, which only appends to `pending`
  }
  draining = false;
}

std::vector<Tensor> Node::apply(const std::vector<Tensor>& grad_outputs) {
  RECUR_CHECK(backward_ != nullptr,
              "backward through the graph of '{}' a second time: its saved tensors were freed by the first "
              "backward (pass retain_graph=true to the first call to keep them)",
              name_);
  return backward_(grad_outputs);
}

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor* t : inputs) {
    if (t->defined() && t->requires_grad()) return true;
  }
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor& t : inputs) {
    if (t.defined() && t.requires_grad()) return true;
  }
  return false;
}

std::vector<Tensor> record(const std::string& name, const std::vector<Tensor>& inputs, std::vector<Tensor> outputs,
                           BackwardFn backward) {
  if (!needs_grad(inputs)) return outputs;
  std::vector<Edge> edges;
  edges.reserve(inputs.size());
  for (const Tensor& input : inputs) {
    Edge edge;
    if (input.defined() && input.requires_grad()) {
      if (input.grad_fn()) {
        edge.node = input.grad_fn();
        edge.output_nr = input.impl().output_nr;
      } else {
        edge.leaf = input.impl_ptr();
      }
    }
    edges.push_back(std::move(edge));
  }
  std::vector<OutputMeta> metas;
  metas.reserve(outputs.size());
  for (const Tensor& output : outputs) metas.push_back({output.shape(), output.dtype(), output.device()});
  auto node = std::make_shared<Node>(name, std::move(edges), std::move(metas), std::move(backward));
  for (size_t i = 0; i < outputs.size(); ++i) {
    TensorImpl& impl = outputs[i].impl();
    impl.grad_fn = node;
    impl.output_nr = static_cast<uint32_t>(i);
    impl.requires_grad = true;
  }
  return outputs;
}

Tensor record(const std::string& name, const std::vector<Tensor>& inputs, Tensor output, BackwardFn backward) {
  if (!needs_grad(inputs)) return output;
  return record(name, inputs, std::vector<Tensor>{std::move(output)}, std::move(backward))[0];
}

namespace {

// sum + g into a fresh tensor. float16/bfloat16 gradients (a GPU's reduced-precision RNN) add
// with axpby, which every backend computes for every floating dtype; the rest with one Add.
Tensor accumulate(const Tensor& sum, const Tensor& g) {
  if (!sum.defined()) return g;
  if (sum.dtype() != DType::Float16 && sum.dtype() != DType::BFloat16) return compute::binary(BinaryOp::Add, sum, g);
  Tensor out = make_contiguous_tensor(sum.shape(), sum.dtype(), sum.device());
  Backend& backend = backend_for(sum.device());
  backend.copy(out, sum);
  backend.axpby(out, 1.0, g, 1.0);
  return out;
}

void check_gradient(const Tensor& g, const Shape& shape, DType dtype, Device device, const std::string& where) {
  RECUR_CHECK(g.shape() == shape && g.dtype() == dtype && g.device() == device,
              "{}: gradient is {}, expected {}{} on {}", where, g.describe(), dtype, shape_str(shape), device);
}

void accumulate_leaf(TensorImpl& leaf, const Tensor& g) {
  check_gradient(g, leaf.shape, leaf.dtype, leaf.storage->device(), "accumulating into a leaf's .grad");
  if (!leaf.grad) {
    // Own a contiguous copy: backward closures may hand the same tensor to several inputs.
    Tensor copy = make_contiguous_tensor(g.shape(), g.dtype(), g.device());
    backend_for(g.device()).copy(copy, g);
    leaf.grad = copy.impl_ptr();
  } else {
    Tensor grad(leaf.grad);
    backend_for(grad.device()).axpby(grad, 1.0, g, 1.0);
  }
}

// Runs the backward pass. With `captures` (a list of tensors) the gradients flowing into them
// are returned instead of being accumulated into leaves' .grad.
std::vector<Tensor> run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots,
                                 bool retain_graph, const std::vector<Tensor>* captures) {
  RECUR_CHECK(roots.size() == grad_roots.size(), "backward: {} outputs but {} gradients", roots.size(),
              grad_roots.size());
  NoGradGuard no_grad;
  std::vector<Tensor> captured(captures ? captures->size() : 0);

  // Where captured gradients are read: a leaf impl, or a (node, output) pair.
  auto capture_leaf = [&](const TensorImpl* leaf, const Tensor& g) {
    bool hit = false;
    for (size_t i = 0; i < captured.size(); ++i) {
      if ((*captures)[i].impl_ptr().get() == leaf) {
        captured[i] = accumulate(captured[i], g);
        hit = true;
      }
    }
    return hit;
  };

  std::unordered_map<Node*, std::vector<Tensor>> buffers;
  std::unordered_map<Node*, int> dependencies;
  std::vector<Node*> ready;

  // Seed the roots.
  std::vector<Node*> root_nodes;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& root = roots[i];
    RECUR_CHECK(root.defined() && root.requires_grad(),
                "backward on a tensor that does not require grad ({}): nothing recorded a graph for it "
                "(set requires_grad on the inputs, outside a NoGradGuard)",
                root.defined() ? root.describe() : "undefined");
    Tensor g = grad_roots[i];
    if (!g.defined()) {
      RECUR_CHECK(root.numel() == 1,
                  "backward on a non-scalar {} needs an explicit gradient of that shape (only a one-element "
                  "output uses 1 implicitly)",
                  root.describe());
      g = full(root.shape(), 1.0, TensorOptions{}.with_dtype(root.dtype()).with_device(root.device()));
    }
    check_gradient(g, root.shape(), root.dtype(), root.device(), "the gradient passed to backward");
    if (root.grad_fn()) {
      Node* node = root.grad_fn().get();
      auto& buffer = buffers[node];
      buffer.resize(node->outputs().size());
      buffer[root.impl().output_nr] = accumulate(buffer[root.impl().output_nr], g);
      root_nodes.push_back(node);
    } else if (captures) {
      capture_leaf(root.impl_ptr().get(), g);
    } else {
      accumulate_leaf(root.impl(), g);
    }
  }

  // 1. Discover and count consumers.
  std::vector<Node*> order;  // every reachable node
  {
    std::unordered_set<Node*> seen;
    std::vector<Node*> stack;
    for (Node* node : root_nodes) {
      if (seen.insert(node).second) stack.push_back(node);
    }
    while (!stack.empty()) {
      Node* node = stack.back();
      stack.pop_back();
      order.push_back(node);
      for (const Edge& edge : node->inputs()) {
        if (!edge.node) continue;
        ++dependencies[edge.node.get()];
        if (seen.insert(edge.node.get()).second) stack.push_back(edge.node.get());
      }
    }
  }
  for (Node* node : root_nodes) {
    if (dependencies[node] == 0 && std::find(ready.begin(), ready.end(), node) == ready.end()) ready.push_back(node);
  }

  // Captures of non-leaf tensors: (node, output) -> capture index.
  auto capture_node_output = [&](Node* node, const std::vector<Tensor>& grads) {
    for (size_t i = 0; i < captured.size(); ++i) {
      const Tensor& target = (*captures)[i];
      if (target.grad_fn().get() == node && grads[target.impl().output_nr].defined()) {
        captured[i] = accumulate(captured[i], grads[target.impl().output_nr]);
      }
    }
  };

  // 2. Kahn's walk.
  while (!ready.empty()) {
    Node* node = ready.back();
    ready.pop_back();
    std::vector<Tensor> grads = std::move(buffers[node]);
    buffers.erase(node);
    grads.resize(node->outputs().size());
    bool any = false;
    for (const Tensor& g : grads) any = any || g.defined();
    if (captures) capture_node_output(node, grads);
    std::vector<Tensor> input_grads;
    if (any) {
      for (size_t k = 0; k < grads.size(); ++k) {
        const OutputMeta& meta = node->outputs()[k];
        if (!grads[k].defined()) {
          grads[k] = zeros(meta.shape, TensorOptions{}.with_dtype(meta.dtype).with_device(meta.device));
        }
      }
      input_grads = node->apply(grads);
      RECUR_CHECK(input_grads.size() == node->inputs().size(), "backward of '{}' returned {} gradients for {} inputs",
                  node->name(), input_grads.size(), node->inputs().size());
    }
    for (size_t k = 0; k < node->inputs().size(); ++k) {
      const Edge& edge = node->inputs()[k];
      const bool has = any && input_grads[k].defined();
      if (edge.node) {
        Node* next = edge.node.get();
        if (has) {
          const OutputMeta& meta = next->outputs()[edge.output_nr];
          check_gradient(input_grads[k], meta.shape, meta.dtype, meta.device,
                         fmt::format("backward of '{}' (input {})", node->name(), k));
          auto& buffer = buffers[next];
          buffer.resize(next->outputs().size());
          buffer[edge.output_nr] = accumulate(buffer[edge.output_nr], input_grads[k]);
        }
        if (--dependencies[next] == 0) ready.push_back(next);
      } else if (edge.leaf && has) {
        if (captures) {
          capture_leaf(edge.leaf.get(), input_grads[k]);
        } else {
          accumulate_leaf(*edge.leaf, input_grads[k]);
        }
      }
    }
  }

  // 3. Free the graph.
  if (!retain_graph) {
    for (Node* node : order) node->release();
  }
  return captured;
}

}  // namespace

void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots, bool retain_graph) {
  run_backward(roots, grad_roots, retain_graph, nullptr);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph) {
  for (const Tensor& input : inputs) {
    RECUR_CHECK(input.defined() && input.requires_grad(), "autograd::grad: input {} does not require grad",
                input.defined() ? input.describe() : "undefined");
  }
  std::vector<Tensor> grads = grad_outputs;
  grads.resize(outputs.size());
  return run_backward(outputs, grads, retain_graph, &inputs);
}

}  // namespace recur::autograd
