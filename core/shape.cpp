#include "core/shape.h"

#include "core/error.h"

namespace recur {

int normalize_axis(int64_t axis, size_t rank) {
  const int64_t r = static_cast<int64_t>(rank);
  RECUR_CHECK(axis >= -r && axis < r, "axis {} is out of range for a tensor of rank {} (expected {}..{})", axis, rank,
              -r, r - 1);
  return static_cast<int>(axis < 0 ? axis + r : axis);
}

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    RECUR_CHECK(da == db || da == 1 || db == 1, "shapes {} and {} do not broadcast (dimension {}: {} vs {})",
                shape_str(a), shape_str(b), i, da, db);
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace recur
