// Writing a file so that readers see either the old contents or the complete new ones, never a
// half-written file, even if the process dies or the machine loses power mid-write.
//
// The recipe: create a uniquely named temporary in the target's folder, write it, flush and
// fsync it, rename() it over the target (atomic within one file system), then fsync the folder
// so that the rename itself is durable. On any failure the temporary is removed, the old file
// is left as it was, and recur::Error names the path, the step and the errno text.
#pragma once

#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

namespace recur {

// Calls writer(file) on the temporary; exceptions from the writer propagate after the
// temporary is removed. A write error the writer ignored is still caught (ferror, fflush).
// The new file gets the usual permissions (0666 less the umask).
void write_file_atomically(const std::string& path, const std::function<void(std::FILE*)>& writer);

// Writes `contents` as the whole file (config.json, small text files).
void write_file_atomically(const std::string& path, std::string_view contents);

}  // namespace recur
