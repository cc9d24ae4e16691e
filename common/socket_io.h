// Small coroutine helpers over Asio sockets shared by every protocol's sessions and relays.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>

#include "common/asio.h"
#include "common/bytes.h"

namespace plexi {

using error_code = boost::system::error_code;

// Reads whatever is available (at least one byte) into `buffer`. Returns 0 on EOF or error,
// with `ec` set.
template <class Stream>
awaitable<std::size_t> read_some(Stream& stream, ReadBuffer& buffer, error_code& ec,
                                 std::size_t chunk = 16384) {
  auto space = buffer.prepare(chunk);
  std::size_t n = co_await stream.async_read_some(asio::buffer(space.data(), space.size()),
                                                  asio::redirect_error(use_awaitable, ec));
  if (!ec) buffer.commit(n);
  co_return ec ? 0 : n;
}

// Waits until `socket` has bytes (or EOF) without holding a buffer, then reads what is
// there: an idle client costs no buffer memory while it is silent.
template <class Socket>
awaitable<std::size_t> read_when_ready(Socket& socket, ReadBuffer& buffer, error_code& ec) {
  if (buffer.empty()) {
    buffer.release_if_empty();
    co_await socket.async_wait(Socket::wait_read, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return 0;
  }
  std::size_t available = socket.available(ec);
  if (ec) co_return 0;
  co_return co_await read_some(socket, buffer, ec,
                               std::clamp<std::size_t>(available, 1024, 262144));
}

// Re-registers `socket` with `executor`'s reactor (a no-op when it is there already), so its
// I/O completes on that worker. False when the descriptor could not be moved (the socket is
// then closed).
template <class Socket>
bool move_socket(Socket& socket, const asio::any_io_executor& executor) {
  if (socket.get_executor() == executor || !socket.is_open()) return true;
  error_code ec;
  auto protocol = socket.local_endpoint(ec).protocol();
  if (ec) return false;
  int fd = socket.release(ec);
  if (ec) return false;
  Socket moved(executor);
  moved.assign(protocol, fd, ec);
  if (ec) {
    ::close(fd);
    return false;
  }
  socket = std::move(moved);
  return true;
}

template <class Stream>
awaitable<bool> write_all(Stream& stream, Bytes bytes, error_code& ec) {
  co_await asio::async_write(stream, asio::buffer(bytes.data(), bytes.size()),
                             asio::redirect_error(use_awaitable, ec));
  co_return !ec;
}

// Closes `socket` if the guard is still alive when `timeout` passes: the timeout for a whole
// exchange (connect, startup, authentication) without per-operation cancellation.
class Deadline {
 public:
  template <class Socket>
  Deadline(const asio::any_io_executor& executor, std::chrono::milliseconds timeout, Socket& socket)
      : timer_(executor) {
    timer_.expires_after(timeout);
    timer_.async_wait([&socket, state = state_](const error_code& ec) {
      // A wait that completed just before cancel() still arrives with success: `armed`
      // tells it the guard is gone and the socket may belong to someone else by now.
      if (!ec && state->armed) {
        state->expired = true;
        error_code ignored;
        socket.close(ignored);
      }
    });
  }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;
  ~Deadline() {
    state_->armed = false;
    timer_.cancel();
  }

  bool expired() const { return state_->expired; }

 private:
  struct State {
    bool armed = true;
    bool expired = false;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
  asio::steady_timer timer_;
};

}  // namespace plexi
