// Wakes one coroutine that waits for something another coroutine of the same worker
// produces (a reply, room in a buffer), without a lock: a timer that never expires and is
// cancelled to wake its waiter.
#pragma once

#include "common/asio.h"

namespace plexi {

class Waker {
 public:
  explicit Waker(const asio::any_io_executor& executor) : timer_(executor) {
    timer_.expires_at(asio::steady_timer::time_point::max());
  }
  // The waiting coroutine resumes; one that waits later returns at once.
  void wake() {
    woken_ = true;
    timer_.cancel();
  }
  // Waits at most `timeout`; true when woken.
  template <class Duration>
  awaitable<bool> wait_for(Duration timeout) {
    if (!woken_) {
      boost::system::error_code ignored;
      timer_.expires_after(timeout);
      co_await timer_.async_wait(asio::redirect_error(use_awaitable, ignored));
    }
    bool woken = woken_;
    woken_ = false;
    timer_.expires_at(asio::steady_timer::time_point::max());
    co_return woken;
  }
  // Returns at once when woken since the last wait.
  awaitable<void> wait() {
    if (!woken_) {
      boost::system::error_code ignored;
      timer_.expires_at(asio::steady_timer::time_point::max());
      co_await timer_.async_wait(asio::redirect_error(use_awaitable, ignored));
    }
    woken_ = false;
  }

 private:
  asio::steady_timer timer_;
  bool woken_ = false;
};

}  // namespace plexi
