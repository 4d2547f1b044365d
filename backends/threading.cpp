// One thread budget shared by recur's OpenMP loops, OpenBLAS and oneDNN (which runs on the
// same OpenMP runtime), so that they never oversubscribe the cores.
//
// The budget starts at OMP_NUM_THREADS when that is set to a positive number, else at the
// number of cores this process may run on; the CPU backend applies it when it is created.
#include "backends/threading.h"

#include <cblas.h>
#include <omp.h>
#include <sched.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace recur {
namespace {

std::atomic<int> g_num_threads{0};  // 0: not decided yet
std::mutex g_mutex;

int default_threads() {
  if (const char* text = std::getenv("OMP_NUM_THREADS")) {
    char* end = nullptr;
    const long value = std::strtol(text, &end, 10);
    if (end != text && value > 0 && value < 4096) return static_cast<int>(value);
  }
  return hardware_threads();
}

void apply(int n) {
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
  g_num_threads.store(n);
}

}  // namespace

int hardware_threads() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
  const unsigned count = std::thread::hardware_concurrency();
  return count > 0 ? static_cast<int>(count) : 1;
}

void set_num_threads(int n) {
  std::lock_guard<std::mutex> lock(g_mutex);
  apply(n > 0 ? n : hardware_threads());
}

int get_num_threads() {
  if (const int n = g_num_threads.load(); n > 0) return n;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_num_threads.load() == 0) apply(default_threads());
  return g_num_threads.load();
}

}  // namespace recur
