#include "core/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <system_error>

#include "core/error.h"

namespace recur {
namespace {

std::string errno_text(int error) { return std::error_code(error, std::generic_category()).message(); }

[[noreturn]] void fail(const std::string& path, const std::string& step, int error) {
  RECUR_FAIL("cannot write '{}': {} failed: {}", path, step, errno_text(error));
}

// ".<name>.tmp-<pid>-<counter>-<clock>" beside the target: unique across threads (the counter)
// and processes (the pid), and hidden from directory listings.
std::string temporary_name(const std::filesystem::path& target) {
  static std::atomic<uint64_t> counter{0};
  const auto ticks = std::chrono::steady_clock::now().time_since_epoch().count();
  const std::string name = fmt::format(".{}.tmp-{}-{}-{:x}", target.filename().string(), static_cast<long>(getpid()),
                                       counter.fetch_add(1), static_cast<uint64_t>(ticks) & 0xffffffu);
  return (target.parent_path() / name).string();
}

// fsync on the folder makes the rename durable. File systems that cannot sync a folder say
// EINVAL; that is not an error of ours.
void sync_folder(const std::string& path, const std::filesystem::path& folder) {
  const std::string name = folder.empty() ? std::string(".") : folder.string();
  const int fd = ::open(name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail(path, fmt::format("opening the folder '{}' to sync it", name), errno);
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0 && error != EINVAL && error != ENOTSUP) fail(path, fmt::format("fsync of the folder '{}'", name), error);
}

}  // namespace

void write_file_atomically(const std::string& path, const std::function<void(std::FILE*)>& writer) {
  RECUR_CHECK(!path.empty(), "write_file_atomically: empty path");
  const std::filesystem::path target(path);
  RECUR_CHECK(target.has_filename(), "cannot write '{}': the path names a folder, expected a file", path);

  // Create the temporary exclusively (O_EXCL), retrying on the unlikely name clash.
  std::string temporary;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    temporary = temporary_name(target);
    fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) fail(path, fmt::format("creating the temporary file '{}'", temporary), errno);
  }
  if (fd < 0) fail(path, "finding an unused temporary file name", EEXIST);

  std::FILE* file = ::fdopen(fd, "wb");
  if (file == nullptr) {
    const int error = errno;
    ::close(fd);
    ::unlink(temporary.c_str());
    fail(path, "fdopen of the temporary file", error);
  }

  // From here on every exit path removes the temporary unless the rename succeeded.
  auto abandon = [&](const std::string& step, int error) {
    if (file != nullptr) std::fclose(file);
    ::unlink(temporary.c_str());
    fail(path, step, error);
  };
  try {
    writer(file);
  } catch (...) {
    std::fclose(file);
    ::unlink(temporary.c_str());
    throw;
  }
  if (std::fflush(file) != 0) abandon("writing", errno);
  if (std::ferror(file)) abandon("writing", errno != 0 ? errno : EIO);
  if (::fsync(::fileno(file)) != 0) abandon("fsync of the temporary file", errno);
  const int close_rc = std::fclose(file);
  file = nullptr;
  if (close_rc != 0) abandon("closing the temporary file", errno);
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    abandon(fmt::format("renaming '{}' over it", temporary), errno);
  }
  sync_folder(path, target.parent_path());
}

void write_file_atomically(const std::string& path, std::string_view contents) {
  write_file_atomically(path, [&](std::FILE* file) {
    if (!contents.empty() && std::fwrite(contents.data(), 1, contents.size(), file) != contents.size()) {
      RECUR_FAIL("cannot write '{}': writing {} bytes failed: {}", path, contents.size(), errno_text(errno));
    }
  });
}

}  // namespace recur
