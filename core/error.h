// recur::Error and the checking macros every layer uses.
//
// A caller's mistake (bad shape, dtype, device, option, file) throws recur::Error whose
// message says what was expected and what was got.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace recur {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
[[noreturn]] void throw_error(const char* file, int line, const std::string& message);
}  // namespace detail

}  // namespace recur

// RECUR_CHECK(cond, "fmt message {}", args...): throws recur::Error with the formatted message
// when cond is false. The message should name what was expected and what was got.
#define RECUR_CHECK(cond, ...)                                                    \
  do {                                                                            \
    if (!(cond)) [[unlikely]] {                                                   \
      ::recur::detail::throw_error(__FILE__, __LINE__, fmt::format(__VA_ARGS__)); \
    }                                                                             \
  } while (0)

// RECUR_FAIL("fmt message {}", args...): throws unconditionally.
#define RECUR_FAIL(...) ::recur::detail::throw_error(__FILE__, __LINE__, fmt::format(__VA_ARGS__))
