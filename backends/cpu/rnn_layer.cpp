// The fused CPU recurrent layer (see rnn_layer.h for the plan and the buffer layouts; the gate
// equations are in nn/rnn_cell_math.h).
#include "backends/cpu/rnn_layer.h"

#include <omp.h>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>
#include <type_traits>
#include <vector>

#include "backends/cpu/gemm.h"
#include "backends/cpu/math.h"
#include "backends/settings.h"
#include "backends/threading.h"

namespace recur::cpu {

namespace {

// ---- elementwise functions ----------------------------------------------------------------
// float: exp_fast (cpu/math.h), which the compiler vectorises; double: the C library's, for
// float64's 1e-10 agreement.
inline float sigmoid_of(float x) { return 1.0f / (1.0f + exp_fast(-x)); }
inline double sigmoid_of(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline float tanh_of(float x) { return 2.0f / (1.0f + exp_fast(-2.0f * x)) - 1.0f; }
inline double tanh_of(double x) { return std::tanh(x); }

// ---- GEMM on raw row-major pointers ----------------------------------------------------------
// A weight matrix that GEMMs read: its values and, where the CPU's GEMMs take bfloat16 operands
// and every step reads it, the same rounded to bfloat16 (StepWeights), else null.
template <typename T> struct Weight {
  const T* values = nullptr;
  const uint16_t* rounded = nullptr;
  // The matrix from element `offset` on (a slice of columns or rows).
  Weight at(int64_t offset) const { return {values + offset, rounded != nullptr ? rounded + offset : nullptr}; }
};

// C[m, n] = op(A) op(W) + beta C, reading W's bfloat16 copy when it has one.
template <typename T> void gemm_weight(Transpose trans_a, Transpose trans_w, int64_t m, int64_t n, int64_t k,
                                       const T* a, int64_t lda, Weight<T> weight, int64_t ldw, T beta, T* c,
                                       int64_t ldc) {
  if constexpr (std::is_same_v<T, float>) {
    if (weight.rounded != nullptr) {
      return gemm_raw_rounded_b(trans_a, trans_w, m, n, k, 1.0f, a, lda, weight.rounded, ldw, beta, c, ldc);
    }
  }
  gemm_raw<T>(trans_a, trans_w, m, n, k, T(1), a, lda, weight.values, ldw, beta, c, ldc);
}

// C[m, n] += A[m, k] op(W) with A also given rounded to bfloat16 (`a_rounded`, dense, or null),
// which a GEMM that reads W's bfloat16 copy takes instead of rounding A again.
template <typename T> void gemm_add_rounded_a(Transpose trans_w, int64_t m, int64_t n, int64_t k, const T* a,
                                              const uint16_t* a_rounded, Weight<T> weight, int64_t ldw, T* c,
                                              int64_t ldc) {
  if constexpr (std::is_same_v<T, float>) {
    if (weight.rounded != nullptr && a_rounded != nullptr) {
      return gemm_raw_rounded(Transpose::No, trans_w, m, n, k, 1.0f, a_rounded, k, weight.rounded, ldw, 1.0f, c, ldc);
    }
  }
  gemm_weight<T>(Transpose::No, trans_w, m, n, k, a, k, weight, ldw, T(1), c, ldc);
}

// C[m, n] = A[m, k] W^T + beta C for a weight W [n, k], reading W^T [k, n] when it is given.
template <typename T> void gemm_bt(int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, Weight<T> weight,
                                   Weight<T> weight_t, T beta, T* c, int64_t ldc) {
  if (weight_t.values != nullptr) {
    gemm_weight<T>(Transpose::No, Transpose::No, m, n, k, a, lda, weight_t, n, beta, c, ldc);
  } else {
    gemm_weight<T>(Transpose::No, Transpose::Yes, m, n, k, a, lda, weight, k, beta, c, ldc);
  }
}

// The weights that every step reads: W_hh and W_hr, and for the forward pass their transposes
// when given. With bfloat16 GEMM operands (float32 layers) they are rounded once per call here,
// not once per step.
enum class Pass : uint8_t { Forward, Backward };
template <typename T> class StepWeights {
 public:
  StepWeights(const RnnLayerWeights<T>& w, const RnnLayerShape& s, Pass pass)
      : hh{w.weight_hh}, hh_t{w.weight_hh_t}, hr{w.weight_hr}, hr_t{w.weight_hr_t} {
    if (pass == Pass::Backward) hh_t = {}, hr_t = {};  // backward reads W_hh and W_hr untransposed
    if constexpr (std::is_same_v<T, float>) {
      if (cpu_gemm_precision() != CpuGemmPrecision::BFloat16) return;
      const int64_t recurrent = s.gates() * s.hidden_size * s.recurrent_size(),
                    projection = s.proj_size * s.hidden_size;
      Weight<T>* all[] = {&hh, &hh_t, &hr, &hr_t};
      const int64_t sizes[] = {recurrent, recurrent, projection, projection};
      int64_t total = 0;
      for (int i = 0; i < 4; ++i) total += all[i]->values != nullptr ? sizes[i] : 0;
      rounded_.resize(static_cast<size_t>(total));
      uint16_t* next = rounded_.data();
      for (int i = 0; i < 4; ++i) {
        if (all[i]->values == nullptr) continue;
        round_to_bfloat16(next, all[i]->values, 1, sizes[i], sizes[i]);
        all[i]->rounded = next;
        next += sizes[i];
      }
    }
  }
  StepWeights(const StepWeights&) = delete;
  StepWeights& operator=(const StepWeights&) = delete;

  Weight<T> hh, hh_t, hr, hr_t;  // [G*H, R], [R, G*H], [P, H], [H, P]

 private:
  std::vector<uint16_t> rounded_;
};

// clamp(x, -limit, limit) as selects; limit = infinity disables it (NaN passes through).
template <typename T> inline T clip_to(T x, T limit) {
  x = x < -limit ? -limit : x;
  return x > limit ? limit : x;
}

template <typename T> T clip_limit(double clip) {
  return clip > 0.0 ? static_cast<T>(clip) : std::numeric_limits<T>::infinity();
}

bool active(const RnnLayerShape& s, int64_t t, int64_t b) { return s.lengths == nullptr || t < s.lengths[b]; }

// The time index that step `step` of the forward walk reads: `step` itself, or steps - 1 - step
// for the reverse direction. The backward pass visits the same steps from the last one down.
int64_t time_of(const RnnLayerShape& s, int64_t step) { return s.reverse ? s.steps - 1 - step : step; }

// out[j] += sum_r m[r, j]; the threads take blocks of columns, and each column adds its rows in
// order, so the sums do not depend on the thread count.
template <typename T> void column_sums_into(T* out, const T* m, int64_t rows, int64_t cols) {
  constexpr int64_t block = 128;
#pragma omp parallel for if (rows * cols >= 65536)
  for (int64_t j0 = 0; j0 < cols; j0 += block) {
    const int64_t j1 = std::min(cols, j0 + block);
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = m + r * cols;
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j) out[j] += row[j];
    }
  }
}

// dG, the gate gradients [rows, G*H], as the A operand of a weight gradient dW = dG^T X: either
// read transposed where it is, or from a copy stored transposed, [G*H, rows] with leading
// dimension `ld`. oneDNN's AVX2 sgemm computes A^T B at half the speed of the same product with
// A stored transposed (1024x256x2048: 64-80 against 140-180 GFLOP/s on 2 threads, bench_gemm
// BM_WeightGradient), so on oneDNN in float32 the backward transposes dG once and its weight
// gradients read the copy.
template <typename T> struct GateGradients {
  const T* data = nullptr;
  int64_t ld = 0;
  bool stored_transposed = false;
  Transpose trans() const { return stored_transposed ? Transpose::No : Transpose::Yes; }
  const T* from_row(int64_t r) const { return stored_transposed ? data + r : data + r * ld; }  // rows r.. of dG
};

// out[j, r] = in[r, j] for in [rows, cols] (dense) and out [cols, rows] with leading dimension
// ldo, over rows [r0, r1) and columns [c0, c1).
template <typename T>
void transpose_block(T* out, int64_t ldo, const T* in, int64_t cols, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  for (int64_t c = c0; c < c1; ++c) {
    for (int64_t r = r0; r < r1; ++r) out[c * ldo + r] = in[r * cols + c];
  }
}

#if defined(__AVX2__)
// One 8 x 8 block of floats: out[j, i] = in[i, j], in 24 register shuffles.
inline void transpose_8x8(float* out, int64_t ldo, const float* in, int64_t ldi) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(in + i * ldi);
  for (int i = 0; i < 8; i += 2) {  // interleave row pairs: (r0 r1), (r2 r3), ...
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {  // gather 4-row columns within each 128-bit half
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {  // join the halves of rows 0-3 and 4-7
    _mm256_storeu_ps(out + i * ldo, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
    _mm256_storeu_ps(out + (i + 4) * ldo, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
  }
}
#endif

// out[j, r] = in[r, j] for in [rows, cols] (dense) and out [cols, rows] with leading dimension
// ldo. The threads take blocks of 16 columns (one cache line of each input row, 16 output rows),
// walked down the rows 8 at a time; with AVX2 as 8 x 8 register transposes.
template <typename T> void transpose_into(T* out, int64_t ldo, const T* in, int64_t rows, int64_t cols) {
  constexpr int64_t block = 16;
  const int64_t rows8 = rows / 8 * 8;
#pragma omp parallel for if (rows * cols >= 65536)
  for (int64_t c0 = 0; c0 < cols; c0 += block) {
    const int64_t c1 = std::min(cols, c0 + block);
    int64_t done = c0;  // columns [c0, done) of rows [0, rows8) taken by the 8 x 8 blocks
#if defined(__AVX2__)
    if constexpr (std::is_same_v<T, float>) {
      done = c0 + (c1 - c0) / 8 * 8;
      for (int64_t r0 = 0; r0 < rows8; r0 += 8) {
        for (int64_t c = c0; c < done; c += 8) transpose_8x8(out + c * ldo + r0, ldo, in + r0 * cols + c, cols);
      }
    }
#endif
    transpose_block(out, ldo, in, cols, 0, rows8, done, c1);
    transpose_block(out, ldo, in, cols, rows8, rows, c0, c1);
  }
}

// dG for the weight gradients (GateGradients): transposed into `buffer` when `transpose`.
template <typename T>
GateGradients<T> gate_gradients(std::vector<T>& buffer, const T* dg, int64_t rows, int64_t cols, bool transpose) {
  if (!transpose) return {dg, cols, false};
  const int64_t ld = rows + 64 / static_cast<int64_t>(sizeof(T));  // a stride off a power of two
  if (buffer.size() < static_cast<size_t>(cols * ld)) buffer.resize(static_cast<size_t>(cols * ld));
  transpose_into(buffer.data(), ld, dg, rows, cols);
  return {buffer.data(), ld, true};
}

// ---- the LSTM equations on one batch row, hidden units [j0, j1) ------------------------------
// Forward: g holds the row's pre-activations (blocks i, f, g, o of `hidden` each) and gets the
// activated gates back; c_t = clip(f * c_{t-1} + i * g), r = o * tanh(c_t).
template <typename T> inline void lstm_forward_units(T* g, const T* cp, T* c, T* r, int64_t hidden, int64_t j0,
                                                     int64_t j1, T forget_bias, T clip) {
  T* gi = g;
  T* gf = gi + hidden;
  T* gg = gf + hidden;
  T* go = gg + hidden;
#pragma omp simd
  for (int64_t j = j0; j < j1; ++j) {
    const T i = sigmoid_of(gi[j]);
    const T f = sigmoid_of(gf[j] + forget_bias);
    const T gc = tanh_of(gg[j]);
    const T o = sigmoid_of(go[j]);
    const T cj = clip_to(f * cp[j] + i * gc, clip);
    gi[j] = i, gf[j] = f, gg[j] = gc, go[j] = o;
    c[j] = cj;
    r[j] = o * tanh_of(cj);
  }
}

// Backward: given dr = dL/dr_t and dc = dL/dc_t from the step after, writes the gate gradients d
// (blocks i, f, g, o, before the activations) and replaces dc by dL/dc_{t-1}.
template <typename T> inline void lstm_backward_units(T* d, const T* g, const T* c, const T* cp, const T* dr, T* dc,
                                                      int64_t hidden, int64_t j0, int64_t j1, T clip) {
  const T* gi = g;
  const T* gf = gi + hidden;
  const T* gg = gf + hidden;
  const T* go = gg + hidden;
#pragma omp simd
  for (int64_t j = j0; j < j1; ++j) {
    const T i = gi[j], f = gf[j], gc = gg[j], o = go[j];
    const T tc = tanh_of(c[j]);
    // c_t feeds h_t = o * tanh(c_t) and c_{t+1} (through dc); a clipped c_t passes nothing
    const T through = dc[j] + dr[j] * o * (T(1) - tc * tc);
    const T cabs = c[j] < T(0) ? -c[j] : c[j];
    const T dct = cabs >= clip ? T(0) : through;
    d[j] = dct * gc * i * (T(1) - i);
    d[hidden + j] = dct * cp[j] * f * (T(1) - f);
    d[2 * hidden + j] = dct * i * (T(1) - gc * gc);
    d[3 * hidden + j] = dr[j] * tc * o * (T(1) - o);
    dc[j] = dct * f;
  }
}

// ---- the GRU and the plain RNN on one batch row, hidden units [j0, j1) ----------------------
// GRU forward: g holds the input side's pre-activations (r, z, n blocks), hg the recurrent side's
// h_{t-1} W_hh^T + b_hh; g gets the activated gates, hn_saved the recurrent n block (for dr).
template <typename T> inline void gru_forward_units(T* g, const T* hg, const T* hp, T* h, T* hn_saved, int64_t hidden,
                                                    int64_t j0, int64_t j1) {
  T* gr = g;
  T* gz = gr + hidden;
  T* gn = gz + hidden;
  const T* hr = hg;
  const T* hz = hr + hidden;
  const T* hn = hz + hidden;
#pragma omp simd
  for (int64_t j = j0; j < j1; ++j) {
    const T r = sigmoid_of(gr[j] + hr[j]);
    const T z = sigmoid_of(gz[j] + hz[j]);
    const T n = tanh_of(gn[j] + r * hn[j]);
    gr[j] = r, gz[j] = z, gn[j] = n;
    hn_saved[j] = hn[j];
    h[j] = (T(1) - z) * n + z * hp[j];
  }
}

// GRU backward: from dh = dL/dh_t, the input side's gate gradients dxg and the recurrent side's
// dhg (they differ in the n block by the factor r); dh becomes the part of dL/dh_{t-1} that
// does not pass through W_hh (dh * z).
template <typename T> inline void gru_backward_units(T* dxg, T* dhg, const T* g, const T* hn, const T* hp, T* dh,
                                                     int64_t hidden, int64_t j0, int64_t j1) {
  const T* gr = g;
  const T* gz = gr + hidden;
  const T* gn = gz + hidden;
#pragma omp simd
  for (int64_t j = j0; j < j1; ++j) {
    const T r = gr[j], z = gz[j], n = gn[j], d = dh[j];
    const T dn_pre = d * (T(1) - z) * (T(1) - n * n);
    const T dr_pre = dn_pre * hn[j] * r * (T(1) - r);
    const T dz_pre = d * (hp[j] - n) * z * (T(1) - z);
    dxg[j] = dr_pre, dxg[hidden + j] = dz_pre, dxg[2 * hidden + j] = dn_pre;
    dhg[j] = dr_pre, dhg[hidden + j] = dz_pre, dhg[2 * hidden + j] = dn_pre * r;
    dh[j] = d * z;
  }
}

// Plain RNN forward: h = tanh(g) or relu(g), stored in g and h.
template <typename T> inline void rnn_forward_units(T* g, T* h, int64_t j0, int64_t j1, bool relu) {
  for (int64_t j = j0; j < j1; ++j) {
    const T v = relu ? std::max(g[j], T(0)) : tanh_of(g[j]);
    g[j] = v;
    h[j] = v;
  }
}

// Plain RNN backward: d = dh * f'(h) from the saved h; dh is consumed (set to 0).
template <typename T> inline void rnn_backward_units(T* d, const T* h, T* dh, int64_t j0, int64_t j1, bool relu) {
  for (int64_t j = j0; j < j1; ++j) {
    d[j] = relu ? (h[j] > T(0) ? dh[j] : T(0)) : dh[j] * (T(1) - h[j] * h[j]);
    dh[j] = T(0);
  }
}

// ---- the steps on one persistent thread team ------------------------------------------------
// Without a projection, h_t's columns are the hidden units, so the steps split by unit: thread p
// owns units [j0, j1) of every gate. Per step it computes its columns of the recurrent GEMM
// (for each gate block k: [:, k*H + j0 : k*H + j1] += h_{t-1} W_hh[k*H + j0 : k*H + j1, :]^T)
// and the gate equations of its units. The next step's GEMM reads all of h_t, but there is no
// barrier: that GEMM is split along K by the units' owners,
//   h_{t-1} W^T = sum over threads q of h_{t-1}[:, units of q] W[:, units of q]^T,
// the thread's own slice first (it wrote those units itself), and before each other slice it
// waits for that thread's flag alone (StepFlags), so a thread that is late costs the others
// only what is left after their own slice. Backward likewise: each thread takes its units' gate
// gradients, then its columns of dh_{t-1} += dG_t W_hh[:, j0:j1], split along K (the G*H gate
// columns) by their owners.
// Every buffer a step writes is its own (slot t of gates, cell and hidden, or the thread's own
// columns of a shared one), so a thread may run one step ahead of another; the backward's copy
// of dG in owner order alternates between two buffers for that reason.
// The GEMMs inside the team run on one thread each (oneDNN does not nest parallel regions).

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Each thread's progress through the walk: the last step whose outputs it has written (-1:
// none yet). publish() releases those outputs; wait() acquires them, spinning a while and then
// yielding the core, so that a loaded machine still makes progress.
class StepFlags {
 public:
  explicit StepFlags(int threads) : flags_(static_cast<size_t>(threads)) {}
  void publish(int p, int64_t step) { flags_[p].step.store(step, std::memory_order_release); }
  // Not inlined, so that a profile shows the time spent waiting under this name.
  [[gnu::noinline]] void wait(int q, int64_t step) const {
    const std::atomic<int64_t>& flag = flags_[q].step;
    for (int spins = 0; flag.load(std::memory_order_acquire) < step; ++spins) {
      if (spins < 4000) {
        cpu_relax();
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
  struct alignas(64) Flag {  // one cache line each
    std::atomic<int64_t> step{-1};
  };
  std::vector<Flag> flags_;
};

// Whether the team runs this layer, and with how many threads (0: the per-step path).
template <typename T> int team_threads(const RnnLayerShape& s) {
  // float64 GEMMs run on OpenBLAS, whose own threads do not know about the team.
  if constexpr (!std::is_same_v<T, float>) return 0;
  if (s.proj_size > 0 || gemm_provider() != GemmProvider::OneDNN) return 0;
  const int threads = get_num_threads();
  return threads > 1 ? threads : 0;
}

struct UnitRange {
  int64_t begin = 0, end = 0;
};
// Thread p's units: chunks of whole 16-float vectors (a thread may get none).
UnitRange units_of(int64_t hidden, int threads, int p) {
  const int64_t chunk = ((hidden + threads - 1) / threads + 15) / 16 * 16;
  const int64_t begin = std::min(hidden, p * chunk);
  return {begin, std::min(hidden, begin + chunk)};
}

// `bias` (b_ih + b_hh, or null): the LSTM's and the plain RNN's biases, added with the recurrent
// GEMM's columns when XG holds X W_ih^T alone.
template <typename T> void forward_team(RnnLayerBuffers<T> buf, const T* h0, const T* c0, const RnnLayerWeights<T>& w,
                                        const StepWeights<T>& sw, const RnnLayerShape& s, int threads, const T* bias) {
  const int64_t steps = s.steps, batch = s.batch, hidden = s.hidden_size, gates = s.gates(), gh = gates * hidden;
  const bool lstm = s.kind == RnnCellKind::LSTM, gru = s.kind == RnnCellKind::GRU;
  const bool relu = s.kind == RnnCellKind::RNN_RELU;
  const T forget_bias = static_cast<T>(s.forget_bias), clip = clip_limit<T>(s.cell_clip);
  StepFlags done(threads);
#pragma omp parallel num_threads(threads)
  {
    const int team = omp_get_num_threads(), p = omp_get_thread_num();  // team <= threads
    const UnitRange u = units_of(hidden, team, p);
    const int64_t width = u.end - u.begin;
    // h_{t-1} rounded to bfloat16 once per step for the thread's G GEMMs, when W_hh is rounded.
    std::vector<uint16_t> h_rounded(sw.hh.rounded != nullptr && width > 0 ? static_cast<size_t>(batch * hidden) : 0);
    const uint16_t* h_prev_rounded = h_rounded.empty() ? nullptr : h_rounded.data();
    // In float32 the thread's rows of W_hh, gathered once per call into one dense matrix, so that
    // each step is one GEMM of N = G * width (four GEMMs of N = width over W_hh's strided columns
    // ran at about two thirds of its speed): own[r, k * width + jj] = W_hh[k * H + j0 + jj, r],
    // part = h_{t-1} own [B, G * width], then G[:, k * H + j0 + jj] += part[:, k * width + jj].
    // part is summed over the owners' slices of K, this thread's own first.
    const bool gathered = h_prev_rounded == nullptr && width > 0;
    const int64_t gw = gates * width;
    std::vector<T> own(gathered ? static_cast<size_t>(hidden * gw) : 0),
        part(gathered ? static_cast<size_t>(batch * gw) : 0);
    if (gathered) {
      for (int64_t r = 0; r < hidden; ++r) {
        for (int64_t k = 0; k < gates; ++k) {
          T* dst = own.data() + r * gw + k * width;
          const int64_t row = k * hidden + u.begin;  // W_hh's first row of the block
          if (sw.hh_t.values) {
            std::memcpy(dst, sw.hh_t.values + r * gh + row, sizeof(T) * width);
          } else {
            for (int64_t jj = 0; jj < width; ++jj) dst[jj] = sw.hh.values[(row + jj) * hidden + r];
          }
        }
      }
    }
    for (int64_t step = 0; step < steps; ++step) {
      const int64_t t = time_of(s, step), tp = s.reverse ? t + 1 : t - 1;
      const T* h_prev = step == 0 ? h0 : buf.hidden + tp * batch * hidden;
      const T* c_prev = lstm ? (step == 0 ? c0 : buf.cell + tp * batch * hidden) : nullptr;
      T* g = buf.gates + t * batch * gh;
      T* h_out = buf.hidden + t * batch * hidden;
      // The recurrent GEMM adds into G (LSTM, RNN); the GRU keeps it apart, HG = b_hh + h W_hh^T.
      T* acc = gru ? buf.step : g;
      if (width > 0 && !gathered && step > 0) {  // the GEMMs below read all of h_{t-1}
        for (int q = 0; q < team; ++q) {
          if (q != p) done.wait(q, step - 1);
        }
      }
      if constexpr (std::is_same_v<T, float>) {
        if (h_prev_rounded != nullptr) round_to_bfloat16(h_rounded.data(), h_prev, batch, hidden, hidden);
      }
      if (gathered) {
        for (int i = 0; i < team; ++i) {
          const int q = (p + i) % team;
          const UnitRange k = units_of(hidden, team, q);
          if (k.end == k.begin) continue;
          if (q != p && step > 0) done.wait(q, step - 1);
          gemm_raw<T>(Transpose::No, Transpose::No, batch, gw, k.end - k.begin, T(1), h_prev + k.begin, hidden,
                      own.data() + k.begin * gw, gw, i == 0 ? T(0) : T(1), part.data(), gw);
        }
        for (int64_t b = 0; b < batch; ++b) {
          for (int64_t k = 0; k < gates; ++k) {
            const int64_t col = k * hidden + u.begin;
            T* dst = acc + b * gh + col;
            const T* src = part.data() + b * gw + k * width;
            if (gru) {  // HG = b_hh + h W_hh^T
              const T* bias_hh = w.bias_hh ? w.bias_hh + col : nullptr;
#pragma omp simd
              for (int64_t jj = 0; jj < width; ++jj) dst[jj] = src[jj] + (bias_hh ? bias_hh[jj] : T(0));
            } else if (bias) {  // G = X W_ih^T + h W_hh^T + b_ih + b_hh
              const T* both = bias + col;
#pragma omp simd
              for (int64_t jj = 0; jj < width; ++jj) dst[jj] += src[jj] + both[jj];
            } else {
#pragma omp simd
              for (int64_t jj = 0; jj < width; ++jj) dst[jj] += src[jj];
            }
          }
        }
      }
      if (width > 0) {
        for (int64_t k = 0; k < gates && !gathered; ++k) {
          const int64_t col = k * hidden + u.begin;  // its first column of G (row of W_hh)
          if (gru) {
            for (int64_t b = 0; b < batch; ++b) {
              T* dst = acc + b * gh + col;
              if (w.bias_hh) {
                std::memcpy(dst, w.bias_hh + col, sizeof(T) * width);
              } else {
                std::memset(dst, 0, sizeof(T) * width);
              }
            }
          }
          if (sw.hh_t.values) {
            gemm_add_rounded_a<T>(Transpose::No, batch, width, hidden, h_prev, h_prev_rounded, sw.hh_t.at(col), gh,
                                  acc + col, gh);
          } else {
            gemm_add_rounded_a<T>(Transpose::Yes, batch, width, hidden, h_prev, h_prev_rounded, sw.hh.at(col * hidden),
                                  hidden, acc + col, gh);
          }
        }
        for (int64_t b = 0; b < batch; ++b) {
          const int64_t at = b * hidden;
          T* hn_saved = gru ? buf.extra + t * batch * hidden + at : nullptr;
          if (!active(s, t, b)) {
            std::memcpy(h_out + at + u.begin, h_prev + at + u.begin, sizeof(T) * width);
            if (lstm)
              std::memcpy(buf.cell + t * batch * hidden + at + u.begin, c_prev + at + u.begin, sizeof(T) * width);
            if (gru) std::memset(hn_saved + u.begin, 0, sizeof(T) * width);
            continue;
          }
          if (lstm) {
            lstm_forward_units(g + b * gh, c_prev + at, buf.cell + t * batch * hidden + at, h_out + at, hidden, u.begin,
                               u.end, forget_bias, clip);
          } else if (gru) {
            gru_forward_units(g + b * gh, acc + b * gh, h_prev + at, h_out + at, hn_saved, hidden, u.begin, u.end);
          } else {
            rnn_forward_units(g + b * gh, h_out + at, u.begin, u.end, relu);
          }
        }
      }
      done.publish(p, step);
    }
  }
}

template <typename T> void backward_team(RnnBackwardWork<T> work, const T* dy, const RnnLayerBuffers<T>& saved,
                                         const T* h0, const T* c0, const StepWeights<T>& sw, const RnnLayerShape& s,
                                         int threads) {
  const int64_t steps = s.steps, batch = s.batch, hidden = s.hidden_size, gates = s.gates(), gh = gates * hidden;
  const bool lstm = s.kind == RnnCellKind::LSTM, gru = s.kind == RnnCellKind::GRU;
  const bool relu = s.kind == RnnCellKind::RNN_RELU;
  const T clip = clip_limit<T>(s.cell_clip);
  T* dh = work.dh;
  T* dc = work.dc;
  // In float32 the recurrent side's gate gradients are copied in owner order, so that each
  // owner's slice of the GEMM's K is contiguous: thread q's block starts at column G * j0_q,
  //   ordered[b, G * j0_q + k * width_q + jj] = dG[b, k * H + j0_q + jj],
  // in two buffers that alternate by step (a thread may start the next step's copy while another
  // still reads this one's).
  const bool split = sw.hh.rounded == nullptr;
  std::vector<T> ordered(split ? static_cast<size_t>(2 * batch * gh) : 0);
  StepFlags done(threads);
#pragma omp parallel num_threads(threads)
  {
    const int team = omp_get_num_threads(), p = omp_get_thread_num();  // team <= threads
    const UnitRange u = units_of(hidden, team, p);
    const int64_t width = u.end - u.begin;
    // The thread's columns of W_hh with their rows in the same owner order, gathered once:
    // own[G * j0_q + k * width_q + jj, c] = W_hh[k * H + j0_q + jj, j0 + c].
    std::vector<T> own(split ? static_cast<size_t>(gh * width) : 0);
    for (int q = 0; q < team && split && width > 0; ++q) {
      const UnitRange k = units_of(hidden, team, q);
      for (int64_t gate = 0; gate < gates; ++gate) {
        for (int64_t jj = 0; jj < k.end - k.begin; ++jj) {
          std::memcpy(own.data() + (gates * k.begin + gate * (k.end - k.begin) + jj) * width,
                      sw.hh.values + (gate * hidden + k.begin + jj) * hidden + u.begin, sizeof(T) * width);
        }
      }
    }
    for (int64_t step = steps - 1; step >= 0; --step) {
      const int64_t n = steps - 1 - step;  // the walk's count
      T* ordered_n = split ? ordered.data() + (n % 2) * batch * gh : nullptr;
      const int64_t t = time_of(s, step), tp = s.reverse ? t + 1 : t - 1;
      const T* h_prev = step == 0 ? h0 : saved.hidden + tp * batch * hidden;
      const T* c_prev = lstm ? (step == 0 ? c0 : saved.cell + tp * batch * hidden) : nullptr;
      const T* g = saved.gates + t * batch * gh;
      T* dg = work.dgates + t * batch * gh;
      T* dgh = gru ? work.dgates_h + t * batch * gh : dg;  // the recurrent side's gate gradients
      for (int64_t b = 0; b < batch && width > 0; ++b) {
        const int64_t at = b * hidden;
        if (!active(s, t, b)) {  // no gate gradients; dh passes through
          for (int64_t k = 0; k < gates; ++k) {
            std::memset(dg + b * gh + k * hidden + u.begin, 0, sizeof(T) * width);
            if (gru) std::memset(dgh + b * gh + k * hidden + u.begin, 0, sizeof(T) * width);
          }
          continue;
        }
        T* dhb = dh + at;
        if (dy) {
          const T* dyb = dy + (t * batch + b) * hidden;
          for (int64_t j = u.begin; j < u.end; ++j) dhb[j] += dyb[j];
        }
        if (lstm) {
          lstm_backward_units(dg + b * gh, g + b * gh, saved.cell + t * batch * hidden + at, c_prev + at, dhb, dc + at,
                              hidden, u.begin, u.end, clip);
          std::memset(dhb + u.begin, 0, sizeof(T) * width);  // dh_{t-1} comes from the GEMM alone
        } else if (gru) {
          gru_backward_units(dg + b * gh, dgh + b * gh, g + b * gh, saved.extra + t * batch * hidden + at, h_prev + at,
                             dhb, hidden, u.begin, u.end);
        } else {
          rnn_backward_units(dg + b * gh, g + b * gh, dhb, u.begin, u.end, relu);
        }
      }
      for (int64_t b = 0; b < batch && split && width > 0; ++b) {
        for (int64_t k = 0; k < gates; ++k) {
          std::memcpy(ordered_n + b * gh + gates * u.begin + k * width, dgh + b * gh + k * hidden + u.begin,
                      sizeof(T) * width);
        }
      }
      done.publish(p, n);
      if (width > 0 && split) {
        for (int i = 0; i < team; ++i) {
          const int q = (p + i) % team;
          const UnitRange k = units_of(hidden, team, q);
          if (k.end == k.begin) continue;
          if (q != p) done.wait(q, n);
          gemm_raw<T>(Transpose::No, Transpose::No, batch, width, gates * (k.end - k.begin), T(1),
                      ordered_n + gates * k.begin, gh, own.data() + gates * k.begin * width, width, T(1), dh + u.begin,
                      hidden);
        }
      } else if (width > 0) {
        for (int q = 0; q < team; ++q) {
          if (q != p) done.wait(q, n);
        }
        gemm_weight<T>(Transpose::No, Transpose::No, batch, width, gh, dgh, gh, sw.hh.at(u.begin), hidden, T(1),
                       dh + u.begin, hidden);
      }
    }
  }
}

}  // namespace

RnnLayerSizes rnn_layer_sizes(const RnnLayerShape& s) {
  const int64_t tb = s.steps * s.batch, gh = s.gates() * s.hidden_size;
  const bool lstm = s.kind == RnnCellKind::LSTM, gru = s.kind == RnnCellKind::GRU;
  return {tb * gh, tb * s.recurrent_size(), lstm ? tb * s.hidden_size : 0,
          (lstm && s.proj_size > 0) || gru ? tb * s.hidden_size : 0, gru ? s.batch * gh : 0};
}

RnnBackwardSizes rnn_backward_sizes(const RnnLayerShape& s) {
  const int64_t tb = s.steps * s.batch, gh = s.gates() * s.hidden_size;
  return {tb * gh,
          s.kind == RnnCellKind::GRU ? tb * gh : 0,
          s.proj_size > 0 ? tb * s.proj_size : 0,
          s.batch * s.recurrent_size(),
          s.batch * s.hidden_size,
          s.batch * s.hidden_size};
}

template <typename T> void rnn_layer_forward(T* output, T* h_n, T* c_n, RnnLayerBuffers<T> buf, const T* x, const T* h0,
                                             const T* c0, const RnnLayerWeights<T>& w, const RnnLayerShape& s) {
  const int64_t steps = s.steps, batch = s.batch, hidden = s.hidden_size, gh = s.gates() * hidden;
  const int64_t rec = s.recurrent_size(), input = s.input_size, rows = steps * batch;
  const bool lstm = s.kind == RnnCellKind::LSTM, gru = s.kind == RnnCellKind::GRU;

  const StepWeights<T> sw(w, s, Pass::Forward);
  const int threads = team_threads<T>(s);
  // 1. XG = X W_ih^T + b_ih (+ b_hh, except GRU where b_hh stays with R h), all steps at once.
  // The team's float32 LSTM and plain RNN add the biases with each step's recurrent GEMM instead
  // (forward_team), so XG is then a beta = 0 GEMM into an unfilled buffer.
  const bool bias_in_steps = threads > 0 && !gru && !s.skip_input && sw.hh.rounded == nullptr;
  std::vector<T> bias(static_cast<size_t>(gh), T(0));
  for (int64_t j = 0; j < gh; ++j) {
    if (w.bias_ih) bias[j] += w.bias_ih[j];
    if (w.bias_hh && !gru) bias[j] += w.bias_hh[j];
  }
  {
    T* xg = buf.gates;
    if (!bias_in_steps) {
#pragma omp parallel for if (rows * gh >= 65536)
      for (int64_t r = 0; r < rows; ++r) std::memcpy(xg + r * gh, bias.data(), sizeof(T) * gh);
    }
    if (s.skip_input) {
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t k = 0; k < s.gates(); ++k) {
          T* dst = xg + r * gh + k * hidden;
          const T* src = x + r * input;
          for (int64_t j = 0; j < hidden; ++j) dst[j] += src[j];
        }
      }
    } else {
      gemm_bt<T>(rows, gh, input, x, input, {w.weight_ih}, {w.weight_ih_t}, bias_in_steps ? T(0) : T(1), xg, gh);
    }
  }

  // 2. The steps (on one thread team where it runs this layer).
  if (threads > 0) forward_team(buf, h0, c0, w, sw, s, threads, bias_in_steps ? bias.data() : nullptr);
  for (int64_t step = 0; step < steps && threads == 0; ++step) {
    const int64_t t = time_of(s, step), tp = s.reverse ? t + 1 : t - 1;
    const T* h_prev = step == 0 ? h0 : buf.hidden + tp * batch * rec;
    const T* c_prev = lstm ? (step == 0 ? c0 : buf.cell + tp * batch * hidden) : nullptr;
    T* g = buf.gates + t * batch * gh;
    T* h_out = buf.hidden + t * batch * rec;
    if (lstm) {
      gemm_bt<T>(batch, gh, rec, h_prev, rec, sw.hh, sw.hh_t, T(1), g, gh);
      T* c_out = buf.cell + t * batch * hidden;
      T* r_out = s.proj_size > 0 ? buf.extra + t * batch * hidden : h_out;
      const T forget_bias = static_cast<T>(s.forget_bias), clip = clip_limit<T>(s.cell_clip);
#pragma omp parallel for if (batch * hidden >= 32768)
      for (int64_t b = 0; b < batch; ++b) {
        T* c = c_out + b * hidden;
        T* r = r_out + b * hidden;
        const T* cp = c_prev + b * hidden;
        if (!active(s, t, b)) {
          std::memcpy(c, cp, sizeof(T) * hidden);
          if (s.proj_size > 0) {
            std::memset(r, 0, sizeof(T) * hidden);
          } else {
            std::memcpy(r, h_prev + b * rec, sizeof(T) * hidden);
          }
          continue;
        }
        lstm_forward_units(g + b * gh, cp, c, r, hidden, 0, hidden, forget_bias, clip);
      }
      if (s.proj_size > 0) {
        gemm_bt<T>(batch, s.proj_size, hidden, r_out, hidden, sw.hr, sw.hr_t, T(0), h_out, rec);
        for (int64_t b = 0; b < batch; ++b) {
          if (!active(s, t, b)) std::memcpy(h_out + b * rec, h_prev + b * rec, sizeof(T) * rec);
        }
      }
    } else if (gru) {
      // HG = h W_hh^T + b_hh
      T* hg = buf.step;
      for (int64_t b = 0; b < batch; ++b) {
        if (w.bias_hh) {
          std::memcpy(hg + b * gh, w.bias_hh, sizeof(T) * gh);
        } else {
          std::memset(hg + b * gh, 0, sizeof(T) * gh);
        }
      }
      gemm_bt<T>(batch, gh, hidden, h_prev, hidden, sw.hh, sw.hh_t, T(1), hg, gh);
      T* hn_out = buf.extra + t * batch * hidden;
#pragma omp parallel for if (batch * hidden >= 32768)
      for (int64_t b = 0; b < batch; ++b) {
        const T* hp = h_prev + b * hidden;
        T* h = h_out + b * hidden;
        T* hn_saved = hn_out + b * hidden;
        if (!active(s, t, b)) {
          std::memcpy(h, hp, sizeof(T) * hidden);
          std::memset(hn_saved, 0, sizeof(T) * hidden);
          continue;
        }
        gru_forward_units(g + b * gh, hg + b * gh, hp, h, hn_saved, hidden, 0, hidden);
      }
    } else {
      gemm_bt<T>(batch, hidden, hidden, h_prev, hidden, sw.hh, sw.hh_t, T(1), g, gh);
      const bool relu = s.kind == RnnCellKind::RNN_RELU;
      for (int64_t b = 0; b < batch; ++b) {
        T* gb = g + b * hidden;
        T* h = h_out + b * hidden;
        if (!active(s, t, b)) {
          std::memcpy(h, h_prev + b * hidden, sizeof(T) * hidden);
          continue;
        }
        rnn_forward_units(gb, h, 0, hidden, relu);
      }
    }
  }

  // 3. Outputs: y (zero where inactive), final states.
  if (output != buf.hidden) {
    for (int64_t t = 0; t < steps; ++t) {
      for (int64_t b = 0; b < batch; ++b) {
        T* y = output + (t * batch + b) * rec;
        if (active(s, t, b)) {
          std::memcpy(y, buf.hidden + (t * batch + b) * rec, sizeof(T) * rec);
        } else {
          std::memset(y, 0, sizeof(T) * rec);
        }
      }
    }
  }
  const int64_t t_last = s.reverse ? 0 : steps - 1;
  if (h_n) std::memcpy(h_n, buf.hidden + t_last * batch * rec, sizeof(T) * batch * rec);
  if (c_n && lstm) std::memcpy(c_n, buf.cell + t_last * batch * hidden, sizeof(T) * batch * hidden);
}

template <typename T> void rnn_layer_backward(T* dx, T* dh0, T* dc0, const RnnLayerGrads<T>& grads,
                                              RnnBackwardWork<T> work, const T* dy, const T* dh_n, const T* dc_n,
                                              const RnnLayerBuffers<T>& saved, const T* x, const T* h0, const T* c0,
                                              const RnnLayerWeights<T>& w, const RnnLayerShape& s) {
  const int64_t steps = s.steps, batch = s.batch, hidden = s.hidden_size, gh = s.gates() * hidden;
  const int64_t rec = s.recurrent_size(), input = s.input_size, rows = steps * batch, proj = s.proj_size;
  const bool lstm = s.kind == RnnCellKind::LSTM, gru = s.kind == RnnCellKind::GRU;
  T* dh = work.dh;
  T* dc = work.dc;
  if (dh_n) {
    std::memcpy(dh, dh_n, sizeof(T) * batch * rec);
  } else {
    std::memset(dh, 0, sizeof(T) * batch * rec);
  }
  if (lstm) {
    if (dc_n) {
      std::memcpy(dc, dc_n, sizeof(T) * batch * hidden);
    } else {
      std::memset(dc, 0, sizeof(T) * batch * hidden);
    }
  }
  T* dg_h_all = gru ? work.dgates_h : work.dgates;  // the recurrent side's gate gradients

  const StepWeights<T> sw(w, s, Pass::Backward);
  const int threads = team_threads<T>(s);
  if (threads > 0) backward_team(work, dy, saved, h0, c0, sw, s, threads);
  for (int64_t step = steps - 1; step >= 0 && threads == 0; --step) {
    const int64_t t = time_of(s, step), tp = s.reverse ? t + 1 : t - 1;
    const T* h_prev = step == 0 ? h0 : saved.hidden + tp * batch * rec;
    const T* g = saved.gates + t * batch * gh;
    T* dg = work.dgates + t * batch * gh;
    // dh += dy_t on active rows
    if (dy) {
      for (int64_t b = 0; b < batch; ++b) {
        if (!active(s, t, b)) continue;
        const T* d = dy + (t * batch + b) * rec;
        T* h = dh + b * rec;
        for (int64_t j = 0; j < rec; ++j) h[j] += d[j];
      }
    }
    if (lstm) {
      const T* c_prev = step == 0 ? c0 : saved.cell + tp * batch * hidden;
      const T* c_t = saved.cell + t * batch * hidden;
      const T* dr = dh;
      if (proj > 0) {
        T* dp = work.dproj + t * batch * proj;
        for (int64_t b = 0; b < batch; ++b) {
          if (active(s, t, b)) {
            std::memcpy(dp + b * proj, dh + b * proj, sizeof(T) * proj);
          } else {
            std::memset(dp + b * proj, 0, sizeof(T) * proj);
          }
        }
        gemm_weight<T>(Transpose::No, Transpose::No, batch, hidden, proj, dp, proj, sw.hr, hidden, T(0), work.dr,
                       hidden);
        dr = work.dr;
      }
      const T clip = clip_limit<T>(s.cell_clip);
#pragma omp parallel for if (batch * hidden >= 32768)
      for (int64_t b = 0; b < batch; ++b) {
        T* d = dg + b * gh;
        if (!active(s, t, b)) {
          std::memset(d, 0, sizeof(T) * gh);
          continue;
        }
        lstm_backward_units(d, g + b * gh, c_t + b * hidden, c_prev + b * hidden, dr + b * hidden, dc + b * hidden,
                            hidden, 0, hidden, clip);
      }
      // dh_{t-1} = dG W_hh on active rows; inactive rows pass dh through (their dG is zero).
      for (int64_t b = 0; b < batch; ++b) {
        if (active(s, t, b)) std::memset(dh + b * rec, 0, sizeof(T) * rec);
      }
      gemm_weight<T>(Transpose::No, Transpose::No, batch, rec, gh, dg, gh, sw.hh, rec, T(1), dh, rec);
    } else if (gru) {
      const T* hn_saved = saved.extra + t * batch * hidden;
      T* dgh = work.dgates_h + t * batch * gh;
#pragma omp parallel for if (batch * hidden >= 32768)
      for (int64_t b = 0; b < batch; ++b) {
        T* dxg = dg + b * gh;
        T* dhg = dgh + b * gh;
        if (!active(s, t, b)) {
          std::memset(dxg, 0, sizeof(T) * gh);
          std::memset(dhg, 0, sizeof(T) * gh);
          continue;
        }
        gru_backward_units(dxg, dhg, g + b * gh, hn_saved + b * hidden, h_prev + b * hidden, dh + b * hidden, hidden, 0,
                           hidden);
      }
      gemm_weight<T>(Transpose::No, Transpose::No, batch, hidden, gh, dgh, gh, sw.hh, hidden, T(1), dh, hidden);
    } else {
      const bool relu = s.kind == RnnCellKind::RNN_RELU;
      for (int64_t b = 0; b < batch; ++b) {
        T* d = dg + b * hidden;
        if (!active(s, t, b)) {
          std::memset(d, 0, sizeof(T) * hidden);
          continue;
        }
        rnn_backward_units(d, g + b * hidden, dh + b * hidden, 0, hidden, relu);
      }
      gemm_weight<T>(Transpose::No, Transpose::No, batch, hidden, hidden, dg, hidden, sw.hh, hidden, T(1), dh, hidden);
    }
  }
  if (dh0) std::memcpy(dh0, dh, sizeof(T) * batch * rec);
  if (dc0 && lstm) std::memcpy(dc0, dc, sizeof(T) * batch * hidden);

  // Weight and input gradients: single GEMMs over all T*B rows.
  const T* dgx = work.dgates;
  if (dx) {
    if (s.skip_input) {
      for (int64_t r = 0; r < rows; ++r) {
        T* out = dx + r * input;
        std::memset(out, 0, sizeof(T) * input);
        for (int64_t k = 0; k < s.gates(); ++k) {
          const T* d = dgx + r * gh + k * hidden;
          for (int64_t j = 0; j < hidden; ++j) out[j] += d[j];
        }
      }
    } else {
      gemm_raw<T>(Transpose::No, Transpose::No, rows, input, gh, T(1), dgx, gh, w.weight_ih, input, T(0), dx, input);
    }
  }
  // dG^T for the weight gradients (GateGradients), one copy per layer call, kept between calls
  const bool transposed = std::is_same_v<T, float> && gemm_provider() == GemmProvider::OneDNN;
  thread_local std::vector<T> t_dg_t, t_dgh_t;
  const bool ih = grads.weight_ih && !s.skip_input;
  const GateGradients<T> gx = ih ? gate_gradients(t_dg_t, dgx, rows, gh, transposed) : GateGradients<T>{};
  const GateGradients<T> gr = !grads.weight_hh ? GateGradients<T>{}
                              : dg_h_all == dgx && ih
                                  ? gx
                                  : gate_gradients(dg_h_all == dgx ? t_dg_t : t_dgh_t, dg_h_all, rows, gh, transposed);
  if (ih) {
    gemm_raw<T>(gx.trans(), Transpose::No, gh, input, rows, T(1), gx.from_row(0), gx.ld, x, input, T(1),
                grads.weight_ih, input);
  }
  if (grads.bias_ih && grads.bias_hh && dg_h_all == dgx) {  // b_ih and b_hh add alike: one sum for both
    std::vector<T> sums(static_cast<size_t>(gh), T(0));
    column_sums_into(sums.data(), dgx, rows, gh);
    for (int64_t j = 0; j < gh; ++j) grads.bias_ih[j] += sums[j], grads.bias_hh[j] += sums[j];
  } else {
    if (grads.bias_ih) column_sums_into(grads.bias_ih, dgx, rows, gh);
    if (grads.bias_hh) column_sums_into(grads.bias_hh, dg_h_all, rows, gh);
  }
  if (grads.weight_hh) {
    // dW_hh = sum_t dG_t^T h_prev(t): the steps after the first read h from `hidden`, in one GEMM.
    if (steps > 1) {
      const int64_t first = s.reverse ? 0 : 1;   // times whose h_prev is in `hidden`
      const int64_t source = s.reverse ? 1 : 0;  // where those h_prev start
      gemm_raw<T>(gr.trans(), Transpose::No, gh, rec, (steps - 1) * batch, T(1), gr.from_row(first * batch), gr.ld,
                  saved.hidden + source * batch * rec, rec, T(1), grads.weight_hh, rec);
    }
    const int64_t t0 = s.reverse ? steps - 1 : 0;
    gemm_raw<T>(gr.trans(), Transpose::No, gh, rec, batch, T(1), gr.from_row(t0 * batch), gr.ld, h0, rec, T(1),
                grads.weight_hh, rec);
  }
  if (grads.weight_hr && proj > 0) {
    gemm_raw<T>(Transpose::Yes, Transpose::No, proj, hidden, rows, T(1), work.dproj, proj, saved.extra, hidden, T(1),
                grads.weight_hr, hidden);
  }
}

template void rnn_layer_forward<float>(float*, float*, float*, RnnLayerBuffers<float>, const float*, const float*,
                                       const float*, const RnnLayerWeights<float>&, const RnnLayerShape&);
template void rnn_layer_forward<double>(double*, double*, double*, RnnLayerBuffers<double>, const double*,
                                        const double*, const double*, const RnnLayerWeights<double>&,
                                        const RnnLayerShape&);
template void rnn_layer_backward<float>(float*, float*, float*, const RnnLayerGrads<float>&, RnnBackwardWork<float>,
                                        const float*, const float*, const float*, const RnnLayerBuffers<float>&,
                                        const float*, const float*, const float*, const RnnLayerWeights<float>&,
                                        const RnnLayerShape&);
template void rnn_layer_backward<double>(double*, double*, double*, const RnnLayerGrads<double>&,
                                         RnnBackwardWork<double>, const double*, const double*, const double*,
                                         const RnnLayerBuffers<double>&, const double*, const double*, const double*,
                                         const RnnLayerWeights<double>&, const RnnLayerShape&);

}  // namespace recur::cpu
