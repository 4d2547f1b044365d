// The runtime settings of the backends, asked and set in one device-neutral place, so that a
// program (recur info, recur bench, the trainer, bench/) never includes a backend's internals:
//   - the CPU thread budget (backends/threading.h, included here);
//   - the CPU's float32 GEMM provider, oneDNN or OpenBLAS (backends/cpu/gemm.h runs it), and the
//     precision of its operands: float32, or bfloat16 with float32 accumulation;
//   - per CUDA device: TF32 for float32 GEMMs and cuDNN, and reduced precision (float16 and
//     bfloat16 operands with float32 accumulation);
//   - what the CUDA side can see (devices, runtime and cuDNN versions: backends/cuda_info.h).
// Every function here works in a build without the CUDA backend and on a machine without a GPU.
#pragma once

#include <cstdint>
#include <string>

#include "backends/cuda_info.h"
#include "backends/threading.h"
#include "core/device.h"

namespace recur {

// ---- the CPU GEMM provider --------------------------------------------------------------
// oneDNN (dnnl_sgemm) is the default for float32 where recur was built with it; the environment
// variable RECUR_GEMM=openblas|onednn overrides the default, set_gemm_provider() both. float64
// always runs on OpenBLAS.
enum class GemmProvider : uint8_t { OpenBLAS, OneDNN };

// Whether this build can use the provider.
bool gemm_provider_available(GemmProvider provider);
// Selects the float32 GEMM provider; throws recur::Error for one this build lacks.
void set_gemm_provider(GemmProvider provider);
// The provider in use (the default, or RECUR_GEMM, until set_gemm_provider is called;
// an unknown or unavailable RECUR_GEMM value throws recur::Error naming it).
GemmProvider gemm_provider();
// "openblas" or "onednn".
std::string gemm_provider_name();
// OpenBLAS's build configuration and thread count, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ... (2 threads)".
std::string openblas_info();
// The instruction set oneDNN's kernels dispatch to on this CPU, e.g. "avx512_core_bf16" ("none"
// in a build without oneDNN).
std::string cpu_gemm_isa();
// The GEMM operand precisions this CPU multiplies natively with float32 accumulation:
// "float32", plus "bfloat16 (AVX512-BF16)" or "bfloat16 (AMX)" where oneDNN dispatches to them.
std::string cpu_native_gemm_precisions();

// The CPU's flags that decide its GEMM kernels, as /proc/cpuinfo names them, e.g. "avx2 fma
// avx512f avx512_bf16" ("amx_bf16" where the CPU has AMX; "unknown" where the flags cannot be read).
std::string cpu_gemm_flags();

// ---- the CPU GEMMs' operand precision ---------------------------------------------------
// Float32: float32 operands. BFloat16: every float32 GEMM of the CPU backend (Backend::gemm, the
// fused RNN layer's input, recurrent and backward GEMMs) rounds its operands to bfloat16 (round
// to nearest even) and accumulates and writes float32:
//   C = alpha * bf16(op(A)) @ bf16(op(B)) + beta * C,   sums of products in float32.
// Everything else (weights, optimizer state, cell state, gates, softmax, loss) stays float32, and
// float64 GEMMs are not affected. bfloat16 GEMMs run on oneDNN's matmul primitive whichever
// float32 provider is selected (OpenBLAS has none), so they need a build with oneDNN and a CPU
// with AVX512-BF16 or AMX-BF16; recur never emulates them. The default is Float32.
enum class CpuGemmPrecision : uint8_t { Float32, BFloat16 };

// Whether this build and CPU multiply bfloat16 operands natively; when not, `why` (if given)
// gets the reason, naming the CPU's instruction sets.
bool cpu_bfloat16_gemm_available(std::string* why = nullptr);
// Selects the precision; BFloat16 where cpu_bfloat16_gemm_available() is false is a recur::Error
// with its reason.
void set_cpu_gemm_precision(CpuGemmPrecision precision);
CpuGemmPrecision cpu_gemm_precision();
// "f32" or "bf16" (the names of --precision).
std::string cpu_gemm_precision_name(CpuGemmPrecision precision);

// The FLOP rate of one core's bfloat16 dot products (VDPBF16PS) over its float32 FMAs, measured
// once per process on the calling thread (about 10 ms, backends/cpu/bf16_rate.cpp); 0 where the
// CPU has no AVX512-BF16. 2.0 on AMD Zen 4, 0.5 on an Intel Xeon without AMX.
double cpu_bfloat16_dot_speedup();

// The precision a request names, "f32", "bf16" or "auto", with one line saying which and why.
// "auto" picks bfloat16 where bfloat16 GEMMs run faster than float32 ones: with AMX-BF16, and
// with AVX512-BF16 where cpu_bfloat16_dot_speedup() is at least kBfloat16AutoSpeedup; float32
// elsewhere. An unknown name, or "bf16" where bfloat16 is unavailable, is a recur::Error. Nothing
// is set: pass the choice to set_cpu_gemm_precision.
struct CpuGemmPrecisionChoice {
  CpuGemmPrecision precision = CpuGemmPrecision::Float32;
  std::string reason;  // e.g. "float32: this CPU's bfloat16 dot products (AVX512-BF16, no AMX) run 0.50x ..."
};
CpuGemmPrecisionChoice choose_cpu_gemm_precision(const std::string& request);
// auto's rule, for a CPU whose oneDNN ISA (cpu_gemm_isa()), dot-product speedup and flags
// (cpu_gemm_flags()) are given, where bfloat16 GEMMs are available.
inline constexpr double kBfloat16AutoSpeedup = 1.25;
CpuGemmPrecisionChoice auto_cpu_gemm_precision(const std::string& isa, double bf16_dot_speedup,
                                               const std::string& flags);

// ---- per-device precision -----------------------------------------------------------------
// TF32 for float32 GEMMs and cuDNN's RNN on a CUDA device (off by default). The CPU has no TF32:
// there the setting is ignored and allow_tf32() is false. A CUDA device that is not visible is a
// recur::Error naming the reason.
void set_allow_tf32(Device device, bool allow);
bool allow_tf32(Device device);
// float16/bfloat16 GEMM operands and cuDNN RNNs with float32 accumulation on a CUDA device (off
// by default: such operands are then an error). Ignored on the CPU.
void set_allow_reduced_precision(Device device, bool allow);

// "cpu", or the CUDA device's description.
std::string device_description(Device device);

}  // namespace recur
