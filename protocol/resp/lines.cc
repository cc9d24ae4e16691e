// Redis' integers, CRLF lines and reply headers, shared by the request and reply parsers.
#include "protocol/resp/lines.h"

#include <cstring>
#include <limits>

namespace plexi::resp::detail {
namespace {

constexpr const char* kBadBulk = "Protocol error: invalid bulk length";
constexpr const char* kBadCount = "Protocol error: invalid aggregate length";

// A length or element count: an integer from 0 to `max`, or -1 where `null_allowed`.
bool read_length(Header& header, std::size_t max, bool null_allowed, const char* error) {
  auto number = parse_integer(header.text);
  if (number && ((*number >= 0 && static_cast<std::uint64_t>(*number) <= max) ||
                 (*number == -1 && null_allowed))) {
    header.length = *number;
    return true;
  }
  header.step = Step::kError;
  header.error = error;
  return false;
}

// What follows a type byte up to CRLF: text (up to the inline limit), or a number or a few
// letters (up to kMaxNumberLine); unknown for a byte that starts no value.
enum class LineKind { kUnknown, kText, kShort };

LineKind line_kind(char type) {
  switch (type) {
    case '+':
    case '-':
    case ',':
    case '(':
      return LineKind::kText;
    case ':':
    case '$':
    case '*':
    case '_':
    case '#':
    case '!':
    case '=':
    case '%':
    case '~':
    case '|':
    case '>':
    case '.':
    case ';':
      return LineKind::kShort;
    default:
      return LineKind::kUnknown;
  }
}

bool is_big_number(std::string_view text) {
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) text.remove_prefix(1);
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

std::optional<std::int64_t> parse_integer(std::string_view text) {
  if (text == "0") return 0;
  bool negative = !text.empty() && text[0] == '-';
  if (negative) text.remove_prefix(1);
  // Redis refuses leading zeros (and so "-0"); 19 digits hold every int64.
  if (text.empty() || text.size() > 19 || text[0] < '1' || text[0] > '9') return std::nullopt;
  std::uint64_t magnitude = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    magnitude = magnitude * 10 + static_cast<std::uint64_t>(c - '0');  // < 10^19: no overflow
  }
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (negative) {
    if (magnitude > kMax + 1) return std::nullopt;
    return static_cast<std::int64_t>(0 - magnitude);  // two's complement: INT64_MIN fits
  }
  if (magnitude > kMax) return std::nullopt;
  return static_cast<std::int64_t>(magnitude);
}

Line read_line(std::string_view buffer, std::size_t start, std::size_t max_length) {
  Line line;
  std::size_t available = buffer.size() - start;
  // The CR may stand right after max_length bytes of text; look no further than that.
  std::size_t window = max_length < available ? max_length + 1 : available;
  const void* cr = std::memchr(buffer.data() + start, '\r', window);
  if (cr == nullptr) {
    line.step = available > max_length ? Step::kError : Step::kNeedMore;
    return line;
  }
  auto at = static_cast<std::size_t>(static_cast<const char*>(cr) - buffer.data());
  if (at + 1 == buffer.size()) return line;
  if (buffer[at + 1] != '\n') {
    line.step = Step::kError;
    return line;
  }
  line.step = Step::kOk;
  line.text = buffer.substr(start, at - start);
  line.next = at + 2;
  return line;
}

Header read_header(std::string_view buffer, std::size_t pos, const Limits& limits) {
  Header header;
  header.type = buffer[pos];
  // An unknown type byte is an error before its line arrives.
  LineKind kind = line_kind(header.type);
  if (kind == LineKind::kUnknown) {
    header.step = Step::kError;
    header.error = "Protocol error: unknown reply type";
    return header;
  }
  Line line = read_line(buffer, pos + 1,
                        kind == LineKind::kText ? limits.max_inline_bytes : kMaxNumberLine);
  if (line.step != Step::kOk) {
    header.step = line.step;
    if (line.step == Step::kError) {
      header.error = "Protocol error: reply line too long or not ended by CRLF";
    }
    return header;
  }
  header.step = Step::kOk;
  header.text = line.text;
  header.next = line.next;
  auto fail = [&](const char* what) {
    header.step = Step::kError;
    header.error = what;
    return header;
  };
  bool streamed = header.text == "?";
  switch (header.type) {
    case ',':
      // The digits are kept as sent: Redis before 7.2 wrote NaN in whatever way libc did.
      if (header.text.empty()) return fail("Protocol error: empty double");
      break;
    case '(':
      if (!is_big_number(header.text)) return fail("Protocol error: invalid big number");
      break;
    case ':':
      if (!parse_integer(header.text)) return fail("Protocol error: invalid integer");
      break;
    case '#':
      if (header.text != "t" && header.text != "f") return fail("Protocol error: invalid boolean");
      break;
    case '_':
    case '.':
      if (!header.text.empty()) return fail("Protocol error: text after a null or an end");
      break;
    case '$':
      if (streamed) {
        header.length = kStreamed;
      } else {
        read_length(header, limits.max_bulk_bytes, true, kBadBulk);
      }
      break;
    case '!':
    case ';':
      read_length(header, limits.max_bulk_bytes, false, kBadBulk);
      break;
    case '=':
      // A verbatim string starts with its three-letter format and a colon.
      if (read_length(header, limits.max_bulk_bytes, false, kBadBulk) && header.length < 4) {
        return fail("Protocol error: verbatim string shorter than its format");
      }
      break;
    case '*':
    case '%':
    case '~':
      if (streamed) {
        header.length = kStreamed;
      } else {
        read_length(header, limits.max_array_length, header.type == '*', kBadCount);
      }
      break;
    case '|':
    case '>':
      read_length(header, limits.max_array_length, false, kBadCount);
      break;
    default:  // '+' and '-': any text
      break;
  }
  return header;
}

Blob read_blob(std::string_view buffer, const Header& header) {
  Blob blob;
  auto length = static_cast<std::size_t>(header.length);
  blob.next = header.next + length + 2;
  if (buffer.size() < blob.next) return blob;
  if (buffer[blob.next - 2] != '\r' || buffer[blob.next - 1] != '\n') {
    blob.step = Step::kError;
    blob.error = "Protocol error: bulk string not followed by CRLF";
    return blob;
  }
  blob.body = buffer.substr(header.next, length);
  if (header.type == '=' && blob.body[3] != ':') {
    blob.step = Step::kError;
    blob.error = "Protocol error: verbatim string without its format";
    return blob;
  }
  blob.step = Step::kOk;
  return blob;
}

}  // namespace plexi::resp::detail
