// Safetensors checkpoints: round trips, the atomic writer, files from the Python writer, and
// every kind of malformed file (each a recur::Error with a message naming the problem).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "nn/atomic_file.h"
#include "nn/safetensors.h"

namespace recur::nn {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;

// A fresh folder under the system's temporary folder, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / fmt::format("recur_{}_{}_{}", info->test_suite_name(), info->name(), getpid());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(path_)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  fs::path path_;
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

// A tensor of 16-bit storage values (float16 or bfloat16 bits).
Tensor bits16(const std::vector<uint16_t>& bits, DType dtype) {
  Tensor t = make_contiguous_tensor({static_cast<int64_t>(bits.size())}, dtype, Device::cpu());
  std::memcpy(t.raw_data(), bits.data(), bits.size() * 2);
  return t;
}

std::string raw(const Tensor& t) { return std::string(static_cast<const char*>(t.raw_data()), t.nbytes()); }

// The tensors of tests/fixtures/reference.safetensors (make_fixtures.py's REFERENCE).
StateDict reference_tensors() {
  StateDict d;
  d["a_f32"] = from_vector<float>({0, 0.5, 1, 1.5, 2, 2.5}, {2, 3});
  d["b_f64"] = from_vector<double>({1.5, -2.25, 1e300, -0.0}, {2, 2}, TensorOptions{}.with_dtype(DType::Float64));
  d["c_f16"] = bits16({0x3c00, 0xc100, 0x7bff, 0x2e66}, DType::Float16);
  d["d_bf16"] = bits16({0x3f80, 0xc020, 0x4049}, DType::BFloat16);
  d["e_i64"] = from_vector<int64_t>({-1, 0, (int64_t{1} << 40) + 3}, {3}, TensorOptions{}.with_dtype(DType::Int64));
  d["scalar"] = make_contiguous_tensor({}, DType::Float64, Device::cpu());
  *d["scalar"].data<double>() = 3.25;
  d["empty"] = make_contiguous_tensor({0, 3}, DType::Float32, Device::cpu());
  return d;
}

void expect_same_tensors(const StateDict& got, const StateDict& expected) {
  ASSERT_EQ(got.size(), expected.size());
  for (const auto& [name, tensor] : expected) {
    ASSERT_TRUE(got.count(name)) << name;
    const Tensor& g = got.at(name);
    EXPECT_EQ(g.dtype(), tensor.dtype()) << name;
    EXPECT_EQ(g.shape(), tensor.shape()) << name;
    EXPECT_TRUE(g.device().is_cpu()) << name;
    EXPECT_EQ(raw(g), raw(tensor.contiguous())) << name;  // bit-exact, -0.0 included
  }
}

// A file from a header text and a data section.
std::string file_bytes(const std::string& header, const std::string& data = "") {
  std::string bytes(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  return bytes + header + data;
}

std::string error_of(const std::string& bytes) {
  try {
    parse_safetensors(bytes, "model.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// ---- round trips ------------------------------------------------------------------------

TEST(Safetensors, RoundTripsEveryDtypeIncludingEmptyAndScalarTensors) {
  TempDir dir;
  const StateDict tensors = reference_tensors();
  save_safetensors(dir.file("m.safetensors"), tensors);
  const SafetensorsFile loaded = load_safetensors(dir.file("m.safetensors"));
  expect_same_tensors(loaded.tensors, tensors);
  EXPECT_TRUE(loaded.metadata.empty());
}

TEST(Safetensors, RoundTripsMetadata) {
  TempDir dir;
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"config", "{\"hidden_size\": 8}"}};
  save_safetensors(dir.file("m.safetensors"), {{"w", from_vector<float>({1, 2}, {2})}}, metadata);
  EXPECT_EQ(load_safetensors(dir.file("m.safetensors")).metadata, metadata);
}

TEST(Safetensors, HeaderIsPaddedToEightBytesWithSortedPackedOffsets) {
  TempDir dir;
  save_safetensors(dir.file("m.safetensors"), reference_tensors(), {{"k", "v"}});
  const std::string bytes = read_bytes(dir.file("m.safetensors"));
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  const SafetensorsHeader header = read_safetensors_header(dir.file("m.safetensors"));
  uint64_t offset = 0;
  std::string previous;
  for (const SafetensorsEntry& entry : header.entries) {
    EXPECT_LT(previous, entry.name);
    EXPECT_EQ(entry.begin, offset) << entry.name;
    offset = entry.end;
    previous = entry.name;
  }
  EXPECT_EQ(offset, header.data_size);
  EXPECT_EQ(8 + n + header.data_size, bytes.size());
}

TEST(Safetensors, SavesAStridedViewAsItsRowMajorValues) {
  TempDir dir;
  const Tensor matrix = from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  save_safetensors(dir.file("t.safetensors"), {{"t", matrix.t()}});
  const Tensor loaded = load_safetensors(dir.file("t.safetensors")).tensors.at("t");
  EXPECT_EQ(loaded.shape(), (Shape{3, 2}));
  EXPECT_EQ(loaded.to_vector<float>(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST(Safetensors, LoadsTheFileWrittenByThePythonWriter) {
  const SafetensorsFile file = load_safetensors(RECUR_TEST_FIXTURES "/reference.safetensors");
  expect_same_tensors(file.tensors, reference_tensors());
  EXPECT_EQ(file.metadata, (std::map<std::string, std::string>{{"format", "pt"}, {"note", "written by st.py"}}));
}

// make_fixtures.py checks that the committed written_by_recur.safetensors loads in Python; this
// checks that recur's writer still produces exactly those bytes.
TEST(Safetensors, WriterStillProducesTheCommittedFixtureBytes) {
  TempDir dir;
  save_safetensors(dir.file("written_by_recur.safetensors"), reference_tensors(), {{"writer", "recur"}});
  const std::string fixture = RECUR_TEST_FIXTURES "/written_by_recur.safetensors";
  const std::string written = read_bytes(dir.file("written_by_recur.safetensors"));
  if (read_bytes(fixture) != written) {
    const std::string kept = (fs::temp_directory_path() / "written_by_recur.safetensors").string();
    write_bytes(kept, written);
    FAIL() << fixture << " differs from what save_safetensors writes now; the new file is at " << kept
           << " (copy it over and run make_fixtures.py to check it in Python)";
  }
}

TEST(Safetensors, ParseAndLoadAgree) {
  const std::string path = RECUR_TEST_FIXTURES "/reference.safetensors";
  const SafetensorsFile from_bytes = parse_safetensors(read_bytes(path), path);
  expect_same_tensors(from_bytes.tensors, load_safetensors(path).tensors);
}

TEST(Safetensors, RejectsReservedAndUndefinedNamesOnSave) {
  TempDir dir;
  EXPECT_THAT(
      [&] {
        save_safetensors(dir.file("a"), {{"__metadata__", from_vector<float>({1}, {1})}});
      },
      testing::ThrowsMessage<Error>(HasSubstr("'__metadata__' is reserved")));
  EXPECT_THAT(
      [&] {
        save_safetensors(dir.file("a"), {{"w", Tensor()}});
      },
      testing::ThrowsMessage<Error>(HasSubstr("tensor 'w' is undefined")));
  EXPECT_TRUE(dir.entries().empty());
}

// ---- the atomic writer ------------------------------------------------------------------

TEST(AtomicFile, LeavesOnlyTheTargetBehind) {
  TempDir dir;
  save_safetensors(dir.file("m.safetensors"), {{"w", from_vector<float>({1}, {1})}});
  save_safetensors(dir.file("m.safetensors"), {{"w", from_vector<float>({2}, {1})}});
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"m.safetensors"});
  EXPECT_EQ(load_safetensors(dir.file("m.safetensors")).tensors.at("w").item(), 2.0);
}

TEST(AtomicFile, AFailedWriteKeepsTheOldFileAndRemovesTheTemporary) {
  TempDir dir;
  write_file_atomically(dir.file("config.json"), std::string_view("{\"old\": true}"));
  EXPECT_THROW(write_file_atomically(dir.file("config.json"),
                                     [](std::FILE* file) {
                                       std::fputs("{\"half-writ", file);
                                       throw Error("disk on fire");
                                     }),
               Error);
  EXPECT_EQ(read_bytes(dir.file("config.json")), "{\"old\": true}");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"config.json"});
}

TEST(AtomicFile, ErrorNamesThePathAndTheErrnoText) {
  TempDir dir;
  const std::string path = dir.file("missing/model.safetensors");
  EXPECT_THAT(
      [&] {
        save_safetensors(path, {{"w", from_vector<float>({1}, {1})}});
      },
      testing::ThrowsMessage<Error>(testing::AllOf(HasSubstr(path), HasSubstr("No such file or directory"))));
}

TEST(AtomicFile, RenameOverAFolderFailsAndRemovesTheTemporary) {
  TempDir dir;
  fs::create_directories(dir.file("target"));
  fs::create_directories(dir.file("target/inside"));  // a non-empty folder cannot be replaced
  EXPECT_THAT([&] { write_file_atomically(dir.file("target"), std::string_view("x")); },
              testing::ThrowsMessage<Error>(HasSubstr("cannot write '" + dir.file("target") + "'")));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"target"});
}

// ---- malformed files --------------------------------------------------------------------

// An entry with the given fields, for building headers.
std::string entry(const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return fmt::format(R"({{"dtype":{},"shape":{},"data_offsets":{}}})", dtype, shape, offsets);
}

TEST(SafetensorsMalformed, FileShorterThanTheLengthPrefix) {
  EXPECT_EQ(error_of(std::string("\x10\0\0\0\0", 5)),
            "model.safetensors: the file has 5 bytes, too few for the 8-byte header length");
}

TEST(SafetensorsMalformed, HeaderLengthZero) {
  EXPECT_THAT(error_of(file_bytes("")), HasSubstr("model.safetensors: the header length is 0"));
}

TEST(SafetensorsMalformed, HeaderLengthPastTheEnd) {
  std::string bytes = file_bytes("{}");
  const uint64_t n = 1000;
  std::memcpy(bytes.data(), &n, 8);
  EXPECT_EQ(error_of(bytes), "model.safetensors: the header length 1000 runs past the end of the file (10 bytes)");
}

TEST(SafetensorsMalformed, HeaderLengthNearUint64MaxDoesNotOverflow) {
  std::string bytes = file_bytes("{}");
  const uint64_t n = ~uint64_t{0} - 4;
  std::memcpy(bytes.data(), &n, 8);
  EXPECT_THAT(error_of(bytes), HasSubstr("runs past the end of the file"));
}

TEST(SafetensorsMalformed, InvalidJson) {
  EXPECT_THAT(error_of(file_bytes(R"({"w": )")), HasSubstr("model.safetensors: the header is not valid JSON: "));
}

TEST(SafetensorsMalformed, HeaderNotAnObject) {
  EXPECT_EQ(error_of(file_bytes("[1, 2]  ")), "model.safetensors: the header is a JSON array, expected an object");
}

TEST(SafetensorsMalformed, EntryNotAnObject) {
  EXPECT_THAT(error_of(file_bytes(R"({"w": 5})")),
              HasSubstr("model.safetensors: tensor 'w': the entry is a number, expected an object"));
}

TEST(SafetensorsMalformed, MissingField) {
  EXPECT_THAT(error_of(file_bytes(R"({"w": {"dtype": "F32", "shape": [1]}})", std::string(4, '\0'))),
              HasSubstr("tensor 'w': the entry has no 'data_offsets'"));
}

TEST(SafetensorsMalformed, WrongTypedDtype) {
  EXPECT_THAT(error_of(file_bytes("{\"w\":" + entry("4", "[1]", "[0,4]") + "}", std::string(4, '\0'))),
              HasSubstr("tensor 'w': 'dtype' is a number, expected a string"));
}

TEST(SafetensorsMalformed, UnknownDtype) {
  EXPECT_THAT(error_of(file_bytes("{\"w\":" + entry("\"I32\"", "[1]", "[0,4]") + "}", std::string(4, '\0'))),
              HasSubstr("tensor 'w': unknown dtype \"I32\" (recur reads F32, F64, F16, BF16 and I64)"));
}

TEST(SafetensorsMalformed, ShapeNotAnArray) {
  EXPECT_THAT(error_of(file_bytes("{\"w\":" + entry("\"F32\"", "4", "[0,16]") + "}", std::string(16, '\0'))),
              HasSubstr("tensor 'w': 'shape' is a number, expected an array of non-negative integers"));
}

TEST(SafetensorsMalformed, NegativeShapeEntry) {
  EXPECT_THAT(error_of(file_bytes("{\"w\":" + entry("\"F32\"", "[2,-1]", "[0,8]") + "}", std::string(8, '\0'))),
              HasSubstr("tensor 'w': shape[1] is -1, expected a non-negative integer"));
}

TEST(SafetensorsMalformed, NonIntegerShapeEntry) {
  EXPECT_THAT(error_of(file_bytes("{\"w\":" + entry("\"F32\"", "[2.5]", "[0,8]") + "}", std::string(8, '\0'))),
              HasSubstr("tensor 'w': shape[0] is 2.5, expected a non-negative integer"));
}

TEST(SafetensorsMalformed, ShapeProductOverflow) {
  const std::string shape = "[4611686018427387904,4611686018427387904]";
  EXPECT_THAT(error_of(file_bytes("{\"w\":" + entry("\"F32\"", shape, "[0,8]") + "}", std::string(8, '\0'))),
              HasSubstr("tensor 'w': shape " + shape + " holds more elements than fit in 64 bits"));
}

TEST(SafetensorsMalformed, ByteSizeOverflowAfterShapeProduct) {
  // 2^62 elements fit in int64, but 2^62 * 4 bytes do not fit in 64 bits.
  const std::string shape = "[4611686018427387904]";
  EXPECT_THAT(error_of(file_bytes("{\"w\":" + entry("\"F32\"", shape, "[0,8]") + "}", std::string(8, '\0'))),
              HasSubstr("more elements than fit in 64 bits"));
}

TEST(SafetensorsMalformed, DataOffsetsNotTwoIntegers) {
  const std::string data(8, '\0');
  EXPECT_THAT(error_of(file_bytes("{\"w\":" + entry("\"F32\"", "[2]", "[0]") + "}", data)),
              HasSubstr("tensor 'w': 'data_offsets' is [0], expected two non-negative integers [begin, end]"));
  EXPECT_THAT(error_of(file_bytes("{\"w\":" + entry("\"F32\"", "[2]", "[0,\"8\"]") + "}", data)),
              HasSubstr("'data_offsets' is [0,\"8\"]"));
  EXPECT_THAT(error_of(file_bytes("{\"w\":" + entry("\"F32\"", "[2]", "[-8,0]") + "}", data)),
              HasSubstr("'data_offsets' is [-8,0]"));
}

TEST(SafetensorsMalformed, BeginAfterEnd) {
  EXPECT_THAT(error_of(file_bytes("{\"w\":" + entry("\"F32\"", "[1]", "[8,4]") + "}", std::string(8, '\0'))),
              HasSubstr("tensor 'w': data_offsets [8, 4] begin after they end"));
}

TEST(SafetensorsMalformed, OffsetsPastTheEndOfTheData) {
  EXPECT_THAT(error_of(file_bytes("{\"w\":" + entry("\"F32\"", "[16]", "[0,64]") + "}", std::string(16, '\0'))),
              HasSubstr("tensor 'w': data_offsets [0, 64] end past the data section of 16 bytes"));
}

TEST(SafetensorsMalformed, ByteSizeDisagreesWithDtypeAndShape) {
  EXPECT_EQ(error_of(file_bytes("{\"w\":" + entry("\"F32\"", "[2,2]", "[0,12]") + "}", std::string(12, '\0'))),
            "model.safetensors: tensor 'w': data_offsets [0, 12] hold 12 bytes, but F32 [2, 2] needs 16");
  EXPECT_THAT(error_of(file_bytes("{\"w\":" + entry("\"F64\"", "[2]", "[0,8]") + "}", std::string(8, '\0'))),
              HasSubstr("hold 8 bytes, but F64 [2] needs 16"));
}

TEST(SafetensorsMalformed, OverlappingRanges) {
  const std::string header =
      "{\"a\":" + entry("\"F32\"", "[4]", "[0,16]") + ",\"b\":" + entry("\"F32\"", "[4]", "[8,24]") + "}";
  EXPECT_THAT(error_of(file_bytes(header, std::string(24, '\0'))),
              HasSubstr("model.safetensors: tensors 'a' at [0, 16] and 'b' at [8, 24] overlap"));
}

TEST(SafetensorsMalformed, EmptyTensorsOverlapNothing) {
  const std::string header =
      "{\"a\":" + entry("\"F32\"", "[4]", "[0,16]") + ",\"b\":" + entry("\"F32\"", "[0]", "[8,8]") + "}";
  const SafetensorsFile file = parse_safetensors(file_bytes(header, std::string(16, '\0')), "m");
  EXPECT_EQ(file.tensors.at("b").shape(), (Shape{0}));
}

TEST(SafetensorsMalformed, DuplicateTensorNames) {
  const std::string header =
      "{\"w\":" + entry("\"F32\"", "[1]", "[0,4]") + ",\"w\":" + entry("\"F32\"", "[1]", "[4,8]") + "}";
  EXPECT_EQ(error_of(file_bytes(header, std::string(8, '\0'))),
            "model.safetensors: 'w' appears more than once in the header");
}

TEST(SafetensorsMalformed, DuplicateKeysInsideAnEntry) {
  const std::string header = R"({"w":{"dtype":"F32","dtype":"F64","shape":[1],"data_offsets":[0,4]}})";
  EXPECT_THAT(error_of(file_bytes(header, std::string(4, '\0'))),
              HasSubstr("key 'dtype' appears more than once in one object of the header"));
}

TEST(SafetensorsMalformed, MetadataValuesMustBeStrings) {
  EXPECT_THAT(error_of(file_bytes(R"({"__metadata__":{"epoch":3}})")),
              HasSubstr("model.safetensors: __metadata__ 'epoch' is a number, expected a string"));
  EXPECT_THAT(error_of(file_bytes(R"({"__metadata__":["a"]})")),
              HasSubstr("'__metadata__' is an array, expected an object of strings"));
}

// Deep nesting must not recurse through the stack (parsing, messages or destruction).
TEST(SafetensorsMalformed, DeeplyNestedHeaderIsAnErrorNotAStackOverflow) {
  const size_t depth = 1'000'000;
  const std::string nested = std::string(depth, '[') + std::string(depth, ']');
  EXPECT_THAT(error_of(file_bytes("{\"w\":{\"dtype\":\"F32\",\"shape\":" + nested + ",\"data_offsets\":[0,0]}}")),
              HasSubstr("model.safetensors: the header nests deeper than 16 levels"));
  EXPECT_THAT(error_of(file_bytes("{\"__metadata__\":{\"k\":" + nested + "}}")),
              HasSubstr("nests deeper than 16 levels"));
}

TEST(SafetensorsMalformed, TruncatedFileOnDiskNamesThePath) {
  TempDir dir;
  const std::string bytes = read_bytes(RECUR_TEST_FIXTURES "/reference.safetensors");
  write_bytes(dir.file("cut.safetensors"), bytes.substr(0, bytes.size() - 3));
  EXPECT_THAT([&] { load_safetensors(dir.file("cut.safetensors")); },
              testing::ThrowsMessage<Error>(HasSubstr(dir.file("cut.safetensors") + ": tensor '")));
}

TEST(SafetensorsMalformed, MissingFileNamesThePathAndTheErrnoText) {
  EXPECT_THAT([] { load_safetensors("/nonexistent/model.safetensors"); },
              testing::ThrowsMessage<Error>(
                  HasSubstr("cannot open '/nonexistent/model.safetensors': No such file or directory")));
}

TEST(SafetensorsMalformed, EveryTruncationIsAnError) {
  const std::string bytes = read_bytes(RECUR_TEST_FIXTURES "/reference.safetensors");
  for (size_t length = 0; length < bytes.size(); ++length) {
    EXPECT_THROW(parse_safetensors(bytes.substr(0, length), "cut"), Error) << "length " << length;
  }
}

// Random corruption either still parses or is a recur::Error: never a crash or another exception.
TEST(SafetensorsMalformed, CorruptedBytesNeverCrash) {
  const std::string bytes = read_bytes(RECUR_TEST_FIXTURES "/reference.safetensors");
  std::mt19937 random(1234);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string corrupt = bytes;
    const int flips = 1 + static_cast<int>(random() % 4);
    for (int f = 0; f < flips; ++f) {
      // Mostly the length prefix and the header, where the structure lives.
      const size_t limit = trial % 2 == 0 ? std::min<size_t>(corrupt.size(), 200) : corrupt.size();
      corrupt[random() % limit] = static_cast<char>(random() % 256);
    }
    try {
      parse_safetensors(corrupt, "corrupt");
    } catch (const Error&) {
    }
  }
}

}  // namespace
}  // namespace recur::nn
