#include "examples/lm/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <utility>

#include "core/error.h"

namespace recur::lm {
namespace {

// The process id written in the lock file ("" when there is none yet: its holder has only just
// locked it).
std::string holder_of(int fd) {
  char buffer[32] = {};
  const ssize_t n = ::pread(fd, buffer, sizeof(buffer) - 1, 0);
  if (n <= 0) return "";
  std::string text(buffer, static_cast<size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text.find_first_not_of("0123456789") == std::string::npos ? text : "";
}

}  // namespace

std::string run_lock_path(const std::string& run_dir) { return run_dir + "/lock"; }

RunLock RunLock::acquire(const std::string& run_dir) {
  const std::string path = run_lock_path(run_dir);
  RunLock lock;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  RECUR_CHECK(fd >= 0, "cannot open the run folder's lock file '{}': {}", path, std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    if (error == EWOULDBLOCK) {
      // The holder writes its id right after locking: give it a moment.
      std::string holder = holder_of(fd);
      for (int tries = 0; holder.empty() && tries < 50; ++tries) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        holder = holder_of(fd);
      }
      ::close(fd);
      RECUR_FAIL(
          "run folder '{}' is in use by {}: a `recur train` holds its lock ({}); wait for it to end, or "
          "stop it",
          run_dir, holder.empty() ? "another process" : "process " + holder, path);
    }
    ::close(fd);
    lock.unsupported_ = fmt::format("cannot lock '{}': {}", path, std::strerror(error));
    return lock;
  }
  // The lock file is a lock, not data: it is rewritten in place (replacing it would replace the
  // locked inode).
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    const int error = errno;
    ::close(fd);
    RECUR_FAIL("cannot write the run folder's lock file '{}': {}", path, std::strerror(error));
  }
  lock.fd_ = fd;
  return lock;
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

RunLock::RunLock(RunLock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), unsupported_(std::move(other.unsupported_)) {}

RunLock& RunLock::operator=(RunLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    unsupported_ = std::move(other.unsupported_);
  }
  return *this;
}

}  // namespace recur::lm
