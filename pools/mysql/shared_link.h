// A server connection that many clients of one worker use at once for statements that leave
// nothing behind on it (autocommit reads with no session state): their commands are written
// back to back, in batches, and the server, which answers a connection's commands in order,
// sends responses that are handed back in the same order. What would be a round trip per
// client and per statement becomes one write and one read for many.
//
// A slow statement delays those queued behind it on the same link; a link whose server has
// been on one command for more than a few milliseconds takes no new ones (they go through
// the pool as usual), which bounds that delay to what was queued before it was noticed.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/asio.h"
#include "common/bytes.h"
#include "common/waker.h"
#include "pools/mysql/server_pool.h"
#include "protocol/mysql/response.h"

namespace plexi::mysql {

// One command on a shared link and its response as it arrives. The session that sends it
// owns it and waits for it to complete.
struct Exchange {
  explicit Exchange(const asio::any_io_executor& executor) : ready(executor) {}

  ResponseTracker tracker;
  ByteVector response;  // packets received and not yet taken by the session
  std::uint8_t next_sequence = 0;  // the client's next packet continues the server's
  bool complete = false;
  std::string error;      // the link failed before the response was complete
  bool discard = false;   // the session's client is gone: later packets are dropped
  Waker ready;  // the session waits on it: complete, failed, or a piece to pass on
};

class SharedLink : public std::enable_shared_from_this<SharedLink> {
 public:
  // What a link's connection is set to: logged in to `schema`, with `settings` applied (the
  // SQL after SET of each, as the relay tracks them) and multiple statements per query on or
  // off. Connections of the pool that another client changed otherwise are not used.
  struct SessionState {
    std::string schema;
    SessionSettings settings;
    bool multi_statements = true;
    bool operator==(const SessionState&) const = default;
  };
  SharedLink(asio::any_io_executor executor, std::shared_ptr<ServerPool> pool,
             SessionState state);
  ~SharedLink();
  SharedLink(const SharedLink&) = delete;
  SharedLink& operator=(const SharedLink&) = delete;

  const asio::any_io_executor& executor() const { return executor_; }
  const SessionState& state() const { return session_; }
  // The server's id of the connection's thread (0 before it is connected).
  std::uint32_t thread_id() const { return lease_ ? lease_->thread_id() : 0; }
  // Whether the server is working on `exchange`'s command now: it is the oldest unanswered.
  bool running(const Exchange* exchange) const {
    return state_ == State::kReady && !in_flight_.empty() && in_flight_.front().exchange == exchange;
  }
  // Commands sent and not answered yet.
  std::size_t in_flight() const { return in_flight_.size(); }
  // How long the server has been working on the oldest unanswered command: since it was
  // sent, or since the response before it was complete (zero when there is none).
  pools::Clock::duration busy_for(pools::Clock::time_point now) const;
  bool failed_recently(pools::Clock::time_point now) const;
  // No command waits and none was sent for a while.
  bool idle_since(pools::Clock::time_point moment) const {
    return in_flight_.empty() && last_sent_ < moment;
  }

  // Queues `command` (one payload, sent at sequence 0) and the exchange its response goes to
  // with `shape`; connects first when there is no connection. The bytes go out after the
  // current handler, with everything else queued by then.
  void send(Bytes command, ResponseTracker::Shape shape, Exchange& exchange);
  // The session passed a piece of its response on to its client.
  void chunk_taken() { drained_.wake(); }
  // Queues a command that has no response (COM_STMT_CLOSE).
  void send_unanswered(Bytes command);

  // A statement prepared on this connection, by its text.
  const ServerStatement* statement(const std::string& sql);
  // Records a statement a session prepared here. When the text is known already (another
  // session prepared it meanwhile) the new one is closed and the known one returned.
  const ServerStatement* adopt_statement(const std::string& sql, const PrepareOk& ok);

  void close(const std::string& why);

 private:
  struct Pending {
    Exchange* exchange;
    ResponseTracker::Shape shape;
    pools::Clock::time_point sent_at;
  };
  enum class State { kIdle, kConnecting, kReady };

  awaitable<void> connect_and_read();
  // A connection of the pool in the link's state; false when there is none.
  awaitable<bool> take_connection(std::uint64_t generation, std::string& error);
  // Hands the packets in `input` to the exchanges they answer; false on a protocol error.
  bool take_responses(ReadBuffer& input, std::string& error);
  void schedule_write();
  void write_pending();
  void fail(const std::string& why);

  asio::any_io_executor executor_;
  std::shared_ptr<ServerPool> pool_;
  SessionState session_;
  ServerPool::Lease lease_;
  State state_ = State::kIdle;
  std::uint64_t generation_ = 0;  // of the connection; handlers of an older one stand down
  ByteVector pending_;            // queued, not yet handed to the socket
  ByteVector writing_;
  bool write_scheduled_ = false;
  bool writing_now_ = false;
  std::deque<Pending> in_flight_;
  pools::Clock::time_point last_answered_{};
  pools::Clock::time_point last_sent_{};
  Waker drained_;  // the reader waits on it while a session takes a chunk
  pools::Clock::time_point failed_at_{};
};

// The shared links of the process: a few per (worker, pool), found by that worker's sessions.
class SharedLinks {
 public:
  // A link of `worker` (the calling session's executor) to `pool`'s server in `state`, fit
  // for one more command: the one with the fewest waiting, or null when each is stalled
  // behind a slow statement or failed moments ago, or when the pool is too small to share or
  // its share is taken by links in another state.
  std::shared_ptr<SharedLink> pick(const asio::any_io_executor& worker,
                                   const std::shared_ptr<ServerPool>& pool, int pool_size,
                                   const SharedLink::SessionState& state);
  // Forgets the links of `pools` (a reload retired them); each closes once the statements
  // it runs have been answered.
  void retire(const std::vector<std::shared_ptr<ServerPool>>& pools);
  // Closes every link (shutdown).
  void close_all();

 private:
  using Key = std::pair<const void*, const ServerPool*>;
  using Links = std::vector<std::shared_ptr<SharedLink>>;
  std::mutex mutex_;
  // Each list is used by its worker alone; the lock guards the map.
  std::map<Key, std::shared_ptr<Links>> links_;
};

}  // namespace plexi::mysql
