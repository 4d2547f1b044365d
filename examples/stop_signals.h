// SIGINT and SIGTERM in the `recur` program: received on one thread of its own, never on a
// thread that computes.
//
// oneDNN's JIT f32 GEMM kernels (2.6, Debian 12's; oneDNN issue 4845) point rsp at a heap
// workspace while they run, so a signal handler that runs on a thread inside one of them pushes
// its frame into the heap and corrupts it. No handled signal may therefore reach a thread that
// may run oneDNN (or any other) compute code:
//  - start_signal_thread(), the first thing main() does, blocks SIGINT and SIGTERM in the
//    calling thread, so that every thread started later (OpenMP's and oneDNN's workers, the CUDA
//    runtime's) inherits the mask, and starts one thread that receives them with sigwait();
//  - threads that a library started before main() did not inherit the mask (OpenBLAS's pthread
//    build starts its workers when it is loaded). A signal that the kernel delivers to one of them
//    runs a handler that only forwards it to the receiving thread (pthread_kill). Those threads
//    run OpenBLAS's own code, whose kernels keep rsp on their stack.
//
// What a signal does: until a command calls stop_requests(), the signal's default action (the
// process ends, killed by the signal), as in any program; afterwards, the first signal asks the
// command to stop (the counter becomes 1, and a note goes to stderr) and a second one ends the
// process at once with exit status 130.
#pragma once

#include <atomic>

namespace recur::cli {

// Blocks SIGINT and SIGTERM in the calling thread and starts the receiving thread. Call it once,
// from main(), before anything starts a thread.
void start_signal_thread();

// From the first call on, SIGINT and SIGTERM count stop requests here instead of ending the
// process (the second one ends it with exit status 130). The counter lives as long as the process.
const std::atomic<int>& stop_requests();

}  // namespace recur::cli
