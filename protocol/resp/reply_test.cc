// Tests for reading server replies: scan_reply and parse_value over every RESP2 and RESP3
// type, split at every byte, with the errors and limits of each.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/resp/resp.h"

namespace plexi::resp {
namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;

Value text(Type type, std::string text) { return Value{type, std::move(text), 0, {}}; }
Value number(Type type, std::int64_t n) { return Value{type, "", n, {}}; }
Value aggregate(Type type, std::vector<Value> elements) {
  return Value{type, "", 0, std::move(elements)};
}
Value bulk(std::string s) { return text(Type::kBulkString, std::move(s)); }
Value integer(std::int64_t n) { return number(Type::kInteger, n); }
const Value kNull{};

struct Sample {
  std::string_view wire;
  Value value;
  bool push = false;
};

const Sample kSamples[] = {
    {"+OK\r\n", text(Type::kSimpleString, "OK")},
    {"+\r\n", text(Type::kSimpleString, "")},
    {"-ERR unknown command\r\n", text(Type::kError, "ERR unknown command")},
    {":0\r\n", integer(0)},
    {":-42\r\n", integer(-42)},
    {":9223372036854775807\r\n", integer(9223372036854775807)},
    {":-9223372036854775808\r\n", integer(-9223372036854775807 - 1)},
    {"$5\r\nhello\r\n", bulk("hello")},
    {"$0\r\n\r\n", bulk("")},
    {"$4\r\n\r\n\r\n\r\n", bulk("\r\n\r\n")},
    {"$-1\r\n", kNull},
    {"*-1\r\n", kNull},
    {"_\r\n", kNull},
    {"*0\r\n", aggregate(Type::kArray, {})},
    {",3.14\r\n", text(Type::kDouble, "3.14")},
    {",-inf\r\n", text(Type::kDouble, "-inf")},
    {"#t\r\n", number(Type::kBoolean, 1)},
    {"#f\r\n", number(Type::kBoolean, 0)},
    {"(3492890328409238509324850943850943825024385\r\n",
     text(Type::kBigNumber, "3492890328409238509324850943850943825024385")},
    {"(-12\r\n", text(Type::kBigNumber, "-12")},
    {"!21\r\nSYNTAX invalid syntax\r\n", text(Type::kBulkError, "SYNTAX invalid syntax")},
    {"=15\r\ntxt:Some string\r\n", text(Type::kVerbatim, "Some string")},
    {"=4\r\nmkd:\r\n", text(Type::kVerbatim, "")},
    {"*3\r\n:1\r\n$5\r\nhello\r\n*2\r\n#t\r\n_\r\n",
     aggregate(Type::kArray, {integer(1), bulk("hello"),
                              aggregate(Type::kArray, {number(Type::kBoolean, 1), kNull})})},
    {"*2\r\n$-1\r\n*-1\r\n", aggregate(Type::kArray, {kNull, kNull})},
    {"%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
     aggregate(Type::kMap, {text(Type::kSimpleString, "first"), integer(1),
                            text(Type::kSimpleString, "second"), integer(2)})},
    {"~2\r\n+orange\r\n#t\r\n",
     aggregate(Type::kSet, {text(Type::kSimpleString, "orange"), number(Type::kBoolean, 1)})},
    {">3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$5\r\nhello\r\n",
     aggregate(Type::kPush, {bulk("message"), bulk("chan"), bulk("hello")}), true},
    // Attributes belong to the value after them, and parse_value drops them.
    {"|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n"
     "*2\r\n:2039123\r\n:9543892\r\n",
     aggregate(Type::kArray, {integer(2039123), integer(9543892)})},
    {"*3\r\n:1\r\n:2\r\n|1\r\n+ttl\r\n:3600\r\n:3\r\n",
     aggregate(Type::kArray, {integer(1), integer(2), integer(3)})},
    {"|0\r\n|1\r\n+a\r\n*1\r\n|1\r\n+b\r\n+c\r\n:1\r\n+x\r\n", text(Type::kSimpleString, "x")},
    {"|1\r\n+a\r\n+b\r\n>2\r\n+message\r\n+x\r\n",
     aggregate(Type::kPush, {text(Type::kSimpleString, "message"), text(Type::kSimpleString, "x")}),
     true},
    // Streamed strings and aggregates read as their fixed-length kinds.
    {"$?\r\n;4\r\nHell\r\n;6\r\no worl\r\n;1\r\nd\r\n;0\r\n", bulk("Hello world")},
    {"$?\r\n;0\r\n", bulk("")},
    {"*?\r\n:1\r\n:2\r\n.\r\n", aggregate(Type::kArray, {integer(1), integer(2)})},
    {"*?\r\n.\r\n", aggregate(Type::kArray, {})},
    {"%?\r\n+a\r\n:1\r\n.\r\n",
     aggregate(Type::kMap, {text(Type::kSimpleString, "a"), integer(1)})},
    {"~?\r\n+x\r\n.\r\n", aggregate(Type::kSet, {text(Type::kSimpleString, "x")})},
    {"*?\r\n*?\r\n.\r\n$?\r\n;1\r\nx\r\n;0\r\n%1\r\n+k\r\n~?\r\n|1\r\n+a\r\n+b\r\n:7\r\n.\r\n.\r\n",
     aggregate(Type::kArray, {aggregate(Type::kArray, {}), bulk("x"),
                              aggregate(Type::kMap, {text(Type::kSimpleString, "k"),
                                                     aggregate(Type::kSet, {integer(7)})})})},
};

ScanResult scanned(std::string_view wire, const Limits& limits = {}) {
  return scan_reply(wire, limits);
}

TEST(RespReply, EveryTypeSplitEverywhere) {
  for (const auto& sample : kSamples) {
    SCOPED_TRACE(std::string(sample.wire));
    for (std::size_t cut = 0; cut < sample.wire.size(); ++cut) {
      auto scan = scanned(sample.wire.substr(0, cut));
      ASSERT_EQ(scan.status, ParseStatus::kNeedMore) << "prefix of " << cut << ": " << scan.error;
      EXPECT_GT(scan.need, cut) << "prefix of " << cut;
      EXPECT_LE(scan.need, sample.wire.size()) << "prefix of " << cut;
      EXPECT_FALSE(parse_value(sample.wire.substr(0, cut), {}).has_value());
    }
    // The same size with the next reply behind it, as in a pipeline.
    for (auto wire : {std::string(sample.wire), std::string(sample.wire) + "+OK\r\n"}) {
      auto scan = scanned(wire);
      ASSERT_EQ(scan.status, ParseStatus::kComplete) << scan.error;
      EXPECT_EQ(scan.size, sample.wire.size());
      EXPECT_EQ(scan.push, sample.push);
      std::size_t size = 0;
      auto value = parse_value(wire, {}, &size);
      ASSERT_TRUE(value.has_value());
      EXPECT_EQ(*value, sample.value);
      EXPECT_EQ(size, sample.wire.size());
    }
  }
}

TEST(RespReply, PipelineOfReplies) {
  std::string wire;
  for (const auto& sample : kSamples) wire += sample.wire;
  std::string_view rest = wire;
  std::size_t count = 0;
  while (!rest.empty()) {
    auto scan = scanned(rest);
    ASSERT_EQ(scan.status, ParseStatus::kComplete) << scan.error;
    EXPECT_EQ(scan.size, kSamples[count].wire.size());
    rest.remove_prefix(scan.size);
    ++count;
  }
  EXPECT_EQ(count, std::size(kSamples));
}

TEST(RespReply, NeedCountsWhatLengthsPromise) {
  EXPECT_EQ(scanned("$10\r\nab").need, 17u);
  // Two more integers of at least three bytes each.
  EXPECT_EQ(scanned("*3\r\n:1\r\n").need, 8u + 2 * 3);
  EXPECT_EQ(scanned("*2\r\n$100\r\n").need, 10u + 102 + 3);
  // A streamed string still needs its last chunk, a streamed array its end.
  EXPECT_EQ(scanned("$?\r\n;3\r\nab").need, 13u + 4);
  EXPECT_EQ(scanned("*?\r\n:1\r\n").need, 11u);
  EXPECT_EQ(scanned("").need, 3u);
}

TEST(RespReply, PushOnlyAtTheTop) {
  EXPECT_FALSE(scanned("*1\r\n>1\r\n+x\r\n").push);
  EXPECT_TRUE(scanned(">1\r\n*1\r\n+x\r\n").push);
}

TEST(RespReply, MalformedReplies) {
  const std::string_view cases[] = {
      "?",  // unknown type, known from its first byte
      "x\r\n",
      ":abc\r\n",
      ":01\r\n",
      ":99999999999999999999\r\n",
      "#x\r\n",
      "_x\r\n",
      ",\r\n",
      "(12a\r\n",
      "=3\r\nabc\r\n",    // shorter than "txt:"
      "=5\r\nabcde\r\n",  // no colon after the format
      "$3\r\nabcXY",      // no CRLF after the data
      "$-2\r\n",
      "!-1\r\n",
      "%-1\r\n",
      "|?\r\n",
      ">?\r\n",
      "!?\r\n",
      ".\r\n",  // an end outside a streamed aggregate
      "*1\r\n.\r\n",
      "%?\r\n+a\r\n.\r\n",              // a key without its value
      "*?\r\n|1\r\n+a\r\n+b\r\n.\r\n",  // an attribute annotating nothing
      ";1\r\nx\r\n",                    // a chunk outside a streamed string
      "*2\r\n:1\r\n;",
      "$?\r\n+x\r\n",
      "$?\r\n;-1\r\n",
      "+OK\rX",
      "*1\rX",
  };
  for (auto wire : cases) {
    auto scan = scanned(wire);
    EXPECT_EQ(scan.status, ParseStatus::kError) << wire;
    EXPECT_FALSE(scan.error.empty()) << wire;
    EXPECT_FALSE(parse_value(wire, {}).has_value()) << wire;
  }
}

TEST(RespReply, LimitsFailBeforeTheDataArrives) {
  EXPECT_EQ(scanned("*2000000000\r\n").status, ParseStatus::kError);
  EXPECT_EQ(scanned("$9999999999\r\n").status, ParseStatus::kError);
  EXPECT_EQ(scanned("%600000\r\n").status, ParseStatus::kNeedMore);

  Limits small;
  small.max_array_length = 2;
  small.max_bulk_bytes = 4;
  small.max_inline_bytes = 5;
  const std::pair<std::string_view, ParseStatus> cases[] = {
      {"*2\r\n:1\r\n:2\r\n", ParseStatus::kComplete},
      {"*3\r\n", ParseStatus::kError},
      {"%3\r\n", ParseStatus::kError},
      {"%2\r\n:1\r\n:2\r\n:3\r\n:4\r\n", ParseStatus::kComplete},
      // Streamed aggregates are held to the same count as their elements come.
      {"*?\r\n:1\r\n:2\r\n.\r\n", ParseStatus::kComplete},
      {"*?\r\n:1\r\n:2\r\n:3", ParseStatus::kError},
      {"%?\r\n:1\r\n:2\r\n:3\r\n:4\r\n:5", ParseStatus::kError},
      {"$4\r\nabcd\r\n", ParseStatus::kComplete},
      {"$5\r\n", ParseStatus::kError},
      {"$?\r\n;3\r\nabc\r\n;2\r\n", ParseStatus::kError},
      // Lines: five bytes of text at most, an error as soon as a sixth is there without CR.
      {"+abcde\r\n", ParseStatus::kComplete},
      {"+abcde\r", ParseStatus::kNeedMore},
      {"+abcdef", ParseStatus::kError},
  };
  for (auto [wire, status] : cases) EXPECT_EQ(scanned(wire, small).status, status) << wire;
  // Integer lines never need more than twenty bytes.
  EXPECT_EQ(scanned(":" + std::string(21, '1')).status, ParseStatus::kError);
}

TEST(RespReply, DepthLimit) {
  Limits shallow;
  shallow.max_depth = 2;
  EXPECT_EQ(scanned("*1\r\n*1\r\n:1\r\n", shallow).status, ParseStatus::kComplete);
  EXPECT_EQ(scanned("*1\r\n*1\r\n*1\r\n", shallow).status, ParseStatus::kError);
  EXPECT_EQ(scanned("*1\r\n*?\r\n~?\r\n", shallow).status, ParseStatus::kError);
  // An attribute is an aggregate too.
  EXPECT_EQ(scanned("*1\r\n|1\r\n+a\r\n*1\r\n", shallow).status, ParseStatus::kError);

  // Nesting beyond what the scanner's stack holds is refused whatever the limit says.
  Limits deep;
  deep.max_depth = 100000;
  std::string nested;
  for (std::size_t i = 0; i < kMaxSupportedDepth; ++i) nested += "*1\r\n";
  EXPECT_EQ(scanned(nested + ":1\r\n", deep).status, ParseStatus::kComplete);
  ASSERT_TRUE(parse_value(nested + ":1\r\n", deep).has_value());
  EXPECT_EQ(scanned(nested + "*1\r\n", deep).status, ParseStatus::kError);
}

TEST(RespReply, ParseValueOfALongArray) {
  std::string wire = "*1000\r\n";
  for (int i = 0; i < 1000; ++i) wire += ":" + std::to_string(i) + "\r\n";
  auto value = parse_value(wire, {});
  ASSERT_TRUE(value.has_value());
  ASSERT_EQ(value->elements.size(), 1000u);
  EXPECT_EQ(value->elements[999], integer(999));
}

}  // namespace
}  // namespace plexi::resp
