// Whether new operations record the graph (thread-local, like PyTorch's grad mode).
#pragma once

namespace recur {

bool grad_enabled();
void set_grad_enabled(bool enabled);

// Within its scope no operation records the graph (evaluation, optimizer updates).
class NoGradGuard {
 public:
  NoGradGuard() : previous_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace recur
