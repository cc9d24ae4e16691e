// Tests for the RESP request parser: arrays of bulk strings split at every byte, pipelines,
// inline commands with the quoting redis-server 7.0 applies (each case below was sent to one
// and its arguments read back), and limits that fail before any data is awaited.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "protocol/resp/resp.h"

namespace plexi::resp {
namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;
using Args = std::vector<std::string>;

Args args_of(const Request& request) { return {request.args.begin(), request.args.end()}; }

// Every strict prefix needs more bytes, and says how many no more than the whole request has;
// the whole request parses to `expected` and takes all of `wire`.
void expect_split_everywhere(std::string_view wire, const Args& expected,
                             const Limits& limits = {}) {
  Request request;
  for (std::size_t cut = 0; cut < wire.size(); ++cut) {
    ASSERT_EQ(parse_request(wire.substr(0, cut), limits, request), ParseStatus::kNeedMore)
        << "prefix of " << cut << " bytes: " << request.error;
    EXPECT_GT(request.need, cut) << "prefix of " << cut << " bytes";
    EXPECT_LE(request.need, wire.size()) << "prefix of " << cut << " bytes";
  }
  ASSERT_EQ(parse_request(wire, limits, request), ParseStatus::kComplete) << request.error;
  EXPECT_EQ(request.size, wire.size());
  EXPECT_EQ(args_of(request), expected);
}

Request parsed(std::string_view wire, ParseStatus status, const Limits& limits = {}) {
  Request request;
  EXPECT_EQ(parse_request(wire, limits, request), status) << request.error;
  return request;
}

std::string error_of(std::string_view wire, const Limits& limits = {}) {
  return parsed(wire, ParseStatus::kError, limits).error;
}

// --- arrays of bulk strings ---------------------------------------------------------------

TEST(RespRequest, ArrayOfBulkStrings) {
  expect_split_everywhere("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n",
                          {"SET", "key", "value"});
}

TEST(RespRequest, BinarySafeBulkStrings) {
  std::string value = "a\r\nb\0c$*\r\n"s;
  std::string wire =
      "*2\r\n$4\r\nECHO\r\n$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
  expect_split_everywhere(wire, {"ECHO", value});
  expect_split_everywhere("*2\r\n$3\r\nGET\r\n$0\r\n\r\n", {"GET", ""});
}

TEST(RespRequest, ArgumentsViewTheBuffer) {
  std::string wire = "*1\r\n$4\r\nPING\r\n";
  Request request = parsed(wire, ParseStatus::kComplete);
  ASSERT_EQ(request.args.size(), 1u);
  EXPECT_EQ(request.args[0].data(), wire.data() + 8);
  EXPECT_FALSE(request.inline_form);
  EXPECT_TRUE(request.storage.empty());
}

TEST(RespRequest, EmptyArraysAreCompleteWithoutArguments) {
  // Redis skips any count below 1 and reads on.
  for (auto wire : {"*0\r\n"sv, "*-1\r\n"sv, "*-5\r\n"sv}) {
    expect_split_everywhere(wire, {});
  }
}

TEST(RespRequest, NeedIsTheEndOfALongBulkString) {
  // A caller holding a part of a 100 MB SET waits for all of it instead of parsing each read.
  std::string head = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$104857600\r\n";
  Request request = parsed(head + "some of the value", ParseStatus::kNeedMore);
  EXPECT_EQ(request.need, head.size() + 104857600 + 2);
  // With arguments still to come after it, each counts at least "$0\r\n\r\n".
  head = "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000\r\n";
  request = parsed(head, ParseStatus::kNeedMore);
  EXPECT_EQ(request.need, head.size() + 1000 + 2 + 6);
}

TEST(RespRequest, Pipeline) {
  std::string wire =
      "*1\r\n$4\r\nPING\r\n"
      "GET a\r\n"
      "*0\r\n"
      "\r\n"
      "*2\r\n$3\r\nGET\r\n$1\r\nb\r\n"
      "*1\r\n$4\r\nPI";
  std::vector<Args> seen;
  std::vector<bool> inline_forms;
  std::string_view rest = wire;
  Request request;
  while (parse_request(rest, {}, request) == ParseStatus::kComplete) {
    seen.push_back(args_of(request));
    inline_forms.push_back(request.inline_form);
    rest.remove_prefix(request.size);
  }
  EXPECT_EQ(seen, (std::vector<Args>{{"PING"}, {"GET", "a"}, {}, {}, {"GET", "b"}}));
  EXPECT_EQ(inline_forms, (std::vector<bool>{false, true, false, true, false}));
  EXPECT_EQ(rest, "*1\r\n$4\r\nPI");
  EXPECT_EQ(request.need, rest.size() + 4);  // "NG\r\n", counted from the rest's start
}

// --- errors, in Redis' words ----------------------------------------------------------------

TEST(RespRequest, InvalidMultibulkLength) {
  for (auto wire : {"*abc\r\n"sv, "*01\r\n"sv, "*+1\r\n"sv, "*-0\r\n"sv, "*1x\r\n"sv,
                    "*99999999999999999999\r\n"sv, "*12345678901234567890123"sv, "*1\rX"sv}) {
    EXPECT_EQ(error_of(wire), "Protocol error: invalid multibulk length") << wire;
  }
}

TEST(RespRequest, ExpectedDollar) {
  EXPECT_EQ(error_of("*1\r\nx\r\n"), "Protocol error: expected '$', got 'x'");
  // Known from its first byte, before the line is complete.
  EXPECT_EQ(error_of("*2\r\n$1\r\na\r\n:"), "Protocol error: expected '$', got ':'");
}

TEST(RespRequest, InvalidBulkLength) {
  for (auto wire : {"*1\r\n$-1\r\n"sv, "*1\r\n$abc\r\n"sv, "*1\r\n$04\r\n"sv, "*1\r\n$\r\n"sv,
                    "*1\r\n$4\rX"sv}) {
    EXPECT_EQ(error_of(wire), "Protocol error: invalid bulk length") << wire;
  }
}

TEST(RespRequest, BulkStringMustEndInCrlf) {
  EXPECT_EQ(error_of("*1\r\n$4\r\nPINGxx"), "Protocol error: bulk string not followed by CRLF");
}

TEST(RespRequest, LimitsFailBeforeTheDataArrives) {
  // Only the header is present: an error, not a wait for two billion arguments.
  EXPECT_EQ(error_of("*2000000000\r\n"), "Protocol error: invalid multibulk length");
  EXPECT_EQ(error_of("*1\r\n$9999999999\r\n"), "Protocol error: invalid bulk length");

  Limits small;
  small.max_array_length = 3;
  small.max_bulk_bytes = 10;
  expect_split_everywhere("*3\r\n$10\r\n0123456789\r\n$0\r\n\r\n$1\r\nx\r\n",
                          {"0123456789", "", "x"}, small);
  EXPECT_EQ(error_of("*4\r\n", small), "Protocol error: invalid multibulk length");
  EXPECT_EQ(error_of("*1\r\n$11\r\n", small), "Protocol error: invalid bulk length");
}

// --- inline commands --------------------------------------------------------------------------

TEST(RespRequest, InlineCommand) {
  expect_split_everywhere("PING\r\n", {"PING"});
  expect_split_everywhere("PING\n", {"PING"});  // netcat and telnet without CR
  expect_split_everywhere("  SET  a \t b  \r\n", {"SET", "a", "b"});
  Request request = parsed("GET key\r\n", ParseStatus::kComplete);
  EXPECT_TRUE(request.inline_form);
}

TEST(RespRequest, BlankInlineLinesAreCompleteWithoutArguments) {
  expect_split_everywhere("\r\n", {});
  expect_split_everywhere("\n", {});
  expect_split_everywhere("   \t \r\n", {});
}

// The cases checked against redis-server 7.0.15: `RPUSH L <line>` sent inline, then LRANGE.
TEST(RespRequest, InlineQuotingAsRedis) {
  struct Case {
    std::string_view line;
    Args args;
  };
  const Case cases[] = {
      {"a b c", {"a", "b", "c"}},
      {R"("a b" c)", {"a b", "c"}},
      {"'a b' c", {"a b", "c"}},
      {R"("a\nb")", {"a\nb"}},
      {R"("\x41\x4a\x4")", {"AJx4"}},  // \x4 lacks a second digit: \x is x
      {R"("\x4G")", {"x4G"}},
      {R"("\xZZ")", {"xZZ"}},
      {R"("\q")", {"q"}},
      {R"("\r\t\b\a")", {"\r\t\b\a"}},
      {R"('a\'b')", {"a'b"}},
      {R"('a\\b')", {R"(a\\b)"}},  // single quotes keep backslashes
      {R"('\x41')", {R"(\x41)"}},
      {R"(abc"def")", {"abcdef"}},
      {"a'b'", {"ab"}},
      {R"("")", {""}},
      {"a\tb", {"a", "b"}},
      {"a\vb", {"a\vb"}},  // \v and \f separate only where blanks are skipped
      {"a\fb", {"a\fb"}},
      {"\"a\"\vb", {"a", "b"}},
      {R"("\"quoted\"")", {"\"quoted\""}},
      {R"("a\\")", {"a\\"}},
      {"a\rb", {"a", "b"}},
      {"\"a\rb\"", {"a\rb"}},
      {R"("a" "b")", {"a", "b"}},
      {"\xff"
       "x",
       {"\xff"
        "x"}},
  };
  for (const auto& c : cases) {
    std::string wire = "RPUSH L " + std::string(c.line) + "\r\n";
    Args expected = {"RPUSH", "L"};
    expected.insert(expected.end(), c.args.begin(), c.args.end());
    SCOPED_TRACE(wire);
    expect_split_everywhere(wire, expected);
  }
}

TEST(RespRequest, UnbalancedQuotes) {
  for (auto line : {R"("abc"def)"sv, R"("unterminated)"sv, "'x"sv, "'a'b"sv, R"("a\)"sv}) {
    std::string wire = "RPUSH L " + std::string(line) + "\r\n";
    EXPECT_EQ(error_of(wire), "Protocol error: unbalanced quotes in request") << wire;
  }
}

TEST(RespRequest, InlineLimitAndNul) {
  Limits small;
  small.max_inline_bytes = 8;
  expect_split_everywhere("GET abcd\r\n", {"GET", "abcd"}, small);
  expect_split_everywhere("GET abcd\n", {"GET", "abcd"}, small);
  // Nine bytes of text: too big as soon as they are there, newline or not.
  EXPECT_EQ(error_of("GET abcde", small), "Protocol error: too big inline request");
  EXPECT_EQ(error_of("GET abcde\r\n", small), "Protocol error: too big inline request");
  EXPECT_EQ(parsed("GET abcd\r", ParseStatus::kNeedMore, small).need, 10u);
  // Redis never finds the end of a line holding a NUL.
  EXPECT_EQ(error_of("a\0b c\r\n"sv), "Protocol error: NUL byte in inline request");
  EXPECT_EQ(error_of("a\0b"sv), "Protocol error: NUL byte in inline request");
}

TEST(RespRequest, EscapedInlineArgumentsSurviveAMove) {
  std::string wire = R"(SET "k\x01" 'it\'s' plain)"
                     "\r\n";
  Request request = parsed(wire, ParseStatus::kComplete);
  ASSERT_EQ(request.storage.size(), 2u);
  Request moved = std::move(request);
  EXPECT_EQ(args_of(moved), (Args{"SET", "k\x01", "it's", "plain"}));
  EXPECT_EQ(moved.args[1].data(), moved.storage[0].data());
  EXPECT_EQ(moved.args[2].data(), moved.storage[1].data());
  EXPECT_EQ(moved.args[3].data(), wire.data() + wire.find("plain"));

  Request assigned;
  assigned = std::move(moved);
  EXPECT_EQ(args_of(assigned), (Args{"SET", "k\x01", "it's", "plain"}));
}

TEST(RespRequest, RequestIsReusable) {
  Request request;
  ASSERT_EQ(parse_request(R"(SET "a\nb" c)"
                          "\r\n",
                          {}, request),
            ParseStatus::kComplete);
  ASSERT_EQ(parse_request("*1\r\n$4\r\nPING\r\n", {}, request), ParseStatus::kComplete);
  EXPECT_EQ(args_of(request), Args{"PING"});
  EXPECT_TRUE(request.storage.empty());
  EXPECT_FALSE(request.inline_form);
  ASSERT_EQ(parse_request("*1\r\n$x\r\n", {}, request), ParseStatus::kError);
  ASSERT_EQ(parse_request("PING\r\n", {}, request), ParseStatus::kComplete);
  EXPECT_TRUE(request.error.empty());
}

TEST(RespRequest, EncodeCommandParsesBack) {
  const std::string_view args[] = {"SET", "key", "a\r\nb", ""};
  std::string wire;
  encode_command(wire, args);
  EXPECT_EQ(wire, "*4\r\n$3\r\nSET\r\n$3\r\nkey\r\n$4\r\na\r\nb\r\n$0\r\n\r\n");
  expect_split_everywhere(wire, {"SET", "key", "a\r\nb", ""});
}

}  // namespace
}  // namespace plexi::resp
