// Reads a whole reply into a Value tree, for the replies the proxy must understand rather
// than relay (COMMAND, ROLE, INFO, the shard replies it merges).
#include <string>
#include <utility>

#include "protocol/resp/lines.h"
#include "protocol/resp/resp.h"

namespace plexi::resp {
namespace {

using detail::Step;

// Builds the tree of a reply that scan_reply found complete, so every count it reads is
// backed by bytes already in the buffer (reserving for it is safe) and the nesting is within
// the limit (recursion is bounded). Each step still checks what it reads and gives up
// rather than trust the scan blindly.
class Builder {
 public:
  Builder(std::string_view buffer, const Limits& limits) : buffer_(buffer), limits_(limits) {}

  std::size_t position() const { return pos_; }

  // One value, after skipping the attributes that annotate it.
  bool value(Value& out) {
    for (;;) {
      if (pos_ >= buffer_.size()) return false;
      auto header = detail::read_header(buffer_, pos_, limits_);
      if (header.step != Step::kOk) return false;
      pos_ = header.next;
      if (header.type != '|') return body(header, out);
      Value attribute;
      if (!elements(header, attribute)) return false;
    }
  }

 private:
  bool body(const detail::Header& header, Value& out) {
    out = Value{};
    switch (header.type) {
      case '+':
        return text(Type::kSimpleString, header.text, out);
      case '-':
        return text(Type::kError, header.text, out);
      case ',':
        return text(Type::kDouble, header.text, out);
      case '(':
        return text(Type::kBigNumber, header.text, out);
      case ':':
        out.type = Type::kInteger;
        out.integer = detail::parse_integer(header.text).value_or(0);
        return true;
      case '#':
        out.type = Type::kBoolean;
        out.integer = header.text == "t" ? 1 : 0;
        return true;
      case '_':
        return true;  // kNull
      case '$':
        if (header.length == -1) return true;
        if (header.length == detail::kStreamed) return streamed_string(out);
        return blob(header, Type::kBulkString, out);
      case '!':
        return blob(header, Type::kBulkError, out);
      case '=':
        return blob(header, Type::kVerbatim, out);
      case '*':
        if (header.length == -1) return true;
        out.type = Type::kArray;
        return elements(header, out);
      case '%':
        out.type = Type::kMap;
        return elements(header, out);
      case '~':
        out.type = Type::kSet;
        return elements(header, out);
      case '>':
        out.type = Type::kPush;
        return elements(header, out);
      default:  // '.' or ';' out of place
        return false;
    }
  }

  static bool text(Type type, std::string_view text, Value& out) {
    out.type = type;
    out.text = text;
    return true;
  }

  bool blob(const detail::Header& header, Type type, Value& out) {
    auto blob = detail::read_blob(buffer_, header);
    if (blob.step != Step::kOk) return false;
    pos_ = blob.next;
    out.type = type;
    // A verbatim string's three-letter format and colon are not part of its text.
    out.text = type == Type::kVerbatim ? blob.body.substr(4) : blob.body;
    return true;
  }

  bool streamed_string(Value& out) {
    out.type = Type::kBulkString;
    for (;;) {
      if (pos_ >= buffer_.size() || buffer_[pos_] != ';') return false;
      auto chunk = detail::read_header(buffer_, pos_, limits_);
      if (chunk.step != Step::kOk) return false;
      pos_ = chunk.next;
      if (chunk.length == 0) return true;
      auto blob = detail::read_blob(buffer_, chunk);
      if (blob.step != Step::kOk) return false;
      out.text += blob.body;
      pos_ = blob.next;
    }
  }

  // The elements of an aggregate (pairs of them for maps and attributes).
  bool elements(const detail::Header& header, Value& out) {
    if (header.length == detail::kStreamed) {
      for (;;) {
        if (pos_ >= buffer_.size()) return false;
        if (buffer_[pos_] == '.') break;
        if (!value(out.elements.emplace_back())) return false;
      }
      auto end = detail::read_header(buffer_, pos_, limits_);
      pos_ = end.next;
      return end.step == Step::kOk;
    }
    std::size_t count = static_cast<std::size_t>(header.length);
    if (header.type == '%' || header.type == '|') count *= 2;
    out.elements.resize(count);
    for (auto& element : out.elements) {
      if (!value(element)) return false;
    }
    return true;
  }

  std::string_view buffer_;
  const Limits& limits_;
  std::size_t pos_ = 0;
};

}  // namespace

std::optional<Value> parse_value(std::string_view buffer, const Limits& limits, std::size_t* size) {
  auto scan = scan_reply(buffer, limits);
  if (scan.status != ParseStatus::kComplete) return std::nullopt;
  Builder builder(buffer.substr(0, scan.size), limits);
  Value value;
  if (!builder.value(value) || builder.position() != scan.size) return std::nullopt;
  if (size != nullptr) *size = scan.size;
  return value;
}

}  // namespace plexi::resp
