// Where the relay sends each transaction: the statement that starts it is classified (once
// per shape), hints, SET plexiproxy.role and the cluster's rules are applied, read-your-writes
// is honoured, and the router picks a backend from the health monitor's latest snapshot.
#include <array>
#include <limits>

#include "protocol/pg/encoder.h"
#include "protocol/pg/session_relay.h"
#include "routing/backend_choice.h"
#include "routing/backend_health.h"
#include "routing/pg_check.h"

namespace plexi::pg {
namespace {

using routing::Want;
using routing::want_of;

// A statement string that is nothing but SET/RESET plexiproxy.role: the proxy's own setting,
// answered without a server.
bool only_sets_role(std::string_view shape) {
  auto starts = [&](std::string_view prefix) {
    if (shape.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
      if (std::toupper(static_cast<unsigned char>(shape[i])) != prefix[i]) return false;
    }
    return true;
  };
  if (!starts("SET PLEXIPROXY.ROLE") && !starts("RESET PLEXIPROXY.ROLE")) return false;
  auto semicolon = shape.find(';');
  return semicolon == std::string_view::npos ||
         shape.find_first_not_of(" ;", semicolon) == std::string_view::npos;
}

}  // namespace

// A reload reaches running clients here, between their transactions: the next one is
// routed among the new config's backends (an added replica takes this client's reads, a
// removed backend gets none; the pools of the old one drain), with its rules and pool mode.
// A client whose cluster the reload removed, or turned into another kind, goes on under its
// old snapshot until it leaves; one whose user it removed keeps that user, as PgBouncer
// lets such sessions run until they end (its new logins are refused).
void Relay::follow_reload() {
  if (!s_.env_.reloaded_since(s_.config_generation_)) return;
  std::string last_backend = backend_->name;
  auto latest = s_.env_.config();
  auto previous = s_.config_;  // freed (when this was the last user) outside the lock
  {
    // describe() reads the cluster from the admin console's thread.
    std::lock_guard lock(s_.cancel_lock_);
    bool adopted =
        config::adopt(latest, {s_.config_, s_.cluster_, s_.config_user_, s_.user_config_});
    if (!adopted) return;
  }
  const config::Cluster* cluster = s_.cluster_;
  mode_ = s_.config_user_ && s_.config_user_->pool_mode ? *s_.config_user_->pool_mode
                                                        : cluster->pool_mode;
  backend_index_ = routing::configured_primary(*cluster);
  for (std::size_t i = 0; i < cluster->backends.size(); ++i) {
    if (cluster->backends[i].name == last_backend) backend_index_ = static_cast<int>(i);
  }
  backend_ = &cluster->backends[static_cast<std::size_t>(backend_index_)];
  pools_.assign(cluster->backends.size(), nullptr);
  pool_ = pool_for(backend_index_);
  routing_.reset();
  if (cluster->backends.size() > 1 && mode_ != config::PoolMode::kSession) {
    routing_ = s_.env_.routing.cluster(s_.config_, *cluster);
  }
  find_cache();
  series_ = nullptr;
  series_backend_ = nullptr;
  // Named statements were classified under the old rules.
  if (extended_) {
    for (auto& [name, statement] : extended_->statements)
      statement.intent = intent_of(statement.query);
  }
}

Relay::Intent Relay::intent_of(std::string_view sql, const routing::Verdict& verdict) const {
  Intent intent;
  intent.read = verdict.read;
  if (verdict.hint.role) {
    intent.role = verdict.hint.role;
    intent.hinted = true;
  } else if (routing_->has_rules()) {
    if (auto match = routing_->match(sql, verdict.shape, verdict.digest)) {
      if (match->rule->block) {
        intent.blocked_by = match->index;
      } else if (match->rule->role) {
        intent.role = match->rule->role;
      }
    }
  }
  return intent;
}

Relay::Intent Relay::intent_of(std::string_view sql) {
  if (!routing_) return {};
  return intent_of(sql, routing_->classifier().classify(sql));
}

std::optional<int> Relay::route(const Frame& frame) {
  if (!routing_) return backend_index_;
  Intent intent;
  bool simple = false;
  switch (frame.type) {
    case frontend::kQuery: {
      auto sql = parse_query(frame.body);
      if (!sql) return backend_index_;  // the message is refused when it is handled
      simple = true;
      auto verdict = routing_->classifier().classify(*sql);
      if (!verdict.setting_error.empty()) {
        refuse(true, "22023", verdict.setting_error);
        return std::nullopt;
      }
      if (verdict.set_role) role_override_ = verdict.set_role;
      if (verdict.reset_role) role_override_.reset();
      if ((verdict.set_role || verdict.reset_role) && only_sets_role(verdict.shape)) {
        encode_command_complete(s_.output_, verdict.set_role ? "SET" : "RESET");
        encode_ready_for_query(s_.output_, TxStatus::kIdle);
        return std::nullopt;
      }
      intent = intent_of(*sql, verdict);
      break;
    }
    case frontend::kParse: {
      auto parse = parse_parse(frame.body);
      if (!parse) return backend_index_;
      intent = intent_of(parse->query);
      break;
    }
    case frontend::kBind: {
      auto bind = parse_bind_names(frame.body);
      if (!bind || bind->statement.empty() || !extended_) return choose_or_refuse(Intent{}, false);
      auto it = extended_->statements.find(std::string(bind->statement));
      if (it != extended_->statements.end()) intent = it->second.intent;
      break;
    }
    case frontend::kDescribe: {
      auto describe = parse_describe(frame.body);
      if (describe && describe->kind == 'S' && extended_) {
        auto it = extended_->statements.find(std::string(describe->name));
        if (it != extended_->statements.end()) intent = it->second.intent;
      }
      break;
    }
    default:
      break;
  }
  if (cache_fill_ && !intent.role && intent.blocked_by < 0) {
    // A read the cache missed is answered where writes go: a replica may not have replayed
    // a write whose invalidation is already done, and its answer would be stored as
    // current. With no write target it goes to a replica as usual, and is not stored.
    Intent where_writes_go = intent;
    where_writes_go.role = config::Role::kPrimary;
    std::string error;
    if (choose(where_writes_go, error) >= 0) {
      intent = where_writes_go;
    } else {
      cache_fill_.reset();
    }
  }
  return choose_or_refuse(intent, simple);
}

int Relay::blocking_rule(std::string_view sql) {
  if (!routing_ || !routing_->has_rules()) return -1;
  return intent_of(sql).blocked_by;
}

std::string Relay::blocked_message(int rule) const {
  return "plexiproxy: statement refused by rule " + std::to_string(rule + 1) + " of cluster \"" +
         s_.cluster_->name + "\"";
}

std::optional<int> Relay::choose_or_refuse(const Intent& intent, bool simple_query) {
  if (intent.blocked_by >= 0) {
    count_error(metrics::Error::kRefusedByRule);
    refuse(simple_query, "42501", blocked_message(intent.blocked_by));
    return std::nullopt;
  }
  std::string error;
  int backend = choose(intent, error);
  last_intent_ = intent;
  if (backend < 0) {
    count_error(metrics::Error::kNoWriteTarget);
    refuse(simple_query, "25006", "plexiproxy: " + error);
    return std::nullopt;
  }
  return backend;
}

int Relay::choose(const Intent& intent, std::string& error, int avoid) {
  const config::Cluster& cluster = *s_.cluster_;
  Want want = intent.read ? Want::kRead : Want::kWrite;
  // A hint beats SET plexiproxy.role, which beats a rule, which beats classification.
  std::optional<config::Role> role = intent.role;
  if (role_override_ && !intent.hinted) role = role_override_;
  if (role) want = want_of(*role);
  // What read-your-writes follows: a write sent to the primary, not a read sent there.
  bool writes = want == Want::kWrite && !intent.read;

  std::uint64_t min_lsn = 0;
  if (want == Want::kRead) {
    switch (cluster.read_your_writes) {
      case config::ReadYourWrites::kLsn:
        min_lsn = written_lsn_;
        break;
      case config::ReadYourWrites::kWindow:
        if (pools::Clock::now() - wrote_at_ < cluster.read_your_writes_window) {
          want = Want::kWrite;
        }
        break;
      case config::ReadYourWrites::kOff:
        break;
    }
  }
  auto health = s_.env_.health ? s_.env_.health(cluster.name) : nullptr;
  auto choice = routing::choose_backend(routing_->router(), *s_.config_, cluster, health.get(),
                                        s_.env_.traffic, {want, min_lsn, avoid});
  if (choice.backend < 0) {
    error = choice.error;
    return -1;
  }
  cycle_writes_ = writes;
  return choice.backend;
}

void Relay::refuse(bool simple_query, std::string_view sqlstate, const std::string& message) {
  encode_error(s_.output_, "ERROR", sqlstate, message);
  if (simple_query) {
    encode_ready_for_query(s_.output_, TxStatus::kIdle);
  } else {
    skipping_until_sync_ = true;
  }
}

// A write transaction ended: remember when (window) or ask where (lsn) it committed.
void Relay::note_cycle_end(TxStatus status) {
  if (!routing_ || !cycle_writes_ || status != TxStatus::kIdle) return;
  switch (s_.cluster_->read_your_writes) {
    case config::ReadYourWrites::kLsn:
      need_wal_position_ = true;
      break;
    case config::ReadYourWrites::kWindow:
      wrote_at_ = pools::Clock::now();
      break;
    case config::ReadYourWrites::kOff:
      break;
  }
}

void Relay::capture_for_retry(const Frame& frame, Bytes raw) {
  // One request cycle only (a Query, or extended messages up to Sync): a later request in
  // the same batch may write, and a write must never run twice. COPY and function calls
  // are not retried.
  bool retriable = false;
  switch (frame.type) {
    case frontend::kQuery:
    case frontend::kParse:
    case frontend::kBind:
    case frontend::kDescribe:
    case frontend::kExecute:
    case frontend::kSync:
    case frontend::kFlush:
      retriable = true;
      break;
    default:
      break;
  }
  if (capture_ == Capture::kCycleEnded || !retriable) {
    capture_ = Capture::kOff;
    drop_retry();
    return;
  }
  append_bytes(retry_batch_, raw);
  if (frame.type == frontend::kQuery || frame.type == frontend::kSync) {
    capture_ = Capture::kCycleEnded;
  }
}

awaitable<Relay::Retry> Relay::retry_read_elsewhere() {
  ByteVector frames;
  frames.swap(retry_batch_);
  const int failed = backend_index_;
  const std::string failed_name = backend_->name;
  server_->mark_broken();
  std::string error;
  int other = choose(last_intent_, error, failed);
  if (other < 0 || other == failed) co_return Retry::kNotPossible;
  log_.warn("backend {} failed before answering a read; sending it to backend {}", failed_name,
            s_.cluster_->backends[static_cast<std::size_t>(other)].name);
  retrying_ = true;
  discard_server();
  pending_ = PendingQueue();
  to_server_.clear();
  server_failed_ = false;
  bool attached = co_await attach(other, false);
  retrying_ = false;
  if (!attached) co_return Retry::kSessionOver;
  if (!s_.input_.readable().empty()) {
    // The client sent more meanwhile; it cannot be put in order with the retried read.
    server_failed_ = true;
    co_await s_.fatal("08006", "server connection lost");
    co_return Retry::kSessionOver;
  }
  Bytes rest = frames;
  while (!rest.empty()) {
    auto decoded = decode_frame(rest);
    if (decoded.status != DecodeStatus::kOk) break;
    handle_client_message(decoded.message);
    rest = rest.subspan(decoded.consumed);
  }
  ByteVector batch;
  batch.swap(to_server_);
  error_code ec;
  bool sent = co_await write_all(server_->socket(), batch, ec);
  if (!sent) {
    server_->mark_broken();
    server_failed_ = true;
    co_await s_.fatal("08006", "server connection lost");
    co_return Retry::kSessionOver;
  }
  co_return Retry::kRetried;
}

awaitable<bool> Relay::request_wal_position() {
  need_wal_position_ = false;
  ByteVector out;
  encode_query(out, "SELECT pg_catalog.pg_current_wal_insert_lsn()");
  pending_.push_back({Pending::Kind::kWalPosition, {}, {}, {}, false});
  error_code ec;
  bool sent = co_await write_all(server_->socket(), out, ec);
  if (!sent) {
    server_->mark_broken();
    server_failed_ = true;
  }
  co_return sent;
}

// The answer to request_wal_position(): swallowed, its one value kept.
bool Relay::handle_wal_position_message(const Frame& frame) {
  switch (frame.type) {
    case backend::kDataRow:
      record_wal_position(frame);
      break;
    case backend::kErrorResponse: {
      auto fields = parse_error_fields(frame.body);
      log_.warn("backend {}: reading the WAL position failed: {}", backend_->name,
                fields ? fields->message : "?");
      // Unknown: the client's reads stay on the primary until its next write succeeds.
      written_lsn_ = std::numeric_limits<std::uint64_t>::max();
      break;
    }
    case backend::kReadyForQuery:
      if (auto status = parse_ready_for_query(frame.body)) server_->set_tx_status(*status);
      pending_.pop_front();
      break;
    default:
      break;
  }
  return true;
}

void Relay::record_wal_position(const Frame& data_row) {
  // DataRow: a column count, then each column's length and bytes.
  Bytes body = data_row.body;
  if (body.size() < 6 || read_i16be(body.data()) < 1) return;
  std::int32_t length = read_i32be(body.data() + 2);
  if (length < 0 || static_cast<std::size_t>(length) > body.size() - 6) return;
  std::string_view text(reinterpret_cast<const char*>(body.data() + 6),
                        static_cast<std::size_t>(length));
  if (auto lsn = routing::parse_lsn(text)) {
    // At the start of a WAL page the insert position points past the page header, where no
    // record ends and no replica will ever report having replayed to; the last record ends
    // at the header's start (16 MiB segments, 8 kB pages: PostgreSQL's defaults).
    constexpr std::uint64_t kPage = 8192, kSegment = 16u << 20;
    constexpr std::uint64_t kShortHeader = 24, kLongHeader = 40;
    std::uint64_t position = *lsn;
    if (position % kSegment == kLongHeader) {
      position -= kLongHeader;
    } else if (position % kPage == kShortHeader) {
      position -= kShortHeader;
    }
    written_lsn_ = position;
  }
}

}  // namespace plexi::pg
