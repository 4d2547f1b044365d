// nn/: modules, layers, losses, initializers and checkpoints.
namespace recur::nn {}
