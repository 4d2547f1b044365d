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

#include "core/atomic_file.h"
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
  EXPECT_THAT(error_of(bytes), HasSubstr("is over the limit of 100000000 bytes"));
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
  EXPECT_EQ(error_of(file_bytes(header, std::string(24, '\0'))),
            "model.safetensors: tensor 'b' at [8, 24] begins at byte 8, expected 16 (where 'a' at [0, 16] ends): the "
            "tensors overlap");
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
// Every corrupted file is either refused with a recur::Error or read as a valid file: written
// back by recur's writer and read again, it gives the same names, shapes, dtypes, bytes and
// metadata (so what was accepted is a file recur itself could have written).
TEST(SafetensorsMalformed, CorruptedBytesAreRefusedOrReadBackEqual) {
  const std::string bytes = read_bytes(RECUR_TEST_FIXTURES "/reference.safetensors");
  TempDir dir;
  std::mt19937 random(1234);
  int refused = 0, accepted = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string corrupt = bytes;
    const int flips = 1 + static_cast<int>(random() % 4);
    for (int f = 0; f < flips; ++f) {
      // Mostly the length prefix and the header, where the structure lives.
      const size_t limit = trial % 2 == 0 ? std::min<size_t>(corrupt.size(), 200) : corrupt.size();
      corrupt[random() % limit] = static_cast<char>(random() % 256);
    }
    SafetensorsFile file;
    try {
      file = parse_safetensors(corrupt, "corrupt");
    } catch (const Error&) {
      ++refused;
      continue;
    }
    ++accepted;
    const std::string path = dir.file("again.safetensors");
    save_safetensors(path, file.tensors, file.metadata);
    const SafetensorsFile again = parse_safetensors(read_bytes(path), "written back");
    ASSERT_EQ(again.metadata, file.metadata) << "trial " << trial;
    ASSERT_EQ(again.tensors.size(), file.tensors.size()) << "trial " << trial;
    for (const auto& [name, tensor] : file.tensors) {
      const auto found = again.tensors.find(name);
      ASSERT_NE(found, again.tensors.end()) << "trial " << trial << ": " << name;
      const Tensor& other = found->second;
      ASSERT_EQ(other.shape(), tensor.shape()) << name;
      ASSERT_EQ(other.dtype(), tensor.dtype()) << name;
      const size_t size = static_cast<size_t>(tensor.numel()) * dtype_size(tensor.dtype());
      ASSERT_EQ(std::memcmp(other.raw_data(), tensor.raw_data(), size), 0) << "trial " << trial << ": " << name;
    }
  }
  // Both outcomes happen: flips in the data change values only, flips in the header mostly break it.
  EXPECT_GT(refused, 100);
  EXPECT_GT(accepted, 100);
}

// ---- the reference implementation's rules -----------------------------------------------
// Each test cites the rule of huggingface/safetensors (safetensors/src/tensor.rs) it checks:
// SafeTensors::read_metadata and Metadata::validate, and the error each rule raises there.

// A header of F32 tensors "a", "b", ... of one dimension at the given offsets.
std::string f32_header(const std::vector<std::pair<uint64_t, uint64_t>>& offsets) {
  std::string header = "{";
  for (size_t i = 0; i < offsets.size(); ++i) {
    const auto [begin, end] = offsets[i];
    header += fmt::format("{}\"{}\":{}", i ? "," : "", static_cast<char>('a' + i),
                          entry("\"F32\"", fmt::format("[{}]", (end - begin) / 4), fmt::format("[{},{}]", begin, end)));
  }
  return header + "}";
}

// read_metadata, HeaderTooSmall: fewer than 8 bytes.
TEST(SafetensorsReferenceRules, FewerThanEightBytesIsHeaderTooSmall) {
  EXPECT_THAT(error_of(""), HasSubstr("the file has 0 bytes, too few for the 8-byte header length"));
  EXPECT_THAT(error_of(std::string(7, '\0')), HasSubstr("the file has 7 bytes"));
}

// read_metadata, HeaderTooLarge: N > MAX_HEADER_SIZE = 100_000_000, checked before the file's
// length; N = 100_000_000 itself is allowed.
TEST(SafetensorsReferenceRules, HeaderLongerThan100MillionBytesIsHeaderTooLarge) {
  std::string bytes = file_bytes("{}");
  uint64_t n = 100'000'001;
  std::memcpy(bytes.data(), &n, 8);
  EXPECT_EQ(error_of(bytes), "model.safetensors: the header length 100000001 is over the limit of 100000000 bytes");
  n = 100'000'000;
  std::memcpy(bytes.data(), &n, 8);
  EXPECT_THAT(error_of(bytes), HasSubstr("runs past the end of the file"));
}

// read_metadata, InvalidHeaderLength: 8 + N past the end of the buffer.
TEST(SafetensorsReferenceRules, HeaderPastTheEndIsInvalidHeaderLength) {
  std::string bytes = file_bytes("{}");
  bytes.resize(9);
  EXPECT_EQ(error_of(bytes), "model.safetensors: the header length 2 runs past the end of the file (9 bytes)");
}

// read_metadata, InvalidHeader: the header must be UTF-8.
TEST(SafetensorsReferenceRules, HeaderThatIsNotUtf8IsRefused) {
  EXPECT_THAT(error_of(file_bytes("\xff")), HasSubstr("the header is not valid JSON"));
  EXPECT_THAT(error_of(file_bytes("{\"__metadata__\":{\"k\":\"\xc3\"}}")), HasSubstr("the header is not valid JSON"));
  EXPECT_THAT(error_of(file_bytes("{\"\xed\xa0\x80\":" + entry("\"F32\"", "[0]", "[0,0]") + "}")),
              HasSubstr("the header is not valid JSON"));  // an encoded surrogate
}

// read_metadata, InvalidHeaderDeserialization: the header must be JSON; JSON whitespace may pad
// it before and after (the reference's whitespace_padded and leading_padded tests).
TEST(SafetensorsReferenceRules, HeaderMustBeJsonAndMayBePaddedWithWhitespace) {
  EXPECT_THAT(error_of(file_bytes("{")), HasSubstr("the header is not valid JSON"));
  EXPECT_TRUE(parse_safetensors(file_bytes("{}\r \t\n"), "m").tensors.empty());
  EXPECT_TRUE(parse_safetensors(file_bytes("\t\n{}\r "), "m").tensors.empty());
  EXPECT_THAT(error_of(file_bytes(std::string("{}\0", 3))), HasSubstr("the header is not valid JSON"));
}

// HashMetadata: "__metadata__" is absent, null, or a map of strings to strings.
TEST(SafetensorsReferenceRules, MetadataIsAMapOfStringsOrNull) {
  EXPECT_TRUE(parse_safetensors(file_bytes(R"({"__metadata__":null})"), "m").metadata.empty());
  EXPECT_EQ(parse_safetensors(file_bytes(R"({"__metadata__":{"k":"v"}})"), "m").metadata.at("k"), "v");
  EXPECT_THAT(error_of(file_bytes(R"({"__metadata__":{"k":null}})")), HasSubstr("__metadata__ 'k' is null"));
  EXPECT_THAT(error_of(file_bytes(R"({"__metadata__":{"k":["v"]}})")), HasSubstr("__metadata__ 'k' is an array"));
  EXPECT_THAT(error_of(file_bytes(R"({"__metadata__":"v"})")), HasSubstr("'__metadata__' is a string"));
}

// TensorInfo: dtype, shape (unsigned integers) and data_offsets (two unsigned integers) are
// required; other fields are ignored, as serde ignores unknown fields.
TEST(SafetensorsReferenceRules, EntryFieldsAndTheirTypes) {
  EXPECT_THAT(error_of(file_bytes(R"({"w":{"shape":[],"data_offsets":[0,4]}})", std::string(4, '\0'))),
              HasSubstr("tensor 'w': the entry has no 'dtype'"));
  EXPECT_THAT(error_of(file_bytes(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", std::string(4, '\0'))),
              HasSubstr("tensor 'w': the entry has no 'shape'"));
  EXPECT_THAT(error_of(file_bytes("{\"w\":" + entry("\"F32\"", "[1]", "[0,4,8]") + "}", std::string(4, '\0'))),
              HasSubstr("'data_offsets' is [0,4,8], expected two non-negative integers"));
  const std::string extra = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"note":"x"}})";
  EXPECT_EQ(parse_safetensors(file_bytes(extra, std::string(4, '\0')), "m").tensors.at("w").shape(), (Shape{1}));
}

// A name given twice: serde would keep one silently; recur refuses the file, naming it.
TEST(SafetensorsReferenceRules, DuplicateNamesAreRefused) {
  const std::string header =
      "{\"a\":" + entry("\"F32\"", "[1]", "[0,4]") + ",\"a\":" + entry("\"F32\"", "[1]", "[0,4]") + "}";
  EXPECT_EQ(error_of(file_bytes(header, std::string(4, '\0'))),
            "model.safetensors: 'a' appears more than once in the header");
}

// Metadata::validate, ValidationOverflow: the element count and the byte size are computed
// without overflow (the shapes of the reference's test_validation_overflow).
TEST(SafetensorsReferenceRules, ShapeProductOrByteSizeOverflowIsRefused) {
  EXPECT_THAT(error_of(file_bytes("{\"w\":" + entry("\"F32\"", "[2,9223372036854775807]", "[0,16]") + "}",
                                  std::string(16, '\0'))),
              HasSubstr("more elements than fit in 64 bits"));
  // A size above int64's range cannot be a recur shape.
  EXPECT_THAT(error_of(file_bytes("{\"w\":" + entry("\"F32\"", "[2,18446744073709551614]", "[0,16]") + "}",
                                  std::string(16, '\0'))),
              HasSubstr("shape[1] is 18446744073709551614, expected a non-negative integer"));
}

// Metadata::validate, TensorInvalidInfo: end - begin == dtype size x shape product, for a scalar
// (shape [], one element) and an empty tensor too.
TEST(SafetensorsReferenceRules, ByteSizeIsDtypeSizeTimesShapeProduct) {
  EXPECT_THAT(error_of(file_bytes("{\"w\":" + entry("\"F32\"", "[2,2]", "[0,4]") + "}", std::string(4, '\0'))),
              HasSubstr("data_offsets [0, 4] hold 4 bytes, but F32 [2, 2] needs 16"));
  const std::string scalar = "{\"w\":" + entry("\"I64\"", "[]", "[0,8]") + "}";
  EXPECT_EQ(parse_safetensors(file_bytes(scalar, std::string(8, '\0')), "m").tensors.at("w").numel(), 1);
  const std::string empty = "{\"w\":" + entry("\"F32\"", "[2,0]", "[0,0]") + "}";
  EXPECT_EQ(parse_safetensors(file_bytes(empty), "m").tensors.at("w").shape(), (Shape{2, 0}));
}

// Metadata::validate, InvalidOffset: e >= s.
TEST(SafetensorsReferenceRules, EndBeforeBeginIsRefused) {
  EXPECT_THAT(error_of(file_bytes("{\"w\":" + entry("\"F32\"", "[0]", "[4,0]") + "}", std::string(4, '\0'))),
              HasSubstr("data_offsets [4, 0] begin after they end"));
}

// Metadata::validate, InvalidOffset: in offset order, the first tensor begins at byte 0.
TEST(SafetensorsReferenceRules, AHoleAtTheStartIsRefused) {
  EXPECT_EQ(error_of(file_bytes(f32_header({{4, 8}}), std::string(8, '\0'))),
            "model.safetensors: tensor 'a' at [4, 8] begins at byte 4, expected 0 (the start of the data section): "
            "the data section has a hole");
}

// Metadata::validate, InvalidOffset: each tensor begins where the one before it ends, so a hole
// between two tensors is refused, whatever the order of the names.
TEST(SafetensorsReferenceRules, AHoleBetweenTensorsIsRefused) {
  EXPECT_EQ(error_of(file_bytes(f32_header({{0, 4}, {8, 12}}), std::string(12, '\0'))),
            "model.safetensors: tensor 'b' at [8, 12] begins at byte 8, expected 4 (where 'a' at [0, 4] ends): the "
            "data section has a hole");
  EXPECT_THAT(error_of(file_bytes(f32_header({{8, 12}, {0, 4}}), std::string(12, '\0'))),
              HasSubstr("tensor 'a' at [8, 12] begins at byte 8, expected 4 (where 'b' at [0, 4] ends)"));
}

// Metadata::validate, InvalidOffset: overlaps, identical ranges included (the reference's
// test_json_attack: ten tensors all at [0, 16]).
TEST(SafetensorsReferenceRules, OverlapsAndSharedRangesAreRefused) {
  std::string header = "{";
  for (int i = 0; i < 10; ++i) {
    header += fmt::format("{}\"weight_{}\":{}", i ? "," : "", i, entry("\"F32\"", "[2,2]", "[0,16]"));
  }
  header += "}";
  EXPECT_THAT(error_of(file_bytes(header, std::string(16, '\0'))),
              HasSubstr("begins at byte 0, expected 16 (where 'weight_0' at [0, 16] ends): the tensors overlap"));
}

// Metadata::validate: an empty tensor sits at a boundary of the tiling (0, between two tensors,
// or the end), never inside another tensor's bytes.
TEST(SafetensorsReferenceRules, EmptyTensorsSitAtBoundaries) {
  const std::string two = f32_header({{0, 16}, {16, 32}});
  for (const uint64_t at : {0, 16, 32}) {
    const std::string header =
        two.substr(0, two.size() - 1) + ",\"e\":" + entry("\"F32\"", "[0]", fmt::format("[{},{}]", at, at)) + "}";
    EXPECT_EQ(parse_safetensors(file_bytes(header, std::string(32, '\0')), "m").tensors.at("e").shape(), (Shape{0}))
        << at;
  }
  const std::string inside =
      "{\"a\":" + entry("\"F32\"", "[4]", "[0,16]") + ",\"e\":" + entry("\"F32\"", "[0]", "[8,8]") + "}";
  EXPECT_THAT(error_of(file_bytes(inside, std::string(16, '\0'))),
              HasSubstr("tensor 'e' at [8, 8] begins at byte 8, expected 16"));
}

// read_metadata, MetadataIncompleteBuffer: the tensors end exactly at the end of the file; no
// unused bytes after the last (a polyglot file) and none missing.
TEST(SafetensorsReferenceRules, TheTensorsCoverTheWholeDataSection) {
  EXPECT_EQ(error_of(file_bytes(f32_header({{0, 16}}), std::string(16, '\0') + "extra_bogus_data_for_polyglot_file")),
            "model.safetensors: the tensors cover bytes [0, 16) of a data section of 50 bytes, expected all of it "
            "(34 unused bytes at its end)");
  EXPECT_THAT(error_of(file_bytes("{}", "x")), HasSubstr("cover bytes [0, 0) of a data section of 1 bytes"));
  EXPECT_THAT(error_of(file_bytes(f32_header({{0, 16}}), std::string(14, '\0'))),
              HasSubstr("data_offsets [0, 16] end past the data section of 14 bytes"));
}

// A file with a hole in its data section is refused on disk too, naming the path.
TEST(SafetensorsReferenceRules, AFileWithAHoleIsRefusedByTheLoaderAndTheHeaderReader) {
  TempDir dir;
  const std::string path = dir.file("hole.safetensors");
  write_bytes(path, file_bytes(f32_header({{0, 4}, {8, 12}}), std::string(12, '\0')));
  EXPECT_THAT([&] { load_safetensors(path); }, testing::ThrowsMessage<Error>(HasSubstr(path + ": tensor 'b'")));
  EXPECT_THAT([&] { read_safetensors_header(path); }, testing::ThrowsMessage<Error>(HasSubstr("has a hole")));
}

}  // namespace
}  // namespace recur::nn
