// A RESP reply (or request) as a tree: what the proxy reads when it must understand a reply
// rather than relay it (merging the replies of several shards, COMMAND, ROLE, INFO).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace plexi::resp {

// The type byte that starts each RESP value. RESP2's null bulk string ($-1) and null array
// (*-1) read as kNull, like RESP3's `_`.
enum class Type : char {
  kSimpleString = '+',
  kError = '-',
  kInteger = ':',
  kBulkString = '$',
  kArray = '*',
  kNull = '_',
  kBoolean = '#',
  kDouble = ',',
  kBigNumber = '(',
  kBulkError = '!',
  kVerbatim = '=',
  kMap = '%',
  kSet = '~',
  kAttribute = '|',
  kPush = '>',
};

struct Value {
  Type type = Type::kNull;
  // Strings and errors; a double's or big number's digits as sent; a verbatim string's text
  // without its three-letter format and colon.
  std::string text;
  std::int64_t integer = 0;  // kInteger; kBoolean: 0 or 1
  // Arrays, sets and pushes; a map's (or attribute's) keys and values alternate.
  std::vector<Value> elements;

  bool is_string() const {
    return type == Type::kSimpleString || type == Type::kBulkString || type == Type::kVerbatim;
  }
  bool is_error() const { return type == Type::kError || type == Type::kBulkError; }
  bool is_aggregate() const {
    return type == Type::kArray || type == Type::kMap || type == Type::kSet ||
           type == Type::kAttribute || type == Type::kPush;
  }

  // Same kind, text, number and elements: what tests and round trips compare.
  bool operator==(const Value& other) const = default;
};

}  // namespace plexi::resp
