// cuDNN's RNN as the CUDA backend's fused RNN (backends/rnn.h, backends/cuda/cudnn_rnn.h): the
// v8/v9 API (cudnnRNNForward, cudnnRNNBackwardData_v8, cudnnRNNBackwardWeights_v8), padded I/O
// with per-sequence lengths, projection, inter-layer dropout from a seeded cuDNN dropout
// descriptor, and the reserve space carried from forward to backward in the saved state.
//
// Weights: a flat buffer laid out by weight_layout() (cudnnGetRNNWeightParams' addresses) is
// cuDNN's weight space itself: forward hands it to cuDNN as it is, and the weight gradients are
// views of cuDNN's gradient space. Weights laid out otherwise (functional callers, forget_bias,
// a layout cuDNN splits differently) are packed into a fresh weight space per call, one
// device-to-device copy per matrix, and the gradient is scattered back the same way.
#include "backends/cuda/cudnn_rnn.h"

#include <fmt/format.h>

#include <array>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "backends/compute.h"
#include "backends/cuda/check.h"
#include "backends/cuda/context.h"
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cudnn_descriptors.h"

namespace recur::cuda {
namespace {

// Which RnnWeights member a canonical block belongs to.
enum class Member : uint8_t { WeightIh, WeightHh, BiasIh, BiasHh, WeightHr };

const Tensor& member_of(const RnnWeights& w, Member member) {
  switch (member) {
    case Member::WeightIh: return w.weight_ih;
    case Member::WeightHh: return w.weight_hh;
    case Member::BiasIh: return w.bias_ih;
    case Member::BiasHh: return w.bias_hh;
    case Member::WeightHr: return w.weight_hr;
  }
  return w.weight_ih;
}

Tensor& member_of_mut(RnnWeights& w, Member member) { return const_cast<Tensor&>(member_of(w, member)); }

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

cudnnRNNMode_t cell_mode(RnnCell cell) {
  switch (cell) {
    case RnnCell::LSTM: return CUDNN_LSTM;
    case RnnCell::GRU: return CUDNN_GRU;
    case RnnCell::RNN_TANH: return CUDNN_RNN_TANH;
    case RnnCell::RNN_RELU: return CUDNN_RNN_RELU;
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

}  // namespace

void set_rnn_descriptor(RnnDescriptor& rnn, DropoutDescriptor& dropout, const RnnDesc& o, bool allow_tf32) {
  const DType dtype = o.dtype;
  // float32: exact FMA math unless TF32 is allowed; float16/bfloat16: tensor cores, float32
  // accumulation (mathPrec).
  const cudnnMathType_t math = is_reduced(dtype)                        ? CUDNN_TENSOR_OP_MATH
                               : dtype == DType::Float32 && !allow_tf32 ? CUDNN_FMA_MATH
                                                                        : CUDNN_DEFAULT_MATH;
  const cudnnDataType_t data_type = data_type_of(dtype);
  const cudnnDataType_t math_precision = is_reduced(dtype) ? CUDNN_DATA_FLOAT : data_type;
  RECUR_CUDNN_CHECK(cudnnSetRNNDescriptor_v8(
      rnn.get(), CUDNN_RNN_ALGO_STANDARD, cell_mode(o.cell), o.bias ? CUDNN_RNN_DOUBLE_BIAS : CUDNN_RNN_NO_BIAS,
      o.directions() == 2 ? CUDNN_BIDIRECTIONAL : CUDNN_UNIDIRECTIONAL,
      o.skip_input ? CUDNN_SKIP_INPUT : CUDNN_LINEAR_INPUT, data_type, math_precision, math,
      checked_int(o.input_size, "input_size"), checked_int(o.hidden_size, "hidden_size"),
      checked_int(o.recurrent_size(), "proj_size"), checked_int(o.num_layers, "num_layers"), dropout.get(),
      CUDNN_RNN_PADDED_IO_ENABLED));
}

namespace {

// lengths: the per-sequence lengths on the host, empty when every sequence has all T steps.
std::shared_ptr<CudnnRnnPlan> make_plan(const RnnDesc& o, cuda::CudaContext& context, const Tensor& x_tbi,
                                        const std::vector<int64_t>& lengths, RnnPhase phase, Generator* generator) {
  auto plan = std::make_shared<CudnnRnnPlan>();
  cudnnHandle_t handle = context.cudnn();
  plan->device = x_tbi.device();
  plan->dtype = x_tbi.dtype();
  plan->data_type = data_type_of(plan->dtype);
  plan->steps = x_tbi.size(0);
  plan->batch = x_tbi.size(1);
  plan->input_size = x_tbi.size(2);
  plan->rec = o.recurrent_size();
  plan->hidden = o.hidden_size;
  plan->output_size = o.directions() * plan->rec;
  plan->states = o.num_layers * o.directions();
  plan->lstm = o.cell == RnnCell::LSTM;

  // Dropout between layers (cuDNN's own generator, seeded from recur's stream).
  const double dropout = phase == RnnPhase::Training && o.num_layers > 1 ? o.dropout : 0.0;
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

  set_rnn_descriptor(plan->rnn, plan->dropout, o, context.allow_tf32());
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

// Where each canonical matrix and bias of `weights` lives in the weight space `space`.
std::vector<Slot> weight_slots(const RnnDesc& o, cudnnHandle_t handle, const CudnnRnnPlan& plan, const Tensor& space,
                               const std::vector<RnnWeights>& weights) {
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
    const RnnWeights& w = weights[index];
    // linLayerID: 0..G-1 the input matrices, G..2G-1 the recurrent ones, 8 the LSTM projection.
    std::vector<int> layer_ids;
    for (int id = 0; id < 2 * gates; ++id) layer_ids.push_back(id);
    if (o.cell == RnnCell::LSTM && o.proj_size > 0) layer_ids.push_back(8);
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
        if (o.cell == RnnCell::LSTM && !recurrent && gate == 1) slot.constant = o.forget_bias;
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
      RECUR_CHECK(o.cell != RnnCell::GRU || gate != 2,
                  "cuDNN RNN: no slot for the GRU n gate's input bias of layer-direction {} (cudnn_supports refuses "
                  "this case)",
                  index);
      slot.extra = {index, Member::BiasIh, slot.block.row, hidden};
      if (o.cell == RnnCell::LSTM && gate == 1) slot.constant = o.forget_bias;
    }
  }
  return slots;
}

void pack_weights(const std::vector<Slot>& slots, const std::vector<RnnWeights>& weights, Tensor& space) {
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
std::optional<Tensor> shared_storage(const std::vector<RnnWeights>& weights, const CudnnRnnPlan& plan) {
  const Tensor* any = nullptr;
  for (const RnnWeights& w : weights) {
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
bool weights_in_place(const std::vector<Slot>& slots, const std::vector<RnnWeights>& weights) {
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

std::optional<RnnWeightLayout> query_weight_space(const RnnDesc& o, Device device, DType dtype) {
  if (dtype != DType::Float32 && dtype != DType::Float64 && !is_reduced(dtype)) return std::nullopt;
  cuda::CudaContext& context = cuda::cuda_context(device.index);
  cuda::DeviceGuard guard(context.device());
  cudnnHandle_t handle = context.cudnn();
  RnnDescriptor rnn;
  DropoutDescriptor dropout;
  RECUR_CUDNN_CHECK(cudnnSetDropoutDescriptor(dropout.get(), handle, 0.0f, nullptr, 0, 0));
  set_rnn_descriptor(rnn, dropout, o, context.allow_tf32());
  size_t bytes = 0;
  RECUR_CUDNN_CHECK(cudnnGetRNNWeightSpaceSize(handle, rnn.get(), &bytes));
  const size_t element = dtype_size(dtype);
  RnnWeightLayout result;
  result.elements = static_cast<int64_t>((bytes + element - 1) / element);
  const Tensor space = zeros({result.elements}, TensorOptions{}.with_dtype(dtype).with_device(device));
  const char* base = static_cast<const char*>(space.raw_data());
  const int64_t gates = o.gates(), hidden = o.hidden_size, rec = o.recurrent_size();
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
      RECUR_CUDNN_CHECK(cudnnGetRNNWeightParams(handle, rnn.get(), index, bytes, space.raw_data(), ids[k],
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
  const int64_t layers = o.num_layers * o.directions();
  for (int64_t index = 0; index < layers; ++index) {
    const int64_t layer = index / o.directions();
    const int64_t input_columns = layer == 0 ? o.input_size : o.directions() * rec;
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
    const bool expect_input = !(layer == 0 && o.skip_input);
    if (offsets[1] < 0 || (offsets[0] >= 0) != expect_input) return std::nullopt;
    result.offsets.push_back(offsets);
  }
  return result;
}

// What backward needs: the plan, the weight space and its slots, the inputs, y and cuDNN's
// reserve space, and the weights' shapes (views) for the gradients.
struct CudnnSaved final : RnnSaved {
  std::shared_ptr<CudnnRnnPlan> plan;
  Tensor space, x, hx, cx, y, reserve;
  std::vector<Slot> slots;
  std::vector<RnnWeights> weights;  // detached
  bool in_place = false, padded = false;
  Tensor dspace;  // the weight-space gradient, after backward_data
  bool data_done = false, weights_done = false;
};

class CudnnRnn final : public RnnKernels {
 public:
  explicit CudnnRnn(int device_index) : device_index_(device_index) {}

  bool supports(const RnnDesc& o, std::string* why) override {
    auto no = [&](const char* reason) {
      if (why) *why = reason;
      return false;
    };
    if (o.dtype != DType::Float32 && o.dtype != DType::Float64 && !is_reduced(o.dtype)) {
      return no("cuDNN's RNN takes float32, float64, float16 or bfloat16");
    }
    // cuDNN's RNN takes bfloat16 from 9.13 on; an older library fails deep inside with BAD_PARAM.
    if (o.dtype == DType::BFloat16 && cudnnGetVersion() < 91300) return no("a bfloat16 RNN needs cuDNN 9.13 or newer");
    if (o.reverse) return no("cuDNN runs whole stacks, not one reversed direction");
    if (o.peepholes) return no("cuDNN has no peepholes");
    if (o.variational_dropout > 0.0 && o.num_layers > 1)
      return no("cuDNN's dropout draws a mask per element and step, not one per sequence (variational_dropout)");
    if (o.proj_clip > 0.0) return no("cuDNN has no proj_clip");
    // cuDNN's projSize may not exceed hiddenSize, and projSize == hiddenSize turns the projection off.
    if (o.proj_size > 0 && o.proj_size >= o.hidden_size)
      return no("cuDNN projects only to fewer than hidden_size units");
    // cudnnRNNSetClip_v9 is not TensorFlow's cell_clip (c_t = clamp(f c_{t-1} + i g)): on an H200
    // with cuDNN 9.19 its outputs differ from the first step on, in float32 and float64.
    if (o.cell_clip > 0.0) return no("cuDNN's LSTM clip is not cell_clip's clamp of c_t");
    if (o.relu_activation) return no("cuDNN's LSTM has no ReLU activation");
    if (o.gru_reset_before_linear) return no("cuDNN's GRU applies the reset after the matmul");
    if (o.forget_bias != 0.0 && !o.bias) return no("forget_bias without biases has nowhere to go in cuDNN");
    // With skip input cuDNN may give layer 0 no input-bias slot; its input biases are then folded
    // into the recurrent ones, which is exact for every gate but the GRU's n gate
    // (n = tanh(W_n x + b_Wn + r * (R_n h + b_Rn)): b_Wn sits outside the reset product).
    if (o.cell == RnnCell::GRU && o.skip_input && o.bias && !skip_input_keeps_input_biases()) {
      return no("cuDNN gives a GRU with skip input no input bias for layer 0, and the n gate needs one");
    }
    return true;
  }

  std::optional<RnnWeightLayout> weight_layout(const RnnDesc& o) override {
    // forget_bias lives in the packed copy of the weights, never in the flat buffer itself.
    if (!supports(o, nullptr) || o.forget_bias != 0.0) return std::nullopt;
    try {
      return query_weight_space(o, Device::cuda(device_index_), o.dtype);
    } catch (const Error&) {
      return std::nullopt;  // cuDNN refused these options in this dtype (a forward will say why)
    }
  }

  RnnForward forward(const RnnDesc& o, const std::vector<RnnWeights>& weights, const Tensor& x_tbi, const Tensor& h0,
                     const Tensor& c0, const Tensor& lengths, RnnPhase phase, KeepForBackward keep,
                     Generator* generator) override {
    std::string why;
    RECUR_CHECK(supports(o, &why), "RNN: cuDNN cannot run these options: {}", why);
    RECUR_CHECK(!is_reduced(x_tbi.dtype()) || cuda_backend(device_index_).reduced_precision_allowed(),
                "RNN: a {} RNN on {} is opt-in: call cuda_backend({}).set_allow_reduced_precision(true)", x_tbi.dtype(),
                x_tbi.device(), device_index_);
    CudaContext& context = cuda_context(device_index_);
    DeviceGuard guard(context.device());
    cudnnHandle_t handle = context.cudnn();
    const std::shared_ptr<CudnnRnnPlan> plan = find_plan(o, context, x_tbi, lengths, phase, generator);

    // The weight space: nn::RNN's flat buffer itself when it has cuDNN's layout (weight_layout),
    // else a fresh buffer the weights are packed into.
    auto saved = std::make_shared<CudnnSaved>();
    saved->plan = plan;
    if (const std::optional<Tensor> shared = shared_storage(weights, *plan)) {
      saved->slots = weight_slots(o, handle, *plan, *shared, weights);
      saved->in_place = weights_in_place(saved->slots, weights);
      if (saved->in_place) saved->space = *shared;
    }
    if (!saved->in_place) {
      RECUR_CHECK(!is_reduced(plan->dtype) || o.forget_bias == 0.0,
                  "RNN: forget_bias is folded into cuDNN's weights in float32 or float64 only, not {}", plan->dtype);
      saved->space = make_contiguous_tensor(
          {static_cast<int64_t>((plan->weight_bytes + dtype_size(plan->dtype) - 1) / dtype_size(plan->dtype))},
          plan->dtype, plan->device);
      saved->slots = weight_slots(o, handle, *plan, saved->space, weights);
      for (const Slot& slot : saved->slots) {
        RECUR_CHECK(!is_reduced(plan->dtype) || !slot.extra.defined(),
                    "RNN: with skip input cuDNN has no input bias for layer 0; recur folds it into the recurrent "
                    "bias in float32 or float64 only, not {}",
                    plan->dtype);
      }
      pack_weights(saved->slots, weights, saved->space);
    }

    // cuDNN applies dropout only in training mode: a training-mode stack with dropout runs it
    // even when no gradient is needed, as the CPU path does.
    const bool drops = phase == RnnPhase::Training && o.num_layers > 1 && o.dropout > 0.0;
    const cudnnForwardMode_t forward_mode =
        keep == KeepForBackward::Yes || drops ? CUDNN_FWD_MODE_TRAINING : CUDNN_FWD_MODE_INFERENCE;
    saved->x = compute::contiguous(x_tbi.detach());
    saved->hx = h0.defined() ? compute::contiguous(h0.detach()) : Tensor();
    saved->cx = plan->lstm && c0.defined() ? compute::contiguous(c0.detach()) : Tensor();
    saved->padded = lengths.defined();
    RnnForward out;
    out.y = make_contiguous_tensor({plan->steps, plan->batch, plan->output_size}, plan->dtype, plan->device);
    out.h_n = make_contiguous_tensor({plan->states, plan->batch, plan->rec}, plan->dtype, plan->device);
    if (plan->lstm)
      out.c_n = make_contiguous_tensor({plan->states, plan->batch, plan->hidden}, plan->dtype, plan->device);
    size_t work_bytes = 0, reserve_bytes = 0;
    RECUR_CUDNN_CHECK(cudnnGetRNNTempSpaceSizes(handle, plan->rnn.get(), forward_mode, plan->x_desc.get(), &work_bytes,
                                                &reserve_bytes));
    const Tensor work = device_buffer(work_bytes, plan->device);
    if (forward_mode == CUDNN_FWD_MODE_TRAINING) saved->reserve = device_buffer(reserve_bytes, plan->device);
    const auto ptr_or_null = [](const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; };
    RECUR_CUDNN_CHECK(cudnnRNNForward(
        handle, plan->rnn.get(), forward_mode, static_cast<const int32_t*>(plan->seq_lengths.raw_data()),
        plan->x_desc.get(), saved->x.raw_data(), plan->y_desc.get(), out.y.raw_data(), plan->h_desc.get(),
        ptr_or_null(saved->hx), out.h_n.raw_data(), plan->c_desc.get(), ptr_or_null(saved->cx), ptr_or_null(out.c_n),
        plan->weight_bytes, saved->space.raw_data(), work_bytes, work.raw_data(),
        saved->reserve.defined() ? reserve_bytes : 0, ptr_or_null(saved->reserve)));
    if (keep == KeepForBackward::No) return out;
    saved->y = out.y.detach();
    saved->weights = weights;
    for (RnnWeights& w : saved->weights) {
      for (Tensor* t : {&w.weight_ih, &w.weight_hh, &w.bias_ih, &w.bias_hh, &w.weight_hr}) {
        if (t->defined()) *t = t->detach();
      }
    }
    out.saved = saved;
    return out;
  }

  RnnDataGrads backward_data(RnnSaved& base, const Tensor& dy_in, const Tensor& dh_n, const Tensor& dc_n) override {
    auto& s = static_cast<CudnnSaved&>(base);
    RECUR_CHECK(!s.data_done,
                "RNN: the cuDNN backward runs once per forward (cuDNN consumes its reserve space); run the forward "
                "again instead of retain_graph");
    s.data_done = true;
    const CudnnRnnPlan& plan = *s.plan;
    CudaContext& context = cuda_context(device_index_);
    DeviceGuard guard(context.device());
    cudnnHandle_t handle = context.cudnn();
    const TensorOptions like = TensorOptions{}.with_dtype(plan.dtype).with_device(plan.device);
    const Tensor dy = zeros_or(dy_in, s.y.shape(), like);
    const Tensor dhy = dh_n.defined() ? compute::contiguous(dh_n) : Tensor();
    const Tensor dcy = plan.lstm && dc_n.defined() ? compute::contiguous(dc_n) : Tensor();
    RnnDataGrads out;
    // With per-sequence lengths the padded steps of dx are zeros (cuDNN may leave them unwritten).
    out.dx = s.padded ? zeros(s.x.shape(), like) : make_contiguous_tensor(s.x.shape(), plan.dtype, plan.device);
    Tensor dhx = make_contiguous_tensor({plan.states, plan.batch, plan.rec}, plan.dtype, plan.device);
    Tensor dcx =
        plan.lstm ? make_contiguous_tensor({plan.states, plan.batch, plan.hidden}, plan.dtype, plan.device) : Tensor();
    size_t work_size = 0, reserve_size = 0;
    RECUR_CUDNN_CHECK(cudnnGetRNNTempSpaceSizes(handle, plan.rnn.get(), CUDNN_FWD_MODE_TRAINING, plan.x_desc.get(),
                                                &work_size, &reserve_size));
    const Tensor workspace = device_buffer(work_size, plan.device);
    const auto* seq = static_cast<const int32_t*>(plan.seq_lengths.raw_data());
    const auto ptr = [](const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; };
    RECUR_CUDNN_CHECK(cudnnRNNBackwardData_v8(handle, plan.rnn.get(), seq, plan.y_desc.get(), s.y.raw_data(),
                                              dy.raw_data(), plan.x_desc.get(), out.dx.raw_data(), plan.h_desc.get(),
                                              ptr(s.hx), ptr(dhy), dhx.raw_data(), plan.c_desc.get(), ptr(s.cx),
                                              ptr(dcy), ptr(dcx), plan.weight_bytes, s.space.raw_data(), work_size,
                                              workspace.raw_data(), reserve_size, s.reserve.raw_data()));
    s.dspace = zeros(s.space.shape(), like);
    RECUR_CUDNN_CHECK(cudnnRNNBackwardWeights_v8(handle, plan.rnn.get(), CUDNN_WGRAD_MODE_ADD, seq, plan.x_desc.get(),
                                                 s.x.raw_data(), plan.h_desc.get(), ptr(s.hx), plan.y_desc.get(),
                                                 s.y.raw_data(), plan.weight_bytes, s.dspace.raw_data(), work_size,
                                                 workspace.raw_data(), reserve_size, s.reserve.raw_data()));
    if (s.hx.defined()) out.dh0 = dhx;
    if (s.cx.defined()) out.dc0 = dcx;
    return out;
  }

  std::vector<RnnWeights> backward_weights(RnnSaved& base) override {
    auto& s = static_cast<CudnnSaved&>(base);
    RECUR_CHECK(s.data_done && !s.weights_done, "RNN: backward_weights runs once, after backward_data");
    s.weights_done = true;
    const TensorOptions like = TensorOptions{}.with_dtype(s.plan->dtype).with_device(s.plan->device);
    std::vector<RnnWeights> grads(s.weights.size());
    for (size_t i = 0; i < s.weights.size(); ++i) {
      const RnnWeights& w = s.weights[i];
      RnnWeights& g = grads[i];
      const std::pair<const Tensor*, Tensor*> members[] = {{&w.weight_ih, &g.weight_ih},
                                                           {&w.weight_hh, &g.weight_hh},
                                                           {&w.bias_ih, &g.bias_ih},
                                                           {&w.bias_hh, &g.bias_hh},
                                                           {&w.weight_hr, &g.weight_hr}};
      for (const auto& [weight, grad] : members) {
        if (!weight->defined()) continue;
        // In place, each weight's gradient is the same window of the gradient space.
        *grad = s.in_place ? s.dspace.as_strided_raw(weight->shape(), weight->strides(), weight->offset())
                           : zeros(weight->shape(), like);
      }
    }
    if (s.in_place) return grads;
    // Scatter the weight-space gradient back to recur's matrices.
    Backend& backend = backend_of(s.dspace);
    for (const Slot& slot : s.slots) {
      const Tensor gradient = s.dspace.as_strided_raw(slot.space.shape(), slot.space.strides(), slot.space.offset());
      for (const Block& block : {slot.block, slot.extra}) {
        if (!block.defined()) continue;
        Tensor rows =
            rows_of(member_of_mut(grads[static_cast<size_t>(block.index)], block.member), block.row, block.rows);
        backend.copy(rows, gradient);
      }
    }
    return grads;
  }

 private:
  // Whether this device's cuDNN gives layer 0 input-bias slots of its own with skip input (cuDNN
  // 9.19 on an H200 does): asked once with a small GRU, false when it cannot be asked.
  bool skip_input_keeps_input_biases() {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (skip_input_biases_) return *skip_input_biases_;
    RnnDesc probe;
    probe.cell = RnnCell::GRU;
    probe.input_size = probe.hidden_size = 4;
    probe.skip_input = true;
    bool keeps = false;
    try {
      // The layout query succeeds only when every bias of every layer has its own slot.
      const std::optional<RnnWeightLayout> layout = query_weight_space(probe, Device::cuda(device_index_), probe.dtype);
      keeps = layout.has_value() && layout->offsets.at(0)[2] >= 0;
    } catch (const Error&) {
      keeps = false;  // no usable device: the caller's forward will say why
    }
    skip_input_biases_ = keeps;
    return keeps;
  }

  // The plan for a forward. One without dropout depends only on the descriptor, the TF32 switch,
  // the shape and the lengths: the last kCachedPlans such plans of this device are kept and
  // shared, read-only, by every forward and backward that matches, so a training loop builds its
  // descriptors and uploads its sequence lengths once. A plan with dropout is made per call (its
  // dropout descriptor is seeded from recur's generator each time).
  std::shared_ptr<CudnnRnnPlan> find_plan(const RnnDesc& o, CudaContext& context, const Tensor& x_tbi,
                                          const Tensor& lengths, RnnPhase phase, Generator* generator) {
    const std::vector<int64_t> host_lengths = lengths.defined() ? lengths.to_vector<int64_t>() : std::vector<int64_t>{};
    if (phase == RnnPhase::Training && o.num_layers > 1 && o.dropout > 0.0) {
      return make_plan(o, context, x_tbi, host_lengths, phase, generator);
    }
    constexpr size_t kCachedPlans = 16;
    std::string key = fmt::format("{}|{}|{}|{}|{}", o.key(), x_tbi.dtype(), x_tbi.device(), context.allow_tf32(),
                                  shape_str(x_tbi.shape()));
    for (int64_t length : host_lengths) key += fmt::format(",{}", length);
    const std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = plans_.begin(); it != plans_.end(); ++it) {
      if (it->first != key) continue;
      plans_.splice(plans_.begin(), plans_, it);
      return plans_.front().second;
    }
    std::shared_ptr<CudnnRnnPlan> plan = make_plan(o, context, x_tbi, host_lengths, phase, generator);
    plans_.emplace_front(std::move(key), plan);
    if (plans_.size() > kCachedPlans) plans_.pop_back();
    return plan;
  }

  int device_index_;
  std::mutex mutex_;
  std::list<std::pair<std::string, std::shared_ptr<CudnnRnnPlan>>> plans_;  // most recent first
  std::optional<bool> skip_input_biases_;
};

}  // namespace

std::unique_ptr<RnnKernels> make_cudnn_rnn(int device_index) { return std::make_unique<CudnnRnn>(device_index); }

}  // namespace recur::cuda
