// Reads JSON iteratively into JsonTree's node array and decodes string escapes.
#include "routing/json_tree.h"

#include <cctype>
#include <limits>

namespace plexi::routing {
namespace {

void skip_space(std::string_view json, std::size_t& pos) {
  while (pos < json.size() &&
         (json[pos] == ' ' || json[pos] == '\n' || json[pos] == '\r' || json[pos] == '\t')) {
    ++pos;
  }
}

bool scalar_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '+' || c == '.';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

// `pos` is at the opening quote; leaves it just past the closing one.
bool JsonTree::string_end(std::size_t& pos) const {
  for (++pos; pos < json_.size(); ++pos) {
    const char c = json_[pos];
    if (c == '\\') {
      ++pos;
    } else if (c == '"') {
      ++pos;
      return true;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      return false;
    }
  }
  return false;
}

// A member name and its colon.
bool JsonTree::key(std::size_t& pos, std::string_view& out) const {
  skip_space(json_, pos);
  if (pos >= json_.size() || json_[pos] != '"') return false;
  const std::size_t start = pos;
  if (!string_end(pos)) return false;
  out = json_.substr(start + 1, pos - start - 2);
  skip_space(json_, pos);
  if (pos >= json_.size() || json_[pos] != ':') return false;
  ++pos;
  return true;
}

bool JsonTree::parse(std::string_view json) {
  json_ = json;
  nodes_.clear();
  open_.clear();
  if (json.size() >= std::numeric_limits<std::uint32_t>::max()) return false;
  std::size_t pos = 0;
  std::string_view name;
  bool expect_value = true;
  auto fail = [this] {
    nodes_.clear();
    return false;
  };
  while (true) {
    skip_space(json_, pos);
    if (pos >= json_.size()) {
      return open_.empty() && !expect_value && !nodes_.empty() ? true : fail();
    }
    const char c = json_[pos];
    if (expect_value) {
      Node node;
      node.parent = open_.empty() ? 0 : open_.back();
      node.key = name;
      name = {};
      const auto index = static_cast<std::uint32_t>(nodes_.size());
      if (c == '{' || c == '[') {
        node.kind = c == '{' ? Kind::kObject : Kind::kArray;
        nodes_.push_back(node);
        open_.push_back(index);
        ++pos;
        skip_space(json_, pos);
        if (pos < json_.size() && json_[pos] == (c == '{' ? '}' : ']')) {
          ++pos;
          nodes_[index].end = index + 1;
          open_.pop_back();
          expect_value = false;
        } else if (c == '{' && !key(pos, name)) {
          return fail();
        }
        continue;
      }
      const std::size_t start = pos;
      if (c == '"') {
        if (!string_end(pos)) return fail();
        node.kind = Kind::kString;
        node.text = json_.substr(start + 1, pos - start - 2);
      } else {
        while (pos < json_.size() && scalar_char(json_[pos])) ++pos;
        node.text = json_.substr(start, pos - start);
        if (node.text == "true" || node.text == "false") {
          node.kind = Kind::kBool;
        } else if (node.text == "null") {
          node.kind = Kind::kNull;
        } else if (!node.text.empty() && (node.text[0] == '-' ||
                                          std::isdigit(static_cast<unsigned char>(node.text[0])))) {
          node.kind = Kind::kNumber;
        } else {
          return fail();
        }
      }
      node.end = index + 1;
      nodes_.push_back(node);
      expect_value = false;
      continue;
    }
    if (open_.empty()) return fail();  // text after the root value
    const std::uint32_t container = open_.back();
    const bool object = nodes_[container].kind == Kind::kObject;
    ++pos;
    if (c == ',') {
      if (object && !key(pos, name)) return fail();
      expect_value = true;
    } else if (c == (object ? '}' : ']')) {
      nodes_[container].end = static_cast<std::uint32_t>(nodes_.size());
      open_.pop_back();
    } else {
      return fail();
    }
  }
}

std::size_t JsonTree::member(std::size_t index, std::string_view key) const {
  if (index >= nodes_.size() || nodes_[index].kind != Kind::kObject) return npos;
  for (std::size_t child = first_child(index); child != npos; child = next_sibling(child)) {
    if (nodes_[child].key == key) return child;
  }
  return npos;
}

std::size_t JsonTree::first_child(std::size_t index) const {
  return index < nodes_.size() && nodes_[index].end > index + 1 ? index + 1 : npos;
}

std::size_t JsonTree::next_sibling(std::size_t child) const {
  if (child == 0 || child >= nodes_.size()) return npos;
  const std::size_t next = nodes_[child].end;
  return next < nodes_[nodes_[child].parent].end ? next : npos;
}

std::string json_unescape(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  auto append_utf8 = [&out](std::uint32_t code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xc0 | code >> 6);
      out += static_cast<char>(0x80 | (code & 0x3f));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xe0 | code >> 12);
      out += static_cast<char>(0x80 | (code >> 6 & 0x3f));
      out += static_cast<char>(0x80 | (code & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | code >> 18);
      out += static_cast<char>(0x80 | (code >> 12 & 0x3f));
      out += static_cast<char>(0x80 | (code >> 6 & 0x3f));
      out += static_cast<char>(0x80 | (code & 0x3f));
    }
  };
  auto hex4 = [&raw](std::size_t at) -> int {
    if (at + 4 > raw.size()) return -1;
    int value = 0;
    for (std::size_t i = at; i < at + 4; ++i) {
      const int digit = hex_value(raw[i]);
      if (digit < 0) return -1;
      value = value << 4 | digit;
    }
    return value;
  };
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\' || i + 1 >= raw.size()) {
      out += raw[i];
      continue;
    }
    const char e = raw[++i];
    switch (e) {
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        int code = hex4(i + 1);
        if (code < 0) {
          out += "\\u";
          break;
        }
        i += 4;
        if (code >= 0xd800 && code < 0xdc00 && i + 2 < raw.size() && raw[i + 1] == '\\' &&
            raw[i + 2] == 'u') {
          const int low = hex4(i + 3);
          if (low >= 0xdc00 && low < 0xe000) {
            code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
            i += 6;
          }
        }
        append_utf8(static_cast<std::uint32_t>(code));
        break;
      }
      default:
        out += e;
        break;  // \" \\ \/
    }
  }
  return out;
}

}  // namespace plexi::routing
