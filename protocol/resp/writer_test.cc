// Tests for the RESP Writer: the bytes of every method in RESP2 and RESP3, and trees written
// and read back.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "protocol/resp/resp.h"

namespace plexi::resp {
namespace {

// What `write` appends, for a RESP2 client and a RESP3 one.
template <class Write>
std::pair<std::string, std::string> both(Write write) {
  std::string two, three;
  Writer w2(two, 2), w3(three, 3);
  write(w2);
  write(w3);
  return {two, three};
}

using Pair = std::pair<std::string, std::string>;

TEST(RespWriter, Scalars) {
  EXPECT_EQ(both([](Writer& w) { w.simple("OK"); }), Pair("+OK\r\n", "+OK\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.error("ERR no such key"); }),
            Pair("-ERR no such key\r\n", "-ERR no such key\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.integer(-9223372036854775807 - 1); }),
            Pair(":-9223372036854775808\r\n", ":-9223372036854775808\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.bulk("a\r\nb"); }),
            Pair("$4\r\na\r\nb\r\n", "$4\r\na\r\nb\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.bulk(""); }), Pair("$0\r\n\r\n", "$0\r\n\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.null(); }), Pair("$-1\r\n", "_\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.null_array(); }), Pair("*-1\r\n", "_\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.boolean(true); }), Pair(":1\r\n", "#t\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.boolean(false); }), Pair(":0\r\n", "#f\r\n"));
}

TEST(RespWriter, LinesCannotBreakTheStream) {
  // A CR or LF in a line would end it early and make the rest a reply of its own.
  EXPECT_EQ(both([](Writer& w) { w.error("ERR bad\r\n+OK"); }),
            Pair("-ERR bad  +OK\r\n", "-ERR bad  +OK\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.simple("a\nb"); }), Pair("+a b\r\n", "+a b\r\n"));
}

TEST(RespWriter, Doubles) {
  EXPECT_EQ(both([](Writer& w) { w.double_value(1.5); }), Pair("$3\r\n1.5\r\n", ",1.5\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.double_value(0.1); }), Pair("$3\r\n0.1\r\n", ",0.1\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.double_value(10); }), Pair("$2\r\n10\r\n", ",10\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.double_value(-1e300); }),
            Pair("$7\r\n-1e+300\r\n", ",-1e+300\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.double_value(std::numeric_limits<double>::infinity()); }),
            Pair("$3\r\ninf\r\n", ",inf\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.double_value(-std::numeric_limits<double>::infinity()); }),
            Pair("$4\r\n-inf\r\n", ",-inf\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.double_value(std::nan("")); }),
            Pair("$3\r\nnan\r\n", ",nan\r\n"));
  // The shortest text that reads back as the same double.
  std::string out;
  Writer(out, 3).double_value(0.1 + 0.2);
  EXPECT_EQ(out, ",0.30000000000000004\r\n");
}

TEST(RespWriter, AggregateHeaders) {
  EXPECT_EQ(both([](Writer& w) { w.array(3); }), Pair("*3\r\n", "*3\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.map(2); }), Pair("*4\r\n", "%2\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.set(5); }), Pair("*5\r\n", "~5\r\n"));
  EXPECT_EQ(both([](Writer& w) { w.push(3); }), Pair("*3\r\n", ">3\r\n"));
}

Value text(Type type, std::string text) { return Value{type, std::move(text), 0, {}}; }
Value aggregate(Type type, std::vector<Value> elements) {
  return Value{type, "", 0, std::move(elements)};
}

// A tree with every kind a reply can hold.
Value every_kind() {
  return aggregate(
      Type::kArray,
      {text(Type::kSimpleString, "OK"), text(Type::kError, "ERR x"),
       Value{Type::kInteger, "", -7, {}}, text(Type::kBulkString, "a\r\nb"), Value{},
       Value{Type::kBoolean, "", 1, {}}, text(Type::kDouble, "2.5"),
       text(Type::kBigNumber, "123456789012345678901234567890"),
       text(Type::kBulkError, "SYNTAX bad\r\nthing"), text(Type::kVerbatim, "line 1\nline 2"),
       aggregate(Type::kMap, {text(Type::kBulkString, "k"), aggregate(Type::kSet, {})}),
       aggregate(Type::kSet, {Value{Type::kInteger, "", 1, {}}}),
       aggregate(Type::kPush, {text(Type::kBulkString, "message")})});
}

TEST(RespWriter, ValueRoundTripsInResp3) {
  std::string out;
  Writer(out, 3).value(every_kind());
  std::size_t size = 0;
  auto back = parse_value(out, {}, &size);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, every_kind());
  EXPECT_EQ(size, out.size());
}

TEST(RespWriter, ValueInResp2) {
  std::string out;
  Writer(out, 2).value(every_kind());
  EXPECT_EQ(out,
            "*13\r\n+OK\r\n-ERR x\r\n:-7\r\n$4\r\na\r\nb\r\n$-1\r\n:1\r\n$3\r\n2.5\r\n"
            "$30\r\n123456789012345678901234567890\r\n-SYNTAX bad  thing\r\n"
            "$13\r\nline 1\nline 2\r\n*2\r\n$1\r\nk\r\n*0\r\n*1\r\n:1\r\n*1\r\n$7\r\nmessage\r\n");
  EXPECT_TRUE(parse_value(out, {}).has_value());
}

TEST(RespWriter, OddMapsAndAttributes) {
  Value odd = aggregate(Type::kMap, {text(Type::kSimpleString, "lonely")});
  EXPECT_EQ(both([&](Writer& w) { w.value(odd); }),
            Pair("*2\r\n+lonely\r\n$-1\r\n", "%1\r\n+lonely\r\n_\r\n"));
  // An attribute annotates what is written next; RESP2 has none.
  Value attribute = aggregate(Type::kAttribute,
                              {text(Type::kSimpleString, "ttl"), Value{Type::kInteger, "", 5, {}}});
  auto written = both([&](Writer& w) {
    w.value(attribute);
    w.integer(1);
  });
  EXPECT_EQ(written, Pair(":1\r\n", "|1\r\n+ttl\r\n:5\r\n:1\r\n"));
  EXPECT_EQ(parse_value(written.second, {}), (Value{Type::kInteger, "", 1, {}}));
}

TEST(RespWriter, AppendsToWhatIsThere) {
  std::string out = "+first\r\n";
  Writer writer(out, 3);
  EXPECT_EQ(writer.protocol(), 3);
  writer.array(2);
  writer.bulk("x");
  writer.integer(2);
  EXPECT_EQ(out, "+first\r\n*2\r\n$1\r\nx\r\n:2\r\n");
}

}  // namespace
}  // namespace plexi::resp
