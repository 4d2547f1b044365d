// The gradient all-reduce against the machine's memory bandwidth, measured in the same run.
//
//   mpirun -np 2 bench_allreduce [--floats N ...] [--repetitions R] [--stream-mib M] [--json]
//
// Two measurements, each started by every rank together (a barrier before each repetition, so
// no rank's time includes waiting for a slower one's previous work):
//
// 1. Memory bandwidth: every rank at once copies a buffer of M MiB (default 256, far above the
//    caches) into another, `dst[i] = src[i]`, reading M and writing M. Per rank and in total
//    (the sum over ranks), in GB/s of bytes read plus written. On one host the ranks share the
//    memory, so the total is what the machine gives.
// 2. recur's all-reduce (distributed::ProcessGroup::all_reduce_sum, float32, in place) of N
//    floats, for each N given (default: 877,568, the reference model's gradients, 3.5 MB, and a
//    sweep from 16k to 16M floats). For each: the median time over R repetitions, the
//    algorithm bandwidth (bytes / time), and the bus bandwidth, algbw x 2(n-1)/n: the bytes each
//    rank must send and receive in any all-reduce of n ranks (NCCL's tests report the same), so
//    busbw is comparable across n and with the memory bandwidth above.
//
// Without mpirun it is a group of one: the all-reduce does nothing and only the bandwidth is
// meaningful. Only rank 0 prints. Needs no MPI header: it uses recur's process group.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "backends/distributed.h"
#include "core/tensor.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace dist = recur::distributed;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The slowest rank's time for each repetition: a collective measurement ends when the last
// rank is done.
double slowest(dist::ProcessGroup& group, double seconds) {
  std::vector<double> mine(group.size(), 0.0);
  mine[group.rank()] = seconds;
  const std::vector<double> all = dist::all_reduce_sum(group, mine);
  return *std::max_element(all.begin(), all.end());
}

struct Options {
  std::vector<int64_t> floats;
  int repetitions = 20;
  int64_t stream_mib = 256;
  bool json = false;
};

[[noreturn]] void usage(const char* message) {
  std::fprintf(stderr,
               "error: %s\nusage: bench_allreduce [--floats N ...] [--repetitions R] [--stream-mib M] [--json]\n",
               message);
  std::exit(2);
}

int64_t positive(const char* text, const char* what) {
  char* end = nullptr;
  const long long v = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0' || v <= 0) usage((std::string(what) + " expects a positive integer").c_str());
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--json") {
      o.json = true;
    } else if (a == "--floats" && has_value) {
      while (i + 1 < argc && argv[i + 1][0] != '-') o.floats.push_back(positive(argv[++i], "--floats"));
    } else if (a == "--repetitions" && has_value) {
      o.repetitions = static_cast<int>(positive(argv[++i], "--repetitions"));
    } else if (a == "--stream-mib" && has_value) {
      o.stream_mib = positive(argv[++i], "--stream-mib");
    } else {
      usage(("unknown or incomplete option " + a).c_str());
    }
  }
  if (o.floats.empty()) o.floats = {16384, 131072, 877568, 1048576, 4194304, 16777216};
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  dist::ProcessGroup& group = dist::world();
  const int n = group.size();
  const bool root = group.rank() == 0;

  // 1. Memory bandwidth: every rank copies at once.
  const size_t bytes = static_cast<size_t>(o.stream_mib) << 20;
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  std::vector<double> copy_times;
  for (int r = 0; r < o.repetitions / 4 + 3; ++r) {
    group.barrier();
    const auto start = Clock::now();
    std::memcpy(dst.data(), src.data(), bytes);
    const double t = slowest(group, seconds_since(start));
    if (r >= 2) copy_times.push_back(t);  // the first two touch the pages
  }
  const double copy_s = median(copy_times);
  const double per_rank_gbs = 2.0 * static_cast<double>(bytes) / copy_s / 1e9;
  const double total_gbs = per_rank_gbs * n;

  if (root && !o.json) {
    std::printf("process group: %s, %d rank(s)\n", group.description().c_str(), n);
    std::printf(
        "memory: every rank copies %lld MiB at once: %.2f GB/s per rank, %.2f GB/s in total "
        "(read + written, median of %zu)\n",
        static_cast<long long>(o.stream_mib), per_rank_gbs, total_gbs, copy_times.size());
    std::printf("%12s %10s %12s %14s %14s %20s\n", "floats", "MB", "median ms", "algbw GB/s", "busbw GB/s",
                "busbw / memory total");
  }
  if (root && o.json)
    std::printf(
        "{\"ranks\": %d, \"group\": \"%s\", \"memory_gbs_per_rank\": %.4f, \"memory_gbs_total\": %.4f, "
        "\"all_reduce\": [",
        n, group.description().c_str(), per_rank_gbs, total_gbs);

  // 2. The all-reduce at each size.
  for (size_t k = 0; k < o.floats.size(); ++k) {
    const int64_t count = o.floats[k];
    recur::Tensor t = recur::full({count}, 1.0);
    std::vector<double> times;
    for (int r = 0; r < o.repetitions + 2; ++r) {
      group.barrier();
      const auto start = Clock::now();
      group.all_reduce_sum(t);
      const double s = slowest(group, seconds_since(start));
      if (r >= 2) times.push_back(s);
    }
    const double s = median(times);
    const double mb = 4.0 * static_cast<double>(count) / 1e6;
    const double algbw = mb / 1e3 / s;
    const double busbw = algbw * 2.0 * (n - 1) / n;
    if (root && !o.json)
      std::printf("%12lld %10.3f %12.3f %14.2f %14.2f %20.3f\n", static_cast<long long>(count), mb, s * 1e3, algbw,
                  busbw, busbw / total_gbs);
    if (root && o.json)
      std::printf("%s{\"floats\": %lld, \"median_ms\": %.4f, \"algbw_gbs\": %.4f, \"busbw_gbs\": %.4f}", k ? ", " : "",
                  static_cast<long long>(count), s * 1e3, algbw, busbw);
  }
  if (root && o.json) std::printf("]}\n");
  return 0;
}
