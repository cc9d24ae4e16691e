// The RESP codec of the Redis front: client requests in, server replies framed (and read
// into Values where the proxy must understand them), and both written back. Pure functions
// over byte buffers; nothing here touches a socket or throws on malformed input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/resp/value.h"

namespace plexi::resp {

// Maxima checked against every length, count and line as soon as its header is read, before
// anything is allocated for it or any of its bytes are awaited: `*2000000000\r\n` is an error
// at once, not a wait for two billion elements.
struct Limits {
  std::size_t max_array_length = 1024 * 1024;      // elements of an array, map pairs
  std::size_t max_bulk_bytes = 512 * 1024 * 1024;  // a bulk string (Redis' proto-max-bulk-len)
  std::size_t max_inline_bytes = 64 * 1024;        // an inline request, a reply's text line
  std::size_t max_depth = 64;                      // aggregates nested in aggregates
};

// Aggregates nested deeper than this are an error whatever Limits::max_depth says: the reply
// scanner keeps one small record per open aggregate on the stack, never on the heap.
inline constexpr std::size_t kMaxSupportedDepth = 256;

enum class ParseStatus { kNeedMore, kComplete, kError };

// --- client requests ------------------------------------------------------------------------

// One command as a client sent it. A Request can be reused for the next parse (its vectors
// keep their capacity). It moves but does not copy: `args` view the parsed buffer and
// `storage`, whose strings keep their addresses when the Request is moved (a vector's move
// hands over its heap block) but not when it is copied.
struct Request {
  std::vector<std::string_view> args;  // kComplete: the arguments, empty for a blank request
  bool inline_form = false;            // a telnet-style line rather than a RESP array
  std::size_t size = 0;                // kComplete: bytes the request took from the buffer
  // kNeedMore: the buffer size at which parsing again can first succeed (more than the
  // buffer's size, never more than the whole request), so a caller receiving a 100 MB SET
  // does not parse again on every read.
  std::size_t need = 0;
  // kError: in Redis' words ("Protocol error: invalid bulk length"), which Redis sends as
  // `-ERR <error>` before closing the connection.
  std::string error;
  // Inline arguments that are not a run of the buffer's bytes (escapes, quotes inside a
  // word); their views in `args` point here.
  std::vector<std::string> storage;

  Request() = default;
  Request(Request&&) noexcept = default;
  Request& operator=(Request&&) noexcept = default;
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;
};

// Parses the request at the start of `buffer`: a RESP array of bulk strings, or an inline
// command (a line not starting with '*', split with Redis' quoting rules). `*0`, `*-1` and a
// blank line are complete requests with no arguments, which Redis skips. Errors are those
// Redis reports, as soon as the bytes present show them. Stricter than Redis: a bulk string
// not followed by CRLF, or a length line whose CR is not followed by LF, is an error where
// Redis skips two bytes without looking at them; and an inline line holding a NUL byte is an
// error where Redis waits for a newline its strchr() never finds.
ParseStatus parse_request(std::string_view buffer, const Limits& limits, Request& out);

// --- server replies -------------------------------------------------------------------------

struct ScanResult {
  ParseStatus status = ParseStatus::kNeedMore;
  std::size_t size = 0;  // kComplete: bytes of the reply, attributes before it included
  bool push = false;     // kComplete: a RESP3 out-of-band push (>), not the reply to a command
  // kNeedMore: a buffer size below which the reply cannot be complete (at least one more than
  // the buffer's size; larger when a length already read says so).
  std::size_t need = 0;
  std::string error;  // kError: what is wrong, for the log
};

// Finds where the reply at the start of `buffer` ends without building it: every RESP2 and
// RESP3 type, RESP2 nulls, attributes (scanned with the value they annotate), streamed
// strings ($? with ;len chunks up to ;0) and streamed arrays, maps and sets (*? %? ~? up to
// `.`). One pass over the bytes, no allocation.
ScanResult scan_reply(std::string_view buffer, const Limits& limits);

// The reply at the start of `buffer` as a tree. Empty when it is incomplete or malformed
// (scan_reply tells which). Attributes are dropped: the result is the value they annotate.
// RESP2 null bulk strings and arrays read as kNull, streamed strings and aggregates as their
// fixed-length kinds. `size`, when given, receives the bytes the reply took.
std::optional<Value> parse_value(std::string_view buffer, const Limits& limits,
                                 std::size_t* size = nullptr);

// --- encoding -------------------------------------------------------------------------------

// Appends replies to `out` in the protocol version the client chose (2, or 3 after HELLO 3).
// RESP3 types are written in their RESP2 form to a RESP2 client, as Redis does.
class Writer {
 public:
  Writer(std::string& out, int protocol) : out_(out), protocol_(protocol) {}

  int protocol() const { return protocol_; }

  // Simple strings and errors are lines: a CR or LF in `text` is written as a space.
  void simple(std::string_view text);
  void error(std::string_view text);  // text such as "ERR unknown command", without '-'
  void integer(std::int64_t value);
  void bulk(std::string_view bytes);
  void null();        // RESP2: $-1
  void null_array();  // RESP2: *-1
  // Aggregate headers; the caller writes the elements after them.
  void array(std::size_t count);
  void map(std::size_t pairs);      // RESP2: an array of 2 * pairs
  void set(std::size_t count);      // RESP2: an array
  void push(std::size_t count);     // RESP2: an array
  void boolean(bool value);         // RESP2: :1 or :0
  void double_value(double value);  // shortest form that reads back exactly; RESP2: a bulk
  // A whole tree. Kinds RESP2 lacks are written as Redis writes them to a RESP2 client: big
  // numbers, doubles and verbatim strings as bulk strings, blob errors as errors, kNull as
  // $-1. A verbatim string goes out with format "txt" (Value keeps only its text). A map with
  // an odd number of elements gets a null as its last value. An attribute is written in RESP3
  // as an attribute (annotating whatever the caller writes next; it is not an element) and
  // not at all in RESP2.
  void value(const Value& value);

 private:
  void header(char type, std::int64_t number);
  void line(char type, std::string_view text);
  void blob(char type, std::string_view prefix, std::string_view bytes);
  void aggregate(char resp3_type, std::size_t count);

  std::string& out_;
  int protocol_;
};

// A command as a client sends it to a server: a RESP array of bulk strings.
void encode_command(std::string& out, std::span<const std::string_view> args);

}  // namespace plexi::resp
