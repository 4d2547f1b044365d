#include "examples/lm/regularization.h"

#include "autograd/ops.h"
#include "backends/compute.h"

namespace recur::lm {

Tensor dropout_mask(const Shape& shape, const Tensor& like, double p, Generator& generator) {
  return compute::dropout_mask(shape, like.dtype(), like.device(), 1.0 - p, generator);
}

Tensor locked_dropout_mask(int64_t batch, int64_t features, const Tensor& like, double p, Generator& generator) {
  return reshape(nn::batch_dropout_mask(batch, features, 1.0 - p, like.dtype(), like.device(), generator),
                 {1, batch, features});
}

Tensor activation_penalty(const Tensor& dropped, const Tensor& undropped, double alpha, double beta) {
  Tensor penalty;
  if (alpha > 0.0) penalty = mean(dropped * dropped) * alpha;
  const int64_t steps = undropped.size(0);
  if (beta > 0.0 && steps > 1) {
    const Tensor change = narrow(undropped, 0, 1, steps - 1) - narrow(undropped, 0, 0, steps - 1);
    const Tensor temporal = mean(change * change) * beta;
    penalty = penalty.defined() ? penalty + temporal : temporal;
  }
  return penalty;
}

}  // namespace recur::lm
