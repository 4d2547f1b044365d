// One process per run folder: `recur train` (new or resumed) holds an advisory lock, flock(2) on
// RUN/lock, for as long as it runs. The kernel releases it when the process ends, however it
// ends (kill -9 included), so a lock is never stale: the file stays, the lock does not. The file
// holds the holder's process id, for the message a second process gets. Readers of a run
// (`recur sample`, `recur eval`) take no lock: a checkpoint folder is always complete
// (examples/lm/checkpoint.h).
#pragma once

#include <string>

namespace recur::lm {

class RunLock {
 public:
  RunLock() = default;
  // Locks `run_dir` (an existing folder) without waiting. recur::Error when another process
  // holds it ("... is in use by process 1234 ..."). When the file system cannot lock at all
  // (flock fails otherwise), the folder is not locked and unsupported() says why.
  static RunLock acquire(const std::string& run_dir);
  ~RunLock();
  RunLock(RunLock&& other) noexcept;
  RunLock& operator=(RunLock&& other) noexcept;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

  bool held() const { return fd_ >= 0; }
  const std::string& unsupported() const { return unsupported_; }

 private:
  int fd_ = -1;
  std::string unsupported_;
};

// The lock file of a run folder.
std::string run_lock_path(const std::string& run_dir);

}  // namespace recur::lm
