// The relay front's session state: a client's messages forwarded to pooled server
// connections chosen per transaction by the router, and the answers relayed back, with what
// pooling and routing must remember between transactions.
#pragma once

#include <spdlog/spdlog.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/socket_io.h"
#include "pools/pg/server_pool.h"
#include "protocol/pg/decoder.h"
#include "protocol/pg/session.h"
#include "protocol/pg/statement.h"
#include "routing/cluster_routing.h"
#include "routing/result_cache.h"

namespace plexi::pg {

// What the relay expects back for each request it forwarded, in order.
struct Pending {
  enum class Kind {
    kQuery,          // simple Query or FunctionCall: everything up to ReadyForQuery
    kSync,           // up to ReadyForQuery
    kParse,          // ParseComplete
    kInternalParse,  // ParseComplete of a Parse the proxy added: not shown to the client
    kBind,           // BindComplete
    kDescribe,       // ParameterDescription, then RowDescription or NoData
    kExecute,        // rows, then CommandComplete, EmptyQueryResponse or PortalSuspended
    kClose,          // CloseComplete
    kSynthetic,      // an answer the proxy gives itself, sent when its turn comes
    kReplay,         // settings replayed on a new server: swallowed up to ReadyForQuery
    kWalPosition,    // the proxy's pg_current_wal_lsn(): swallowed up to ReadyForQuery
  };
  Kind kind;
  ByteVector synthetic;
  std::string prepared_name;            // kParse, kInternalParse: forget it on failure
  std::vector<SettingChange> settings;  // kQuery, kExecute: applied when they succeed
  bool discards_prepared = false;
  // kQuery, kExecute: what the metrics count when the statement completes. arrived_at stays
  // zero when nothing is measured (metrics off).
  pools::Clock::time_point arrived_at{};
  std::int64_t rows = -1;  // summed from command tags; -1: none reported
  bool failed = false;
  // With digests or an audit log only: the statement's text and the error it got.
  std::shared_ptr<const std::string> statement{};  // shared with the Bind it came from
  std::string error_code{};
  std::string error_message{};
  bool cache_miss = false;  // looked up in the result cache and not found there
};

// The answers a server owes, oldest first: a vector read from `head_`, so an idle session
// holds no allocation (std::deque allocates a block as soon as it exists).
class PendingQueue {
 public:
  bool empty() const { return head_ == items_.size(); }
  Pending& front() { return items_[head_]; }
  void push_back(Pending pending) { items_.push_back(std::move(pending)); }
  void push_front(Pending pending) { items_.insert(items_.begin() + head_, std::move(pending)); }
  void pop_front() {
    if (++head_ == items_.size()) {
      items_.clear();
      head_ = 0;
    }
  }

 private:
  std::vector<Pending> items_;
  std::size_t head_ = 0;
};

class Relay {
 public:
  explicit Relay(Session& session) : s_(session), log_(*session.env_.log) {}

  // Logs in on a server; true when the client is now served from readiness callbacks.
  awaitable<bool> start();
  // Goes on where the process this one took over from left the client (see Session::resume).
  void resume(const HandedSession& state);

  // Whether the client can be handed to a new process now: kReady between transactions,
  // kBusy while its requests are being handled, kNever when it holds state no other process
  // can take over (a pinned or session-pooled server connection).
  enum class Handover { kReady, kBusy, kNever };
  Handover handover_readiness() const;
  void write_handover_state(HandedSession& state) const;

 private:
  // An idle client is a pending wait on its socket and nothing else: no coroutine frame,
  // no buffer. Readiness starts a coroutine that forwards what arrived and parks again.
  void wait_for_client();
  awaitable<void> on_client_readable(error_code ec);
  // Handles what is in the input buffer, then waits for more or ends the session.
  awaitable<void> serve_input(bool more);
  // At a point where the client's coroutine has nothing under way: the session ends (or is
  // handed over) when the process is shutting down.
  awaitable<void> end_here_if_draining();
  awaitable<bool> log_in();
  // What a statement asks of routing, from its classification, hint and the cluster's
  // rules; kept with named statements, which are classified once, at Parse.
  struct Intent {
    bool read = false;
    std::optional<config::Role> role;  // asked for by a hint (which beats everything) or rule
    bool hinted = false;
    int blocked_by = -1;  // the index of the rule that refuses it
  };
  struct Statement {
    std::string proxy_name;
    std::string query;
    std::vector<std::uint32_t> types;
    std::vector<SettingChange> settings;
    Intent intent;
  };

  // --- the server and its pool ---
  void choose_backend();
  // Between transactions: when a reload happened since the session's config snapshot was
  // taken, the next transaction runs under the new one (see session_relay_routing.cc).
  void follow_reload();
  std::shared_ptr<ServerPool> pool_for(int backend);
  awaitable<bool> attach(int backend, bool at_login);
  void release();
  // Closes the attached server connection instead of reusing it.
  void discard_server();
  void unpin_count();
  bool releasable() const {
    return server_ && pending_.empty() && server_->tx_status() == TxStatus::kIdle &&
           pin_ == PinReason::kNone && mode_ != config::PoolMode::kSession && !need_wal_position_;
  }
  std::string replay_sql();
  void queue_replay();
  awaitable<bool> run_internal(const std::string& sql);

  // --- client → server ---
  awaitable<bool> forward_client_messages();
  awaitable<bool> wait_while_paused();

  // --- a read retried on another backend (session_relay_routing.cc) ---
  // Keeps the client's messages of a read that started a transaction, while nothing of
  // its answer has reached the client, so that it can be sent elsewhere.
  void capture_for_retry(const Frame& frame, Bytes raw);
  void drop_retry() { ByteVector().swap(retry_batch_); }
  enum class Retry { kRetried, kNotPossible, kSessionOver };
  awaitable<Retry> retry_read_elsewhere();
  bool handle_client_message(const Frame& frame);
  bool answer_without_server(const Frame& frame);
  void ensure_prepared(const Statement& statement);
  // A client's named statement, recorded under the name every server will know it by.
  Statement& record_statement(const ParseMessage& parse, std::vector<SettingChange> settings);
  void set_pin(PinReason reason);

  // --- routing (session_relay_routing.cc) ---
  // The backend for the request that starts with `frame`, or nullopt when the proxy has
  // answered it itself: SET plexiproxy.role, a blocked statement, a write with no primary.
  std::optional<int> route(const Frame& frame);
  Intent intent_of(std::string_view sql, const routing::Verdict& verdict) const;
  Intent intent_of(std::string_view sql);
  std::optional<int> choose_or_refuse(const Intent& intent, bool simple_query);
  // The index of the cluster's rule that refuses `sql`, or -1.
  int blocking_rule(std::string_view sql);
  std::string blocked_message(int rule) const;
  // `avoid`: a backend that just failed to connect, left out of this choice.
  int choose(const Intent& intent, std::string& error, int avoid = -1);
  // Refuses a request with an error; an extended-protocol batch is then skipped up to Sync,
  // as a server would.
  void refuse(bool simple_query, std::string_view sqlstate, const std::string& message);
  // Asks the server for the WAL position a write transaction committed at (lsn mode).
  awaitable<bool> request_wal_position();
  void record_wal_position(const Frame& data_row);
  void note_cycle_end(TxStatus status);

  // --- the result cache (session_relay_cache.cc) ---
  // A request the cache may answer: a Query, or an extended-protocol cycle of the shape
  // libpq and most drivers send (Parse? Bind Describe? Execute Sync), read ahead whole
  // from the input buffer.
  struct CacheRequest {
    std::optional<config::Duration> ttl;  // what a rule or hint asks; nullopt: nothing
    bool cacheable = false;               // a read that may be cached now
    std::uint64_t shape = 0;              // for the worker's CacheAdmission
    std::string key;
    std::vector<std::string> generation_keys;  // of the tables it reads
    std::size_t length = 0;                    // of its messages in the input buffer
    bool extended = false;
    bool parse = false;  // extended: it opens with a Parse (of the unnamed statement)
    std::string_view sql;
  };
  // The answer of a request that missed, captured as the client receives it.
  struct CacheFill {
    std::string key;
    std::vector<std::int64_t> generations;
    config::Duration ttl{0};
    ByteVector answer;
    bool spoiled = false;  // too large, failed, or it changed the session: not stored
    bool counted = false;  // its statement is marked as a miss for the digests
  };
  // True when the request at the head of the input was answered from the cache (and
  // consumed); otherwise it goes on to a server, captured for the cache on a miss.
  awaitable<bool> answer_from_cache(const Frame& frame);
  std::optional<CacheRequest> cache_request(const Frame& frame);
  // The views of the cluster (routing/view_catalog.h), untracked without them.
  routing::ViewCatalogs::Snapshot views_of_cluster() const;
  std::optional<config::Duration> cache_ttl_of(std::string_view sql,
                                               const routing::Verdict& verdict) const;
  void add_cache_key_settings(routing::CacheKey& key) const;
  routing::CacheConnection* cache_connection();
  void capture_for_cache(const Frame& frame);
  void finish_cache_fill(TxStatus status);
  // Tables a statement writes, invalidated once its transaction is over.
  void note_writes(std::string_view sql);
  void find_cache();
  // Moves the tables written by the transaction just over to invalidations_due_, which the
  // pump raises in Redis before the client hears that the transaction is over.
  void invalidate_written();
  awaitable<void> invalidate_due();
  // After a statement that may have changed views: reads the cluster's views again
  // (routing/view_catalog.h) before the client hears that its transaction is over.
  awaitable<void> read_views_again();
  void count_cache_hit(const CacheRequest& request, Bytes answer, pools::Clock::time_point started);
  bool has_cache() const { return cache_backend_ != nullptr; }

  // --- server → client ---
  // The answers are read by a second coroutine on the session's worker, so the client can
  // go on sending (COPY data, pipelined requests) and an idle pinned server can deliver
  // notifications. (Reading them inline in the client's coroutine measured slower.)
  void start_pump();
  awaitable<void> run_pump();
  awaitable<void> pump();
  bool handle_server_message(const Frame& frame, ByteVector& out);
  bool handle_wal_position_message(const Frame& frame);
  void emit_synthetic(ByteVector& out);
  void drop_until_sync();
  void finish_cycle(TxStatus status);
  void apply(const std::vector<SettingChange>& changes, std::map<std::string, std::string>& to);

  // --- what is counted (metrics) ---
  void start_statement(Pending& pending, std::shared_ptr<const std::string> sql) const;
  void start_statement(Pending& pending, std::string_view sql) const;
  void finish_statement(const Pending& done);
  // The shape of `text`, for the digests and the audit log. Statements repeat their text
  // exactly: the last one shaped on this thread is kept (a session keeps no buffer for it).
  static const routing::StatementShape& shape_of(std::string_view text);
  // The series statements served by `backend` as `role` count in: looked up again only when
  // they change, so a statement touches no lock.
  const metrics::StatementSeries& series_for(const config::Backend* backend, config::Role role);
  void audit(const Pending& done, std::chrono::nanoseconds elapsed, config::Role role,
             std::string_view shape);
  bool auditing() const { return !s_.config_->log.audit.file.empty(); }
  bool digesting() const { return s_.env_.digests && s_.config_->digest.enabled; }
  // The statement's text is kept until it completes (for the digests and the audit log).
  bool keeps_text() const { return auditing() || digesting(); }
  void count_error(metrics::Error kind) const { s_.env_.metrics.error(kind); }
  void count_bytes(metrics::Direction direction, std::size_t n) const {
    if (s_.env_.metrics.enabled()) s_.env_.metrics.bytes(direction, n);
  }

  awaitable<void> stop_pump();
  awaitable<void> wait_for_pump();  // until it has ended by itself
  awaitable<void> teardown();

  Session& s_;
  spdlog::logger& log_;
  config::PoolMode mode_ = config::PoolMode::kTransaction;
  const config::Backend* backend_ = nullptr;
  std::shared_ptr<ServerPool> pool_;
  ServerPool::Lease server_;

  PendingQueue pending_;
  ByteVector to_server_;
  bool pump_running_ = false;
  bool writing_to_server_ = false;
  bool stopping_ = false;
  bool server_failed_ = false;
  // The client's coroutine is under way (a read of its bytes may be complete but not yet
  // seen): the client's socket must not be handed over.
  bool client_busy_ = false;
  asio::steady_timer* pump_stopped_ = nullptr;  // set while wait_for_pump() waits

  // Routing; null for a cluster with one backend, where every request goes to it.
  std::shared_ptr<routing::ClusterRouting> routing_;
  std::vector<std::shared_ptr<ServerPool>> pools_;  // by backend index, opened on first use
  int backend_index_ = 0;                           // of backend_
  std::optional<config::Role> role_override_;       // SET plexiproxy.role
  Intent last_intent_;                              // of the request being attached
  bool cycle_writes_ = false;                       // the attached server was chosen for a write
  bool need_wal_position_ = false;  // the write committed; its position is not asked yet
  bool skipping_until_sync_ = false;
  ByteVector retry_batch_;  // see capture_for_retry()
  // Where the batch being forwarded stands for a retry: not a candidate, a request cycle
  // being captured, or one captured whole (anything after it makes the batch ineligible).
  enum class Capture { kOff, kOpen, kCycleEnded };
  Capture capture_ = Capture::kOff;
  bool retrying_ = false;                // retry_read_elsewhere() is under way
  bool retry_after_error_ = false;       // the server said it is going away before answering
  std::uint64_t written_lsn_ = 0;        // read-your-writes (lsn): the client's last commit
  pools::Clock::time_point wrote_at_{};  // read-your-writes (window)

  PinReason pin_ = PinReason::kNone;
  ServerPool* pinned_in_ = nullptr;              // the pool whose pinned count this session raised
  std::map<std::string, std::string> settings_;  // name → SQL that sets it
  std::map<std::string, std::string> startup_settings_;  // what RESET returns to
  std::vector<SettingChange> tx_settings_;               // applied in the open transaction
  bool cycle_failed_ = false;                            // an error since the last ReadyForQuery
  bool saw_rollback_ = false;
  bool tx_failed_ = false;

  // What a client of the extended protocol has named; allocated at its first use, since
  // an idle client should not carry empty maps.
  struct Extended {
    std::unordered_map<std::string, Statement> statements;
    std::vector<SettingChange> unnamed_statement_settings;
    std::unordered_map<std::string, std::vector<SettingChange>> portal_settings;
    // With digests or an audit log only: the text an Execute runs (of the last Bind).
    std::shared_ptr<const std::string> unnamed_query;
    std::shared_ptr<const std::string> bound_query;
  };
  Extended& extended() {
    if (!extended_) extended_ = std::make_unique<Extended>();
    return *extended_;
  }
  std::unique_ptr<Extended> extended_;

  // The series of the last (backend, role) a statement completed on: looked up again only
  // when that changes, so an idle session keeps two pointers, not a table.
  const metrics::StatementSeries* series_ = nullptr;
  const config::Backend* series_backend_ = nullptr;
  config::Role series_role_ = config::Role::kPrimary;
  prometheus::Histogram* pool_wait_ = nullptr;

  // The result cache: the cluster's cache backend (null: none, or no cache in this
  // process), the classifier that finds the tables statements read and write (routing_'s;
  // also in session mode, whose writes invalidate too), this worker's connection to the
  // cache, the answer being captured, and the tables written in the open transaction.
  const config::Backend* cache_backend_ = nullptr;
  std::shared_ptr<routing::ClusterRouting> cache_routing_;
  std::shared_ptr<routing::CacheConnection> cache_;
  std::unique_ptr<CacheFill> cache_fill_;
  std::vector<std::string> written_tables_;
  bool views_changed_ = false;     // the transaction may have changed views (Analysis)
  bool views_reread_due_ = false;  // it is over: the cluster's views are to be read again
  std::vector<std::string> invalidations_due_;
};

}  // namespace plexi::pg
