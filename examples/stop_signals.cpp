// SIGINT and SIGTERM received on one thread (examples/stop_signals.h).
#include "examples/stop_signals.h"

#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <thread>

#include "core/error.h"

namespace recur::cli {
namespace {

constexpr int kStopSignals[] = {SIGINT, SIGTERM};

std::atomic<int> g_stop_requests{0};
std::atomic<bool> g_counting{false};  // stop_requests() was called
pthread_t g_receiver{};

sigset_t stop_signal_set() {
  sigset_t set;
  sigemptyset(&set);
  for (const int signal : kStopSignals) sigaddset(&set, signal);
  return set;
}

// Runs only on a thread that existed before main() blocked the signals: hands the signal on.
extern "C" void forward_to_receiver(int signal) {
  const int saved_errno = errno;
  ::pthread_kill(g_receiver, signal);
  errno = saved_errno;
}

// The signal's default action: the process ends, killed by it (a shell sees the signal).
[[noreturn]] void end_by(int signal) {
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  ::sigaction(signal, &action, nullptr);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, signal);
  ::pthread_sigmask(SIG_UNBLOCK, &only, nullptr);
  ::raise(signal);
  ::_exit(128 + signal);  // not reached
}

void receive_signals() {
  const sigset_t set = stop_signal_set();
  for (;;) {
    int signal = 0;
    if (::sigwait(&set, &signal) != 0) continue;
    if (!g_counting.load()) end_by(signal);
    if (g_stop_requests.fetch_add(1) >= 1) ::_exit(130);  // the second signal: leave now
    static const char kNote[] = "\nstopping after this step and writing a checkpoint (signal again to quit at once)\n";
    [[maybe_unused]] const ssize_t ignored = ::write(STDERR_FILENO, kNote, sizeof kNote - 1);
  }
}

}  // namespace

void start_signal_thread() {
  const sigset_t set = stop_signal_set();
  const int blocked = ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  RECUR_CHECK(blocked == 0, "cannot block SIGINT and SIGTERM: pthread_sigmask failed with error {}", blocked);
  std::thread receiver(receive_signals);  // inherits the mask: it takes the signals with sigwait()
  g_receiver = receiver.native_handle();
  receiver.detach();
  struct sigaction action {};
  action.sa_handler = forward_to_receiver;
  action.sa_flags = SA_RESTART;
  action.sa_mask = set;
  for (const int signal : kStopSignals) ::sigaction(signal, &action, nullptr);
}

const std::atomic<int>& stop_requests() {
  g_counting.store(true);
  return g_stop_requests;
}

}  // namespace recur::cli
