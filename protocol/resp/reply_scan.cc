// Finds where a server's reply ends, in one pass and without allocating: the hot path of a
// pipelining relay, which forwards replies as bytes and only needs their boundaries.
#include <algorithm>
#include <array>
#include <cstdio>
#include <string>

#include "protocol/resp/lines.h"
#include "protocol/resp/resp.h"

namespace plexi::resp {
namespace {

using detail::Step;

// The smallest value is three bytes ("+\r\n", "_\r\n"), as is a streamed aggregate's end
// (".\r\n"); a streamed string's last chunk is four (";0\r\n").
constexpr std::size_t kMinValue = 3;
constexpr std::size_t kMinLastChunk = 4;

// One open aggregate. For a fixed-length one `values` counts what is still to come; for a
// streamed one, what has come (to check a map's pairs and the array limit).
// Left uninitialized until opened: a scan of "+OK" should not clear the whole stack.
struct Level {
  std::size_t values;
  bool streamed;
  bool map;        // values come in pairs
  bool attribute;  // annotates the value after it, and is not an element itself
};

class Scanner {
 public:
  Scanner(std::string_view buffer, const Limits& limits)
      : buffer_(buffer),
        limits_(limits),
        max_depth_(std::min(limits.max_depth, kMaxSupportedDepth)) {
    levels_[0] = Level{1, false, false, false};  // the reply itself
  }

  ScanResult run();

 private:
  ScanResult need(std::size_t at_least) const;
  // An error found in the value (or chunk) that starts at `at`.
  ScanResult fail(const char* what, std::size_t at) const;
  // The least the values and ends not yet begun will take.
  std::size_t rest() const;
  // Counts one value at the innermost level, before its header is read.
  bool count_value();
  bool open(const detail::Header& header);
  // Everything after a `$?` header up to its last chunk; kOk leaves pos_ after it.
  Step streamed_string(ScanResult& result);

  std::string_view buffer_;
  const Limits& limits_;
  std::size_t max_depth_;
  std::size_t pos_ = 0;
  std::size_t depth_ = 0;  // levels_[0] is the reply, levels_[1..depth_] open aggregates
  bool push_ = false;
  bool after_attribute_ = false;
  std::array<Level, kMaxSupportedDepth + 1> levels_;
};

ScanResult Scanner::need(std::size_t at_least) const {
  ScanResult result;
  result.status = ParseStatus::kNeedMore;
  result.need = std::max(at_least, buffer_.size() + 1);
  return result;
}

ScanResult Scanner::fail(const char* what, std::size_t at) const {
  ScanResult result;
  result.status = ParseStatus::kError;
  unsigned char byte = static_cast<unsigned char>(buffer_[at]);
  char where[48];
  std::snprintf(where, sizeof where,
                byte >= 0x20 && byte < 0x7f ? " at byte %zu ('%c')" : " at byte %zu (0x%02x)", at,
                byte);
  result.error = std::string(what) + where;
  return result;
}

std::size_t Scanner::rest() const {
  std::size_t total = 0;
  for (std::size_t d = 0; d <= depth_; ++d) {
    std::size_t values = levels_[d].streamed ? 1 : levels_[d].values;
    // values * kMinValue, saturating: limits can be set high enough to overflow it.
    std::size_t bytes = values > static_cast<std::size_t>(-1) / kMinValue
                            ? static_cast<std::size_t>(-1)
                            : values * kMinValue;
    total = detail::saturating_add(total, bytes);
  }
  return total;
}

bool Scanner::count_value() {
  Level& level = levels_[depth_];
  after_attribute_ = false;
  if (!level.streamed) {
    --level.values;
    return true;
  }
  ++level.values;
  std::size_t max = limits_.max_array_length;
  return level.values <= (level.map && max <= static_cast<std::size_t>(-1) / 2 ? 2 * max : max);
}

bool Scanner::open(const detail::Header& header) {
  if (depth_ == max_depth_) return false;
  Level& level = levels_[++depth_];
  level.map = header.type == '%' || header.type == '|';
  level.attribute = header.type == '|';
  level.streamed = header.length == detail::kStreamed;
  level.values = 0;
  if (!level.streamed) {
    // Pairs: at most max_array_length, which read_header checked, so this does not overflow
    // for any limit below half the address space.
    level.values = static_cast<std::size_t>(header.length) * (level.map ? 2 : 1);
  }
  return true;
}

Step Scanner::streamed_string(ScanResult& result) {
  std::size_t total = 0;
  for (;;) {
    if (pos_ == buffer_.size()) {
      result = need(detail::saturating_add(pos_ + kMinLastChunk, rest()));
      return Step::kNeedMore;
    }
    if (buffer_[pos_] != ';') {
      result = fail("Protocol error: streamed string chunk without ';'", pos_);
      return Step::kError;
    }
    auto chunk = detail::read_header(buffer_, pos_, limits_);
    if (chunk.step == Step::kNeedMore) {
      result = need(detail::saturating_add(pos_ + kMinLastChunk, rest()));
      return Step::kNeedMore;
    }
    if (chunk.step == Step::kError) {
      result = fail(chunk.error, pos_);
      return Step::kError;
    }
    if (chunk.length == 0) {
      pos_ = chunk.next;
      return Step::kOk;
    }
    total += static_cast<std::size_t>(chunk.length);
    if (total > limits_.max_bulk_bytes) {
      result = fail("Protocol error: streamed string longer than the bulk limit", pos_);
      return Step::kError;
    }
    auto blob = detail::read_blob(buffer_, chunk);
    if (blob.step == Step::kNeedMore) {
      result = need(detail::saturating_add(blob.next + kMinLastChunk, rest()));
      return Step::kNeedMore;
    }
    if (blob.step == Step::kError) {
      result = fail(blob.error, pos_);
      return Step::kError;
    }
    pos_ = blob.next;
  }
}

ScanResult Scanner::run() {
  for (;;) {
    // Close the aggregates that have all their values; an attribute's close means the value
    // it annotates comes next.
    while (depth_ > 0 && !levels_[depth_].streamed && levels_[depth_].values == 0) {
      after_attribute_ = levels_[depth_].attribute;
      --depth_;
    }
    if (depth_ == 0 && levels_[0].values == 0) {
      ScanResult result;
      result.status = ParseStatus::kComplete;
      result.size = pos_;
      result.push = push_;
      return result;
    }
    if (pos_ == buffer_.size()) return need(detail::saturating_add(pos_, rest()));

    char type = buffer_[pos_];
    std::size_t start = pos_;
    if (type == ';') return fail("Protocol error: streamed string chunk outside a string", start);
    if (type == '.') {
      Level& level = levels_[depth_];
      if (!level.streamed || after_attribute_) {
        return fail("Protocol error: unexpected end of aggregate", start);
      }
      if (level.map && level.values % 2 != 0) {
        return fail("Protocol error: streamed map ends without the value of its last key", start);
      }
      --depth_;  // before rest(): this end is the value being read
    } else if (type != '|' && !count_value()) {
      return fail("Protocol error: streamed aggregate longer than the array limit", start);
    }
    if (depth_ == 0 && type == '>') push_ = true;

    auto header = detail::read_header(buffer_, pos_, limits_);
    if (header.step == Step::kNeedMore) {
      return need(detail::saturating_add(start + kMinValue, rest()));
    }
    if (header.step == Step::kError) return fail(header.error, start);
    pos_ = header.next;

    if (detail::is_aggregate_type(type) && header.length != -1) {
      if (!open(header)) return fail("Protocol error: reply nested too deep", start);
    } else if ((type == '$' || type == '!' || type == '=') && header.length >= 0) {
      auto blob = detail::read_blob(buffer_, header);
      if (blob.step == Step::kNeedMore) return need(detail::saturating_add(blob.next, rest()));
      if (blob.step == Step::kError) return fail(blob.error, start);
      pos_ = blob.next;
    } else if (type == '$' && header.length == detail::kStreamed) {
      ScanResult result;
      if (streamed_string(result) != Step::kOk) return result;
    }
  }
}

}  // namespace

ScanResult scan_reply(std::string_view buffer, const Limits& limits) {
  return Scanner(buffer, limits).run();
}

}  // namespace plexi::resp
