// cuDNN's RNN behind the backend interface (backends/rnn.h): CudaBackend::rnn() of each device
// is one CudnnRnn, which keeps that device's plan cache (descriptors and device sequence
// lengths per shape). What cuDNN cannot run (peepholes, proj_clip, cell_clip, a ReLU LSTM
// activation, the reset-before-linear GRU, a GRU with skip input where cuDNN gives layer 0 no
// input bias) is reported by supports(); nn then runs the cell graph on the GPU. forget_bias is
// folded into the forget gate's input bias of a packed copy of the weights.
#pragma once

#include <memory>

#include "backends/cuda/cudnn_descriptors.h"
#include "backends/rnn.h"

namespace recur::cuda {

std::unique_ptr<RnnKernels> make_cudnn_rnn(int device_index);

// The cuDNN RNN descriptor of `desc` (the cell, sizes, layers, directions, input mode, biases,
// data and math types: float32 runs exact FMA math unless allow_tf32, float16/bfloat16 use
// tensor cores with float32 accumulation), with `dropout` between layers and padded I/O. The
// backend and bench/bench_cudnn_baseline.cpp both build theirs with it.
void set_rnn_descriptor(RnnDescriptor& rnn, DropoutDescriptor& dropout, const RnnDesc& desc, bool allow_tf32);

}  // namespace recur::cuda
