// The per-op profile (backends/profile.h): a Backend that times each primitive of the one it
// wraps and forwards the call.
#include "backends/profile.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>
#include <type_traits>
#include <utility>

#include "backends/backend.h"
#include "backends/op_names.h"

namespace recur::profile {

namespace {

struct Totals {
  int64_t calls = 0;
  double seconds = 0.0;
};

std::mutex g_mutex;
std::map<std::pair<std::string, std::string>, Totals> g_rows;  // (phase, op)
std::atomic<bool> g_recording{false};                          // read on every backend_for()
std::string g_phase = "step";
thread_local int t_depth = 0;  // primitives running on this thread (only the outermost is timed)

void add(std::string_view op, double seconds) {
  std::lock_guard<std::mutex> lock(g_mutex);
  Totals& totals = g_rows[{g_phase, std::string(op)}];
  totals.calls += 1;
  totals.seconds += seconds;
}

// Times one primitive: runs `call`, waits for the device, adds the time to `op`'s row.
template <typename F> decltype(auto) time_call(Backend& inner, std::string_view op, F&& call) {
  if (t_depth > 0) return call();
  ++t_depth;
  struct Leave {
    ~Leave() { --t_depth; }
  } leave;
  const auto start = std::chrono::steady_clock::now();
  if constexpr (std::is_void_v<decltype(call())>) {
    call();
    inner.synchronize();
    add(op, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  } else {
    auto result = call();
    inner.synchronize();
    add(op, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return result;
  }
}

std::string named(std::string_view kind, std::string_view name) { return std::string(kind) + ":" + std::string(name); }

class TimedRnn final : public RnnKernels {
 public:
  TimedRnn(Backend& backend, RnnKernels& inner) : backend_(backend), inner_(inner) {}
  bool supports(const RnnDesc& desc, std::string* why) override { return inner_.supports(desc, why); }
  std::optional<RnnWeightLayout> weight_layout(const RnnDesc& desc) override { return inner_.weight_layout(desc); }
  RnnForward forward(const RnnDesc& desc, const std::vector<RnnWeights>& weights, const Tensor& x, const Tensor& h0,
                     const Tensor& c0, const Tensor& lengths, RnnPhase phase, KeepForBackward keep,
                     Generator* generator) override {
    return time_call(backend_, "rnn_forward",
                     [&] { return inner_.forward(desc, weights, x, h0, c0, lengths, phase, keep, generator); });
  }
  RnnDataGrads backward_data(RnnSaved& saved, const Tensor& dy, const Tensor& dh_n, const Tensor& dc_n) override {
    return time_call(backend_, "rnn_backward_data", [&] { return inner_.backward_data(saved, dy, dh_n, dc_n); });
  }
  std::vector<RnnWeights> backward_weights(RnnSaved& saved) override {
    return time_call(backend_, "rnn_backward_weights", [&] { return inner_.backward_weights(saved); });
  }

 private:
  Backend& backend_;
  RnnKernels& inner_;
};

class TimedBackend final : public Backend {
 public:
  explicit TimedBackend(Backend& inner) : inner_(inner) {
    if (RnnKernels* rnn = inner.rnn()) rnn_ = std::make_unique<TimedRnn>(inner, *rnn);
  }
  Backend& inner() { return inner_; }

  Device device() const override { return inner_.device(); }
  std::string name() const override { return inner_.name(); }
  Allocator& allocator() override { return inner_.allocator(); }
  void synchronize() override { inner_.synchronize(); }

  void copy(Tensor& dst, const Tensor& src) override {
    time_call(inner_, "copy", [&] { inner_.copy(dst, src); });
  }
  void copy_from_host(Tensor& dst, const void* host, size_t nbytes) override {
    time_call(inner_, "copy_from_host", [&] { inner_.copy_from_host(dst, host, nbytes); });
  }
  void copy_to_host(void* host, const Tensor& src, size_t nbytes) override {
    time_call(inner_, "copy_to_host", [&] { inner_.copy_to_host(host, src, nbytes); });
  }
  void fill(Tensor& out, double value) override {
    time_call(inner_, "fill", [&] { inner_.fill(out, value); });
  }
  void fill_uniform(Tensor& out, uint64_t seed, uint64_t first_block, double low, double high) override {
    time_call(inner_, "fill_uniform", [&] { inner_.fill_uniform(out, seed, first_block, low, high); });
  }
  void fill_normal(Tensor& out, uint64_t seed, uint64_t first_block, double mean, double std) override {
    time_call(inner_, "fill_normal", [&] { inner_.fill_normal(out, seed, first_block, mean, std); });
  }
  void fill_bernoulli(Tensor& out, uint64_t seed, uint64_t first_block, double keep_prob, double scale) override {
    time_call(inner_, "fill_bernoulli", [&] { inner_.fill_bernoulli(out, seed, first_block, keep_prob, scale); });
  }
  void unary(UnaryOp op, Tensor& out, const Tensor& in, UnaryParams params) override {
    time_call(inner_, named("unary", op_name(op)), [&] { inner_.unary(op, out, in, params); });
  }
  void binary(BinaryOp op, Tensor& out, const Tensor& a, const Tensor& b) override {
    time_call(inner_, named("binary", op_name(op)), [&] { inner_.binary(op, out, a, b); });
  }
  void where(Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) override {
    time_call(inner_, "where", [&] { inner_.where(out, cond, a, b); });
  }
  void axpby(Tensor& out, double alpha, const Tensor& x, double beta) override {
    time_call(inner_, "axpby", [&] { inner_.axpby(out, alpha, x, beta); });
  }
  void reduce(ReduceOp op, Tensor& out, const Tensor& in, const std::vector<int>& axes) override {
    time_call(inner_, named("reduce", op_name(op)), [&] { inner_.reduce(op, out, in, axes); });
  }
  void argmax(Tensor& out, const Tensor& in, int axis) override {
    time_call(inner_, "argmax", [&] { inner_.argmax(out, in, axis); });
  }
  void softmax(Tensor& out, const Tensor& in, int axis, SoftmaxKind kind) override {
    const bool log = kind == SoftmaxKind::Log;
    time_call(inner_, log ? "log_softmax" : "softmax", [&] { inner_.softmax(out, in, axis, kind); });
  }
  void softmax_backward(Tensor& dx, const Tensor& y, const Tensor& dy, int axis, SoftmaxKind kind) override {
    const bool log = kind == SoftmaxKind::Log;
    time_call(inner_, log ? "log_softmax_backward" : "softmax_backward",
              [&] { inner_.softmax_backward(dx, y, dy, axis, kind); });
  }
  void index_select(Tensor& out, const Tensor& in, int axis, const Tensor& index) override {
    time_call(inner_, "index_select", [&] { inner_.index_select(out, in, axis, index); });
  }
  void index_add(Tensor& out, int axis, const Tensor& index, const Tensor& src) override {
    time_call(inner_, "index_add", [&] { inner_.index_add(out, axis, index, src); });
  }
  void gemm(Tensor& c, const Tensor& a, Transpose trans_a, const Tensor& b, Transpose trans_b, double alpha,
            double beta) override {
    time_call(inner_, "gemm", [&] { inner_.gemm(c, a, trans_a, b, trans_b, alpha, beta); });
  }
  void cross_entropy(Tensor& loss, Tensor& logp, const Tensor& logits, const Tensor& target, int64_t ignore_index,
                     double label_smoothing) override {
    time_call(inner_, "cross_entropy",
              [&] { inner_.cross_entropy(loss, logp, logits, target, ignore_index, label_smoothing); });
  }
  void cross_entropy_backward(Tensor& dlogits, const Tensor& logp, const Tensor& target, const Tensor& grad_loss,
                              int64_t ignore_index, double label_smoothing) override {
    time_call(inner_, "cross_entropy_backward",
              [&] { inner_.cross_entropy_backward(dlogits, logp, target, grad_loss, ignore_index, label_smoothing); });
  }
  void optimizer_update(OptimizerKind kind, const std::vector<ParamUpdate>& updates) override {
    time_call(inner_, "optimizer_update", [&] { inner_.optimizer_update(kind, updates); });
  }
  void norm_parts(Tensor& out, const std::vector<Tensor>& tensors, double p) override {
    time_call(inner_, "norm_parts", [&] { inner_.norm_parts(out, tensors, p); });
  }
  RnnKernels* rnn() override { return rnn_.get(); }

 private:
  Backend& inner_;
  std::unique_ptr<TimedRnn> rnn_;
};

}  // namespace

void start() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_rows.clear();
  g_recording = true;
}

void stop() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_recording = false;
}

bool recording() { return g_recording.load(std::memory_order_relaxed); }

std::vector<Row> rows() {
  std::vector<Row> out;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    for (const auto& [key, totals] : g_rows) out.push_back({key.first, key.second, totals.calls, totals.seconds});
  }
  std::stable_sort(out.begin(), out.end(), [](const Row& a, const Row& b) { return a.seconds > b.seconds; });
  return out;
}

Phase::Phase(std::string name) {
  std::lock_guard<std::mutex> lock(g_mutex);
  previous_ = std::exchange(g_phase, std::move(name));
}

Phase::~Phase() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_phase = std::move(previous_);
}

Backend& timed(Backend& inner) {
  std::lock_guard<std::mutex> lock(g_mutex);
  static std::map<Backend*, std::unique_ptr<TimedBackend>> wrappers;
  std::unique_ptr<TimedBackend>& wrapper = wrappers[&inner];
  if (!wrapper) wrapper = std::make_unique<TimedBackend>(inner);
  return *wrapper;
}

}  // namespace recur::profile
