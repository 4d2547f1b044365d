// recur info: what this build of recur is and what it can use on this machine.
#include <fmt/format.h>

#include <string>

#include "backends/backend.h"
#include "backends/settings.h"
#include "examples/command.h"
#include "recur/config.h"

namespace recur::cli {
namespace {

// "9.19.0" from cudnnGetVersion()'s number: major*10000 + minor*100 + patch since cuDNN 9,
// major*1000 + minor*100 + patch before.
std::string cudnn_version_string(int version) {
  if (version >= 90000) return fmt::format("{}.{}.{}", version / 10000, version % 10000 / 100, version % 100);
  return fmt::format("{}.{}.{}", version / 1000, version % 1000 / 100, version % 100);
}

void print_cuda() {
  if (!cuda_compiled()) {
    fmt::print("CUDA backend:  not compiled (configure where nvcc, cuBLAS and cuDNN are found)\n");
    fmt::print("GPUs:          none (the CUDA backend is not compiled)\n");
    return;
  }
  fmt::print("CUDA backend:  compiled, CUDA runtime {}, cuDNN {} at build time, {} at run time\n",
             cuda_runtime_version(), RECUR_CUDNN_VERSION_STRING, cudnn_version_string(cudnn_version_runtime()));

  std::string why;
  const int count = cuda_device_count(&why);
  if (count == 0) {
    fmt::print("GPUs:          none ({})\n", why.empty() ? "no device visible" : why);
    return;
  }
  fmt::print("GPUs:          {} visible\n", count);
  for (int i = 0; i < count; ++i) fmt::print("  cuda:{}        {}\n", i, cuda_device_description(i));
}

int run_info() {
  fmt::print("recur {}\n", RECUR_VERSION);
  fmt::print("build:         {}, {}\n", RECUR_BUILD_TYPE, RECUR_CXX_COMPILER);
  fmt::print("BLAS:          {}\n", openblas_info());
  fmt::print("GEMM:          {} ({})\n", gemm_provider_name(),
             RECUR_HAVE_ONEDNN ? "float32; RECUR_GEMM=openblas|onednn chooses" : "built without oneDNN");
  fmt::print("CPU ISA:       {} (oneDNN's kernels); native GEMM operands: {}\n", cpu_gemm_isa(),
             cpu_native_gemm_precisions());
  fmt::print("CPU flags:     {}\n", cpu_gemm_flags());
  std::string no_bfloat16;
  fmt::print("bfloat16 GEMM: {}\n",
             cpu_bfloat16_gemm_available(&no_bfloat16)
                 ? "available (--precision bf16; auto: " + choose_cpu_gemm_precision("auto").reason + ")"
                 : "unavailable: " + no_bfloat16);
  fmt::print("threads:       {} ({} cores available)\n", get_num_threads(), hardware_threads());
  print_cuda();
  return 0;
}

}  // namespace

Command add_info_command(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand("info", "Show the version, build, BLAS, threads, CUDA and visible GPUs");
  return {app, run_info};
}

}  // namespace recur::cli
