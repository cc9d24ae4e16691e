// One hiredis 0.14 async connection driven from a coroutine: the event hooks hiredis calls to
// say which way it waits, a loop that waits on its socket through a function the owner gives
// (so the owner's timeout and cancel apply) and hands each event back to hiredis, and
// replies copied into resp::Value trees. Used by the Redis health check and Sentinel
// discovery; nothing here blocks and no thread is started.
#pragma once

#include <hiredis/async.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/asio.h"
#include "protocol/resp/value.h"

namespace plexi::routing {

// Copies a hiredis reply (hiredis 0.14 reads RESP2 only) into a value tree.
resp::Value to_value(const redisReply& reply);

// Not thread-safe: every call and every wait must run on one strand (or a single thread).
class HiredisConnection {
 public:
  // Waits until `fd` is readable (or writable). `new_socket`: the first wait since connect()
  // opened a socket. False when the wait was cut short by the owner (a timeout, a cancel:
  // `error` left empty, the owner knows why) or failed (`error` says why).
  using Wait =
      std::function<awaitable<bool>(int fd, bool for_write, bool new_socket, std::string& error)>;

  explicit HiredisConnection(Wait wait);
  ~HiredisConnection();
  HiredisConnection(const HiredisConnection&) = delete;
  HiredisConnection& operator=(const HiredisConnection&) = delete;

  // A connection is open, or being opened. hiredis drops it by itself when the server closes
  // it or a read or write fails.
  bool connected() const { return context_ != nullptr; }

  // Closes any connection, then connects to `address` (an IP address, never a name: hiredis
  // would resolve it and block) and `port`, or to a Unix socket when `address` starts with '/'.
  [[nodiscard]] awaitable<bool> connect(const std::string& address, std::uint16_t port,
                                        std::string& error);

  // Sends one command and waits for its reply, which may be an error reply. None when the
  // connection failed (`error` says why) or the wait was cut short (`error` empty).
  [[nodiscard]] awaitable<std::optional<resp::Value>> command(std::vector<std::string> args,
                                                              std::string& error);

  // Subscribes to `channel` and waits for the server's confirmation. From then on the
  // connection serves message() only (RESP2's subscribed mode).
  [[nodiscard]] awaitable<bool> subscribe(const std::string& channel, std::string& error);

  // The next message on a subscribed channel: ["message", channel, payload]. None as for
  // command().
  [[nodiscard]] awaitable<std::optional<resp::Value>> message(std::string& error);

  // Closes the connection and its socket; a no-op without one.
  void close();

 private:
  static void on_connect(const redisAsyncContext* context, int status);
  static void on_reply(redisAsyncContext* context, void* reply, void* privdata);
  static void on_message(redisAsyncContext* context, void* reply, void* privdata);
  static void on_cleanup(void* self);

  // Waits and hands events to hiredis until done() or the connection is gone.
  awaitable<bool> run_until(const std::function<bool()>& done, std::string& error);

  Wait wait_;
  redisAsyncContext* context_ = nullptr;
  // What hiredis asked for through its hooks.
  bool want_read_ = false;
  bool want_write_ = false;
  bool new_socket_ = false;
  bool established_ = false;  // the connect callback said so
  std::string lost_;          // why hiredis dropped the last connection
  std::optional<resp::Value> reply_;
  std::deque<resp::Value> messages_;
};

}  // namespace plexi::routing
