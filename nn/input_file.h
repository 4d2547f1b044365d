// A file opened for reading at any offset (pread), for the readers of untrusted files
// (nn/safetensors.cpp, nn/tf_checkpoint.cpp): every read is exact, and a short read is an error.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <string>
#include <system_error>

#include "core/error.h"

namespace recur::nn {

inline std::string errno_text(int error) { return std::error_code(error, std::generic_category()).message(); }

// An open file descriptor, closed on scope exit. `expected` names what the file should be, for
// the message when the path is a folder ("a .safetensors file").
class InputFile {
 public:
  explicit InputFile(const std::string& path, const std::string& expected = "a file")
      : path_(path), fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd_ < 0) RECUR_FAIL("cannot open '{}': {}", path, errno_text(errno));
    struct stat info {};
    if (::fstat(fd_, &info) != 0) {
      const int error = errno;
      ::close(fd_);
      RECUR_FAIL("cannot read '{}': {}", path, errno_text(error));
    }
    if (S_ISDIR(info.st_mode)) {
      ::close(fd_);
      RECUR_FAIL("cannot read '{}': it is a folder, expected {}", path, expected);
    }
    size_ = static_cast<uint64_t>(info.st_size);
  }
  ~InputFile() { ::close(fd_); }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  // Reads exactly n bytes at `offset`; a short read (the file shrank) is an error.
  void read(void* out, uint64_t n, uint64_t offset) const {
    auto* bytes = static_cast<char*>(out);
    while (n > 0) {
      const ssize_t got = ::pread(fd_, bytes, std::min<uint64_t>(n, 1u << 30), static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) RECUR_FAIL("cannot read '{}': {}", path_, errno_text(errno));
      if (got == 0) RECUR_FAIL("cannot read '{}': the file ended early (did it change while being read?)", path_);
      bytes += got, n -= static_cast<uint64_t>(got), offset += static_cast<uint64_t>(got);
    }
  }

 private:
  std::string path_;
  int fd_;
  uint64_t size_ = 0;
};

}  // namespace recur::nn
