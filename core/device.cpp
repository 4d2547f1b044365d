#include "core/device.h"

#include "core/error.h"

namespace recur {

Device Device::parse(const std::string& text) {
  if (text == "cpu") return cpu();
  if (text == "cuda" || text == "gpu") return cuda(0);
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5) {
    int index = 0;
    for (size_t i = 5; i < text.size(); ++i) {
      RECUR_CHECK(text[i] >= '0' && text[i] <= '9' && index < 1000,
                  "expected a device like cpu, cuda or cuda:N, got '{}'", text);
      index = index * 10 + (text[i] - '0');
    }
    return cuda(index);
  }
  RECUR_FAIL("expected a device like cpu, cuda or cuda:N, got '{}'", text);
}

}  // namespace recur
