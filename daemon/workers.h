// The network workers: one io_context per thread, so a session's coroutines, its sockets
// and the server connections it uses all run on one thread without strands or locks.
// New clients are spread over the workers round robin. One more thread, the control thread,
// runs the daemon's own tasks (listeners, signals, housekeeping, health checks, the admin
// API): they never wait behind clients' traffic, and the memory of clients (allocated on
// the workers' threads) is never interleaved with theirs, so it can be given back whole
// after a burst of clients has gone.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "common/asio.h"

namespace plexi {

class Workers {
 public:
  // `count` workers besides the control thread.
  explicit Workers(std::size_t count) {
    for (std::size_t i = 0; i <= std::max<std::size_t>(1, count); ++i) {
      // Hint 1: each context is run by one thread (posts from other threads still work).
      contexts_.push_back(std::make_unique<asio::io_context>(1));
    }
  }
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // The control thread's context.
  asio::io_context& main() { return *contexts_.front(); }

  // The worker the next client goes to.
  asio::any_io_executor next() {
    std::size_t workers = contexts_.size() - 1;
    std::size_t index = 1 + next_.fetch_add(1, std::memory_order_relaxed) % workers;
    return contexts_[index]->get_executor();
  }

  // Every worker's executor (the control thread's not among them).
  std::vector<asio::any_io_executor> executors() {
    std::vector<asio::any_io_executor> executors;
    for (std::size_t i = 1; i < contexts_.size(); ++i) executors.push_back(contexts_[i]->get_executor());
    return executors;
  }

  // Runs the workers, and the control thread on the calling thread, until stop().
  void run() {
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < contexts_.size(); ++i) {
      // The others have no work of their own until clients arrive: keep them running.
      guards_.emplace_back(contexts_[i]->get_executor());
      threads.emplace_back([context = contexts_[i].get()] { context->run(); });
    }
    contexts_.front()->run();
    for (auto& thread : threads) thread.join();
  }

  void stop() {
    guards_.clear();
    for (auto& context : contexts_) context->stop();
  }

  // Destroys the contexts, and with them every suspended coroutine and pending handler
  // (their sessions give server connections back as they go).
  void destroy() {
    guards_.clear();
    contexts_.clear();
  }

 private:
  using Guard = asio::executor_work_guard<asio::io_context::executor_type>;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<Guard> guards_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace plexi
