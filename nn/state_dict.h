// A model's named tensors (core/state_dict.h), under the name nn:: code has always used.
#pragma once

#include "core/state_dict.h"

namespace recur::nn {

using recur::StateDict;

}  // namespace recur::nn
