#include "core/error.h"

namespace recur::detail {

void throw_error(const char* /*file*/, int /*line*/, const std::string& message) { throw Error(message); }

}  // namespace recur::detail
