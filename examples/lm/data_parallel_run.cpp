#include "examples/lm/data_parallel_run.h"

#include <fmt/format.h>

#include <cstring>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/error.h"

namespace recur::lm {

namespace {

// Every rank's tensor (its share of the batch axis, 1), joined along that axis.
Tensor gather_batch_axis(distributed::ProcessGroup& group, const Tensor& local, Device device) {
  const Tensor host = local.detach().to(Device::cpu()).contiguous();
  const std::string mine(static_cast<const char*>(host.raw_data()), host.nbytes());
  const std::vector<std::string> parts = group.all_gather(mine);
  const int64_t row = host.shape()[0], width = host.shape()[2];
  std::vector<Tensor> pieces;
  for (size_t r = 0; r < parts.size(); ++r) {
    const auto bytes_per_stream = static_cast<int64_t>(dtype_size(host.dtype())) * row * width;
    RECUR_CHECK(static_cast<int64_t>(parts[r].size()) % bytes_per_stream == 0,
                "rank {}'s carried state has {} bytes, not a whole number of streams of {} bytes", r, parts[r].size(),
                bytes_per_stream);
    Tensor piece = empty({row, static_cast<int64_t>(parts[r].size()) / bytes_per_stream, width},
                         TensorOptions{}.with_dtype(host.dtype()));
    std::memcpy(piece.raw_data(), parts[r].data(), parts[r].size());
    pieces.push_back(piece);
  }
  NoGradGuard no_grad;
  return concat(pieces, 1).to(device);
}

}  // namespace

StreamShare stream_share(int64_t streams, int rank, int size) {
  RECUR_CHECK(size >= 1 && rank >= 0 && rank < size, "rank {} of {}", rank, size);
  const int64_t first = streams * rank / size, end = streams * (rank + 1) / size;
  return {first, end - first};
}

void check_batch_divides(int64_t batch, int size) {
  RECUR_CHECK(batch % size == 0,
              "--batch {} is the global batch, which the {} processes must share equally: give a multiple of {} "
              "(each process takes --batch / {} streams)",
              batch, size, size, size);
}

void check_same_threads(distributed::ProcessGroup& group, int threads) {
  const std::vector<std::string> counts = group.all_gather(std::to_string(threads));
  for (size_t r = 1; r < counts.size(); ++r) {
    RECUR_CHECK(counts[r] == counts[0],
                "every process must compute with the same thread count: rank 0 has {}, rank {} has {} (give the same "
                "--threads to all, or the same OMP_NUM_THREADS on every host)",
                counts[0], r, counts[r]);
  }
}

Device rank_device(Device requested, const std::string& name, const distributed::ProcessGroup& group) {
  if (!requested.is_cuda() || group.size() == 1 || name != "cuda") return requested;
  return Device::cuda(group.local_rank());
}

nn::RNNState gather_carry(distributed::ProcessGroup& group, const nn::RNNState& local, Device device) {
  nn::RNNState global;
  if (local.h.defined()) global.h = gather_batch_axis(group, local.h, device);
  if (local.c.defined()) global.c = gather_batch_axis(group, local.c, device);
  return global;
}

nn::RNNState local_carry(const nn::RNNState& global, StreamShare share) {
  nn::RNNState local;
  if (global.h.defined()) local.h = global.h.narrow(1, share.first, share.count).contiguous();
  if (global.c.defined()) local.c = global.c.narrow(1, share.first, share.count).contiguous();
  return local;
}

}  // namespace recur::lm
