// The per-op profile (backends/profile.h): each primitive timed once, under the phase the
// program names, and nothing recorded or wrapped when no profile records.
#include <algorithm>

#include "backends/op_names.h"
#include "backends/profile.h"
#include "test_backend_util.h"

namespace recur {
namespace {

using namespace testing_util;

// The row (phase, op), or a row with no calls.
profile::Row row_of(const std::string& phase, const std::string& op) {
  for (const profile::Row& row : profile::rows()) {
    if (row.phase == phase && row.op == op) return row;
  }
  return {phase, op, 0, 0.0};
}

TEST(Profile, CountsEachPrimitiveUnderItsPhase) {
  const Tensor a = random_tensor({16, 8}, DType::Float32, 1);
  const Tensor b = random_tensor({8, 4}, DType::Float32, 2);
  profile::start();
  {
    profile::Phase phase("forward");
    const Tensor c = compute::matmul(a, b, Transpose::No, Transpose::No);
    compute::unary(UnaryOp::Tanh, c);
    {
      profile::Phase inner("backward");
      compute::unary(UnaryOp::Tanh, c);
      compute::unary(UnaryOp::Tanh, c);
    }
  }
  profile::stop();
  const std::string tanh = "unary:" + std::string(op_name(UnaryOp::Tanh));
  EXPECT_EQ(row_of("forward", "gemm").calls, 1);
  EXPECT_EQ(row_of("forward", tanh).calls, 1);
  EXPECT_EQ(row_of("backward", tanh).calls, 2);
  for (const profile::Row& row : profile::rows()) EXPECT_GE(row.seconds, 0.0) << row.op;
  // Largest time first.
  const std::vector<profile::Row> rows = profile::rows();
  EXPECT_TRUE(std::is_sorted(rows.begin(), rows.end(),
                             [](const profile::Row& x, const profile::Row& y) { return x.seconds > y.seconds; }));
}

TEST(Profile, OnlyWhileRecordingIsTheBackendWrapped) {
  Backend& plain = backend_for(Device::cpu());
  EXPECT_FALSE(profile::recording());
  profile::start();
  EXPECT_TRUE(profile::recording());
  Backend& timed = backend_for(Device::cpu());
  EXPECT_NE(&timed, &plain);
  EXPECT_EQ(timed.device(), plain.device());
  EXPECT_EQ(&timed.allocator(), &plain.allocator());
  profile::stop();
  EXPECT_EQ(&backend_for(Device::cpu()), &plain);
  // A new profile starts empty; nothing is counted after stop().
  profile::start();
  profile::stop();
  compute::unary(UnaryOp::Tanh, random_tensor({4}, DType::Float64, 3));
  EXPECT_TRUE(profile::rows().empty());
}

}  // namespace
}  // namespace recur
