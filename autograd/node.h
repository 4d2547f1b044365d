// The autograd graph: a Node per recorded operation, with an Edge per input saying where that
// input's gradient goes (another node's output, or a leaf tensor's .grad).
//
// Each op's backward is written next to its forward (autograd/ops.cpp) as a closure passed to
// record(). Closures capture detached tensors only, so the graph has no cycles; nodes are
// released iteratively (an unrolled RNN builds chains tens of thousands of nodes deep).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace recur::autograd {

class Node;

struct Edge {
  std::shared_ptr<Node> node;        // the producer of this input, or null for a leaf
  uint32_t output_nr = 0;            // which output of node
  std::shared_ptr<TensorImpl> leaf;  // a leaf that requires grad: its .grad accumulates
  bool active() const { return node != nullptr || leaf != nullptr; }
};

// grads of the node's outputs (an undefined Tensor means zero) -> one gradient per input
// (undefined when that input gets none).
using BackwardFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& grad_outputs)>;

struct OutputMeta {
  Shape shape;
  DType dtype;
  Device device;
};

class Node {
 public:
  Node(std::string name, std::vector<Edge> inputs, std::vector<OutputMeta> outputs, BackwardFn backward)
      : name_(std::move(name)),
        inputs_(std::move(inputs)),
        outputs_(std::move(outputs)),
        backward_(std::move(backward)) {}
  ~Node();  // iterative: never recurses down the chain of inputs
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const std::string& name() const { return name_; }
  const std::vector<Edge>& inputs() const { return inputs_; }
  const std::vector<OutputMeta>& outputs() const { return outputs_; }
  bool released() const { return !backward_; }
  // Runs the closure; throws recur::Error when the graph was already freed.
  std::vector<Tensor> apply(const std::vector<Tensor>& grad_outputs);
  // Frees what the closure saved (after backward without retain_graph).
  void release() { backward_ = nullptr; }

 private:
  std::string name_;
  std::vector<Edge> inputs_;
  std::vector<OutputMeta> outputs_;
  BackwardFn backward_;
};

// Whether any of these tensors needs a graph recorded (grad mode on and requires_grad).
bool needs_grad(std::initializer_list<const Tensor*> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Records `outputs` as produced from `inputs` by an op whose backward is `backward`: when
// grad mode is on and any input requires grad, makes a Node, points each output's grad_fn at
// it and marks the outputs requires_grad. Returns the outputs.
std::vector<Tensor> record(const std::string& name, const std::vector<Tensor>& inputs, std::vector<Tensor> outputs,
                           BackwardFn backward);
// The one-output case.
Tensor record(const std::string& name, const std::vector<Tensor>& inputs, Tensor output, BackwardFn backward);

// Back-propagates from roots with the given upstream gradients (Kahn's order, explicit
// stack, no recursion). Leaves accumulate into .grad; the graph is freed unless retain_graph.
void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots, bool retain_graph = false);

// Gradients of outputs with respect to inputs, without touching any .grad (like
// torch.autograd.grad).
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph = false);

}  // namespace recur::autograd
