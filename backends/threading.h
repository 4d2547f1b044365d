// One thread budget for everything on the CPU: recur's own OpenMP loops and the BLAS share it,
// so that they never oversubscribe the cores.
#pragma once

namespace recur {

// Sets the threads used by recur's loops and by the GEMM provider. n <= 0 means all cores.
void set_num_threads(int n);
int get_num_threads();
// The number of cores this process may run on.
int hardware_threads();

}  // namespace recur
