// Tests of JSON string escaping: the characters JSON reserves, control characters, UTF-8
// kept when valid and replaced when not.
#include "common/json_escape.h"

#include <gtest/gtest.h>

#include <string>

namespace plexi {
namespace {

std::string escaped(std::string_view text) {
  std::string out = "<";  // appends, never replaces what is there
  append_json_escaped(out, text);
  return out;
}

TEST(JsonEscape, EscapesQuotesBackslashesAndLineBreaks) {
  EXPECT_EQ(escaped(""), "<");
  EXPECT_EQ(escaped("plain text 123"), "<plain text 123");
  EXPECT_EQ(escaped(R"(say "hi")"), R"(<say \"hi\")");
  EXPECT_EQ(escaped(R"(C:\dir\)"), R"(<C:\\dir\\)");
  EXPECT_EQ(escaped("one\ntwo\r\nthree\tfour"), R"(<one\ntwo\r\nthree\tfour)");
  EXPECT_EQ(escaped("'/<>{}"), "<'/<>{}");  // nothing else needs escaping
}

TEST(JsonEscape, WritesOtherControlCharactersAsUnicodeEscapes) {
  EXPECT_EQ(escaped(std::string_view("a\0b", 3)), R"(<a\u0000b)");
  EXPECT_EQ(escaped("\x01\x08\x0c\x1b[31m\x1f\x7f"),
            R"(<\u0001\u0008\u000c\u001b[31m\u001f\u007f)");
}

TEST(JsonEscape, KeepsValidUtf8) {
  const std::string text =
      "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xED\x9F\xBF \xF4\x8F\xBF\xBF";
  EXPECT_EQ(escaped(text), "<" + text);  // é, €, 😀, U+D7FF, U+10FFFF
}

TEST(JsonEscape, ReplacesEachInvalidUtf8SequenceWithOneReplacementCharacter) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(escaped("a\x80z"), "<a" + r + "z");                 // stray continuation byte
  EXPECT_EQ(escaped("a\xC3"), "<a" + r);                        // truncated at the end
  EXPECT_EQ(escaped("a\xE2\x82z"), "<a" + r + "z");             // truncated: one replacement
  EXPECT_EQ(escaped("\xC0\xAF"), "<" + r + r);                  // overlong '/'
  EXPECT_EQ(escaped("\xE0\x80\xAF"), "<" + r + r + r);          // overlong, three bytes
  EXPECT_EQ(escaped("\xED\xA0\x80"), "<" + r + r + r);          // a surrogate half
  EXPECT_EQ(escaped("\xF4\x90\x80\x80"), "<" + r + r + r + r);  // past U+10FFFF
  EXPECT_EQ(escaped("\xFF\"\xFE"), "<" + r + "\\\"" + r);       // escapes still applied
  EXPECT_EQ(escaped("\xE2\x82\n"), "<" + r + "\\n");            // a control char ends it
  EXPECT_EQ(escaped("\xF0\x9F\x98"), "<" + r);                  // 3 of a 4-byte sequence
}

}  // namespace
}  // namespace plexi
