// Installs the backend hooks of core/tensor_hooks.h, through which core's Tensor members and
// factories (item, to_vector, fill_, copy_, zeros, randn, from_vector, printing, ...) reach a
// device's allocator and its backend.
//
// The anchor keeps this object in every program that links recur_backends: the library's
// interface link option -Wl,--undefined=recur_backends_tensor_hooks (backends/CMakeLists.txt).
#include "backends/compute.h"
#include "core/tensor_hooks.h"

extern "C" {
extern const int recur_backends_tensor_hooks;
const int recur_backends_tensor_hooks = 1;
}

namespace recur {
namespace {

struct InstallBackendHooks {
  InstallBackendHooks() {
    BackendHooks hooks;
    hooks.allocator_for = [](Device device) -> Allocator& { return allocator_for(device); };
    hooks.fill = [](Tensor& out, double value) { backend_of(out).fill(out, value); };
    hooks.copy = [](Tensor& dst, const Tensor& src) { backend_of(dst).copy(dst, src); };
    hooks.fill_uniform = [](Tensor& out, uint64_t seed, uint64_t first_block, double low, double high) {
      backend_of(out).fill_uniform(out, seed, first_block, low, high);
    };
    hooks.fill_normal = [](Tensor& out, uint64_t seed, uint64_t first_block, double mean, double std) {
      backend_of(out).fill_normal(out, seed, first_block, mean, std);
    };
    hooks.convert = &compute::convert;
    install_backend_hooks(hooks);
  }
};

// Before the static initialisers of the default priority, so that a program's static tensors
// find the hooks.
__attribute__((init_priority(101))) const InstallBackendHooks install_backend_hooks_at_start;

}  // namespace
}  // namespace recur
