// optim/: optimizers, gradient clipping and learning-rate schedules.
namespace recur::optim {}
