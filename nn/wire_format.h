// Reading the binary encodings that LevelDB's tables and protocol buffers share: varints and
// little-endian fixed-width integers, and protocol buffer fields (tag, wire type, payload), all
// from untrusted bytes. Every read is bounds-checked; running past the end, a varint longer than
// 10 bytes and an unknown wire type are a recur::Error naming `what` (the file and the record).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/error.h"

namespace recur::nn {

// A key or name from a file, for messages: non-printable bytes as \xNN, cut at 80 characters.
inline std::string printable(std::string_view text) {
  std::string out;
  for (const char c : text.substr(0, 80)) {
    if (c >= 0x20 && c < 0x7f) {
      out += c;
    } else {
      out += fmt::format("\\x{:02x}", static_cast<uint8_t>(c));
    }
  }
  if (text.size() > 80) out += "...";
  return out;
}

class WireReader {
 public:
  WireReader(std::string_view bytes, std::string what) : bytes_(bytes), what_(std::move(what)) {}

  bool done() const { return pos_ == bytes_.size(); }
  size_t position() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }
  const std::string& what() const { return what_; }

  uint64_t varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      RECUR_CHECK(pos_ < bytes_.size(), "{}: a varint runs past the end ({} bytes)", what_, bytes_.size());
      const auto byte = static_cast<uint8_t>(bytes_[pos_++]);
      RECUR_CHECK(shift < 63 || byte <= 1, "{}: a varint does not fit in 64 bits", what_);
      value |= static_cast<uint64_t>(byte & 0x7fu) << shift;
      if ((byte & 0x80u) == 0) return value;
    }
    RECUR_FAIL("{}: a varint is longer than 10 bytes", what_);
  }
  // A varint that must fit in 32 bits (LevelDB's lengths).
  uint32_t varint32() {
    const uint64_t value = varint();
    RECUR_CHECK(value <= UINT32_MAX, "{}: a 32-bit varint holds {}", what_, value);
    return static_cast<uint32_t>(value);
  }
  uint32_t fixed32() {
    uint32_t value = 0;
    std::memcpy(&value, take(4).data(), 4);
    return value;
  }
  uint64_t fixed64() {
    uint64_t value = 0;
    std::memcpy(&value, take(8).data(), 8);
    return value;
  }
  std::string_view take(uint64_t n) {
    RECUR_CHECK(n <= remaining(), "{}: {} bytes wanted at byte {}, but only {} remain", what_, n, pos_, remaining());
    const std::string_view out = bytes_.substr(pos_, n);
    pos_ += n;
    return out;
  }

  // One protocol buffer field: its number, wire type (0 varint, 1 fixed64, 2 length-delimited,
  // 5 fixed32) and payload (`value` for the integer types, `bytes` for length-delimited).
  struct Field {
    uint32_t number = 0;
    int wire_type = 0;
    uint64_t value = 0;
    std::string_view bytes;
  };
  Field field() {
    const uint64_t tag = varint();
    Field f;
    f.wire_type = static_cast<int>(tag & 7u);
    RECUR_CHECK(tag >> 3 != 0 && tag >> 3 <= 0x1fffffff, "{}: field number {} is out of range", what_, tag >> 3);
    f.number = static_cast<uint32_t>(tag >> 3);
    switch (f.wire_type) {
      case 0: f.value = varint(); break;
      case 1: f.value = fixed64(); break;
      case 2: f.bytes = take(varint()); break;
      case 5: f.value = fixed32(); break;
      default: RECUR_FAIL("{}: field {} has wire type {} (expected 0, 1, 2 or 5)", what_, f.number, f.wire_type);
    }
    return f;
  }

 private:
  std::string_view bytes_;
  std::string what_;
  size_t pos_ = 0;
};

}  // namespace recur::nn
