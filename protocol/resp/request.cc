// Parses client requests as Redis' processMultibulkBuffer and processInlineBuffer do: the
// same forms accepted, the same limits, the same error texts.
#include <algorithm>
#include <cstring>
#include <string>

#include "protocol/resp/lines.h"
#include "protocol/resp/resp.h"

namespace plexi::resp {
namespace {

using detail::Step;

// The smallest bulk string of a request: "$0\r\n\r\n".
constexpr std::size_t kMinBulk = 6;

ParseStatus need(Request& out, std::size_t at_least, std::size_t buffer_size) {
  out.need = std::max(at_least, buffer_size + 1);
  return ParseStatus::kNeedMore;
}

ParseStatus fail(Request& out, std::string error) {
  out.error = std::move(error);
  return ParseStatus::kError;
}

std::size_t min_bulks(std::size_t count) {
  return count > static_cast<std::size_t>(-1) / kMinBulk ? static_cast<std::size_t>(-1)
                                                         : count * kMinBulk;
}

ParseStatus parse_multibulk(std::string_view buffer, const Limits& limits, Request& out) {
  auto count_line = detail::read_line(buffer, 1, detail::kMaxNumberLine);
  if (count_line.step == Step::kNeedMore) return need(out, 0, buffer.size());
  auto count = detail::parse_integer(count_line.text);
  if (count_line.step == Step::kError || !count ||
      (*count > 0 && static_cast<std::uint64_t>(*count) > limits.max_array_length)) {
    return fail(out, "Protocol error: invalid multibulk length");
  }
  std::size_t pos = count_line.next;
  // Redis reads any count below 1 (`*0`, `*-1`) as an empty command and skips it.
  std::size_t remaining = *count > 0 ? static_cast<std::size_t>(*count) : 0;
  // Reserve no more than the bytes present can hold: the count alone is only a claim.
  out.args.reserve(std::min(remaining, (buffer.size() - pos) / kMinBulk));
  for (; remaining > 0; --remaining) {
    if (pos == buffer.size()) {
      return need(out, detail::saturating_add(pos, min_bulks(remaining)), buffer.size());
    }
    if (buffer[pos] != '$') {
      return fail(out, std::string("Protocol error: expected '$', got '") + buffer[pos] + "'");
    }
    auto length_line = detail::read_line(buffer, pos + 1, detail::kMaxNumberLine);
    if (length_line.step == Step::kNeedMore) {
      // This bulk ends past the buffer, and each one after it takes at least kMinBulk.
      std::size_t after = min_bulks(remaining - 1);
      return need(out,
                  std::max(detail::saturating_add(pos, min_bulks(remaining)),
                           detail::saturating_add(buffer.size() + 1, after)),
                  buffer.size());
    }
    auto length = detail::parse_integer(length_line.text);
    if (length_line.step == Step::kError || !length || *length < 0 ||
        static_cast<std::uint64_t>(*length) > limits.max_bulk_bytes) {
      return fail(out, "Protocol error: invalid bulk length");
    }
    std::size_t start = length_line.next;
    std::size_t end = start + static_cast<std::size_t>(*length) + 2;
    if (end > buffer.size()) {
      return need(out, detail::saturating_add(end, min_bulks(remaining - 1)), buffer.size());
    }
    // Redis skips the two bytes after a bulk string unread; they are checked here so that
    // the proxy never forwards a request framed differently from the one it parsed.
    if (buffer[end - 2] != '\r' || buffer[end - 1] != '\n') {
      return fail(out, "Protocol error: bulk string not followed by CRLF");
    }
    out.args.push_back(buffer.substr(start, static_cast<std::size_t>(*length)));
    pos = end;
  }
  out.size = pos;
  return ParseStatus::kComplete;
}

// Redis' isspace() in the C locale, which separates inline arguments.
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// What a backslash and `c` stand for inside double quotes.
char unescape(char c) {
  constexpr std::string_view kLetters = "nrtba", kBytes = "\n\r\t\b\a";
  auto at = kLetters.find(c);
  return at == std::string_view::npos ? c : kBytes[at];
}

// One inline argument: a run of the line's bytes while it can be, its own string once a
// quote or an escape makes it differ from the bytes on the line.
class Token {
 public:
  Token(std::string_view line, std::size_t start) : line_(line), begin_(start), end_(start) {}

  // The line's byte at `pos`, as it is.
  void take(std::size_t pos) {
    if (!owned_) {
      if (begin_ == end_) begin_ = end_ = pos;
      if (pos == end_) {
        ++end_;
        return;
      }
      own();
    }
    text_ += line_[pos];
  }
  // A byte an escape stands for.
  void add(char c) {
    if (!owned_) own();
    text_ += c;
  }

  // Appends the argument to `out`: a view of the line, or an owned string whose view is set
  // once every argument is read (storage may still grow until then).
  void finish(Request& out) {
    if (!owned_) {
      out.args.push_back(line_.substr(begin_, end_ - begin_));
    } else {
      out.storage.push_back(std::move(text_));
      out.args.emplace_back();  // a view with no data: the next storage string
    }
  }

 private:
  void own() {
    text_.assign(line_.substr(begin_, end_ - begin_));
    owned_ = true;
  }

  std::string_view line_;
  std::size_t begin_;
  std::size_t end_;
  bool owned_ = false;
  std::string text_;
};

// Splits an inline line into arguments with the rules of Redis' sdssplitargs(): blanks
// separate arguments; "..." takes \n \r \t \b \a \xHH and \<any> escapes; '...' takes \';
// a closing quote must be followed by a blank or the end. False for unbalanced quotes.
bool split_inline(std::string_view line, Request& out) {
  // sdssplitargs() reads a C string: past the end is a NUL (the line holds none).
  auto at = [&](std::size_t i) { return i < line.size() ? line[i] : '\0'; };
  std::size_t p = 0;
  for (;;) {
    while (p < line.size() && is_space(line[p])) ++p;
    if (p == line.size()) break;
    Token token(line, p);
    char quote = 0;  // '"' or '\'' inside quotes
    bool done = false;
    while (!done) {
      char c = at(p);
      if (quote == 0) {
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\0') {
          done = true;
        } else if (c == '"' || c == '\'') {
          quote = c;
        } else {
          token.take(p);
        }
      } else if (quote == '"' && c == '\\' && at(p + 1) == 'x' && hex_value(at(p + 2)) >= 0 &&
                 hex_value(at(p + 3)) >= 0) {
        token.add(static_cast<char>(hex_value(at(p + 2)) * 16 + hex_value(at(p + 3))));
        p += 3;
      } else if (quote == '"' && c == '\\' && at(p + 1) != '\0') {
        token.add(unescape(at(++p)));
      } else if (quote == '\'' && c == '\\' && at(p + 1) == '\'') {
        token.take(++p);
      } else if (c == quote) {
        if (at(p + 1) != '\0' && !is_space(at(p + 1))) return false;
        done = true;
      } else if (c == '\0') {
        return false;
      } else {
        token.take(p);
      }
      if (at(p) != '\0') ++p;
    }
    token.finish(out);
  }
  // Storage is final: point the placeholders at it, in order.
  std::size_t next = 0;
  for (auto& arg : out.args) {
    if (arg.data() == nullptr) arg = out.storage[next++];
  }
  return true;
}

ParseStatus parse_inline(std::string_view buffer, const Limits& limits, Request& out) {
  out.inline_form = true;
  std::size_t max = limits.max_inline_bytes;
  // The LF may follow max bytes of text and a CR; look no further.
  std::size_t window = buffer.size();
  if (window > 2 && window - 2 > max) window = max + 2;
  const void* lf = std::memchr(buffer.data(), '\n', window);
  // Redis looks for the LF with strchr(), which stops at a NUL: a line holding one never ends
  // there (until it is too big). Refused here at once instead.
  std::size_t line_end =
      lf == nullptr ? window
                    : static_cast<std::size_t>(static_cast<const char*>(lf) - buffer.data());
  if (std::memchr(buffer.data(), '\0', line_end) != nullptr) {
    return fail(out, "Protocol error: NUL byte in inline request");
  }
  if (lf == nullptr) {
    std::size_t text = buffer.size() - (buffer.back() == '\r' ? 1 : 0);
    if (text > max) return fail(out, "Protocol error: too big inline request");
    return need(out, 0, buffer.size());
  }
  std::size_t newline = line_end;
  // A line may end in LF alone, as Redis accepts from telnet and netcat.
  std::size_t text = newline > 0 && buffer[newline - 1] == '\r' ? newline - 1 : newline;
  if (text > max) return fail(out, "Protocol error: too big inline request");
  if (!split_inline(buffer.substr(0, text), out)) {
    return fail(out, "Protocol error: unbalanced quotes in request");
  }
  out.size = newline + 1;
  return ParseStatus::kComplete;
}

}  // namespace

ParseStatus parse_request(std::string_view buffer, const Limits& limits, Request& out) {
  out.args.clear();
  out.storage.clear();
  out.inline_form = false;
  out.size = 0;
  out.need = 0;
  out.error.clear();
  if (buffer.empty()) return need(out, 1, 0);
  if (buffer[0] == '*') return parse_multibulk(buffer, limits, out);
  return parse_inline(buffer, limits, out);
}

}  // namespace plexi::resp
