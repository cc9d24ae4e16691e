#include "pools/redis/server_link.h"

#include <algorithm>
#include <array>

#include "common/socket_io.h"

namespace plexi::pools::redis {
namespace {

// What a client gets for a request whose reply will never come.
std::string error_reply(std::string_view why, const LinkTarget& target) {
  std::string reply = "-ERR plexiproxy: ";
  for (char c : why) reply += (c == '\r' || c == '\n') ? ' ' : c;
  reply += " (server " + target.describe() + ")\r\n";
  return reply;
}

void complete(ReplySlot& slot, std::string_view reply, bool failed) {
  slot.reply.assign(reply);
  slot.done = true;
  slot.link_failed = failed;
  if (slot.waker) slot.waker->wake();
}

}  // namespace

ServerLink::ServerLink(asio::any_io_executor executor, LinkTarget target, resp::Limits limits)
    : executor_(std::move(executor)),
      target_(std::move(target)),
      limits_(limits),
      stream_(std::make_shared<ServerStream>(ServerSocket(executor_))) {
  // A server's simple strings can be long (a MONITOR line repeats a command's arguments):
  // held to the bulk limit, not the inline request limit meant for clients.
  limits_.max_inline_bytes = std::max(limits_.max_inline_bytes, limits_.max_bulk_bytes);
}

ServerLink::~ServerLink() {
  error_code ignored;
  stream_->close(ignored);
}

void ServerLink::send(std::string_view request, std::shared_ptr<ReplySlot> slot) {
  waiting_.push_back({std::move(slot), false});
  queue(request);
}

void ServerLink::send_streamed(std::string_view request) { queue(request); }

void ServerLink::queue(std::string_view request) {
  pending_.append(request);
  if (state_ == State::kIdle || state_ == State::kClosed) {
    state_ = State::kConnecting;
    asio::co_spawn(
        executor_, [self = shared_from_this()] { return self->connect_and_read(); },
        asio::detached);
  } else if (state_ == State::kReady) {
    schedule_write();
  }
}

void ServerLink::send_command(std::span<const std::string_view> args,
                              std::shared_ptr<ReplySlot> slot) {
  std::string request;
  resp::encode_command(request, args);
  send(request, std::move(slot));
}

void ServerLink::schedule_write() {
  if (write_scheduled_ || writing_now_) return;
  write_scheduled_ = true;
  // After the current handler: every client served in this turn of the worker adds its
  // requests first, and they go out in one write.
  asio::post(executor_, [self = shared_from_this(), generation = generation_] {
    self->write_scheduled_ = false;
    if (generation == self->generation_) self->write_pending();
  });
}

void ServerLink::write_pending() {
  if (state_ != State::kReady || writing_now_ || pending_.empty()) return;
  writing_.swap(pending_);
  pending_.clear();
  writing_now_ = true;
  asio::async_write(*stream_, asio::buffer(writing_),
                    [self = shared_from_this(), generation = generation_, stream = stream_](
                        const error_code& ec, std::size_t) {
                      if (generation != self->generation_) return;
                      self->writing_now_ = false;
                      if (ec) {
                        self->fail("cannot write to the server: " + ec.message());
                        return;
                      }
                      self->writing_.clear();
                      if (self->writing_.capacity() > 1 << 20) std::string().swap(self->writing_);
                      self->write_pending();
                    });
}

awaitable<bool> ServerLink::connect(std::string& error) {
  // A host that is a path is the server's Unix socket file.
  auto stream = std::make_shared<ServerStream>(ServerSocket(executor_));
  {
    Deadline deadline(executor_, target_.connect_timeout, stream->socket());
    bool connected = co_await connect_server(stream->socket(), target_.host, target_.port, error);
    const bool connected_tcp = connected;
    if (connected && tls()) {
      connected = co_await start_server_tls(*stream, target_.tls, target_.host, error);
      if (!connected && !deadline.expired()) co_return false;  // the error names TLS's failure
    }
    if (deadline.expired()) {
      // A server without TLS on the port may well take the ClientHello for half a command.
      error = tls() && connected_tcp ? "TLS handshake timed out (is it the server's TLS port?)"
                                     : "connect timed out";
      co_return false;
    }
    if (!connected) {
      error = "cannot connect: " + error;
      co_return false;
    }
  }
  stream_ = std::move(stream);
  co_return true;
}

awaitable<void> ServerLink::connect_and_read() {
  auto self = shared_from_this();
  std::uint64_t generation = ++generation_;
  std::string error;
  bool connected = co_await connect(error);
  if (generation != generation_ || state_ != State::kConnecting) co_return;
  if (!connected) {
    fail(error);
    co_return;
  }
  // The login's commands go before what clients queued meanwhile, their replies checked
  // here rather than handed to anyone.
  std::string login;
  std::size_t login_commands = 0;
  if (target_.protocol == 3) {
    std::array<std::string_view, 5> hello{"HELLO", "3", "AUTH", target_.user, target_.password};
    std::size_t count = 2;
    if (!target_.password.empty()) {
      if (target_.user.empty()) hello[3] = "default";
      count = 5;
    }
    resp::encode_command(login, std::span(hello.data(), count));
    ++login_commands;
  } else if (!target_.password.empty()) {
    if (target_.user.empty()) {
      std::array<std::string_view, 2> auth{"AUTH", target_.password};
      resp::encode_command(login, auth);
    } else {
      std::array<std::string_view, 3> auth{"AUTH", target_.user, target_.password};
      resp::encode_command(login, auth);
    }
    ++login_commands;
  }
  if (target_.database != 0) {
    std::string number = std::to_string(target_.database);
    std::array<std::string_view, 2> select{"SELECT", number};
    resp::encode_command(login, select);
    ++login_commands;
  }
  for (std::size_t i = 0; i < login_commands; ++i) waiting_.push_front({nullptr, true});
  login_replies_ = login_commands;
  pending_.insert(0, login);
  state_ = State::kReady;
  write_pending();

  auto stream = stream_;
  while (generation == generation_ && state_ == State::kReady) {
    error_code ec;
    // An incomplete reply grows the buffer at least to the size it announced, and by
    // doubling when it announced nothing (a long array): no copying per 16 kB.
    std::size_t chunk = std::max<std::size_t>({16384, input_.size(), missing_});
    std::size_t received = co_await read_some(*stream, input_, ec, chunk);
    if (generation != generation_) co_return;
    if (received == 0) {
      fail(ec == asio::error::eof ? "the server closed the connection"
                                  : "lost the connection to the server: " + ec.message());
      co_return;
    }
    if (!take_replies()) co_return;
    input_.shrink_if_idle(65536);
  }
}

bool ServerLink::take_replies() {
  missing_ = 0;
  while (!input_.empty()) {
    std::string_view buffer = as_chars(input_.readable());
    auto scan = resp::scan_reply(buffer, limits_);
    if (scan.status == resp::ParseStatus::kNeedMore) {
      missing_ = scan.need > buffer.size() ? scan.need - buffer.size() : 0;
      return true;
    }
    if (scan.status == resp::ParseStatus::kError) {
      fail("the server sent a malformed reply: " + scan.error);
      return false;
    }
    std::string_view reply = buffer.substr(0, scan.size);
    if (scan.push || (stream_filter_ && stream_filter_(reply))) {
      if (unasked_) unasked_(reply);
    } else {
      deliver(reply);
      if (state_ != State::kReady) return false;
    }
    input_.consume(scan.size);
  }
  return true;
}

void ServerLink::deliver(std::string_view reply) {
  if (waiting_.empty()) {
    if (unasked_) {
      unasked_(reply);
      return;
    }
    fail("the server sent a reply nobody asked for");
    return;
  }
  Waiting waiting = std::move(waiting_.front());
  waiting_.pop_front();
  if (waiting.internal) {
    --login_replies_;
    if (!reply.empty() && (reply[0] == '-' || reply[0] == '!')) {
      std::string text(reply.substr(1));
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      fail("logging in to the server failed: " + text);
    }
    return;
  }
  if (waiting.slot) complete(*waiting.slot, reply, false);
}

void ServerLink::fail(std::string_view why) {
  ++generation_;
  error_code ignored;
  stream_->close(ignored);
  state_ = State::kIdle;
  writing_now_ = false;
  pending_.clear();
  writing_.clear();
  input_ = ReadBuffer();
  login_replies_ = 0;
  auto waiting = std::move(waiting_);
  waiting_.clear();
  std::string reply = error_reply(why, target_);
  for (auto& entry : waiting) {
    if (entry.slot) complete(*entry.slot, reply, true);
  }
}

void ServerLink::close(std::string_view why) {
  fail(why);
  state_ = State::kClosed;
}

}  // namespace plexi::pools::redis
