// What a reduced-precision GEMM buys on this CPU: oneDNN's matmul primitive at the shapes of a
// training step (reference config: B=32, T=64, H=256, 4 gates, V=65), in float32 with the
// weights in their plain row-major layout, in float32 with the weights packed into oneDNN's
// preferred layout (format_tag::any), and with bfloat16 operands and a float32 result. Each row
// reports GFLOP/s and the kernel oneDNN picked (its label: e.g. brg:avx512_core_amx on a CPU with
// AMX, brg:avx512_core_bf16 on one with AVX512-BF16 only). The ratio bf16 / f32 of one run is
// what decides whether bfloat16 GEMMs pay on a CPU.
//
//   build/release/bench/bench_matmul_precision [--benchmark_filter=...]
//
// OMP_NUM_THREADS sets oneDNN's threads (the train step's default is all cores).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <oneapi/dnnl/dnnl.hpp>

namespace {

using dnnl::memory;
using Dt = memory::data_type;
using Tag = memory::format_tag;

enum class Kind : int { F32Plain, F32Packed, BF16 };

// C[M, N] += A[M, K] B[K, N]: the activations A are row-major, the weights B are W^T of a
// row-major W [N, K] (tag ba), or packed.
void matmul(benchmark::State& state, Kind kind) {
  const memory::dim m = state.range(0), n = state.range(1), k = state.range(2);
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const Dt operand = kind == Kind::BF16 ? Dt::bf16 : Dt::f32;
  const memory::desc a_md({m, k}, operand, Tag::ab);
  const memory::desc b_md({k, n}, operand, kind == Kind::F32Plain ? Tag::ba : Tag::any);
  const memory::desc c_md({m, n}, Dt::f32, Tag::ab);
  dnnl::post_ops sum;
  sum.append_sum(1.0f);  // the recurrent GEMM accumulates into the input projection
  dnnl::primitive_attr attr;
  attr.set_post_ops(sum);
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, engine);
  const dnnl::matmul primitive(pd);
  memory a(a_md, engine), b(pd.weights_desc(), engine), c(c_md, engine);
  // Normal numbers (denormals would slow float32 down): 0.5 in either type.
  for (memory* mem : {&a, &b}) {
    const size_t bytes = mem->get_desc().get_size();
    if (operand == Dt::bf16) {
      std::fill_n(static_cast<uint16_t*>(mem->get_data_handle()), bytes / 2, uint16_t{0x3f00});
    } else {
      std::fill_n(static_cast<float*>(mem->get_data_handle()), bytes / 4, 0.5f);
    }
  }
  std::memset(c.get_data_handle(), 0, c_md.get_size());
  for (auto _ : state) {
    primitive.execute(stream, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
    stream.wait();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * static_cast<double>(m * n * k), benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  state.SetLabel(pd.impl_info_str());
}

void f32_plain(benchmark::State& state) { matmul(state, Kind::F32Plain); }
void f32_packed(benchmark::State& state) { matmul(state, Kind::F32Packed); }
void bf16(benchmark::State& state) { matmul(state, Kind::BF16); }

// {M, N, K}: the recurrent GEMM (B x 4H x H), the input projection of all steps (T*B x 4H x H),
// the weight gradient (4H x H x T*B) and the head (T*B x V x H).
void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "N", "K"});
  b->Args({32, 1024, 256});
  b->Args({2048, 1024, 256});
  b->Args({1024, 256, 2048});
  b->Args({2048, 65, 256});
  b->UseRealTime();
}

BENCHMARK(f32_plain)->Apply(shapes);
BENCHMARK(f32_packed)->Apply(shapes);
BENCHMARK(bf16)->Apply(shapes);

}  // namespace

BENCHMARK_MAIN();
