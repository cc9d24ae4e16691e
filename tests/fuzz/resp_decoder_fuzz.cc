// libFuzzer target for the RESP codec: parses arbitrary bytes as a pipeline of client requests
// and as a pipeline of server replies, under default and under small limits, and checks that
// the scanner and the tree reader agree, that prefixes of a message only ever need more
// bytes (no more than the message has), and that what parses re-encodes to something that
// parses back the same.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/resp/resp.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace plexi::resp;
using plexi::fuzz::check;

Limits small_limits() {
  Limits limits;
  limits.max_array_length = 8;
  limits.max_bulk_bytes = 64;
  limits.max_inline_bytes = 32;
  limits.max_depth = 4;
  return limits;
}

// Prefixes to try of a message of `size` bytes: the empty one, the last, one in the middle,
// and one the input picks.
std::vector<std::size_t> cuts(std::size_t size, std::uint8_t pick) {
  return {0, size / 2, size - 1, size * pick / 256};
}

bool same_args(const Request& a, const Request& b) {
  if (a.args.size() != b.args.size()) return false;
  for (std::size_t i = 0; i < a.args.size(); ++i) {
    if (a.args[i] != b.args[i]) return false;
  }
  return true;
}

// Every argument views the buffer or the request's own storage.
bool args_in_place(const Request& request, std::string_view buffer) {
  std::size_t owned = 0;
  for (auto arg : request.args) {
    bool in_buffer =
        arg.data() >= buffer.data() && arg.data() + arg.size() <= buffer.data() + request.size;
    if (in_buffer) continue;
    if (owned >= request.storage.size() || arg.data() != request.storage[owned].data()) {
      return false;
    }
    ++owned;
  }
  return owned == request.storage.size();
}

void requests(std::string_view input, const Limits& limits) {
  Request request, other;
  std::string_view rest = input;
  while (true) {
    auto status = parse_request(rest, limits, request);
    if (status == ParseStatus::kNeedMore) {
      check(request.need > rest.size(), "a request needs more than it has");
      return;
    }
    if (status == ParseStatus::kError) {
      check(!request.error.empty(), "a request error says what it is");
      return;
    }
    check(request.size > 0 && request.size <= rest.size(), "a request fits its buffer");
    check(args_in_place(request, rest), "request arguments view the buffer or storage");

    // Every prefix of a complete request waits, for no more than the request.
    for (std::size_t cut : cuts(request.size, static_cast<std::uint8_t>(rest[0]))) {
      check(parse_request(rest.substr(0, cut), limits, other) == ParseStatus::kNeedMore,
            "a prefix of a request needs more");
      check(other.need > cut && other.need <= request.size, "a prefix needs what is missing");
    }
    // Sent on to a server as an array of bulk strings, it reads back the same. (An inline
    // line holds more arguments than an array may under small limits: Redis does not count
    // them, only the line's bytes.)
    std::string encoded;
    encode_command(encoded, request.args);
    Limits array = limits;
    array.max_array_length = std::max(limits.max_array_length, limits.max_inline_bytes);
    array.max_bulk_bytes = std::max(limits.max_bulk_bytes, limits.max_inline_bytes);
    check(parse_request(encoded, array, other) == ParseStatus::kComplete || request.args.empty(),
          "an encoded command parses");
    if (!request.args.empty()) {
      check(other.size == encoded.size() && !other.inline_form && same_args(request, other),
            "an encoded command reads back the same");
    }
    Request moved = std::move(request);
    check(args_in_place(moved, rest), "a moved request keeps its views");
    rest.remove_prefix(moved.size);
    request = std::move(moved);
  }
}

// `value` as Writer writes lines: a CR or LF in a simple string or error becomes a space.
Value as_written(Value value) {
  if (value.type == Type::kSimpleString || value.type == Type::kError ||
      value.type == Type::kDouble) {
    for (char& c : value.text) {
      if (c == '\r' || c == '\n') c = ' ';
    }
  }
  for (auto& element : value.elements) element = as_written(std::move(element));
  return value;
}

void replies(std::string_view input, const Limits& limits) {
  std::string_view rest = input;
  while (true) {
    auto scan = scan_reply(rest, limits);
    std::size_t size = 0;
    auto value = parse_value(rest, limits, &size);
    check(value.has_value() == (scan.status == ParseStatus::kComplete),
          "scan_reply and parse_value agree on completeness");
    if (scan.status == ParseStatus::kNeedMore) {
      check(scan.need > rest.size(), "a reply needs more than it has");
      return;
    }
    if (scan.status == ParseStatus::kError) {
      check(!scan.error.empty(), "a reply error says what it is");
      return;
    }
    check(scan.size > 0 && scan.size <= rest.size() && size == scan.size,
          "scan_reply and parse_value agree on the size");

    for (std::size_t cut : cuts(scan.size, static_cast<std::uint8_t>(rest[scan.size - 1]))) {
      auto prefix = scan_reply(rest.substr(0, cut), limits);
      check(prefix.status == ParseStatus::kNeedMore, "a prefix of a reply needs more");
      check(prefix.need > cut && prefix.need <= scan.size, "a prefix needs what is missing");
    }

    // Written for a RESP3 client it reads back the same; for a RESP2 one, it still reads.
    std::string three, two;
    Writer(three, 3).value(*value);
    Writer(two, 2).value(*value);
    std::size_t again_size = 0;
    auto again = parse_value(three, limits, &again_size);
    check(again && again_size == three.size() && *again == as_written(*value),
          "a reply written in RESP3 reads back the same");
    // RESP2 spells maps as arrays of twice the length and blob errors as lines.
    Limits resp2 = limits;
    resp2.max_array_length *= 2;
    resp2.max_inline_bytes = std::max(limits.max_inline_bytes, limits.max_bulk_bytes);
    auto downgraded = scan_reply(two, resp2);
    check(downgraded.status == ParseStatus::kComplete && downgraded.size == two.size() &&
              !downgraded.push,
          "a reply written in RESP2 reads");
    rest.remove_prefix(scan.size);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  static const Limits kDefault;
  static const Limits kSmall = small_limits();
  for (const Limits* limits : {&kDefault, &kSmall}) {
    requests(input, *limits);
    replies(input, *limits);
  }
  return 0;
}
