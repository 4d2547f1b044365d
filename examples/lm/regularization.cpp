#include "examples/lm/regularization.h"

#include "autograd/dropout_shard.h"
#include "autograd/ops.h"
#include "backends/compute.h"
#include "core/error.h"

namespace recur::lm {

Tensor dropout_mask(const Shape& shape, const Tensor& like, double p, Generator& generator) {
  return compute::dropout_mask(shape, like.dtype(), like.device(), 1.0 - p, generator);
}

Tensor locked_dropout_mask(int64_t batch, int64_t features, const Tensor& like, double p, Generator& generator) {
  const DropoutShard shard = dropout_shard();
  if (shard.global <= 0) return dropout_mask({1, batch, features}, like, p, generator);
  RECUR_CHECK(shard.first >= 0 && shard.first + batch <= shard.global,
              "locked dropout of streams [{}, {}) outside the global batch of {}", shard.first, shard.first + batch,
              shard.global);
  const Tensor global = dropout_mask({1, shard.global, features}, like, p, generator);
  return compute::contiguous(global.narrow(1, shard.first, batch));
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
