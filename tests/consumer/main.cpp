// Multiplies two small matrices with an installed recur and checks the product.
#include <fmt/format.h>

#include <cstdio>
#include <exception>

#include "autograd/ops.h"
#include "core/tensor.h"
#include "recur/config.h"

int main() try {
  const recur::Tensor a = recur::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  const recur::Tensor b = recur::from_vector<float>({1, 0, 0, 1, 1, 1}, {3, 2});
  const recur::Tensor c = recur::matmul(a, b);  // [[4, 5], [10, 11]]
  fmt::print("recur {}: a @ b = {}\n", RECUR_VERSION, c);
  const bool ok = c.at({0, 0}) == 4 && c.at({0, 1}) == 5 && c.at({1, 0}) == 10 && c.at({1, 1}) == 11;
  if (!ok) fmt::print(stderr, "error: expected [[4, 5], [10, 11]]\n");
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  fmt::print(stderr, "error: {}\n", e.what());
  return 1;
}
