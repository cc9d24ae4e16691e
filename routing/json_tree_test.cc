// Tests of the flat JSON reader: structure, lookups, refusals, deep nesting, escapes.
#include "routing/json_tree.h"

#include <gtest/gtest.h>

#include <string>

namespace plexi::routing {
namespace {

TEST(JsonTree, ReadsNestedValuesInDocumentOrder) {
  JsonTree tree;
  ASSERT_TRUE(tree.parse(R"( {"a": [1, "x\"y", {}], "b": {"c": true, "d": null}, "e": -2.5e3} )"));
  ASSERT_EQ(tree.size(), 9u);
  EXPECT_EQ(tree[0].kind, JsonTree::Kind::kObject);
  EXPECT_EQ(tree[0].end, 9u);
  const std::size_t a = tree.member(0, "a");
  ASSERT_EQ(a, 1u);
  EXPECT_EQ(tree[a].kind, JsonTree::Kind::kArray);
  EXPECT_EQ(tree[a].end, 5u);
  EXPECT_EQ(tree[tree.first_child(a)].text, "1");
  const std::size_t second = tree.next_sibling(tree.first_child(a));
  EXPECT_EQ(tree[second].kind, JsonTree::Kind::kString);
  EXPECT_EQ(tree[second].text, "x\\\"y");
  EXPECT_EQ(json_unescape(tree[second].text), "x\"y");
  const std::size_t third = tree.next_sibling(second);
  EXPECT_EQ(tree[third].kind, JsonTree::Kind::kObject);
  EXPECT_EQ(tree.first_child(third), JsonTree::npos);
  EXPECT_EQ(tree.next_sibling(third), JsonTree::npos);
  const std::size_t b = tree.member(0, "b");
  EXPECT_EQ(tree[tree.member(b, "c")].kind, JsonTree::Kind::kBool);
  EXPECT_EQ(tree[tree.member(b, "d")].kind, JsonTree::Kind::kNull);
  EXPECT_EQ(tree[tree.member(b, "d")].parent, b);
  EXPECT_EQ(tree[tree.member(0, "e")].text, "-2.5e3");
  EXPECT_EQ(tree.member(0, "zzz"), JsonTree::npos);
  EXPECT_EQ(tree.member(a, "a"), JsonTree::npos);  // not an object
  EXPECT_EQ(tree.member(JsonTree::npos, "a"), JsonTree::npos);
}

TEST(JsonTree, RefusesWhatIsNotOneJsonValue) {
  JsonTree tree;
  for (const char* bad : {"", " ", "{", "[1,]", "{\"a\"}", "{\"a\":}", "{a:1}", "[1 2]", "1 2",
                          "\"open", "{\"a\":1}}", "[]]", "nul", "[\"\x01\"]", "{\"a\":1,}"}) {
    EXPECT_FALSE(tree.parse(bad)) << bad;
    EXPECT_EQ(tree.size(), 0u) << bad;
  }
  EXPECT_TRUE(tree.parse("[]"));
  EXPECT_TRUE(tree.parse("\"s\""));
  EXPECT_TRUE(tree.parse("7"));
}

TEST(JsonTree, NestsDeeperThanAnyStackWouldAllow) {
  const int depth = 200000;
  std::string json = std::string(depth, '[') + "1" + std::string(depth, ']');
  JsonTree tree;
  ASSERT_TRUE(tree.parse(json));
  EXPECT_EQ(tree.size(), static_cast<std::size_t>(depth) + 1);
  EXPECT_EQ(tree[depth].text, "1");
  EXPECT_EQ(tree[depth].parent, static_cast<std::uint32_t>(depth - 1));
}

TEST(JsonTree, UnescapesStrings) {
  EXPECT_EQ(json_unescape(R"(a\nb\t\\\/\"\b\f\r)"), "a\nb\t\\/\"\b\f\r");
  EXPECT_EQ(json_unescape(R"(\u0041\u00e9\u20ac)"), "A\xc3\xa9\xe2\x82\xac");
  EXPECT_EQ(json_unescape(R"(\ud83d\ude00)"), "\xf0\x9f\x98\x80");
  EXPECT_EQ(json_unescape(R"(\u12)"), "\\u12");
  EXPECT_EQ(json_unescape("tail\\"), "tail\\");
}

}  // namespace
}  // namespace plexi::routing
