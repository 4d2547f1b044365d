// The language model's vocabulary (examples/lm/vocab.h): bytes and UTF-8 characters.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "examples/lm/vocab.h"

namespace recur::lm {
namespace {

TEST(LmVocab, BytesAreAll256ByteValuesWhateverTheText) {
  const Vocabulary vocab = Vocabulary::build("hello\xff", VocabKind::Bytes);
  ASSERT_EQ(vocab.size(), 256);
  for (uint32_t b = 0; b < 256; ++b) EXPECT_EQ(vocab.symbol(b), b);
  EXPECT_EQ(vocab.encode("hole"), (std::vector<int32_t>{'h', 'o', 'l', 'e'}));
  EXPECT_EQ(vocab.decode(std::vector<int32_t>{'h', 'e', 'l', 'l', 'o', 0xff}), "hello\xff");
  // A prompt with bytes the training text never held still encodes (any UTF-8, any binary).
  const std::string prompt = "caf\xc3\xa9 \x01";
  EXPECT_EQ(vocab.decode(vocab.encode(prompt)), prompt);
  EXPECT_EQ(symbol_unit(VocabKind::Bytes), "byte");
  EXPECT_EQ(symbol_unit(VocabKind::Chars), "char");
}

TEST(LmVocab, BytesSplitAMultiByteCharacterIntoItsBytes) {
  const std::string text = "caf\xc3\xa9";  // café
  const Vocabulary vocab = Vocabulary::build(text, VocabKind::Bytes);
  EXPECT_EQ(vocab.encode(text), (std::vector<int32_t>{'c', 'a', 'f', 0xc3, 0xa9}));
  EXPECT_EQ(vocab.decode(vocab.encode(text)), text);
}

TEST(LmVocab, CharsAreCodePointsIncludingMultiByteOnes) {
  const std::string text =
      "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
      "a";  // a é € 😀 a
  const Vocabulary vocab = Vocabulary::build(text, VocabKind::Chars);
  EXPECT_EQ(vocab.symbols(), (std::vector<uint32_t>{'a', 0xe9, 0x20ac, 0x1f600}));
  EXPECT_EQ(vocab.encode(text), (std::vector<int32_t>{0, 1, 2, 3, 0}));
  EXPECT_EQ(vocab.decode(vocab.encode(text)), text);
  EXPECT_EQ(vocab.decode(2), "\xe2\x82\xac");
}

TEST(LmVocab, CharsRejectInvalidUtf8WithItsOffset) {
  for (const std::string& bad : {std::string("ab\xff"), std::string("ab\xc3"), std::string("\xc0\xaf"),  // overlong
                                 std::string("x\xed\xa0\x80")}) {                                        // surrogate
    try {
      (void)Vocabulary::build(bad, VocabKind::Chars, "data file 'x.txt'");
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("data file 'x.txt' is not valid UTF-8"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("--vocab bytes"), std::string::npos) << e.what();
    }
  }
}

TEST(LmVocab, EncodingAnUnknownSymbolNamesItAndItsOffset) {
  const Vocabulary vocab = Vocabulary::build("abc", VocabKind::Chars);
  try {
    (void)vocab.encode("ab\xc3\xa9", "the prompt");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the prompt: '\xc3\xa9' (U+00E9) at byte 2 is not in the model's vocabulary"),
              std::string::npos)
        << e.what();
  }
}

TEST(LmVocab, EncodingKnownSymbolsSkipsAndCountsTheOthers) {
  const Vocabulary vocab = Vocabulary::build("abc", VocabKind::Chars);
  std::map<uint32_t, int64_t> skipped;
  EXPECT_EQ(vocab.encode_known("a\xc3\xa9"
                               "b~c~",
                               "text", &skipped),
            (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(skipped, (std::map<uint32_t, int64_t>{{0xe9, 1}, {'~', 2}}));
  EXPECT_EQ(vocab.describe_skipped(skipped),
            "3 symbols outside the vocabulary of 3 chars: '~' x2, '\xc3\xa9' (U+00E9) x1");
  EXPECT_THROW((void)vocab.encode_known("a\xff", "text", &skipped), Error);  // invalid UTF-8 stays an error
}

TEST(LmVocab, EmptyTextIsAnError) { EXPECT_THROW((void)Vocabulary::build("", VocabKind::Bytes), Error); }

TEST(LmVocab, JsonRoundTripAndValidation) {
  const Vocabulary vocab = Vocabulary::build("h\xc3\xa9llo\n", VocabKind::Chars);
  const Vocabulary back = Vocabulary::from_json(nlohmann::json::parse(vocab.to_json().dump()));
  EXPECT_EQ(back, vocab);
  EXPECT_THROW((void)Vocabulary::from_json(nlohmann::json::parse(R"({"kind": "chars", "symbols": [5, 3]})")), Error);
  EXPECT_THROW((void)Vocabulary::from_json(nlohmann::json::parse(R"({"kind": "bytes", "symbols": [300]})")), Error);
  EXPECT_THROW((void)Vocabulary::from_json(nlohmann::json::parse(R"({"kind": "words", "symbols": [1]})")), Error);
  EXPECT_THROW((void)Vocabulary::from_json(nlohmann::json::parse(R"({"kind": "chars", "symbols": []})")), Error);
}

TEST(LmVocab, Utf8EncodeDecodeAgree) {
  for (const uint32_t code : {0x41u, 0x7fu, 0x80u, 0x7ffu, 0x800u, 0xffffu, 0x10000u, 0x10ffffu}) {
    const std::string bytes = encode_utf8(code);
    const Utf8Symbol symbol = decode_utf8(bytes, 0);
    EXPECT_EQ(symbol.code_point, code);
    EXPECT_EQ(symbol.length, static_cast<int>(bytes.size()));
  }
}

}  // namespace
}  // namespace recur::lm
