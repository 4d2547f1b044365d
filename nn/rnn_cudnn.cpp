// The cuDNN RNN (nn/rnn_cudnn.h). Compiled only in builds with the CUDA backend; otherwise the
// two entry points answer "not available".
#include "nn/rnn_cudnn.h"

#include "recur/config.h"

#if RECUR_HAVE_CUDA

#include <fmt/format.h>

#include <array>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "autograd/node.h"
#include "backends/compute.h"
#include "backends/cuda/check.h"
#include "backends/cuda/context.h"
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cudnn_descriptors.h"

namespace recur::nn {
namespace {

using cuda::DropoutDescriptor;
using cuda::RnnDataDescriptor;
using cuda::RnnDescriptor;
using cuda::TensorDescriptor;

// Which CellWeights member a canonical block belongs to.
enum class Member : uint8_t { WeightIh, WeightHh, BiasIh, BiasHh, WeightHr };

const Tensor& member_of(const CellWeights& w, Member member) {
  switch (member) {
    case Member::WeightIh: return w.weight_ih;
    case Member::WeightHh: return w.weight_hh;
    case Member::BiasIh: return w.bias_ih;
    case Member::BiasHh: return w.bias_hh;
    case Member::WeightHr: return w.weight_hr;
  }
  return w.weight_ih;
}

// A block of rows [row, row + rows) of one member of layer-direction `index`.
struct Block {
  int64_t index = -1;
  Member member = Member::WeightIh;
  int64_t row = 0, rows = 0;
  bool defined() const { return index >= 0; }
};

// One matrix or bias of cuDNN's weight space and the canonical block(s) it holds. `extra` is a
// second block added in (an input bias that cuDNN has no slot for); `constant` is added too
// (forget_bias).
struct Slot {
  Tensor space;  // a view into the weight space
  Block block, extra;
  double constant = 0.0;
};

// A raw view of `rows` rows of t starting at `row` (a 1-D bias or a 2-D matrix).
Tensor rows_of(const Tensor& t, int64_t row, int64_t rows) {
  Shape shape = t.shape();
  shape[0] = rows;
  return t.as_strided_raw(shape, t.strides(), t.offset() + row * t.strides()[0]);
}

// A device buffer of at least `nbytes` (RAII through the caching allocator).
Tensor device_buffer(size_t nbytes, Device device) {
  return make_contiguous_tensor({static_cast<int64_t>((nbytes + 3) / 4)}, DType::Float32, device);
}

Tensor zeros_or(const Tensor& t, const Shape& shape, const TensorOptions& like) {
  return t.defined() ? compute::contiguous(t.detach()) : zeros(shape, like);
}

int checked_int(int64_t value, const char* what) {
  RECUR_CHECK(value >= 0 && value <= INT32_MAX, "cuDNN RNN: {} = {} exceeds cuDNN's 32-bit range", what, value);
  return static_cast<int>(value);
}

// Descriptors and buffers shared by forward and backward.
struct CudnnRnnPlan {
  Device device;
  DType dtype = DType::Float32;
  cudnnDataType_t data_type = CUDNN_DATA_FLOAT;
  RnnDescriptor rnn;
  DropoutDescriptor dropout;
  Tensor dropout_states;
  RnnDataDescriptor x_desc, y_desc;
  TensorDescriptor h_desc, c_desc;
  Tensor seq_lengths;  // int32 [B] on the device
  size_t weight_bytes = 0;
  int64_t steps = 0, batch = 0, input_size = 0, output_size = 0, states = 0, rec = 0, hidden = 0;
  bool lstm = false;
};

cudnnRNNMode_t cell_mode(RNNMode mode) {
  switch (mode) {
    case RNNMode::LSTM: return CUDNN_LSTM;
    case RNNMode::GRU: return CUDNN_GRU;
    case RNNMode::RNN_TANH: return CUDNN_RNN_TANH;
    case RNNMode::RNN_RELU: return CUDNN_RNN_RELU;
  }
  return CUDNN_LSTM;
}

cudnnDataType_t data_type_of(DType dtype) {
  switch (dtype) {
    case DType::Float64: return CUDNN_DATA_DOUBLE;
    case DType::Float16: return CUDNN_DATA_HALF;
    case DType::BFloat16: return CUDNN_DATA_BFLOAT16;
    default: return CUDNN_DATA_FLOAT;
  }
}

bool is_reduced(DType dtype) { return dtype == DType::Float16 || dtype == DType::BFloat16; }

// The RNN descriptor for options `o` (everything the weight space depends on, and the clip).
void set_rnn_descriptor(RnnDescriptor& rnn, DropoutDescriptor& dropout, const RNNOptions& o, DType dtype,
                        cuda::CudaContext& context) {
  // float32: exact FMA math unless TF32 is allowed; float16/bfloat16: tensor cores, float32
  // accumulation (mathPrec).
  const cudnnMathType_t math = is_reduced(dtype)                                  ? CUDNN_TENSOR_OP_MATH
                               : dtype == DType::Float32 && !context.allow_tf32() ? CUDNN_FMA_MATH
                                                                                  : CUDNN_DEFAULT_MATH;
  const cudnnDataType_t data_type = data_type_of(dtype);
  const cudnnDataType_t math_precision = is_reduced(dtype) ? CUDNN_DATA_FLOAT : data_type;
  RECUR_CUDNN_CHECK(cudnnSetRNNDescriptor_v8(
      rnn.get(), CUDNN_RNN_ALGO_STANDARD, cell_mode(o.mode), o.bias ? CUDNN_RNN_DOUBLE_BIAS : CUDNN_RNN_NO_BIAS,
      o.num_directions() == 2 ? CUDNN_BIDIRECTIONAL : CUDNN_UNIDIRECTIONAL,
      o.skip_input() ? CUDNN_SKIP_INPUT : CUDNN_LINEAR_INPUT, data_type, math_precision, math,
      checked_int(o.input_size, "input_size"), checked_int(o.hidden_size, "hidden_size"),
      checked_int(o.output_hidden_size(), "proj_size"), checked_int(o.num_layers, "num_layers"), dropout.get(),
      CUDNN_RNN_PADDED_IO_ENABLED));
}

// lengths: the per-sequence lengths on the host, empty when every sequence has all T steps.
std::shared_ptr<CudnnRnnPlan> make_plan(const RNNOptions& o, cuda::CudaContext& context, const Tensor& x_tbi,
                                        const std::vector<int64_t>& lengths, bool training, Generator* generator) {
  auto plan = std::make_shared<CudnnRnnPlan>();
  cudnnHandle_t handle = context.cudnn();
  plan->device = x_tbi.device();
  plan->dtype = x_tbi.dtype();
  plan->data_type = data_type_of(plan->dtype);
  plan->steps = x_tbi.size(0);
  plan->batch = x_tbi.size(1);
  plan->input_size = x_tbi.size(2);
  plan->rec = o.output_hidden_size();
  plan->hidden = o.hidden_size;
  plan->output_size = o.num_directions() * plan->rec;
  plan->states = o.num_layers * o.num_directions();
  plan->lstm = o.mode == RNNMode::LSTM;

  // Dropout between layers (cuDNN's own generator, seeded from recur's stream).
  const double dropout = training && o.num_layers > 1 ? o.dropout : 0.0;
  size_t state_bytes = 0;
  RECUR_CUDNN_CHECK(cudnnDropoutGetStatesSize(handle, &state_bytes));
  unsigned long long seed = o.dropout_seed;
  if (dropout > 0.0) {
    Generator& stream = generator != nullptr ? *generator : default_generator();
    seed = stream.seed() ^ (stream.reserve(4) * 0x9E3779B97F4A7C15ull);
    plan->dropout_states = device_buffer(state_bytes, plan->device);
    RECUR_CUDNN_CHECK(cudnnSetDropoutDescriptor(plan->dropout.get(), handle, static_cast<float>(dropout),
                                                plan->dropout_states.raw_data(), state_bytes, seed));
  } else {
    RECUR_CUDNN_CHECK(cudnnSetDropoutDescriptor(plan->dropout.get(), handle, 0.0f, nullptr, 0, seed));
  }

  set_rnn_descriptor(plan->rnn, plan->dropout, o, plan->dtype, context);
  RECUR_CUDNN_CHECK(cudnnGetRNNWeightSpaceSize(handle, plan->rnn.get(), &plan->weight_bytes));

  // Padded, time-major input and output with one length per sequence.
  std::vector<int> seq_lengths(static_cast<size_t>(plan->batch), checked_int(plan->steps, "steps"));
  for (size_t b = 0; b < lengths.size(); ++b) seq_lengths[b] = static_cast<int>(lengths[b]);
  double zero = 0.0;  // cuDNN reads the padding value in the data type: all-zero bits are 0 in each
  void* padding = &zero;
  const int steps = static_cast<int>(plan->steps), batch = checked_int(plan->batch, "batch");
  RECUR_CUDNN_CHECK(
      cudnnSetRNNDataDescriptor(plan->x_desc.get(), plan->data_type, CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED, steps,
                                batch, checked_int(plan->input_size, "input_size"), seq_lengths.data(), padding));
  RECUR_CUDNN_CHECK(
      cudnnSetRNNDataDescriptor(plan->y_desc.get(), plan->data_type, CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED, steps,
                                batch, checked_int(plan->output_size, "output size"), seq_lengths.data(), padding));
  const int states = checked_int(plan->states, "layers * directions");
  cuda::set_packed_3d(plan->h_desc, plan->data_type, states, batch, static_cast<int>(plan->rec));
  cuda::set_packed_3d(plan->c_desc, plan->data_type, states, batch, static_cast<int>(plan->hidden));
  plan->seq_lengths = device_buffer(seq_lengths.size() * sizeof(int), plan->device);
  context.copy_from_host(plan->seq_lengths.raw_data(), seq_lengths.data(), seq_lengths.size() * sizeof(int));
  return plan;
}

// The plan for a forward. One without dropout depends only on the options, dtype, device, the
// TF32 switch, the shape and the lengths: the last kCachedPlans such plans are kept and shared,
// read-only, by every forward and backward that matches, so a training loop builds its
// descriptors and uploads its sequence lengths once. A plan with dropout is made per call (its
// dropout descriptor is seeded from recur's generator each time).
std::shared_ptr<CudnnRnnPlan> find_plan(const RNNOptions& o, cuda::CudaContext& context, const Tensor& x_tbi,
                                        const Tensor& lengths, bool training, Generator* generator) {
  const std::vector<int64_t> host_lengths = lengths.defined() ? lengths.to_vector<int64_t>() : std::vector<int64_t>{};
  if (training && o.num_layers > 1 && o.dropout > 0.0) {
    return make_plan(o, context, x_tbi, host_lengths, training, generator);
  }
  constexpr size_t kCachedPlans = 16;
  static std::mutex mutex;
  static std::list<std::pair<std::string, std::shared_ptr<CudnnRnnPlan>>> cache;  // most recent first
  std::string key = fmt::format("{}|{}|{}|{}|{}", options_to_json(o), x_tbi.dtype(), x_tbi.device(),
                                context.allow_tf32(), shape_str(x_tbi.shape()));
  for (int64_t length : host_lengths) key += fmt::format(",{}", length);
  std::lock_guard<std::mutex> lock(mutex);
  for (auto it = cache.begin(); it != cache.end(); ++it) {
    if (it->first != key) continue;
    cache.splice(cache.begin(), cache, it);
    return cache.front().second;
  }
  std::shared_ptr<CudnnRnnPlan> plan = make_plan(o, context, x_tbi, host_lengths, training, generator);
  cache.emplace_front(std::move(key), plan);
  if (cache.size() > kCachedPlans) cache.pop_back();
  return plan;
}

// Where each canonical matrix and bias of `weights` lives in the weight space `space`.
std::vector<Slot> weight_slots(const RNNOptions& o, cudnnHandle_t handle, const CudnnRnnPlan& plan, const Tensor& space,
                               const std::vector<CellWeights>& weights) {
  const int64_t gates = o.gates(), hidden = o.hidden_size;
  const size_t element = dtype_size(plan.dtype);
  const char* base = static_cast<const char*>(space.raw_data());
  TensorDescriptor matrix_desc, bias_desc;
  std::vector<Slot> slots;
  const auto view_at = [&](void* address, const Tensor& like_block) {
    const ptrdiff_t bytes = static_cast<const char*>(address) - base;
    RECUR_CHECK(bytes >= 0 && static_cast<size_t>(bytes) % element == 0 &&
                    static_cast<size_t>(bytes) + like_block.nbytes() <= plan.weight_bytes,
                "cuDNN RNN: cudnnGetRNNWeightParams returned an address outside the weight space");
    return space.as_strided_raw(like_block.shape(), contiguous_strides(like_block.shape()),
                                static_cast<int64_t>(static_cast<size_t>(bytes) / element));
  };
  for (int64_t index = 0; index < static_cast<int64_t>(weights.size()); ++index) {
    const CellWeights& w = weights[index];
    // linLayerID: 0..G-1 the input matrices, G..2G-1 the recurrent ones, 8 the LSTM projection.
    std::vector<int> layer_ids;
    for (int id = 0; id < 2 * gates; ++id) layer_ids.push_back(id);
    if (o.mode == RNNMode::LSTM && o.proj_size > 0) layer_ids.push_back(8);
    for (int id : layer_ids) {
      void* matrix = nullptr;
      void* bias = nullptr;
      RECUR_CUDNN_CHECK(cudnnGetRNNWeightParams(handle, plan.rnn.get(), static_cast<int32_t>(index), plan.weight_bytes,
                                                space.raw_data(), id, matrix_desc.get(), &matrix, bias_desc.get(),
                                                &bias));
      const bool recurrent = id >= gates && id < 2 * gates, projection = id == 8;
      const int64_t gate = projection ? 0 : id % gates;
      const Member weight_member = projection ? Member::WeightHr : recurrent ? Member::WeightHh : Member::WeightIh;
      const Tensor& source = member_of(w, weight_member);
      if (matrix != nullptr && source.defined()) {
        const int64_t rows = projection ? source.size(0) : hidden;
        Slot slot;
        slot.block = {index, weight_member, projection ? 0 : gate * hidden, rows};
        const Tensor block = rows_of(source, slot.block.row, rows);
        RECUR_CHECK(cuda::described_elements(matrix_desc) == block.numel(),
                    "cuDNN RNN: cuDNN's matrix {} of layer-direction {} has {} elements, recur's block {} has {}", id,
                    index, cuda::described_elements(matrix_desc), shape_str(block.shape()), block.numel());
        slot.space = view_at(matrix, block);
        slots.push_back(slot);
      }
      if (projection || !o.bias) continue;
      const Member bias_member = recurrent ? Member::BiasHh : Member::BiasIh;
      if (bias != nullptr) {
        RECUR_CHECK(cuda::described_elements(bias_desc) == hidden,
                    "cuDNN RNN: cuDNN's bias {} of layer-direction {} has {} elements, expected hidden_size={}", id,
                    index, cuda::described_elements(bias_desc), hidden);
        Slot slot;
        slot.block = {index, bias_member, gate * hidden, hidden};
        slot.space = view_at(bias, rows_of(member_of(w, bias_member), gate * hidden, hidden));
        if (o.mode == RNNMode::LSTM && !recurrent && gate == 1) slot.constant = o.forget_bias;
        slots.push_back(slot);
      }
    }
  }
  // An input bias without a slot of its own (cuDNN may drop it with skip input) is added into
  // the recurrent bias of its gate: the two are only ever summed, so the gradient is the same.
  for (Slot& slot : slots) {
    if (slot.block.member != Member::BiasHh) continue;
    const int64_t index = slot.block.index, gate = slot.block.row / hidden;
    bool has_own = false;
    for (const Slot& other : slots) {
      has_own = has_own || (other.block.index == index && other.block.member == Member::BiasIh &&
                            other.block.row == slot.block.row);
    }
    if (!has_own) {
      RECUR_CHECK(o.mode != RNNMode::GRU || gate != 2,
                  "cuDNN RNN: no slot for the GRU n gate's input bias of layer-direction {} (cudnn_supports refuses "
                  "this case)",
                  index);
      slot.extra = {index, Member::BiasIh, slot.block.row, hidden};
      if (o.mode == RNNMode::LSTM && gate == 1) slot.constant = o.forget_bias;
    }
  }
  return slots;
}

void pack_weights(const std::vector<Slot>& slots, const std::vector<CellWeights>& weights, Tensor& space) {
  Backend& backend = backend_of(space);
  backend.fill(space, 0.0);
  for (const Slot& slot : slots) {
    Tensor target = slot.space;
    backend.copy(target, rows_of(member_of(weights[slot.block.index], slot.block.member).detach(), slot.block.row,
                                 slot.block.rows));
    if (slot.extra.defined()) {
      const Tensor extra =
          rows_of(member_of(weights[slot.extra.index], slot.extra.member).detach(), slot.extra.row, slot.extra.rows);
      backend.binary(BinaryOp::Add, target, target, extra);
    }
    if (slot.constant != 0.0) backend.unary(UnaryOp::Affine, target, target, {1.0, slot.constant});
  }
}

// The whole storage of the weights as one buffer, when every weight is a view of the same
// storage of at least `bytes` in the plan's dtype and device (nn::RNN's flat buffer on a GPU).
std::optional<Tensor> shared_storage(const std::vector<CellWeights>& weights, const CudnnRnnPlan& plan) {
  const Tensor* any = nullptr;
  for (const CellWeights& w : weights) {
    for (const Tensor* t : {&w.weight_ih, &w.weight_hh, &w.bias_ih, &w.bias_hh, &w.weight_hr}) {
      if (!t->defined()) continue;
      if (t->dtype() != plan.dtype || t->device() != plan.device) return std::nullopt;
      if (any != nullptr && t->storage() != any->storage()) return std::nullopt;
      any = t;
    }
  }
  const size_t element = dtype_size(plan.dtype);
  if (any == nullptr || any->storage()->nbytes() < plan.weight_bytes) return std::nullopt;
  const auto elements = static_cast<int64_t>(any->storage()->nbytes() / element);
  return any->detach().as_strided_raw({elements}, {1}, 0);
}

// Whether `space` already holds every weight where cuDNN reads it: each slot is exactly its
// weight block (no folded input bias, no forget_bias constant).
bool weights_in_place(const std::vector<Slot>& slots, const std::vector<CellWeights>& weights) {
  for (const Slot& slot : slots) {
    if (slot.extra.defined() || slot.constant != 0.0) return false;
    const Tensor block =
        rows_of(member_of(weights[slot.block.index], slot.block.member), slot.block.row, slot.block.rows);
    if (!block.is_contiguous() || block.offset() != slot.space.offset()) return false;
  }
  return true;
}

}  // namespace

namespace {

std::optional<CudnnWeightSpace> query_weight_space(const RNNOptions& o, Device device, DType dtype) {
  if (dtype != DType::Float32 && dtype != DType::Float64 && !is_reduced(dtype)) return std::nullopt;
  cuda::CudaContext& context = cuda::cuda_context(device.index);
  cuda::DeviceGuard guard(context.device());
  cudnnHandle_t handle = context.cudnn();
  RnnDescriptor rnn;
  DropoutDescriptor dropout;
  RECUR_CUDNN_CHECK(cudnnSetDropoutDescriptor(dropout.get(), handle, 0.0f, nullptr, 0, 0));
  set_rnn_descriptor(rnn, dropout, o, dtype, context);
  size_t bytes = 0;
  RECUR_CUDNN_CHECK(cudnnGetRNNWeightSpaceSize(handle, rnn.get(), &bytes));
  const size_t element = dtype_size(dtype);
  CudnnWeightSpace result;
  result.space = zeros({static_cast<int64_t>((bytes + element - 1) / element)},
                       TensorOptions{}.with_dtype(dtype).with_device(device));
  const char* base = static_cast<const char*>(result.space.raw_data());
  const int64_t gates = o.gates(), hidden = o.hidden_size, rec = o.output_hidden_size();
  TensorDescriptor matrix_desc, bias_desc;
  // The element offset of consecutive blocks of `block` elements, one per linLayerID in ids: -1
  // when cuDNN has none of them, nullopt when it has only some, or they are not back to back.
  const auto run_of = [&](int32_t index, const std::vector<int>& ids, bool bias,
                          int64_t block) -> std::optional<int64_t> {
    int64_t first = -1;
    size_t absent = 0;
    for (size_t k = 0; k < ids.size(); ++k) {
      void* matrix = nullptr;
      void* bias_address = nullptr;
      RECUR_CUDNN_CHECK(cudnnGetRNNWeightParams(handle, rnn.get(), index, bytes, result.space.raw_data(), ids[k],
                                                matrix_desc.get(), &matrix, bias_desc.get(), &bias_address));
      const void* address = bias ? bias_address : matrix;
      if (address == nullptr) {
        ++absent;
        continue;
      }
      if (absent > 0) return std::nullopt;  // some present, some not
      const int64_t elements = cuda::described_elements(bias ? bias_desc : matrix_desc);
      const ptrdiff_t offset = static_cast<const char*>(address) - base;
      if (elements != block || offset < 0 || static_cast<size_t>(offset) % element != 0) return std::nullopt;
      const int64_t at = static_cast<int64_t>(static_cast<size_t>(offset) / element);
      if (k == 0) first = at;
      if (at != first + static_cast<int64_t>(k) * block) return std::nullopt;
    }
    if (absent == ids.size()) return -1;
    if (absent > 0) return std::nullopt;
    return first;
  };
  std::vector<int> input_ids, recurrent_ids;
  for (int id = 0; id < gates; ++id) input_ids.push_back(id);
  for (int id = static_cast<int>(gates); id < 2 * gates; ++id) recurrent_ids.push_back(id);
  const int64_t layers = o.num_layers * o.num_directions();
  for (int64_t index = 0; index < layers; ++index) {
    const int64_t layer = index / o.num_directions();
    const int64_t input_columns = layer == 0 ? o.input_size : o.num_directions() * rec;
    const auto i32 = static_cast<int32_t>(index);
    std::array<int64_t, 5> offsets = {-1, -1, -1, -1, -1};  // weight_ih, weight_hh, bias_ih, bias_hh, weight_hr
    const auto weight_ih = run_of(i32, input_ids, false, hidden * input_columns);
    const auto weight_hh = run_of(i32, recurrent_ids, false, hidden * rec);
    if (!weight_ih || !weight_hh) return std::nullopt;
    offsets[0] = *weight_ih;
    offsets[1] = *weight_hh;
    if (o.bias) {
      const auto bias_ih = run_of(i32, input_ids, true, hidden), bias_hh = run_of(i32, recurrent_ids, true, hidden);
      if (!bias_ih || !bias_hh || *bias_ih < 0 || *bias_hh < 0) return std::nullopt;
      offsets[2] = *bias_ih;
      offsets[3] = *bias_hh;
    }
    if (o.proj_size > 0) {
      const auto weight_hr = run_of(i32, {8}, false, rec * hidden);
      if (!weight_hr || *weight_hr < 0) return std::nullopt;
      offsets[4] = *weight_hr;
    }
    // recur has weight_ih for every layer but the first with skip input; cuDNN must agree.
    const bool expect_input = !(layer == 0 && o.skip_input());
    if (offsets[1] < 0 || (offsets[0] >= 0) != expect_input) return std::nullopt;
    result.offsets.push_back(offsets);
  }
  return result;
}

// Whether this device's cuDNN gives layer 0 input-bias slots of its own with skip input (cuDNN
// 9.19 on an H200 does): asked once per device with a small GRU, false when it cannot be asked.
bool skip_input_keeps_input_biases(Device device) {
  static std::mutex mutex;
  static std::map<int, bool> known;
  const std::lock_guard<std::mutex> lock(mutex);
  if (const auto it = known.find(device.index); it != known.end()) return it->second;
  RNNOptions probe;
  probe.mode = RNNMode::GRU;
  probe.input_size = probe.hidden_size = 4;
  probe.input_mode = InputMode::SkipInput;
  bool keeps = false;
  try {
    // The layout query succeeds only when every bias of every layer has its own slot.
    const std::optional<CudnnWeightSpace> space = query_weight_space(probe, device, DType::Float32);
    keeps = space.has_value() && space->offsets.at(0)[2] >= 0;
  } catch (const Error&) {
    keeps = false;  // no usable device: the caller's forward will say why
  }
  known[device.index] = keeps;
  return keeps;
}

}  // namespace

std::optional<CudnnWeightSpace> cudnn_weight_space(const RNNOptions& o, Device device, DType dtype) {
  if (!cudnn_supports(o, device) || o.forget_bias != 0.0) return std::nullopt;
  try {
    return query_weight_space(o, device, dtype);
  } catch (const Error&) {
    // cuDNN refused these options in this dtype (a forward will say why): keep recur's layout.
    return std::nullopt;
  }
}

bool cudnn_supports(const RNNOptions& o, Device device, std::string* why) {
  auto no = [&](const char* reason) {
    if (why) *why = reason;
    return false;
  };
  if (!device.is_cuda()) return no("cuDNN runs on CUDA devices");
  if (o.use_peepholes) return no("cuDNN has no peepholes");
  if (o.proj_clip > 0.0) return no("cuDNN has no proj_clip");
  // cudnnRNNSetClip_v9 is not TensorFlow's cell_clip (c_t = clamp(f c_{t-1} + i g)): on an H200
  // with cuDNN 9.19 its outputs differ from the first step on, in float32 and float64.
  if (o.cell_clip > 0.0) return no("cuDNN's LSTM clip is not cell_clip's clamp of c_t");
  if (o.activation != Activation::Tanh) return no("cuDNN's LSTM has no ReLU activation");
  if (o.gru_variant != GRUVariant::LinearBeforeReset) return no("cuDNN's GRU applies the reset after the matmul");
  if (o.forget_bias != 0.0 && !o.bias) return no("forget_bias without biases has nowhere to go in cuDNN");
  // With skip input cuDNN may give layer 0 no input-bias slot; its input biases are then folded
  // into the recurrent ones, which is exact for every gate but the GRU's n gate
  // (n = tanh(W_n x + b_Wn + r * (R_n h + b_Rn)): b_Wn sits outside the reset product).
  if (o.mode == RNNMode::GRU && o.skip_input() && o.bias && !skip_input_keeps_input_biases(device)) {
    return no("cuDNN gives a GRU with skip input no input bias for layer 0, and the n gate needs one");
  }
  return true;
}

RNNOutput rnn_forward_cudnn(const RNNOptions& o, const std::vector<CellWeights>& weights, const Tensor& x_tbi,
                            const Tensor& h0, const Tensor& c0, const Tensor& lengths, bool training,
                            Generator* generator) {
  std::string why;
  RECUR_CHECK(cudnn_supports(o, x_tbi.device(), &why), "RNN: cuDNN cannot run these options: {}", why);
  RECUR_CHECK(!is_reduced(x_tbi.dtype()) || cuda_backend(x_tbi.device().index).reduced_precision_allowed(),
              "RNN: a {} RNN on {} is opt-in: call cuda_backend({}).set_allow_reduced_precision(true)", x_tbi.dtype(),
              x_tbi.device(), x_tbi.device().index);
  // cuDNN's RNN takes bfloat16 from 9.13 on; an older library fails deep inside with BAD_PARAM.
  RECUR_CHECK(x_tbi.dtype() != DType::BFloat16 || cudnnGetVersion() >= 91300,
              "RNN: a bfloat16 RNN on the GPU needs cuDNN 9.13 or newer at run time, this process loaded {}",
              cudnnGetVersion());
  cuda::CudaContext& context = cuda::cuda_context(x_tbi.device().index);
  cuda::DeviceGuard guard(context.device());
  cudnnHandle_t handle = context.cudnn();
  const std::shared_ptr<CudnnRnnPlan> plan = find_plan(o, context, x_tbi, lengths, training, generator);
  const TensorOptions like = TensorOptions{}.with_dtype(x_tbi.dtype()).with_device(x_tbi.device());

  // The weight space: nn::RNN's flat buffer itself when it has cuDNN's layout (flatten_parameters
  // on a GPU), else a fresh buffer the weights are packed into.
  Tensor space;
  std::vector<Slot> slots;
  bool in_place = false;
  if (const std::optional<Tensor> shared = shared_storage(weights, *plan)) {
    slots = weight_slots(o, handle, *plan, *shared, weights);
    in_place = weights_in_place(slots, weights);
    if (in_place) space = *shared;
  }
  if (!in_place) {
    RECUR_CHECK(!is_reduced(plan->dtype) || o.forget_bias == 0.0,
                "RNN: forget_bias is folded into cuDNN's weights in float32 or float64 only, not {}", plan->dtype);
    space = make_contiguous_tensor(
        {static_cast<int64_t>((plan->weight_bytes + dtype_size(plan->dtype) - 1) / dtype_size(plan->dtype))},
        plan->dtype, plan->device);
    slots = weight_slots(o, handle, *plan, space, weights);
    for (const Slot& slot : slots) {
      RECUR_CHECK(!is_reduced(plan->dtype) || !slot.extra.defined(),
                  "RNN: with skip input cuDNN has no input bias for layer 0; recur folds it into the recurrent "
                  "bias in float32 or float64 only, not {}",
                  plan->dtype);
    }
    pack_weights(slots, weights, space);
  }

  std::vector<Tensor> inputs{x_tbi, h0, c0};
  for (const CellWeights& w : weights) {
    for (const Tensor* t : {&w.weight_ih, &w.weight_hh, &w.bias_ih, &w.bias_hh, &w.weight_hr}) inputs.push_back(*t);
  }
  const bool record = autograd::needs_grad(inputs);
  // cuDNN applies dropout only in training mode: a training-mode module with dropout runs it
  // even when no gradient is needed, as the CPU path does.
  const bool drops = training && o.num_layers > 1 && o.dropout > 0.0;
  const cudnnForwardMode_t mode = record || drops ? CUDNN_FWD_MODE_TRAINING : CUDNN_FWD_MODE_INFERENCE;

  const Tensor x = compute::contiguous(x_tbi.detach());
  const Tensor hx = h0.defined() ? compute::contiguous(h0.detach()) : Tensor();
  const Tensor cx = plan->lstm && c0.defined() ? compute::contiguous(c0.detach()) : Tensor();
  Tensor y = make_contiguous_tensor({plan->steps, plan->batch, plan->output_size}, plan->dtype, plan->device);
  Tensor hy = make_contiguous_tensor({plan->states, plan->batch, plan->rec}, plan->dtype, plan->device);
  Tensor cy = plan->lstm ? make_contiguous_tensor({plan->states, plan->batch, plan->hidden}, plan->dtype, plan->device)
                         : Tensor();
  size_t work_bytes = 0, reserve_bytes = 0;
  RECUR_CUDNN_CHECK(
      cudnnGetRNNTempSpaceSizes(handle, plan->rnn.get(), mode, plan->x_desc.get(), &work_bytes, &reserve_bytes));
  Tensor work = device_buffer(work_bytes, plan->device);
  Tensor reserve = mode == CUDNN_FWD_MODE_TRAINING ? device_buffer(reserve_bytes, plan->device) : Tensor();
  const auto ptr_or_null = [](const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; };
  RECUR_CUDNN_CHECK(cudnnRNNForward(
      handle, plan->rnn.get(), mode, static_cast<const int32_t*>(plan->seq_lengths.raw_data()), plan->x_desc.get(),
      x.raw_data(), plan->y_desc.get(), y.raw_data(), plan->h_desc.get(), ptr_or_null(hx), hy.raw_data(),
      plan->c_desc.get(), ptr_or_null(cx), ptr_or_null(cy), plan->weight_bytes, space.raw_data(), work_bytes,
      work.raw_data(), reserve.defined() ? reserve_bytes : 0, ptr_or_null(reserve)));

  std::vector<Tensor> outputs{y, hy};
  if (cy.defined()) outputs.push_back(cy);
  if (record) {
    std::vector<CellWeights> saved = weights;  // detached: shapes for the gradients, no graph cycle
    for (CellWeights& w : saved) {
      for (Tensor* t : {&w.weight_ih, &w.weight_hh, &w.bias_ih, &w.bias_hh, &w.weight_hr, &w.weight_peephole}) {
        if (t->defined()) *t = t->detach();
      }
    }
    // record() makes this node the grad_fn of y, hy and cy themselves, so the closure holds a
    // detached view of y and the states' shapes only: capturing the outputs would be a cycle
    // (output -> node -> closure -> output) that keeps every buffer alive when backward never runs.
    const Tensor y_saved = y.detach();
    const bool padded = lengths.defined();
    const Shape h_shape = hy.shape(), c_shape = cy.defined() ? cy.shape() : Shape{};
    bool consumed = false;
    outputs = autograd::record(
        "rnn_cudnn", inputs, outputs, [=](const std::vector<Tensor>& grads) mutable -> std::vector<Tensor> {
          RECUR_CHECK(reserve.defined(),
                      "RNN: backward through a cuDNN forward run in inference mode (no reserve space was kept)");
          RECUR_CHECK(!consumed,
                      "RNN: the cuDNN backward runs once per forward (cuDNN consumes its reserve space); "
                      "run the forward again instead of retain_graph");
          consumed = true;
          cuda::CudaContext& ctx = cuda::cuda_context(plan->device.index);
          cuda::DeviceGuard device_guard(ctx.device());
          cudnnHandle_t h = ctx.cudnn();
          const Tensor dy = zeros_or(grads[0], y_saved.shape(), like);
          const Tensor dhy = grads.size() > 1 && grads[1].defined() ? compute::contiguous(grads[1]) : Tensor();
          const Tensor dcy = grads.size() > 2 && grads[2].defined() ? compute::contiguous(grads[2]) : Tensor();
          // With per-sequence lengths the padded steps of dx are zeros (cuDNN may leave them unwritten).
          Tensor dx = padded ? zeros(x.shape(), like) : make_contiguous_tensor(x.shape(), plan->dtype, plan->device);
          Tensor dhx = make_contiguous_tensor(h_shape, plan->dtype, plan->device);
          Tensor dcx = plan->lstm ? make_contiguous_tensor(c_shape, plan->dtype, plan->device) : Tensor();
          size_t work_size = 0, reserve_size = 0;
          RECUR_CUDNN_CHECK(cudnnGetRNNTempSpaceSizes(h, plan->rnn.get(), CUDNN_FWD_MODE_TRAINING, plan->x_desc.get(),
                                                      &work_size, &reserve_size));
          Tensor workspace = device_buffer(work_size, plan->device);
          const auto* seq = static_cast<const int32_t*>(plan->seq_lengths.raw_data());
          const auto ptr = [](const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; };
          RECUR_CUDNN_CHECK(cudnnRNNBackwardData_v8(
              h, plan->rnn.get(), seq, plan->y_desc.get(), y_saved.raw_data(), dy.raw_data(), plan->x_desc.get(),
              dx.raw_data(), plan->h_desc.get(), ptr(hx), ptr(dhy), dhx.raw_data(), plan->c_desc.get(), ptr(cx),
              ptr(dcy), ptr(dcx), plan->weight_bytes, space.raw_data(), work_size, workspace.raw_data(), reserve_size,
              reserve.raw_data()));
          Tensor dspace = zeros(space.shape(), like);
          RECUR_CUDNN_CHECK(cudnnRNNBackwardWeights_v8(
              h, plan->rnn.get(), CUDNN_WGRAD_MODE_ADD, seq, plan->x_desc.get(), x.raw_data(), plan->h_desc.get(),
              ptr(hx), plan->y_desc.get(), y_saved.raw_data(), plan->weight_bytes, dspace.raw_data(), work_size,
              workspace.raw_data(), reserve_size, reserve.raw_data()));
          // Scatter the weight-space gradient back to recur's matrices.
          std::vector<Tensor> result{dx, hx.defined() ? dhx : Tensor(), cx.defined() ? dcx : Tensor()};
          const size_t first_weight = result.size();
          for (const CellWeights& w : saved) {
            for (const Tensor* t : {&w.weight_ih, &w.weight_hh, &w.bias_ih, &w.bias_hh, &w.weight_hr}) {
              // In place, each weight's gradient is the same window of the gradient space.
              result.push_back(!t->defined() ? Tensor()
                               : in_place    ? dspace.as_strided_raw(t->shape(), t->strides(), t->offset())
                                             : zeros(t->shape(), like));
            }
          }
          if (in_place) return result;
          Backend& backend = backend_of(dspace);
          for (const Slot& slot : slots) {
            const Tensor gradient =
                dspace.as_strided_raw(slot.space.shape(), slot.space.strides(), slot.space.offset());
            for (const Block& block : {slot.block, slot.extra}) {
              if (!block.defined()) continue;
              Tensor& target =
                  result[first_weight + static_cast<size_t>(block.index) * 5 + static_cast<size_t>(block.member)];
              Tensor rows = rows_of(target, block.row, block.rows);
              backend.copy(rows, gradient);
            }
          }
          return result;
        });
  }
  RNNOutput result;
  result.output = outputs[0];
  result.h_n = outputs[1];
  if (plan->lstm) result.c_n = outputs[2];
  return result;
}

}  // namespace recur::nn

#else  // !RECUR_HAVE_CUDA

namespace recur::nn {

bool cudnn_supports(const RNNOptions&, Device, std::string* why) {
  if (why) *why = "recur was built without the CUDA backend";
  return false;
}

std::optional<CudnnWeightSpace> cudnn_weight_space(const RNNOptions&, Device, DType) { return std::nullopt; }

RNNOutput rnn_forward_cudnn(const RNNOptions&, const std::vector<CellWeights>&, const Tensor&, const Tensor&,
                            const Tensor&, const Tensor&, bool, Generator*) {
  RECUR_FAIL("RNN: cuDNN is not available: recur was built without the CUDA backend");
}

}  // namespace recur::nn

#endif  // RECUR_HAVE_CUDA
