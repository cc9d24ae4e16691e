#include "pools/mysql/shared_link.h"

#include <algorithm>

#include "common/socket_io.h"

namespace plexi::mysql {
namespace {

// A response is handed to its session in pieces of about this size, so that a large result
// goes to the client as it arrives.
constexpr std::size_t kChunkBytes = 64 * 1024;
// A session whose client reads slowly leaves up to this much of its response with the link,
// which reads on meanwhile for the commands behind it; past it the link waits.
constexpr std::size_t kMaxBuffered = 16 * 1024 * 1024;
// A client that takes nothing for this long while the link waits loses the rest of its
// response (and its connection): the commands behind it go on.
constexpr auto kSlowClientTimeout = std::chrono::seconds(5);
constexpr std::size_t kReadChunk = 64 * 1024;
// A link whose server has been on one command this long is busy with a slow statement: new
// commands take a connection of their own instead of queueing behind it.
constexpr auto kStalledAfter = std::chrono::milliseconds(10);
// After a link fails, sessions use the pool for this long before it is tried again.
constexpr auto kRestAfterFailure = std::chrono::seconds(1);
// Links per worker and pool, at most; a link is a server connection the pool counts.
constexpr int kMaxLinks = 4;
// A link with other settings unused this long makes room for the settings a client needs.
constexpr auto kReplaceIdleAfter = std::chrono::seconds(1);

}  // namespace

SharedLink::SharedLink(asio::any_io_executor executor, std::shared_ptr<ServerPool> pool,
                       SessionState state)
    : executor_(std::move(executor)),
      pool_(std::move(pool)),
      session_(std::move(state)),
      drained_(executor_) {}

SharedLink::~SharedLink() {
  if (lease_) pool_->add_shared(-1);
}

pools::Clock::duration SharedLink::busy_for(pools::Clock::time_point now) const {
  if (in_flight_.empty()) return pools::Clock::duration::zero();
  return now - std::max(in_flight_.front().sent_at, last_answered_);
}

bool SharedLink::failed_recently(pools::Clock::time_point now) const {
  return failed_at_ != pools::Clock::time_point{} && now - failed_at_ < kRestAfterFailure;
}

void SharedLink::send(Bytes command, ResponseTracker::Shape shape, Exchange& exchange) {
  std::uint8_t sequence = 0;
  append_packet(pending_, sequence, command);
  std::uint32_t capabilities = lease_ ? lease_->capabilities() : 0;
  exchange.tracker.start(shape, capabilities);
  last_sent_ = pools::Clock::now();
  in_flight_.push_back({&exchange, shape, last_sent_});
  if (state_ == State::kIdle) {
    state_ = State::kConnecting;
    asio::co_spawn(executor_, connect_and_read(), asio::detached);
    return;
  }
  schedule_write();
}

void SharedLink::send_unanswered(Bytes command) {
  std::uint8_t sequence = 0;
  append_packet(pending_, sequence, command);
  schedule_write();
}

const ServerStatement* SharedLink::statement(const std::string& sql) {
  return lease_ ? lease_->statement(sql) : nullptr;
}

const ServerStatement* SharedLink::adopt_statement(const std::string& sql, const PrepareOk& ok) {
  if (!lease_) return nullptr;
  ByteVector close;
  close.push_back(std::byte(static_cast<std::uint8_t>(Command::kStmtClose)));
  if (const ServerStatement* known = lease_->statement(sql)) {
    append_u32le(close, ok.statement_id);
    send_unanswered(close);
    return known;
  }
  // Commands that use an evicted statement were queued before this close: they run first.
  std::uint32_t evicted =
      lease_->remember_statement(sql, {ok.statement_id, ok.parameters, ok.columns, true});
  if (evicted != 0) {
    append_u32le(close, evicted);
    send_unanswered(close);
  }
  return lease_->statement(sql);
}

void SharedLink::schedule_write() {
  if (write_scheduled_ || writing_now_ || state_ != State::kReady) return;
  write_scheduled_ = true;
  // After the current handler: every session served in this turn of the worker adds its
  // command first, and they go out in one write.
  asio::post(executor_, [self = shared_from_this(), generation = generation_] {
    self->write_scheduled_ = false;
    if (generation == self->generation_) self->write_pending();
  });
}

void SharedLink::write_pending() {
  if (state_ != State::kReady || writing_now_ || pending_.empty()) return;
  writing_.swap(pending_);
  pending_.clear();
  writing_now_ = true;
  asio::async_write(
      lease_->socket(), asio::buffer(writing_.data(), writing_.size()),
      [self = shared_from_this(), generation = generation_](const error_code& ec, std::size_t) {
        if (generation != self->generation_) return;
        self->writing_now_ = false;
        if (ec) {
          self->fail("cannot write to the server: " + ec.message());
          return;
        }
        self->writing_.clear();
        self->write_pending();
      });
}

awaitable<void> SharedLink::connect_and_read() {
  auto self = shared_from_this();
  std::uint64_t generation = generation_;
  std::string error;
  bool connected = co_await take_connection(generation, error);
  if (generation != generation_) co_return;
  if (!connected) {
    fail(error);
    co_return;
  }
  // Commands queued while connecting were framed before the capabilities were known; their
  // trackers learn them now.
  for (auto& pending : in_flight_) {
    pending.exchange->tracker.start(pending.shape, lease_->capabilities());
  }
  state_ = State::kReady;
  write_pending();

  ReadBuffer& input = lease_->input();
  error_code ec;
  while (generation == generation_) {
    std::size_t received = co_await read_some(lease_->socket(), input, ec, kReadChunk);
    if (generation != generation_) co_return;
    if (received == 0) {
      fail(ec ? "lost the connection to the server: " + ec.message()
              : "the server closed the connection");
      co_return;
    }
    if (!take_responses(input, error)) {
      fail(error);
      co_return;
    }
    // A session holding too much of its response lets the link go on once it passed some
    // on to its client; every command behind it waits meanwhile.
    while (!in_flight_.empty() && in_flight_.front().exchange->response.size() >= kMaxBuffered) {
      bool taken = co_await drained_.wait_for(kSlowClientTimeout);
      if (generation != generation_) co_return;
      if (!taken) {
        Exchange& slow = *in_flight_.front().exchange;
        slow.discard = true;
        slow.response.clear();
      }
      if (!take_responses(input, error)) {
        fail(error);
        co_return;
      }
    }
  }
}

awaitable<bool> SharedLink::take_connection(std::uint64_t generation, std::string& error) {
  // An idle connection another client left with other settings would need them undone;
  // a few are skipped (and closed) before a new one is opened.
  for (int attempt = 0; attempt < 4; ++attempt) {
    auto lease = co_await pool_->acquire(error);
    if (generation != generation_) co_return false;
    if (!lease) {
      error = "cannot connect to the server: " + error;
      co_return false;
    }
    if (lease->schema() == session_.schema && lease->settings().empty() &&
        !(lease->status() & status::kInTrans)) {
      lease->move_to(executor_);
      lease->set_busy(true);
      if (!session_.settings.empty()) {
        std::string sql;
        for (const auto& [key, assignment] : session_.settings.items()) {
          sql += sql.empty() ? "SET " : ", ";
          sql += assignment;
        }
        bool applied = co_await lease->run(sql, error);
        if (generation != generation_) co_return false;
        if (!applied) {
          error = "cannot apply the session settings " + sql + ": " + error;
          lease.discard();
          co_return false;
        }
        lease->settings() = session_.settings;
      }
      if (lease->multi_statements() != session_.multi_statements) {
        std::string option(2, '\0');
        option[0] = session_.multi_statements ? 0 : 1;
        bool set = co_await lease->run_command(Command::kSetOption, option, error);
        if (generation != generation_) co_return false;
        if (!set) {
          error = "cannot set the multi-statement option: " + error;
          lease.discard();
          co_return false;
        }
        lease->multi_statements() = session_.multi_statements;
      }
      lease_ = std::move(lease);
      pool_->add_shared(1);
      co_return true;
    }
    lease.discard();
  }
  error = "no server connection in the default session state";
  co_return false;
}

bool SharedLink::take_responses(ReadBuffer& input, std::string& error) {
  while (!in_flight_.empty()) {
    Exchange& exchange = *in_flight_.front().exchange;
    if (exchange.response.size() >= kMaxBuffered) return true;
    auto packet = next_packet(input.readable());
    if (!packet) return true;
    if (!exchange.discard) {
      auto raw = input.readable().first(packet->size());
      exchange.response.insert(exchange.response.end(), raw.begin(), raw.end());
    }
    bool last = exchange.tracker.feed(packet->payload);
    exchange.next_sequence = static_cast<std::uint8_t>(packet->sequence + 1);
    input.consume(packet->size());
    if (exchange.tracker.wants_local_file()) {
      error = "the server asked for a local file";
      return false;
    }
    if (last || exchange.tracker.done()) {
      exchange.complete = true;
      in_flight_.pop_front();
      if (!in_flight_.empty()) last_answered_ = pools::Clock::now();
      exchange.ready.wake();
    } else if (exchange.response.size() >= kChunkBytes) {
      exchange.ready.wake();  // a piece to pass on
    }
  }
  if (!input.empty()) {
    error = "the server sent a packet no command asked for";
    return false;
  }
  input.shrink_if_idle(256 * 1024);
  return true;
}

void SharedLink::fail(const std::string& why) {
  ++generation_;
  failed_at_ = pools::Clock::now();
  state_ = State::kIdle;
  writing_now_ = false;
  write_scheduled_ = false;
  pending_.clear();
  writing_.clear();
  if (lease_) {
    pool_->add_shared(-1);
    lease_->mark_broken();
    lease_.discard();
  }
  auto waiting = std::move(in_flight_);
  in_flight_.clear();
  drained_.wake();  // a reader waiting for a session to take a chunk stands down
  for (auto& pending : waiting) {
    pending.exchange->error = why;
    pending.exchange->ready.wake();
  }
}

void SharedLink::close(const std::string& why) {
  fail(why);
  failed_at_ = {};
}

std::shared_ptr<SharedLink> SharedLinks::pick(const asio::any_io_executor& worker,
                                              const std::shared_ptr<ServerPool>& pool,
                                              int pool_size,
                                              const SharedLink::SessionState& state) {
  // A link takes a connection for good; a pool of a few keeps them for transactions.
  int wanted = std::min(kMaxLinks, pool_size / 4);
  if (wanted < 1) return nullptr;
  std::shared_ptr<Links> links;
  {
    std::lock_guard lock(mutex_);
    auto& entry = links_[Key{&asio::query(worker, asio::execution::context), pool.get()}];
    if (!entry) entry = std::make_shared<Links>();
    links = entry;
  }
  // The pool's share goes to the settings its clients use (usually all of an application's
  // clients set the same ones when they connect); links with other settings give way when
  // they have been idle for a while.
  auto now = pools::Clock::now();
  auto matches = [&](const std::shared_ptr<SharedLink>& link) { return link->state() == state; };
  if (std::none_of(links->begin(), links->end(), matches)) {
    std::erase_if(*links, [&](const std::shared_ptr<SharedLink>& link) {
      if (!link->idle_since(now - kReplaceIdleAfter)) return false;
      link->close("replaced by a link with other settings");
      return true;
    });
    while (static_cast<int>(links->size()) < wanted) {
      links->push_back(std::make_shared<SharedLink>(worker, pool, state));
    }
  }
  SharedLink* best = nullptr;
  std::shared_ptr<SharedLink> chosen;
  for (auto& link : *links) {
    if (!matches(link)) continue;
    if (link->failed_recently(now) || link->busy_for(now) > kStalledAfter) continue;
    if (!best || link->in_flight() < best->in_flight()) {
      best = link.get();
      chosen = link;
      if (best->in_flight() == 0) break;
    }
  }
  return chosen;
}

void SharedLinks::retire(const std::vector<std::shared_ptr<ServerPool>>& pools) {
  std::vector<std::shared_ptr<SharedLink>> retired;
  {
    std::lock_guard lock(mutex_);
    for (auto it = links_.begin(); it != links_.end();) {
      bool stale = std::any_of(pools.begin(), pools.end(),
                               [&](const auto& pool) { return pool.get() == it->first.second; });
      if (!stale) {
        ++it;
        continue;
      }
      retired.insert(retired.end(), it->second->begin(), it->second->end());
      it = links_.erase(it);
    }
  }
  for (auto& link : retired) {
    auto executor = link->executor();
    asio::co_spawn(
        executor,
        [link = std::move(link)]() -> awaitable<void> {
          asio::steady_timer timer(link->executor());
          while (link->in_flight() > 0) {
            timer.expires_after(std::chrono::milliseconds(10));
            error_code ignored;
            co_await timer.async_wait(asio::redirect_error(use_awaitable, ignored));
          }
          link->close("its backend was removed from the configuration");
        },
        asio::detached);
  }
}

void SharedLinks::close_all() {
  std::map<Key, std::shared_ptr<Links>> links;
  {
    std::lock_guard lock(mutex_);
    links.swap(links_);
  }
  for (auto& [key, list] : links) {
    for (auto& link : *list) {
      // Each on its own worker, where its handlers run.
      asio::post(link->executor(), [link] { link->close("the proxy is shutting down"); });
    }
  }
}

}  // namespace plexi::mysql
