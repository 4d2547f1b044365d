// Names of the backend's op enums, for error messages and tools ("add", "exp", "sum").
#pragma once

#include <string_view>

#include "backends/backend.h"

namespace recur {

std::string_view op_name(UnaryOp op);
std::string_view op_name(BinaryOp op);
std::string_view op_name(ReduceOp op);

}  // namespace recur
