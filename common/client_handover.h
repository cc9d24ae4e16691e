// Idle client connections handed from a process being upgraded to the one taking over: each
// session that can go on elsewhere writes down what it needs to (its login, settings, named
// statements, bytes the client sent that it has not handled) and gives up its socket, which
// the new process's session adopts without the client noticing.
//
// On the control connection (daemon/takeover.h), after SERVING, the old process sends
//   CLIENT <protocol> <n>\n  then n bytes of state, with the client's descriptor on the line
// for each client, and END\n when it has no more. This file holds what is pure: the state's
// field encoding, the frames, and the queue sessions put themselves in.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plexi {

// One client on its way to the new process. The descriptor is owned by whoever holds it.
struct HandedClient {
  std::string protocol;  // "postgres", "redis"
  std::string state;     // the protocol's session state (protocol/*/handover_state.h)
  int fd = -1;
};

// A session's connection time as the state carries it, and back.
inline std::int64_t to_unix_micros(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count();
}
inline std::chrono::system_clock::time_point from_unix_micros(std::int64_t micros) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::microseconds(micros)));
}

// Where sessions of the old process put themselves, from their workers' threads, while the
// control thread sends them on. Closed, it takes nobody: a session then ends as at shutdown.
class HandoverQueue {
 public:
  HandoverQueue() = default;
  HandoverQueue(const HandoverQueue&) = delete;
  HandoverQueue& operator=(const HandoverQueue&) = delete;
  ~HandoverQueue();

  void open();
  // Stops taking clients; those queued stay until taken.
  void close();
  bool is_open() const;
  // Takes the client (and its descriptor) when open; false, leaving it to the caller, when
  // closed.
  bool offer(HandedClient&& client);
  // Everything queued, oldest first.
  std::vector<HandedClient> take_all();

 private:
  mutable std::mutex mutex_;
  bool open_ = false;
  std::vector<HandedClient> queued_;
};

// Length-prefixed fields: what a session's state is written in. Every field is a u32 or u64
// (big-endian) or a string (u32 length, bytes).
class StateWriter {
 public:
  StateWriter& u32(std::uint32_t value);
  StateWriter& u64(std::uint64_t value);
  StateWriter& text(std::string_view value);
  StateWriter& flag(bool value) { return u32(value ? 1 : 0); }
  StateWriter& pairs(const std::vector<std::pair<std::string, std::string>>& items);
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// Reads what a StateWriter wrote; after a read past the end or a length that does not fit,
// every read fails and ok() is false.
class StateReader {
 public:
  explicit StateReader(std::string_view in) : in_(in) {}
  std::uint32_t u32();
  std::uint64_t u64();
  std::string text();
  // 0 or 1; anything else fails (each state has exactly one encoding).
  bool flag() {
    std::uint32_t value = u32();
    if (value > 1) fail();
    return value == 1;
  }
  std::vector<std::pair<std::string, std::string>> pairs();
  // A count of items each at least `item_bytes` long: zero (and failed) when the rest of
  // the input could not hold that many, so a corrupt count cannot make a reader allocate.
  std::uint32_t count(std::size_t item_bytes);
  bool ok() const { return ok_; }
  // Everything was read, exactly.
  bool done() const { return ok_ && in_.empty(); }

 private:
  bool fail() {
    ok_ = false;
    in_ = {};
    return false;
  }
  std::string_view in_;
  bool ok_ = true;
};

// The frame announcing one client.
std::string client_frame_header(std::string_view protocol, std::size_t state_size);
inline constexpr std::string_view kHandoverEnd = "END\n";

// The new process's reading of the control connection: bytes and descriptors as they
// arrive; the descriptors are matched to CLIENT frames in order (each frame carries one).
class ClientFrameReader {
 public:
  static constexpr std::size_t kMaxState = 1 << 24;
  ClientFrameReader() = default;
  ClientFrameReader(const ClientFrameReader&) = delete;
  ClientFrameReader& operator=(const ClientFrameReader&) = delete;
  // Closes the descriptors nobody took.
  ~ClientFrameReader();

  void add_bytes(std::string_view bytes) { buffer_.append(bytes); }
  void add_descriptor(int fd) { fds_.push_back(fd); }

  enum class Status { kClient, kNeedMore, kEnd, kError };
  // The next client, when a whole frame and its descriptor are there.
  Status next(HandedClient& client, std::string& error);

 private:
  std::string buffer_;
  std::deque<int> fds_;
};

}  // namespace plexi
