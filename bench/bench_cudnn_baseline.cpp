// bench_cudnn_baseline: the GPU work of one recurrent language-model training step, done with
// cuDNN and cuBLAS alone (no recur tensors, no autograd), as the floor that
// `recur bench train-step --device cuda` is measured against:
//
//   zero dW_rnn; cudnnRNNForward (training)                      [forward]
//   logits = Y W^T; dW = dLogits^T Y; dY = dLogits W (cuBLAS)     [head, skipped with --vocab-size 0]
//   cudnnRNNBackwardData_v8 (dY -> dX, dhx, dcx)                  [backward data]
//   cudnnRNNBackwardWeights_v8 (-> dW_rnn)                        [backward weights]
//
// with the RNN descriptor recur's cuDNN RNN builds (recur::cuda::set_rnn_descriptor,
// backends/cuda/cudnn_rnn.h: standard algorithm, double bias, padded sequence-major input), and a
// zero initial state. dLogits stands in for the cross-entropy's
// gradient (random, like every input), so the softmax, the embedding and the optimizer are not
// part of this floor. Timed with CUDA events after warm-up; prints the median of --runs, one
// JSON line per configuration. TF32 is off (cuDNN CUDNN_FMA_MATH, cuBLAS CUBLAS_DEFAULT_MATH).
//
//   bench_cudnn_baseline [--config reference|large|deepbench-512|deepbench-1024 | --all-configs]
//                        [--mode lstm] [--embedding 64] [--hidden 256] [--layers 2] [--batch 32]
//                        [--bptt 64] [--vocab-size 65] [--dtype float32|float64] [--runs 50]
//                        [--untimed-steps 10] [--device 0] [--flush-l2] [--name LABEL]
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "backends/cuda/check.h"
#include "backends/cuda/cudnn_descriptors.h"
#include "backends/cuda/cudnn_rnn.h"

namespace {

struct Config {
  std::string name = "custom";
  std::string mode = "lstm", dtype = "float32";
  int input_size = 64, hidden = 256, layers = 2, batch = 32, seq = 64, vocab = 65;
};

// The configurations the GPU results are reported for (scripts/gpu-check.sh runs the same ones).
std::vector<Config> presets() {
  std::vector<Config> list;
  Config c;
  c.name = "reference";  // `recur bench train-step`'s defaults: the CPU reference step
  list.push_back(c);
  c = Config{};
  c.name = "large";  // a larger language model: 2 x 1024 LSTM, batch 64, 128 steps
  c.input_size = 1024, c.hidden = 1024, c.layers = 2, c.batch = 64, c.seq = 128, c.vocab = 65;
  list.push_back(c);
  for (int hidden : {512, 1024}) {  // DeepBench's LSTM training shapes, the RNN alone
    c = Config{};
    c.name = "deepbench-" + std::to_string(hidden);
    c.input_size = hidden, c.hidden = hidden, c.layers = 1, c.batch = 64, c.seq = 25, c.vocab = 0;
    list.push_back(c);
  }
  return list;
}

struct Options {
  std::vector<Config> configs;
  int runs = 50, warmup = 10, device = 0;
  bool flush_l2 = false;
};

void usage(std::FILE* to) {
  std::fprintf(
      to,
      "usage: bench_cudnn_baseline [--config NAME | --all-configs] [--mode lstm|gru|rnn_tanh|rnn_relu]\n"
      "         [--embedding N] [--hidden N] [--layers N] [--batch N] [--bptt N] [--vocab-size N (0 = no head)]\n"
      "         [--dtype float32|float64] [--runs N] [--untimed-steps N] [--device N] [--flush-l2] [--name LABEL]\n"
      "Times cuDNN's RNN forward + backward data + backward weights and the cuBLAS head of one\n"
      "training step (CUDA events, median of --runs after --untimed-steps); one JSON line per config.\n"
      "configs:");
  for (const Config& c : presets()) std::fprintf(to, " %s", c.name.c_str());
  std::fprintf(to, "\n");
}

[[noreturn]] void bad_usage(const std::string& message) {
  std::fprintf(stderr, "bench_cudnn_baseline: %s\n", message.c_str());
  usage(stderr);
  std::exit(2);
}

int parse_int(const std::string& flag, const char* text, int min) {
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < min || value > INT32_MAX) {
    bad_usage(flag + " expects an integer >= " + std::to_string(min) + ", got '" + text + "'");
  }
  return static_cast<int>(value);
}

Options parse(int argc, char** argv) {
  Options o;
  Config custom;
  bool all = false, overridden = false;
  std::string preset;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "-h" || flag == "--help") {
      usage(stdout);
      std::exit(0);
    }
    if (flag == "--all-configs") {
      all = true;
      continue;
    }
    if (flag == "--flush-l2") {
      o.flush_l2 = true;
      continue;
    }
    if (i + 1 >= argc) bad_usage("missing value after " + flag);
    const char* value = argv[++i];
    if (flag == "--config") {
      preset = value;
    } else if (flag == "--name") {  // the "config" label of a configuration given by its shape
      custom.name = value;
    } else if (flag == "--mode") {
      custom.mode = value;
      overridden = true;
      if (custom.mode != "lstm" && custom.mode != "gru" && custom.mode != "rnn_tanh" && custom.mode != "rnn_relu") {
        bad_usage("--mode must be lstm, gru, rnn_tanh or rnn_relu, got '" + custom.mode + "'");
      }
    } else if (flag == "--dtype") {  // also applies to --config and --all-configs
      custom.dtype = value;
      if (custom.dtype != "float32" && custom.dtype != "float64") {
        bad_usage("--dtype must be float32 or float64, got '" + custom.dtype + "'");
      }
    } else if (flag == "--embedding") {
      custom.input_size = parse_int(flag, value, 1), overridden = true;
    } else if (flag == "--hidden") {
      custom.hidden = parse_int(flag, value, 1), overridden = true;
    } else if (flag == "--layers") {
      custom.layers = parse_int(flag, value, 1), overridden = true;
    } else if (flag == "--batch") {
      custom.batch = parse_int(flag, value, 1), overridden = true;
    } else if (flag == "--bptt") {
      custom.seq = parse_int(flag, value, 1), overridden = true;
    } else if (flag == "--vocab-size") {
      custom.vocab = parse_int(flag, value, 0), overridden = true;
    } else if (flag == "--runs") {
      o.runs = parse_int(flag, value, 1);
    } else if (flag == "--untimed-steps") {
      o.warmup = parse_int(flag, value, 0);
    } else if (flag == "--device") {
      o.device = parse_int(flag, value, 0);
    } else {
      bad_usage("unknown option '" + flag + "'");
    }
  }
  if (all) {
    if (!preset.empty() || overridden) bad_usage("--all-configs takes no --config or shape options");
    o.configs = presets();
  } else if (!preset.empty()) {
    if (overridden) bad_usage("--config takes no shape options (give the shape options alone instead)");
    for (const Config& c : presets()) {
      if (c.name == preset) o.configs.push_back(c);
    }
    if (o.configs.empty()) bad_usage("unknown --config '" + preset + "'");
  } else {
    o.configs.push_back(custom);
  }
  for (Config& c : o.configs) c.dtype = custom.dtype;
  return o;
}

// ---- RAII for the few CUDA, cuDNN and cuBLAS objects ------------------------------------------

class DeviceMemory {
 public:
  explicit DeviceMemory(size_t bytes) : bytes_(bytes) {
    if (bytes > 0) RECUR_CUDA_CHECK(cudaMalloc(&ptr_, bytes));
  }
  ~DeviceMemory() {
    if (ptr_ != nullptr) cudaFree(ptr_);
  }
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  void* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

class Event {
 public:
  Event() { RECUR_CUDA_CHECK(cudaEventCreate(&event_)); }
  ~Event() { cudaEventDestroy(event_); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

struct Handles {
  cudaStream_t stream = nullptr;
  cudnnHandle_t cudnn = nullptr;
  cublasHandle_t cublas = nullptr;
  Handles() {
    RECUR_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    RECUR_CUDNN_CHECK(cudnnCreate(&cudnn));
    RECUR_CUDNN_CHECK(cudnnSetStream(cudnn, stream));
    RECUR_CUBLAS_CHECK(cublasCreate(&cublas));
    RECUR_CUBLAS_CHECK(cublasSetStream(cublas, stream));
    RECUR_CUBLAS_CHECK(cublasSetMathMode(cublas, CUBLAS_DEFAULT_MATH));  // no TF32
  }
  ~Handles() {
    if (cublas != nullptr) cublasDestroy(cublas);
    if (cudnn != nullptr) cudnnDestroy(cudnn);
    if (stream != nullptr) cudaStreamDestroy(stream);
  }
  Handles(const Handles&) = delete;
  Handles& operator=(const Handles&) = delete;
};

// Uniform random numbers in [-scale, scale] of the element type, copied to the device.
void fill_uniform(const DeviceMemory& memory, bool f64, double scale, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> uniform(-scale, scale);
  if (f64) {
    std::vector<double> host(memory.bytes() / sizeof(double));
    for (double& v : host) v = uniform(rng);
    RECUR_CUDA_CHECK(cudaMemcpy(memory.get(), host.data(), host.size() * sizeof(double), cudaMemcpyHostToDevice));
  } else {
    std::vector<float> host(memory.bytes() / sizeof(float));
    for (float& v : host) v = static_cast<float>(uniform(rng));
    RECUR_CUDA_CHECK(cudaMemcpy(memory.get(), host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice));
  }
}

// C = op(A) op(B) in cuBLAS's column-major terms, float or double.
void gemm(cublasHandle_t handle, bool f64, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
          const void* a, int lda, const void* b, int ldb, void* c, int ldc) {
  if (f64) {
    const double one = 1.0, zero = 0.0;
    RECUR_CUBLAS_CHECK(cublasDgemm(handle, ta, tb, m, n, k, &one, static_cast<const double*>(a), lda,
                                   static_cast<const double*>(b), ldb, &zero, static_cast<double*>(c), ldc));
  } else {
    const float one = 1.0f, zero = 0.0f;
    RECUR_CUBLAS_CHECK(cublasSgemm(handle, ta, tb, m, n, k, &one, static_cast<const float*>(a), lda,
                                   static_cast<const float*>(b), ldb, &zero, static_cast<float*>(c), ldc));
  }
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

int gates_of(const std::string& mode) { return mode == "lstm" ? 4 : mode == "gru" ? 3 : 1; }

recur::RnnCell cell_of(const std::string& mode) {
  if (mode == "lstm") return recur::RnnCell::LSTM;
  if (mode == "gru") return recur::RnnCell::GRU;
  return mode == "rnn_tanh" ? recur::RnnCell::RNN_TANH : recur::RnnCell::RNN_RELU;
}

nlohmann::json run_config(const Config& c, const Options& o, const Handles& h, const cudaDeviceProp& prop) {
  const bool f64 = c.dtype == "float64";
  const size_t element = f64 ? sizeof(double) : sizeof(float);
  const cudnnDataType_t type = f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
  const bool lstm = c.mode == "lstm";
  const size_t tokens = static_cast<size_t>(c.seq) * static_cast<size_t>(c.batch);
  if (tokens > static_cast<size_t>(INT32_MAX)) throw std::runtime_error("seq * batch exceeds cuBLAS's 32-bit range");
  const int n = static_cast<int>(tokens);

  // Descriptors: recur's own, for an unidirectional RNN without dropout, TF32 off.
  recur::cuda::DropoutDescriptor dropout;
  RECUR_CUDNN_CHECK(cudnnSetDropoutDescriptor(dropout.get(), h.cudnn, 0.0f, nullptr, 0, 0));
  recur::cuda::RnnDescriptor rnn;
  recur::RnnDesc desc;
  desc.cell = cell_of(c.mode);
  desc.input_size = c.input_size;
  desc.hidden_size = c.hidden;
  desc.num_layers = c.layers;
  desc.dtype = f64 ? recur::DType::Float64 : recur::DType::Float32;
  recur::cuda::set_rnn_descriptor(rnn, dropout, desc, false);
  std::vector<int> lengths(static_cast<size_t>(c.batch), c.seq);
  double pad64 = 0.0;
  float pad32 = 0.0f;
  void* padding = f64 ? static_cast<void*>(&pad64) : static_cast<void*>(&pad32);
  recur::cuda::RnnDataDescriptor x_desc, y_desc;
  RECUR_CUDNN_CHECK(cudnnSetRNNDataDescriptor(x_desc.get(), type, CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED, c.seq,
                                              c.batch, c.input_size, lengths.data(), padding));
  RECUR_CUDNN_CHECK(cudnnSetRNNDataDescriptor(y_desc.get(), type, CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED, c.seq,
                                              c.batch, c.hidden, lengths.data(), padding));
  recur::cuda::TensorDescriptor h_desc, c_desc;
  recur::cuda::set_packed_3d(h_desc, type, c.layers, c.batch, c.hidden);
  recur::cuda::set_packed_3d(c_desc, type, c.layers, c.batch, c.hidden);

  size_t weight_bytes = 0, work_bytes = 0, reserve_bytes = 0;
  RECUR_CUDNN_CHECK(cudnnGetRNNWeightSpaceSize(h.cudnn, rnn.get(), &weight_bytes));
  RECUR_CUDNN_CHECK(cudnnGetRNNTempSpaceSizes(h.cudnn, rnn.get(), CUDNN_FWD_MODE_TRAINING, x_desc.get(), &work_bytes,
                                              &reserve_bytes));

  const size_t state_bytes = static_cast<size_t>(c.layers) * c.batch * c.hidden * element;
  DeviceMemory seq_lengths(lengths.size() * sizeof(int32_t));
  RECUR_CUDA_CHECK(
      cudaMemcpy(seq_lengths.get(), lengths.data(), lengths.size() * sizeof(int32_t), cudaMemcpyHostToDevice));
  DeviceMemory weights(weight_bytes), dweights(weight_bytes), work(work_bytes), reserve(reserve_bytes);
  DeviceMemory x(tokens * c.input_size * element), dx(tokens * c.input_size * element);
  DeviceMemory y(tokens * c.hidden * element), dy(tokens * c.hidden * element);
  DeviceMemory hy(state_bytes), dhx(state_bytes), cy(lstm ? state_bytes : 0), dcx(lstm ? state_bytes : 0);
  const size_t vocab = static_cast<size_t>(c.vocab);
  DeviceMemory head_w(vocab * c.hidden * element), head_dw(vocab * c.hidden * element);
  DeviceMemory logits(tokens * vocab * element), dlogits(tokens * vocab * element);
  // Twice the L2 cache, written between runs with --flush-l2.
  DeviceMemory flush(o.flush_l2 ? 2 * static_cast<size_t>(std::max(prop.l2CacheSize, 1 << 20)) : 0);

  std::mt19937_64 rng(12345);
  const double init = 1.0 / std::sqrt(static_cast<double>(c.hidden));  // PyTorch's RNN initialisation
  fill_uniform(weights, f64, init, rng);
  fill_uniform(x, f64, 1.0, rng);
  if (vocab > 0) {
    fill_uniform(head_w, f64, init, rng);
    fill_uniform(dlogits, f64, 1.0 / static_cast<double>(tokens), rng);  // the size of a mean loss's gradient
  } else {
    fill_uniform(dy, f64, 1.0 / static_cast<double>(tokens), rng);
  }
  const auto* seq = static_cast<const int32_t*>(seq_lengths.get());
  // The inputs were copied with cudaMemcpy on the legacy default stream, which a non-blocking
  // stream does not wait for: finish them before anything runs or is timed on h.stream.
  RECUR_CUDA_CHECK(cudaDeviceSynchronize());

  Event start, forward_done, head_done, data_done, weights_done;
  std::vector<double> total, forward, head, data, wgrad;
  for (int run = 0; run < o.warmup + o.runs; ++run) {
    if (flush.bytes() > 0) RECUR_CUDA_CHECK(cudaMemsetAsync(flush.get(), run & 0xff, flush.bytes(), h.stream));
    RECUR_CUDA_CHECK(cudaEventRecord(start.get(), h.stream));
    // cuDNN only adds weight gradients (CUDNN_WGRAD_MODE_ADD): a step starts from zero.
    RECUR_CUDA_CHECK(cudaMemsetAsync(dweights.get(), 0, weight_bytes, h.stream));
    RECUR_CUDNN_CHECK(cudnnRNNForward(h.cudnn, rnn.get(), CUDNN_FWD_MODE_TRAINING, seq, x_desc.get(), x.get(),
                                      y_desc.get(), y.get(), h_desc.get(), nullptr, hy.get(), c_desc.get(), nullptr,
                                      cy.get(), weight_bytes, weights.get(), work_bytes, work.get(), reserve_bytes,
                                      reserve.get()));
    RECUR_CUDA_CHECK(cudaEventRecord(forward_done.get(), h.stream));
    if (vocab > 0) {
      // Row-major Y [N, H], W [V, H], logits [N, V] are column-major Y^T, W^T, logits^T.
      const int v = c.vocab, hd = c.hidden;
      gemm(h.cublas, f64, CUBLAS_OP_T, CUBLAS_OP_N, v, n, hd, head_w.get(), hd, y.get(), hd, logits.get(), v);
      gemm(h.cublas, f64, CUBLAS_OP_N, CUBLAS_OP_T, hd, v, n, y.get(), hd, dlogits.get(), v, head_dw.get(), hd);
      gemm(h.cublas, f64, CUBLAS_OP_N, CUBLAS_OP_N, hd, n, v, head_w.get(), hd, dlogits.get(), v, dy.get(), hd);
    }
    RECUR_CUDA_CHECK(cudaEventRecord(head_done.get(), h.stream));
    RECUR_CUDNN_CHECK(cudnnRNNBackwardData_v8(h.cudnn, rnn.get(), seq, y_desc.get(), y.get(), dy.get(), x_desc.get(),
                                              dx.get(), h_desc.get(), nullptr, nullptr, dhx.get(), c_desc.get(),
                                              nullptr, nullptr, dcx.get(), weight_bytes, weights.get(), work_bytes,
                                              work.get(), reserve_bytes, reserve.get()));
    RECUR_CUDA_CHECK(cudaEventRecord(data_done.get(), h.stream));
    RECUR_CUDNN_CHECK(cudnnRNNBackwardWeights_v8(h.cudnn, rnn.get(), CUDNN_WGRAD_MODE_ADD, seq, x_desc.get(), x.get(),
                                                 h_desc.get(), nullptr, y_desc.get(), y.get(), weight_bytes,
                                                 dweights.get(), work_bytes, work.get(), reserve_bytes, reserve.get()));
    RECUR_CUDA_CHECK(cudaEventRecord(weights_done.get(), h.stream));
    RECUR_CUDA_CHECK(cudaEventSynchronize(weights_done.get()));
    if (run < o.warmup) continue;
    const auto ms = [](const Event& a, const Event& b) {
      float elapsed = 0.0f;
      RECUR_CUDA_CHECK(cudaEventElapsedTime(&elapsed, a.get(), b.get()));
      return static_cast<double>(elapsed);
    };
    total.push_back(ms(start, weights_done));
    forward.push_back(ms(start, forward_done));
    head.push_back(ms(forward_done, head_done));
    data.push_back(ms(head_done, data_done));
    wgrad.push_back(ms(data_done, weights_done));
  }

  // The GEMM FLOPs of the step, counted as `recur bench train-step` counts them: per token and
  // layer 2 * gates * H * (in + H) forward, the head's 2 * H * V, times 3 for the backward GEMMs.
  const double gates = gates_of(c.mode) * static_cast<double>(c.hidden);
  double flops = 0.0;
  for (int l = 0; l < c.layers; ++l) {
    flops += 2.0 * gates * ((l == 0 ? c.input_size : c.hidden) + static_cast<double>(c.hidden));
  }
  flops += 2.0 * c.hidden * static_cast<double>(c.vocab);
  flops *= 3.0 * static_cast<double>(tokens);
  const double step = median(total);
  return {{"benchmark", "cudnn-baseline"},
          {"config", c.name},
          {"mode", c.mode},
          {"input_size", c.input_size},
          {"hidden", c.hidden},
          {"layers", c.layers},
          {"batch", c.batch},
          {"seq", c.seq},
          {"vocab", c.vocab},
          {"dtype", c.dtype},
          {"device", "cuda:" + std::to_string(o.device)},
          {"gpu", prop.name},
          {"cudnn", cudnnGetVersion()},
          {"tf32", false},
          {"l2_flush", o.flush_l2},
          {"runs", o.runs},
          {"warmup", o.warmup},
          {"ms_per_step", step},
          {"ms_min", *std::min_element(total.begin(), total.end())},
          {"ms_forward", median(forward)},
          {"ms_head", median(head)},
          {"ms_backward_data", median(data)},
          {"ms_backward_weights", median(wgrad)},
          {"tokens_per_s", static_cast<double>(tokens) / (step / 1000.0)},
          {"gflop_per_step", flops / 1e9},
          {"gflops", flops / (step / 1000.0) / 1e9},
          {"workspace_bytes", work_bytes},
          {"reserve_bytes", reserve_bytes}};
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    std::fprintf(stderr, "bench_cudnn_baseline: no usable GPU (%s); nothing was measured\n",
                 status != cudaSuccess ? cudaGetErrorString(status) : "no CUDA device is visible");
    return 1;
  }
  if (o.device >= count) {
    std::fprintf(stderr, "bench_cudnn_baseline: --device %d, but only %d GPU(s) are visible\n", o.device, count);
    return 1;
  }
  try {
    RECUR_CUDA_CHECK(cudaSetDevice(o.device));
    cudaDeviceProp prop{};
    RECUR_CUDA_CHECK(cudaGetDeviceProperties(&prop, o.device));
    Handles handles;
    int failed = 0;
    for (const Config& c : o.configs) {
      try {
        std::printf("%s\n", run_config(c, o, handles, prop).dump().c_str());
      } catch (const std::exception& e) {  // report the configuration and go on with the next
        std::fprintf(stderr, "bench_cudnn_baseline: config %s (%s I=%d H=%d L=%d B=%d T=%d V=%d %s) failed: %s\n",
                     c.name.c_str(), c.mode.c_str(), c.input_size, c.hidden, c.layers, c.batch, c.seq, c.vocab,
                     c.dtype.c_str(), e.what());
        ++failed;
      }
      std::fflush(stdout);
    }
    return failed == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cudnn_baseline: error: %s\n", e.what());
    return 1;
  }
}
