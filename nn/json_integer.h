// Reading a JSON integer from a file without nlohmann's unchecked conversions: get<int64_t>() on
// 1e300 casts a double out of range (undefined behaviour), and get<uint64_t>() on -1 wraps.
#pragma once

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>

#include "core/error.h"

namespace recur::nn {

// The value as T when it is a JSON integer in T's range; recur::Error naming `what` otherwise.
template <typename T> T json_integer(const nlohmann::json& value, std::string_view what) {
  static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
  bool fits = false;
  if (value.is_number_unsigned()) {
    fits = value.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max());
  } else if (value.is_number_integer()) {
    const int64_t v = value.get<int64_t>();
    fits = std::is_signed_v<T>
               ? v >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
                     v <= static_cast<int64_t>(std::numeric_limits<T>::max())
               : v >= 0 && static_cast<uint64_t>(v) <= static_cast<uint64_t>(std::numeric_limits<T>::max());
  }
  RECUR_CHECK(fits, "{}: expected an integer in [{}, {}], got {}", what, std::numeric_limits<T>::min(),
              std::numeric_limits<T>::max(), value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return value.is_number_unsigned() ? static_cast<T>(value.get<uint64_t>()) : static_cast<T>(value.get<int64_t>());
}

}  // namespace recur::nn
