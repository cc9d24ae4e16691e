// A JSON document read into a flat array of nodes in document order, so that a subtree is
// a range of the array and a walk needs no recursion however deep the document nests. Made
// for libpg_query's parse trees: numbers stay text, string escapes are decoded on request.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace plexi::routing {

class JsonTree {
 public:
  enum class Kind : std::uint8_t { kNull, kBool, kNumber, kString, kArray, kObject };
  struct Node {
    Kind kind = Kind::kNull;
    std::uint32_t parent = 0;  // the root is its own parent
    std::uint32_t end = 0;     // one past its last descendant
    std::string_view key;      // its member name, escapes kept; empty in an array
    std::string_view text;     // a string's text between the quotes (escapes kept); a
                               // number, true, false or null as written
  };
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  // Reads `json`, whose text must outlive the tree. False, with an empty tree, when it is
  // not one complete JSON value.
  bool parse(std::string_view json);

  std::size_t size() const { return nodes_.size(); }
  const Node& operator[](std::size_t index) const { return nodes_[index]; }

  // The member `key` of the object at `index`, or npos.
  std::size_t member(std::size_t index, std::string_view key) const;
  // Children: first_child(i), then next_sibling(child) until npos.
  std::size_t first_child(std::size_t index) const;
  std::size_t next_sibling(std::size_t child) const;

 private:
  bool string_end(std::size_t& pos) const;
  bool key(std::size_t& pos, std::string_view& out) const;

  std::string_view json_;
  std::vector<Node> nodes_;
  std::vector<std::uint32_t> open_;  // containers being read
};

// A JSON string's text with its escapes decoded (\uXXXX as UTF-8).
std::string json_unescape(std::string_view raw);

}  // namespace plexi::routing
