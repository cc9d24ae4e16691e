// A pipelined connection to one Redis server. Requests from any number of clients on one
// worker are written to it back to back and their replies, which Redis sends in request
// order, handed back in the same order: the way twemproxy shares a server connection.
// The same class serves one client alone (a transaction, a subscription, a blocking
// command), where it also delivers what the server sends unasked.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/asio.h"
#include "common/bytes.h"
#include "common/socket_io.h"
#include "common/waker.h"
#include "pools/server_socket.h"
#include "pools/server_tls.h"
#include "protocol/resp/resp.h"

namespace plexi::pools::redis {

using Clock = std::chrono::steady_clock;

// Where a link connects and how it logs in.
struct LinkTarget {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string user;      // empty with a password: AUTH with the password alone
  std::string password;  // empty: no AUTH
  int database = 0;      // SELECT after connecting when not 0
  int protocol = 2;      // 3: HELLO 3 first, so replies come in RESP3
  std::chrono::milliseconds connect_timeout{5000};
  // RESP negotiates nothing, so TLS is all or nothing from the first byte: require and up
  // connect with TLS; prefer, like disable, connects in plain text.
  TlsTarget tls;

  bool operator==(const LinkTarget&) const = default;
  std::string describe() const {
    return host.starts_with('/') ? host : host + ":" + std::to_string(port);
  }
};

// One request's reply, filled in by the link.
struct ReplySlot {
  std::string reply;  // as the server sent it, or an error reply the proxy made
  bool done = false;
  bool link_failed = false;  // the reply is the proxy's error: the connection was lost
  Clock::time_point sent_at{};
  Waker* waker = nullptr;  // cleared by a client that leaves before its reply
};

class ServerLink : public std::enable_shared_from_this<ServerLink> {
 public:
  ServerLink(asio::any_io_executor executor, LinkTarget target, resp::Limits limits = {});
  ~ServerLink();
  ServerLink(const ServerLink&) = delete;
  ServerLink& operator=(const ServerLink&) = delete;

  const LinkTarget& target() const { return target_; }
  bool tls() const { return target_.tls.required(); }
  const asio::any_io_executor& executor() const { return executor_; }

  // Queues `request` (one whole RESP request) and the slot its reply goes to; connects
  // first when there is no connection. The bytes go out after the current handler, together
  // with everything else queued by then. A null slot discards the reply.
  void send(std::string_view request, std::shared_ptr<ReplySlot> slot);
  void send_command(std::span<const std::string_view> args, std::shared_ptr<ReplySlot> slot);
  // Queues a request whose replies all arrive unasked (SUBSCRIBE and its kin in stream mode).
  void send_streamed(std::string_view request);

  // What the server sends that answers no request: RESP3 pushes always, and in stream mode
  // (a subscribed or MONITORing client's own link) every reply that `unasked` accepts.
  using Unasked = std::function<void(std::string_view reply)>;
  void on_unasked(Unasked handler) { unasked_ = std::move(handler); }
  // Decides, in stream mode, which replies answer no request.
  using UnaskedFilter = std::function<bool(std::string_view reply)>;
  void set_stream_filter(UnaskedFilter filter) { stream_filter_ = std::move(filter); }

  // Closes the connection: every waiting slot gets an error reply.
  void close(std::string_view why = "the connection was closed");

 private:
  enum class State { kIdle, kConnecting, kReady, kClosed };
  struct Waiting {
    std::shared_ptr<ReplySlot> slot;
    bool internal = false;  // the login's own commands (AUTH, HELLO, SELECT)
  };

  void queue(std::string_view request);
  awaitable<void> connect_and_read();
  awaitable<bool> connect(std::string& error);
  // Handles every whole reply in `input_`; false when a reply is malformed.
  bool take_replies();
  void deliver(std::string_view reply);
  void schedule_write();
  void write_pending();
  void fail(std::string_view why);

  asio::any_io_executor executor_;
  LinkTarget target_;
  resp::Limits limits_;
  // Shared with the operations in progress on it: a TLS stream must outlive them, and a
  // reconnection replaces it while the old one's aborted read may still be completing.
  std::shared_ptr<ServerStream> stream_;
  State state_ = State::kIdle;
  std::uint64_t generation_ = 0;  // of the connection; handlers of an older one stand down
  ReadBuffer input_;
  std::size_t missing_ = 0;  // bytes the reply at the start of input_ still lacks, when known
  std::string pending_;      // queued, not yet handed to the socket
  std::string writing_;      // being written
  bool write_scheduled_ = false;
  bool writing_now_ = false;
  std::deque<Waiting> waiting_;
  std::size_t login_replies_ = 0;  // internal replies still expected
  std::string login_error_;
  Unasked unasked_;
  UnaskedFilter stream_filter_;
};

}  // namespace plexi::pools::redis
