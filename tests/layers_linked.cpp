// A program that links only the first RECUR_LINKED layers (1: core, 2: + backends, 3: +
// autograd) and calls nothing but core's Tensor members and factories: those of a linked layer
// work, although the program references no symbol of that layer (its hooks are installed by an
// object that the library's link option keeps), and those of a layer not linked throw a
// recur::Error that names the library. Exits 0 when all holds.
#include <fmt/format.h>

#include <cstdlib>
#include <functional>
#include <string>

#include "core/tensor.h"

namespace {

int failures = 0;

void expect(bool ok, const std::string& what) {
  if (!ok) {
    fmt::print(stderr, "FAILED: {}\n", what);
    ++failures;
  }
}

#if RECUR_LINKED < 3
// f() throws a recur::Error whose message names `library`.
void expect_not_linked(const std::function<void()>& f, const std::string& what, const std::string& library) {
  try {
    f();
    expect(false, what + " did not throw");
  } catch (const recur::Error& e) {
    expect(std::string(e.what()).find(library) != std::string::npos,
           fmt::format("{} threw \"{}\", which does not name {}", what, e.what(), library));
  }
}
#endif

#if RECUR_LINKED == 1
// Host memory for a tensor that core alone can make.
class MallocAllocator : public recur::Allocator {
 public:
  void* allocate(size_t nbytes) override { return std::malloc(nbytes == 0 ? 1 : nbytes); }
  void deallocate(void* ptr, size_t /*nbytes*/) override { std::free(ptr); }
};

recur::Tensor host_tensor(const recur::Shape& shape) {
  static MallocAllocator allocator;
  auto impl = std::make_shared<recur::TensorImpl>();
  impl->storage = std::make_shared<recur::Storage>(&allocator, recur::Device::cpu(),
                                                   static_cast<size_t>(recur::numel_of(shape)) * sizeof(float));
  impl->shape = shape;
  impl->strides = recur::contiguous_strides(shape);
  return recur::Tensor(impl);
}
#endif

}  // namespace

int main() {
  using recur::Tensor;
#if RECUR_LINKED == 1
  expect_not_linked([] { recur::zeros({2, 3}); }, "zeros", "recur_backends");
  Tensor x = host_tensor({2, 3});
  x.set({1, 2}, 5.0);
  expect(x.at({1, 2}) == 5.0, "set and at");
  expect_not_linked([&] { x.fill_(1.0); }, "Tensor::fill_", "recur_backends");
  expect_not_linked([] { host_tensor({1}).item(); }, "Tensor::item", "recur_backends");
  expect_not_linked([&] { x.contiguous(); }, "Tensor::contiguous", "recur_autograd");
#else
  Tensor x = recur::full({2, 3}, 2.0);
  x.set({1, 2}, 5.0);
  expect(x.to_vector<float>() == std::vector<float>{2, 2, 2, 2, 2, 5}, "full, set, to_vector");
  expect(recur::randn({4}, recur::TensorOptions().with_dtype(recur::DType::Float64)).numel() == 4, "randn");
#if RECUR_LINKED == 2
  expect_not_linked([&] { x.transpose(0, 1); }, "Tensor::transpose", "recur_autograd");
  expect_not_linked([&] { x.backward(); }, "Tensor::backward", "recur_autograd");
#else
  x.requires_grad_(true);
  Tensor y = x.transpose(0, 1).contiguous().reshape({6}).select(0, 5);  // x[1, 2]
  expect(y.item() == 5.0, "transpose, contiguous, reshape, select");
  y.backward();
  expect(x.grad().defined() && x.grad().to_vector<float>() == std::vector<float>{0, 0, 0, 0, 0, 1}, "backward");
#endif
#endif
  if (failures == 0) fmt::print("layers 1 to {} linked: as expected\n", RECUR_LINKED);
  return failures == 0 ? 0 : 1;
}
