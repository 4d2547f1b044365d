#include "nn/rnn_init.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "nn/init.h"

namespace recur::nn {
namespace {

// Row block k of a contiguous matrix, as a raw view.
Tensor row_block(const Tensor& w, int64_t k, int64_t rows) {
  const Shape shape{rows, w.size(1)};
  return w.as_strided_raw(shape, contiguous_strides(shape), w.offset() + k * rows * w.size(1));
}

}  // namespace

void init_rnn_tensorflow_(RNN& rnn, Generator* generator) {
  NoGradGuard no_grad;
  const RNNOptions& o = rnn.options();
  const int64_t hidden = o.hidden_size;
  for (int64_t layer = 0; layer < o.num_layers; ++layer) {
    for (int64_t direction = 0; direction < o.num_directions(); ++direction) {
      const CellWeights w = rnn.layer_weights(layer, direction);
      for (const Tensor& matrix : {w.weight_ih, w.weight_hh}) {
        if (!matrix.defined()) continue;
        for (int64_t k = 0; k < o.gates(); ++k) {
          Tensor block = row_block(matrix, k, hidden);
          init::xavier_uniform_(block, 1.0, generator);
        }
      }
      if (w.weight_hr.defined()) {
        Tensor projection = w.weight_hr.detach();
        init::xavier_uniform_(projection, 1.0, generator);
      }
      if (w.weight_peephole.defined()) {
        Tensor peephole = w.weight_peephole.detach();
        const double a = std::sqrt(3.0 / static_cast<double>(hidden));
        init::uniform_(peephole, -a, a, generator);
      }
      for (const Tensor& bias : {w.bias_ih, w.bias_hh}) {
        if (!bias.defined()) continue;
        Tensor b = bias.detach();
        init::zeros_(b);
      }
    }
  }
}

}  // namespace recur::nn
