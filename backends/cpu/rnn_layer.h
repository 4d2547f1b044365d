// The fused CPU recurrent layer: one layer, one direction, all time steps, forward and a
// hand-written backward (the fast path of recur::nn::RNN; nn/rnn_cell_math.h has the reference
// cell graph and the equations).
//
// T = time steps, B = batch, I = input size, H = hidden size, P = projection size (0 = none),
// R = recurrent size (P when projecting, else H), G = gates (4 LSTM, 3 GRU, 1 RNN).
//
// Forward, per layer and direction:
//   1. XG = X W_ih^T + biases             one GEMM over all T*B rows       [T, B, G*H]
//   2. for each step: HG = h_{t-1} W_hh^T  one GEMM of B rows                [B, G*H]
//      then one fused pass applies the gate equations, writes the activated gates, c_t, h_t.
//      A projecting LSTM adds h_t = (o * tanh c_t) W_hr^T, one more GEMM of B rows.
// Backward, walking the steps in reverse: one fused pass gives the gate gradients dG, and one
// GEMM of B rows gives dh_{t-1} = dG W_hh. After the walk the weight gradients are single large
// GEMMs over all T*B rows: dW_ih = dG^T X, dW_hh = dG^T H_prev, dX = dG W_ih.
//
// Threads: with more than one thread (float32 GEMMs on oneDNN, no projection), the step loops run
// on one thread team for the whole sequence. Each thread owns a slice of the hidden units (of
// every gate): per step it computes its columns of the recurrent GEMM, single-threaded (in
// float32 one GEMM over its rows of W_hh, gathered into one dense matrix once per call), and its
// units' gate equations. The next step reads all of h_t, but the team never meets at a barrier:
// each thread publishes the step it has finished, and the next step's GEMM is split along K by
// the units' owners, the thread's own units first, waiting for another thread only before that
// thread's slice (backward: its units' gate gradients, then its columns of dh_{t-1}, split the
// same way). Otherwise each step's GEMM uses the threads on its own and the gate pass runs
// between them.
//
// Weight gradients: on oneDNN in float32, dG is transposed once per call into dG^T, so that
// dW_ih and dW_hh are products with an untransposed A (twice the speed on AVX2).
//
// bfloat16 GEMM operands (CpuGemmPrecision::BFloat16, backends/settings.h): every float32 GEMM
// here rounds its operands to bfloat16 and accumulates in float32, the team's per-thread GEMMs
// included; the weights the steps read (W_hh, W_hr) are rounded once per call, and in the team
// h_{t-1} once per step and thread. The gate equations and the states stay float32.
//
// Variable lengths: a sequence b is active at time t when t < lengths[b]. An inactive row keeps
// its state (so the reverse direction starts at each sequence's own last step), outputs zero,
// and passes its state gradient through unchanged.
//
// All buffers are allocated by the caller once per call (nothing per step).
#pragma once

#include <cstdint>

namespace recur::cpu {

enum class RnnCellKind : uint8_t { LSTM, GRU, RNN_TANH, RNN_RELU };

struct RnnLayerShape {
  RnnCellKind kind = RnnCellKind::LSTM;
  int64_t steps = 0;                 // T
  int64_t batch = 0;                 // B
  int64_t input_size = 0;            // I
  int64_t hidden_size = 0;           // H
  int64_t proj_size = 0;             // P (LSTM only), 0 = none
  bool reverse = false;              // walk t = T-1 .. 0
  bool skip_input = false;           // XG = X repeated per gate instead of X W_ih^T (I == H)
  double forget_bias = 0.0;          // LSTM
  double cell_clip = 0.0;            // LSTM, 0 = none
  const int64_t* lengths = nullptr;  // [B] or null (all T)

  int64_t gates() const { return kind == RnnCellKind::LSTM ? 4 : kind == RnnCellKind::GRU ? 3 : 1; }
  int64_t recurrent_size() const { return proj_size > 0 ? proj_size : hidden_size; }
};

// Pointers of one layer's weights (row-major, canonical layout); biases may be null.
template <typename T> struct RnnLayerWeights {
  const T* weight_ih = nullptr;  // [G*H, I], null with skip_input
  const T* weight_hh = nullptr;  // [G*H, R]
  const T* bias_ih = nullptr;    // [G*H]
  const T* bias_hh = nullptr;    // [G*H]
  const T* weight_hr = nullptr;  // [P, H]
  // Optional transposed copies ([I, G*H], [R, G*H], [H, P]): when given, forward's GEMMs read
  // these without a transpose flag (some GEMM providers are much faster that way).
  const T* weight_ih_t = nullptr;
  const T* weight_hh_t = nullptr;
  const T* weight_hr_t = nullptr;
};

template <typename T> struct RnnLayerGrads {
  T* weight_ih = nullptr;
  T* weight_hh = nullptr;
  T* bias_ih = nullptr;
  T* bias_hh = nullptr;
  T* weight_hr = nullptr;
};

// What forward saves for backward, and what it returns. Sizes in elements:
//   gates  [T, B, G*H]  activated gates (LSTM i, f, g, o; GRU r, z, n; RNN h)
//   hidden [T, B, R]    h after each time step (inactive rows carry the previous state)
//   cell   [T, B, H]    LSTM c after each time step
//   extra  [T, B, H]    LSTM with projection: o * tanh(c) before the projection;
//                       GRU: R_n h_{t-1} + b_Rn (needed for dr)
// output [T, B, R]: h_t, zero where inactive (may alias hidden when lengths is null).
template <typename T> struct RnnLayerBuffers {
  T* gates = nullptr;
  T* hidden = nullptr;
  T* cell = nullptr;
  T* extra = nullptr;
  T* step = nullptr;  // [B, G*H] scratch for the per-step recurrent GEMM (GRU)
};

// Sizes of the buffers forward needs (elements).
struct RnnLayerSizes {
  int64_t gates, hidden, cell, extra, step;
};
RnnLayerSizes rnn_layer_sizes(const RnnLayerShape& shape);

template <typename T> void rnn_layer_forward(T* output, T* h_n, T* c_n, RnnLayerBuffers<T> buffers, const T* x,
                                             const T* h0, const T* c0, const RnnLayerWeights<T>& weights,
                                             const RnnLayerShape& shape);

// Workspace for backward: dgates [T, B, G*H], dgates_h [T, B, G*H] (GRU only, else null),
// dproj [T, B, P] (projection only), dh [B, R], dc [B, H], dr [B, H].
struct RnnBackwardSizes {
  int64_t dgates, dgates_h, dproj, dh, dc, dr;
};
RnnBackwardSizes rnn_backward_sizes(const RnnLayerShape& shape);

template <typename T> struct RnnBackwardWork {
  T* dgates = nullptr;
  T* dgates_h = nullptr;
  T* dproj = nullptr;
  T* dh = nullptr;
  T* dc = nullptr;
  T* dr = nullptr;
};

// Given dy [T, B, R] (may be null), dh_n [B, R] and dc_n [B, H] (may be null): writes dx
// [T, B, I] (may be null), dh0 [B, R], dc0 [B, H] (LSTM) and accumulates (+=) into the weight
// gradients that are not null.
template <typename T> void rnn_layer_backward(T* dx, T* dh0, T* dc0, const RnnLayerGrads<T>& grads,
                                              RnnBackwardWork<T> work, const T* dy, const T* dh_n, const T* dc_n,
                                              const RnnLayerBuffers<T>& saved, const T* x, const T* h0, const T* c0,
                                              const RnnLayerWeights<T>& weights, const RnnLayerShape& shape);

}  // namespace recur::cpu
