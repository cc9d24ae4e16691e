// Runs a blocking job on a thread pool and resumes the awaiting coroutine on its own executor.
#pragma once

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "common/asio.h"

namespace plexi::sqlite {

// Posts `job` to `pool` and completes with its result on the awaiting coroutine's executor
// (its strand, if it runs on one), so session code never continues on a pool thread. An
// exception thrown by the job is rethrown in the coroutine instead of ending the process.
template <class F, class R = std::invoke_result_t<F&>>
awaitable<R> run_on_pool(asio::thread_pool& pool, F job) {
  static_assert(std::is_default_constructible_v<R>, "the completion carries a value even on error");
  auto initiation = [&pool](auto handler, F job) {
    // The tracked executor keeps the coroutine's io_context from running out of work
    // (and returning from run()) while the job is still on the pool.
    auto home = asio::prefer(asio::get_associated_executor(handler),
                             asio::execution::outstanding_work.tracked);
    asio::post(pool, [handler = std::move(handler), job = std::move(job),
                      home = std::move(home)]() mutable {
      std::exception_ptr failure;
      R result{};
      try {
        result = job();
      } catch (...) {
        failure = std::current_exception();
      }
      asio::post(home,
                 [handler = std::move(handler), failure, result = std::move(result)]() mutable {
                   std::move(handler)(failure, std::move(result));
                 });
    });
  };
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr, R)>(
      std::move(initiation), use_awaitable, std::move(job));
}

}  // namespace plexi::sqlite
