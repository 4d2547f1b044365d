// Dropout masks under data parallelism (nn/data_parallel.h). A rank that holds streams
// [first, first + b) of a global batch of B draws the mask of the whole batch from the
// generator (Philox: element i is block first_block + i / 4 of the stream) and keeps its own
// slice along the batch axis, so N ranks drop exactly what one process with batch B drops, and
// every rank's generator advances alike (a checkpoint's random streams do not depend on N).
// The cost: each rank draws B / b times the numbers it uses.
//
// The shard is per thread, set by a guard around a rank's forward pass; dropout(x) of
// x [D0, b, ...] (the batch on axis 1, sequence-first) then uses it. Without a guard, dropout
// draws x's own shape.
#pragma once

#include <cstdint>

namespace recur {

struct DropoutShard {
  int64_t first = 0;   // this rank's first stream
  int64_t global = 0;  // the whole batch B; 0: no shard
};

// The shard in force on this thread.
DropoutShard dropout_shard();

class DropoutShardGuard {
 public:
  explicit DropoutShardGuard(DropoutShard shard);
  ~DropoutShardGuard();
  DropoutShardGuard(const DropoutShardGuard&) = delete;
  DropoutShardGuard& operator=(const DropoutShardGuard&) = delete;

 private:
  DropoutShard previous_;
};

}  // namespace recur
