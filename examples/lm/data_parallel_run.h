// The data-parallel side of `recur train` (docs/DISTRIBUTED.md): `mpirun -np N recur train`
// trains one model on N processes. --batch is the global batch B of the char-rnn layout
// (examples/lm/data.h); rank r takes the contiguous streams [r B / N, (r + 1) B / N), so the N
// ranks compute what one process computes with B streams. What each rank needs beyond
// nn::DataParallel: its share of the streams, the checks that every rank runs, and the carried
// state, which a checkpoint holds for all B streams whatever N is.
#pragma once

#include <cstdint>

#include "backends/distributed.h"
#include "core/device.h"
#include "nn/rnn.h"

namespace recur::lm {

// Streams [first, first + count).
struct StreamShare {
  int64_t first = 0;
  int64_t count = 0;
};
// Rank r's contiguous share of `streams`: [floor(r S / N), floor((r + 1) S / N)); equal shares
// when N divides S (training), a few more or fewer otherwise (evaluation; a share may be empty).
StreamShare stream_share(int64_t streams, int rank, int size);

// recur::Error on every rank unless N divides --batch.
void check_batch_divides(int64_t batch, int size);
// recur::Error on every rank unless every rank computes with the same thread count, naming the
// ranks that differ (the losses would otherwise differ from rank to rank in the last bits).
void check_same_threads(distributed::ProcessGroup& group, int threads);
// The device of this rank: `requested`, except that `--device cuda` in a group of N > 1 takes
// the rank's node-local GPU (cuda:local_rank).
Device rank_device(Device requested, const std::string& name, const distributed::ProcessGroup& group);

// The carried state of all B streams, on every rank (collective): each rank's [L, B / N, R] in
// rank order along the batch axis, on `device`. Undefined tensors stay undefined.
nn::RNNState gather_carry(distributed::ProcessGroup& group, const nn::RNNState& local, Device device);
// This rank's streams of a state of all B streams.
nn::RNNState local_carry(const nn::RNNState& global, StreamShare share);

}  // namespace recur::lm
