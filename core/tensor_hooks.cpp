#include "core/tensor_hooks.h"

#include "core/error.h"

namespace recur {

namespace detail {

constinit BackendHooks backend_hooks;
constinit AutogradHooks autograd_hooks;

void throw_not_linked(const char* member, const char* library) {
  RECUR_FAIL("{} needs the {} library, which this program does not link: link recur::{} (or recur::recur)", member,
             library, library);
}

}  // namespace detail

void install_backend_hooks(const BackendHooks& hooks) {
  RECUR_CHECK(
      hooks.allocator_for && hooks.fill && hooks.copy && hooks.fill_uniform && hooks.fill_normal && hooks.convert,
      "install_backend_hooks: every hook must be set");
  detail::backend_hooks = hooks;
}

void install_autograd_hooks(const AutogradHooks& hooks) {
  RECUR_CHECK(hooks.reshape && hooks.transpose && hooks.permute && hooks.narrow && hooks.slice && hooks.select &&
                  hooks.expand && hooks.squeeze && hooks.unsqueeze && hooks.contiguous && hooks.clone &&
                  hooks.to_device && hooks.to_dtype && hooks.backward,
              "install_autograd_hooks: every hook must be set");
  detail::autograd_hooks = hooks;
}

}  // namespace recur
