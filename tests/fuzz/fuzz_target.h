// Shared by the fuzz targets (tests/fuzz/fuzz_*.cpp). Each target defines
// LLVMFuzzerTestOneInput: libFuzzer calls it in a fuzzing build (RECUR_FUZZ=ON), and
// replay_main.cpp calls it on the committed inputs in every other build.
//
// The contract each target checks: a reader given any bytes returns, or throws recur::Error.
// Any other exception escapes (libFuzzer reports it as a crash, replay fails), and so does a
// broken property (RECUR_FUZZ_ASSERT aborts).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/error.h"

#define RECUR_FUZZ_ASSERT(cond)                                                         \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

namespace recur::fuzz {

inline std::string bytes_of(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// Runs `body` on one input; a recur::Error is the expected answer to bad input.
template <class Body>
int run(Body&& body) {
  try {
    body();
  } catch (const Error&) {
  }
  return 0;
}

}  // namespace recur::fuzz
