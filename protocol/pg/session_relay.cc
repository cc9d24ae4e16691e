// The relay front: a client's messages forwarded to a pooled server connection and the
// answers forwarded back, parsing only what pooling needs. In transaction mode the server
// goes back to the pool at every idle ReadyForQuery; named prepared statements, session
// settings and cancel keys are carried over to whichever server the client gets next.
#include "protocol/pg/session_relay.h"

#include "protocol/pg/encoder.h"
#include "routing/backend_choice.h"
#include "routing/statement_shape.h"

namespace plexi::pg {
namespace {

// A server's error or warning that means the server is going away (shut down, crashed, in
// recovery restart) rather than that the statement failed.
bool server_going_away(const Frame& error) {
  auto fields = parse_error_fields(error.body);
  if (!fields) return false;
  const std::string& code = fields->code;
  return code == "57P01" || code == "57P02" || code == "57P03" || code.starts_with("08");
}

bool ends_connection(const Frame& error) {
  auto fields = parse_error_fields(error.body);
  return fields && (fields->severity == "FATAL" || fields->severity == "PANIC");
}

bool ends_at_ready_for_query(Pending::Kind kind) {
  return kind == Pending::Kind::kQuery || kind == Pending::Kind::kSync ||
         kind == Pending::Kind::kReplay || kind == Pending::Kind::kWalPosition;
}

std::string quote_literal(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

// The SQL that gives a server one of the client's settings.
std::string set_statement(const std::string& name, const std::string& value_sql) {
  return "SET " + quote_identifier(name) + " TO " + value_sql;
}
std::string startup_statement(const std::string& name, const std::string& value) {
  return "SELECT pg_catalog.set_config(" + quote_literal(name) + ", " + quote_literal(value) +
         ", false)";
}

// A statement name that is the same on every server for the same text and types, so a
// server that already has it need not prepare it again.
std::string proxy_statement_name(std::string_view query, const std::vector<std::uint32_t>& types) {
  std::uint64_t hash = 1469598103934665603ull;  // FNV-1a
  auto mix = [&hash](unsigned char c) {
    hash ^= c;
    hash *= 1099511628211ull;
  };
  for (char c : query) mix(static_cast<unsigned char>(c));
  for (auto type : types) {
    for (int shift = 0; shift < 32; shift += 8) mix(static_cast<unsigned char>(type >> shift));
  }
  char name[32];
  std::snprintf(name, sizeof(name), "plexi_%016llx", static_cast<unsigned long long>(hash));
  return name;
}

}  // namespace

void Relay::choose_backend() {
  const config::Cluster& cluster = *s_.cluster_;
  // Logins (and session-mode clients) use the configured primary.
  backend_index_ = routing::configured_primary(cluster);
  backend_ = &cluster.backends[static_cast<std::size_t>(backend_index_)];
  mode_ = cluster.pool_mode;
  if (s_.config_user_ && s_.config_user_->pool_mode) mode_ = *s_.config_user_->pool_mode;
  pools_.resize(cluster.backends.size());
  pool_ = pool_for(backend_index_);
  if (cluster.backends.size() > 1 && mode_ != config::PoolMode::kSession) {
    routing_ = s_.env_.routing.cluster(s_.config_, cluster);
    // Log in where writes go now (the configured primary may have failed over), or on a
    // replica when no backend takes writes.
    std::string error;
    int backend = choose(Intent{}, error);
    if (backend < 0) {
      Intent read;
      read.read = true;
      backend = choose(read, error);
    }
    if (backend >= 0) backend_index_ = backend;
    cycle_writes_ = false;
  }
  backend_ = &cluster.backends[static_cast<std::size_t>(backend_index_)];
  pool_ = pool_for(backend_index_);
  find_cache();
}

std::shared_ptr<ServerPool> Relay::pool_for(int index) {
  auto& pool = pools_[static_cast<std::size_t>(index)];
  if (pool) return pool;
  const config::Cluster& cluster = *s_.cluster_;
  const config::Backend& backend = cluster.backends[static_cast<std::size_t>(index)];
  ServerAddress address;
  address.host = backend.host;
  address.port = backend.port;
  address.database = backend.database.empty() ? cluster.name : backend.database;
  address.connect_timeout = backend.pool.connect_timeout;
  address.tls = pools::tls_target(backend);
  if (!backend.username.empty()) {
    address.user = backend.username;
    address.password = backend.password;
  } else {
    address.user = s_.user_;
    address.password = s_.client_password_;
    address.scram_keys = s_.client_scram_keys_;
  }
  pool = s_.env_.pools.postgres_pool(
      {cluster.name, backend.name, address.user, address.database, {}}, address, backend);
  return pool;
}

awaitable<bool> Relay::attach(int backend, bool at_login) {
  backend_index_ = backend;
  backend_ = &s_.cluster_->backends[static_cast<std::size_t>(backend)];
  pool_ = pool_for(backend);
  std::string error;
  bool timed = s_.env_.metrics.enabled();
  auto asked_at = timed ? pools::Clock::now() : pools::Clock::time_point{};
  server_ = co_await pool_->acquire(error);
  if (!server_ && routing_ && !at_login && error != "query_wait_timeout") {
    count_error(metrics::Error::kBackendConnect);
    // Before anything reached the server, another backend may take the request: a replica
    // that died before the health monitor noticed costs the client nothing.
    log_.warn("cannot connect to backend {} ({}:{}): {}; trying another", backend_->name,
              backend_->host, backend_->port, error);
    std::string choice_error;
    int other = choose(last_intent_, choice_error, backend);
    if (other >= 0 && other != backend) {
      backend_index_ = other;
      backend_ = &s_.cluster_->backends[static_cast<std::size_t>(other)];
      pool_ = pool_for(other);
      server_ = co_await pool_->acquire(error);
    }
  }
  if (!server_) {
    if (error == "query_wait_timeout") {
      count_error(metrics::Error::kPoolTimeout);
      co_await s_.fatal("53300", "query_wait_timeout: no server connection became free in time");
    } else {
      count_error(metrics::Error::kBackendConnect);
      log_.warn("cannot connect to backend {} ({}:{}): {}", backend_->name, backend_->host,
                backend_->port, error);
      co_await s_.fatal("08006", "plexiproxy: cannot connect to server: " + error);
    }
    co_return false;
  }
  if (timed) {
    if (!pool_wait_) pool_wait_ = &s_.env_.metrics.pool_wait(s_.cluster_->name);
    pool_wait_->Observe(std::chrono::duration<double>(pools::Clock::now() - asked_at).count());
  }
  if (routing_) routing_->router().started(backend_index_);
  server_->set_busy(true);
  // A connection last used on another worker moves to this one, so its I/O completes here.
  server_->move_to(s_.socket_.get_executor());
  s_.set_server_cancel_key(Session::ServerCancelKey{server_->endpoint(), server_->backend_pid(),
                                                    server_->backend_secret()},
                           backend_);
  if (!at_login) queue_replay();
  co_return true;
}

void Relay::unpin_count() {
  if (!pinned_in_) return;
  pinned_in_->add_pinned(-1);
  pinned_in_ = nullptr;
}

void Relay::release() {
  drop_retry();
  unpin_count();
  s_.set_server_cancel_key(std::nullopt);
  if (routing_) routing_->router().finished(backend_index_);
  server_->set_busy(false);
  server_.reset();
  cycle_writes_ = false;
  s_.phase_ = Phase::kIdle;
}

void Relay::discard_server() {
  if (!server_) return;
  unpin_count();
  s_.set_server_cancel_key(std::nullopt);
  if (routing_) routing_->router().finished(backend_index_);
  server_.discard();
  cycle_writes_ = false;
}

// SQL that makes the attached server's settings the client's (empty when they match);
// the server is recorded as having them.
std::string Relay::replay_sql() {
  auto& server_settings = server_->settings();
  if (server_settings == settings_) return {};
  std::string sql;
  for (const auto& [name, statement] : server_settings) {
    if (!settings_.count(name)) sql += "RESET " + quote_identifier(name) + ";";
  }
  for (const auto& [name, statement] : settings_) {
    auto it = server_settings.find(name);
    if (it == server_settings.end() || it->second != statement) sql += statement + ";";
  }
  server_settings = settings_;
  return sql;
}

// Replays settings ahead of the client's own requests, in the same write.
void Relay::queue_replay() {
  std::string sql = replay_sql();
  if (sql.empty()) return;
  encode_query(to_server_, sql);
  pending_.push_back({Pending::Kind::kReplay, {}, {}, {}, false});
}

// A request of the proxy's own on an attached server with no pump running.
awaitable<bool> Relay::run_internal(const std::string& sql) {
  ByteVector out;
  encode_query(out, sql);
  error_code ec;
  bool sent = co_await write_all(server_->socket(), out, ec);
  if (!sent) co_return false;
  bool ok = true;
  while (true) {
    auto decoded = decode_frame(server_->input().readable());
    if (decoded.status == DecodeStatus::kError) co_return false;
    if (decoded.status == DecodeStatus::kNeedMore) {
      std::size_t received = co_await read_some(server_->socket(), server_->input(), ec);
      if (received == 0) co_return false;
      continue;
    }
    const Frame& frame = decoded.message;
    if (frame.type == backend::kParameterStatus) {
      if (auto status = parse_parameter_status(frame.body)) {
        server_->reported()[std::string(status->first)] = std::string(status->second);
      }
    } else if (frame.type == backend::kErrorResponse) {
      auto fields = parse_error_fields(frame.body);
      // The SQL replays the client's settings, whose values may be secrets.
      log_.warn("backend {}: {} failed: {}", backend_->name,
                s_.config_->log.statements ? "\"" + sql + "\""
                                           : std::string("replaying settings or the reset query"),
                fields ? fields->message : "?");
      ok = false;
    } else if (frame.type == backend::kReadyForQuery) {
      if (auto status = parse_ready_for_query(frame.body)) server_->set_tx_status(*status);
      server_->input().consume(decoded.consumed);
      co_return ok;
    }
    server_->input().consume(decoded.consumed);
  }
}

awaitable<bool> Relay::start() {
  bool logged_in = co_await log_in();
  if (!logged_in) {
    co_await teardown();
    co_return false;
  }
  wait_for_client();
  co_return true;
}

void Relay::wait_for_client() {
  s_.input_.release_if_empty();
  s_.socket_.async_wait(tcp::socket::wait_read, [session = s_.shared_from_this()](error_code ec) {
    // The coroutine keeps the session alive, as this handler did while it waited.
    asio::co_spawn(
        session->socket_.get_executor(),
        [session, ec]() { return session->relay_->on_client_readable(ec); },
        log_session_errors(session->env_.log));
  });
}

awaitable<void> Relay::on_client_readable(error_code ec) {
  client_busy_ = true;
  bool more = !ec && !stopping_;
  if (more) {
    std::size_t received = co_await read_some(s_.socket_, s_.input_, ec, 16384);
    if (received == 0) more = false;
    s_.last_request_ = std::chrono::steady_clock::now();
    count_bytes(metrics::Direction::kClientIn, received);
  }
  co_await serve_input(more);
}

awaitable<void> Relay::serve_input(bool more) {
  client_busy_ = true;
  if (more) {
    bool forwarded = co_await forward_client_messages();
    more = forwarded;
  }
  if (more && !stopping_) {
    client_busy_ = false;
    wait_for_client();
    co_return;
  }
  co_await teardown();
  s_.phase_ = Phase::kClosing;
  error_code ignored;
  s_.socket_.close(ignored);
}

// Logs in on a real server so the client sees that server's parameters, as normalised by
// PostgreSQL after the client's own settings were applied.
awaitable<bool> Relay::log_in() {
  choose_backend();
  // The client's startup parameters become settings replayed on every server it uses.
  std::string signature;
  for (const auto& [name, value] : s_.startup_settings_) {
    startup_settings_[name] = startup_statement(name, value);
    signature.append(name).append(1, '\0').append(value).append(1, '\0');
  }
  settings_ = startup_settings_;

  // A login with settings the pool has seen lately needs no server: its parameters are
  // known, and the settings are replayed with the client's first request.
  auto known = mode_ == config::PoolMode::kSession ? nullptr : pool_->login_parameters(signature);
  if (known) {
    for (const auto& [name, value] : *known) encode_parameter_status(s_.output_, name, value);
  } else {
    bool attached = co_await attach(backend_index_, true);
    if (!attached) co_return false;
    if (std::string sql = replay_sql(); !sql.empty()) {
      bool replayed = co_await run_internal(sql);
      if (!replayed) {
        server_->settings().clear();
        discard_server();
        co_await s_.fatal("22023", "invalid value in startup parameters");
        co_return false;
      }
    }
    ServerPool::Parameters parameters;
    for (const auto& [name, value] : server_->reported()) {
      encode_parameter_status(s_.output_, name, value);
      parameters.emplace_back(name, value);
    }
    pool_->remember_login_parameters(signature, std::move(parameters));
    if (mode_ != config::PoolMode::kSession) release();
  }
  encode_backend_key_data(s_.output_, s_.cancel_key_->pid, s_.cancel_key_->secret);
  encode_ready_for_query(s_.output_, TxStatus::kIdle);
  s_.phase_ = Phase::kIdle;
  bool sent = co_await s_.flush();
  co_return sent;
}

// Forwards every complete message the client sent in one write and makes sure the pump is
// reading the answers.
// GCC 12 at -O2 reports Asio's coroutine frame deallocation in this function as mismatched
// with its allocation (a false positive, as in ServerConnection::log_in).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
awaitable<bool> Relay::forward_client_messages() {
  // While a read is being moved to another backend, what the client sends meanwhile waits
  // in the input buffer (the retry gives up if there is any: it cannot be ordered safely).
  if (retrying_) co_return true;
  error_code ec;
  std::size_t limit = s_.config_->limits.max_message_size;
  while (true) {
    auto decoded = decode_frame(s_.input_.readable(), limit);
    if (decoded.status == DecodeStatus::kNeedMore) break;
    if (decoded.status == DecodeStatus::kError) {
      co_await stop_pump();
      discard_server();
      co_await s_.fatal("08P01", "invalid message: " + decoded.error);
      co_return false;
    }
    const Frame& frame = decoded.message;
    if (frame.type == frontend::kTerminate) {
      s_.input_.consume(decoded.consumed);
      co_return false;
    }
    if (server_ && to_server_.empty() && releasable()) {
      // The last request cycle is over and the pump is passing its end to the client, who
      // already sent the next request: the server goes back to the pool first, as it would
      // had the client been slower, so that this request is routed (a write must not reach
      // the replica that served the last read) and a read can be retried elsewhere.
      co_await wait_for_pump();
      if (server_ && releasable()) release();
      // Here, not in the pump, which left the client's coroutine (this one) to it.
      if (!server_) co_await end_here_if_draining();
      if (stopping_ || !s_.socket_.is_open()) co_return false;
    }
    if (skipping_until_sync_) {
      // The rest of a refused extended-protocol batch.
      if (frame.type == frontend::kSync) {
        skipping_until_sync_ = false;
        encode_ready_for_query(s_.output_, TxStatus::kIdle);
      }
      s_.input_.consume(decoded.consumed);
      continue;
    }
    if (!server_ && answer_without_server(frame)) {
      s_.input_.consume(decoded.consumed);
      continue;
    }
    if (!server_ && s_.env_.traffic.paused(s_.cluster_->name)) {
      bool resumed = co_await wait_while_paused();
      if (!resumed) co_return false;
    }
    if (!server_) {
      // After the pause: PAUSE, RELOAD, RESUME moves paused clients to the new backends.
      follow_reload();
      cache_fill_.reset();  // of a request refused before it reached a server
      if (has_cache() && routing_) {
        bool answered = co_await answer_from_cache(frame);
        if (stopping_ || !s_.socket_.is_open()) co_return false;  // killed meanwhile
        if (answered) continue;
      }
      auto backend = route(frame);
      if (!backend) {
        s_.input_.consume(decoded.consumed);
        continue;
      }
      bool attached = co_await attach(*backend, false);
      if (!attached) co_return false;
      s_.phase_ = Phase::kActive;
      drop_retry();
      bool eligible = routing_ && !cycle_writes_ && pin_ == PinReason::kNone;
      capture_ = eligible ? Capture::kOpen : Capture::kOff;
      if (!s_.output_.empty()) {
        capture_ = Capture::kOff;  // answers given meanwhile would be lost by a retry
        // Answers already given without a server go out before the server's.
        Pending earlier{Pending::Kind::kSynthetic, {}, {}, {}, false};
        earlier.synthetic.swap(s_.output_);
        pending_.push_front(std::move(earlier));
      }
    }
    if (capture_ != Capture::kOff) {
      capture_for_retry(frame, s_.input_.readable().first(decoded.consumed));
    } else if (!retry_batch_.empty()) {
      drop_retry();  // a retry would lose this request, sent after the captured read
    }
    if (!handle_client_message(frame)) {
      s_.input_.consume(decoded.consumed);
      co_await stop_pump();
      discard_server();
      co_await s_.fatal("08P01", std::string("unexpected message type '") + frame.type + "'");
      co_return false;
    }
    s_.input_.consume(decoded.consumed);
  }
  capture_ = Capture::kOff;
  if (to_server_.empty()) {
    if (!server_) {
      bool flushed = co_await s_.flush();
      if (!flushed) co_return false;
    } else if (!pending_.empty() && pending_.front().kind == Pending::Kind::kSynthetic) {
      // Answers the proxy gave itself (a refused statement in a transaction) with no server
      // answer ahead of them: nothing will wake the pump for them, so they go out now.
      ByteVector out;
      emit_synthetic(out);
      bool sent = co_await write_all(s_.socket_, out, ec);
      if (!sent) co_return false;
    }
    co_return true;
  }

  ByteVector batch;
  batch.swap(to_server_);
  writing_to_server_ = true;
  bool ok = co_await write_all(server_->socket(), batch, ec);
  writing_to_server_ = false;
  if (!ok) {
    count_error(metrics::Error::kBackendLost);
    if (!retry_batch_.empty() && !pump_running_) {
      Retry retry = co_await retry_read_elsewhere();
      if (retry == Retry::kSessionOver) co_return false;
      if (retry == Retry::kRetried) {
        start_pump();
        co_return true;
      }
    }
    if (server_) server_->mark_broken();
    co_await stop_pump();
    co_await s_.fatal("08006", "server connection lost");
    co_return false;
  }
  if (releasable()) {
    // The pump found the server idle while this write was under way and left it to us.
    release();
    co_await end_here_if_draining();
  } else if (!pump_running_) {
    start_pump();
  }
  s_.input_.shrink_if_idle(16384);
  co_return true;
}
#pragma GCC diagnostic pop

awaitable<void> Relay::end_here_if_draining() {
  if (!s_.draining()) co_return;
  client_busy_ = false;
  co_await s_.end_for_shutdown();
  client_busy_ = true;
}

Relay::Handover Relay::handover_readiness() const {
  if (mode_ == config::PoolMode::kSession || pin_ != PinReason::kNone) return Handover::kNever;
  if (client_busy_ || server_ || !pending_.empty() || !to_server_.empty() || retrying_ ||
      skipping_until_sync_ || need_wal_position_) {
    return Handover::kBusy;
  }
  return Handover::kReady;
}

void Relay::write_handover_state(HandedSession& state) const {
  state.settings.assign(settings_.begin(), settings_.end());
  state.role_override = role_override_ ? static_cast<int>(*role_override_) : -1;
  state.written_lsn = written_lsn_;
  if (!extended_) return;
  for (const auto& [name, statement] : extended_->statements) {
    state.statements.push_back(
        {name, statement.proxy_name, statement.query, statement.types, statement.settings});
  }
}

void Relay::resume(const HandedSession& state) {
  choose_backend();
  for (const auto& [name, value] : s_.startup_settings_) {
    startup_settings_[name] = startup_statement(name, value);
  }
  settings_ = {state.settings.begin(), state.settings.end()};
  if (state.role_override >= 0) role_override_ = static_cast<config::Role>(state.role_override);
  written_lsn_ = state.written_lsn;
  for (const auto& statement : state.statements) {
    extended().statements[statement.name] = {statement.proxy_name, statement.query, statement.types,
                                             statement.settings, intent_of(statement.query)};
  }
  s_.phase_ = Phase::kIdle;
  if (s_.input_.empty()) {
    wait_for_client();
    return;
  }
  // What the client sent before the handover is served first.
  asio::co_spawn(
      s_.socket_.get_executor(),
      [session = s_.shared_from_this()]() { return session->relay_->serve_input(true); },
      log_session_errors(s_.env_.log));
}

// PAUSE: the transaction this client starts waits until RESUME (or shutdown, or the client
// going away, which end it).
awaitable<bool> Relay::wait_while_paused() {
  // Awaited here, not returned: the executor is a temporary the waiting coroutine refers to.
  bool resumed = co_await pg::wait_while_paused(
      s_.socket_.get_executor(), s_.env_.traffic, s_.cluster_->name,
      [this] { return stopping_ || s_.draining() || !s_.socket_.is_open(); });
  co_return resumed;
}

bool Relay::handle_client_message(const Frame& frame) {
  auto forward = [&] {
    to_server_.push_back(std::byte(frame.type));
    append_u32be(to_server_, static_cast<std::uint32_t>(frame.body.size() + 4));
    append_bytes(to_server_, frame.body);
  };
  auto expect = [&](Pending::Kind kind) { pending_.push_back({kind, {}, {}, {}, false}); };

  switch (frame.type) {
    case frontend::kQuery: {
      auto sql = parse_query(frame.body);
      if (!sql) return false;
      if (int rule = blocking_rule(*sql); rule >= 0) {
        // Inside a transaction as well: the request never reaches the server.
        count_error(metrics::Error::kRefusedByRule);
        Pending refused{Pending::Kind::kSynthetic, {}, {}, {}, false};
        encode_error(refused.synthetic, "ERROR", "42501", blocked_message(rule));
        encode_ready_for_query(refused.synthetic, server_->tx_status());
        pending_.push_back(std::move(refused));
        return true;
      }
      auto effects = analyze_statements(*sql);
      if (effects.pin != PinReason::kNone) set_pin(effects.pin);
      if (has_cache()) note_writes(*sql);
      Pending query{
          Pending::Kind::kQuery, {}, {}, std::move(effects.settings), effects.discards_prepared};
      start_statement(query, *sql);
      pending_.push_back(std::move(query));
      forward();
      return true;
    }
    case frontend::kFunctionCall: {
      Pending call{Pending::Kind::kQuery, {}, {}, {}, false};
      start_statement(call, "<function call>");
      pending_.push_back(std::move(call));
      forward();
      return true;
    }
    case frontend::kParse: {
      auto parse = parse_parse(frame.body);
      if (!parse) return false;
      auto effects = analyze_statements(parse->query);
      if (effects.pin != PinReason::kNone) set_pin(effects.pin);
      if (parse->statement.empty()) {
        if (has_cache()) note_writes(parse->query);
        extended().unnamed_statement_settings = std::move(effects.settings);
        if (keeps_text()) {
          extended().unnamed_query = std::make_shared<const std::string>(parse->query);
        }
        expect(Pending::Kind::kParse);
        forward();
        return true;
      }
      const Statement& statement = record_statement(*parse, std::move(effects.settings));
      if (server_->prepared().count(statement.proxy_name)) {
        Pending done{Pending::Kind::kSynthetic, {}, {}, {}, false};
        encode_parse_complete(done.synthetic);
        pending_.push_back(std::move(done));
      } else {
        encode_parse(to_server_, statement.proxy_name, statement.query, statement.types);
        server_->prepared().insert(statement.proxy_name);
        pending_.push_back({Pending::Kind::kParse, {}, statement.proxy_name, {}, false});
      }
      return true;
    }
    case frontend::kBind: {
      auto bind = parse_bind_names(frame.body);
      if (!bind) return false;
      std::vector<SettingChange> settings;
      if (bind->statement.empty()) {
        settings = extended().unnamed_statement_settings;
        if (keeps_text()) extended().bound_query = extended().unnamed_query;
        forward();
      } else if (auto it = extended().statements.find(std::string(bind->statement));
                 it != extended().statements.end()) {
        ensure_prepared(it->second);
        settings = it->second.settings;
        if (has_cache()) note_writes(it->second.query);
        if (keeps_text())
          extended().bound_query = std::make_shared<const std::string>(it->second.query);
        encode_bind_renamed(to_server_, bind->portal, it->second.proxy_name, bind->rest);
      } else {
        forward();  // the server answers that the statement does not exist
      }
      if (settings.empty()) {
        extended().portal_settings.erase(std::string(bind->portal));
      } else {
        extended().portal_settings[std::string(bind->portal)] = std::move(settings);
      }
      expect(Pending::Kind::kBind);
      return true;
    }
    case frontend::kDescribe: {
      auto describe = parse_describe(frame.body);
      if (!describe) return false;
      auto it = describe->kind == 'S' && !describe->name.empty()
                    ? extended().statements.find(std::string(describe->name))
                    : extended().statements.end();
      if (it != extended().statements.end()) {
        ensure_prepared(it->second);
        encode_describe(to_server_, 'S', it->second.proxy_name);
      } else {
        forward();
      }
      expect(Pending::Kind::kDescribe);
      return true;
    }
    case frontend::kExecute: {
      auto execute = parse_execute(frame.body);
      if (!execute) return false;
      Pending pending{Pending::Kind::kExecute, {}, {}, {}, false};
      start_statement(pending, extended_ ? extended_->bound_query : nullptr);
      if (auto it = extended().portal_settings.find(std::string(execute->portal));
          it != extended().portal_settings.end()) {
        pending.settings = it->second;
      }
      pending_.push_back(std::move(pending));
      forward();
      return true;
    }
    case frontend::kClose: {
      auto close = parse_close(frame.body);
      if (!close) return false;
      if (close->kind == 'S' && !close->name.empty()) {
        // Server-side statements are shared by content; the client's name just goes away.
        extended().statements.erase(std::string(close->name));
        Pending done{Pending::Kind::kSynthetic, {}, {}, {}, false};
        encode_close_complete(done.synthetic);
        pending_.push_back(std::move(done));
        return true;
      }
      if (close->kind == 'P') extended().portal_settings.erase(std::string(close->name));
      expect(Pending::Kind::kClose);
      forward();
      return true;
    }
    case frontend::kSync:
      expect(Pending::Kind::kSync);
      forward();
      return true;
    case frontend::kFlush:
    case frontend::kCopyData:
    case frontend::kCopyDone:
    case frontend::kCopyFail:
      forward();
      return true;
    default:
      return false;
  }
}

// Preparing a named statement, closing one and a bare Sync need no server: the statement
// is prepared on whichever server first executes it. Besides saving a round trip, this keeps
// clients that prepare synchronously (pgbench -M prepared) from waiting for a server while
// holding none, which with more clients than servers would stall them all.
bool Relay::answer_without_server(const Frame& frame) {
  switch (frame.type) {
    case frontend::kParse: {
      auto parse = parse_parse(frame.body);
      if (!parse || parse->statement.empty()) return false;
      auto effects = analyze_statements(parse->query);
      if (effects.pin != PinReason::kNone) return false;
      record_statement(*parse, std::move(effects.settings));
      encode_parse_complete(s_.output_);
      return true;
    }
    case frontend::kClose: {
      auto close = parse_close(frame.body);
      if (!close || close->kind != 'S' || close->name.empty()) return false;
      extended().statements.erase(std::string(close->name));
      encode_close_complete(s_.output_);
      return true;
    }
    case frontend::kSync:
      encode_ready_for_query(s_.output_, TxStatus::kIdle);
      return true;
    case frontend::kFlush:
      return true;
    default:
      return false;
  }
}

void Relay::ensure_prepared(const Statement& statement) {
  if (server_->prepared().count(statement.proxy_name)) return;
  encode_parse(to_server_, statement.proxy_name, statement.query, statement.types);
  server_->prepared().insert(statement.proxy_name);
  pending_.push_back({Pending::Kind::kInternalParse, {}, statement.proxy_name, {}, false});
}

Relay::Statement& Relay::record_statement(const ParseMessage& parse,
                                          std::vector<SettingChange> settings) {
  Statement& statement = extended().statements[std::string(parse.statement)];
  statement =
      Statement{proxy_statement_name(parse.query, parse.parameter_types), std::string(parse.query),
                parse.parameter_types, std::move(settings), intent_of(parse.query)};
  return statement;
}

void Relay::set_pin(PinReason reason) {
  if (pin_ != PinReason::kNone || mode_ == config::PoolMode::kSession) return;
  pin_ = reason;
  s_.show_pin(reason);
  if (server_ && !pinned_in_) {
    pinned_in_ = pool_.get();
    pinned_in_->add_pinned(1);
  }
  s_.env_.metrics.pinned(to_string(reason));
  log_.info("client {}@{} pinned to its server connection ({})", s_.user_, s_.database_,
            to_string(reason));
}

void Relay::start_pump() {
  pump_running_ = true;
  asio::co_spawn(
      s_.socket_.get_executor(), [session = s_.shared_from_this(), this]() { return run_pump(); },
      asio::detached);
}

awaitable<void> Relay::run_pump() {
  co_await pump();
  pump_running_ = false;
  if (pump_stopped_) pump_stopped_->cancel();
}

// Reads the server's answers and forwards them to the client, until the server can go back
// to the pool (or, for a pinned or session-mode client, until the session ends).
awaitable<void> Relay::pump() {
  ByteVector out;
  while (server_ && !stopping_) {
    // A write transaction's end reaches the client once its tables' entries are invalid.
    if (!invalidations_due_.empty()) co_await invalidate_due();
    if (views_reread_due_) co_await read_views_again();
    // What the last round decoded, and answers the proxy gave itself, go out first.
    emit_synthetic(out);
    if (!out.empty()) {
      drop_retry();  // the client has seen part of the answer
      count_bytes(metrics::Direction::kClientOut, out.size());
      error_code write_error;
      bool ok = co_await write_all(s_.socket_, out, write_error);
      out.clear();
      if (!ok) {
        stopping_ = true;
        break;
      }
    }
    if (server_failed_) {
      error_code ignored;
      s_.socket_.close(ignored);
      break;
    }
    if (need_wal_position_ && pending_.empty() && !writing_to_server_ &&
        server_->tx_status() == TxStatus::kIdle) {
      bool asked = co_await request_wal_position();
      if (!asked) break;
      continue;
    }
    if (releasable()) {
      if (!writing_to_server_) {
        release();
        if (s_.draining()) co_await s_.end_for_shutdown();
      }
      break;
    }
    error_code ec;
    std::size_t received = co_await read_some(server_->socket(), server_->input(), ec, 65536);
    // Lost: the connection dropped, or the server said it is going away before answering.
    bool lost = received == 0;
    if (lost) {
      if (stopping_) break;
      count_error(metrics::Error::kBackendLost);
      log_.warn("backend {}: server connection lost: {}", backend_->name, ec.message());
    } else {
      bool keep_going = true;
      while (keep_going) {
        auto decoded = decode_frame(server_->input().readable());
        if (decoded.status == DecodeStatus::kNeedMore) break;
        if (decoded.status == DecodeStatus::kError) {
          server_->mark_broken();
          server_failed_ = true;
          encode_error(out, "FATAL", "08P01", "invalid message from server");
          break;
        }
        keep_going = handle_server_message(decoded.message, out);
        server_->input().consume(decoded.consumed);
      }
      lost = retry_after_error_;
      retry_after_error_ = false;
    }
    if (lost) {
      Retry retry = Retry::kNotPossible;
      if (!retry_batch_.empty() && !writing_to_server_) retry = co_await retry_read_elsewhere();
      if (retry == Retry::kRetried) {
        out.clear();  // the start of the lost server's answer (RowDescription): never sent
        if (cache_fill_) cache_fill_->answer.clear();
        continue;
      }
      if (retry == Retry::kSessionOver) break;
      server_failed_ = true;
      if (server_) server_->mark_broken();
      encode_error(out, "FATAL", "08006", "server connection lost");
      error_code ignored;
      co_await write_all(s_.socket_, out, ignored);
      s_.socket_.close(ignored);
      break;
    }
  }
  if (server_) server_->input().shrink_if_idle(16384);
}

void Relay::emit_synthetic(ByteVector& out) {
  while (!pending_.empty() && pending_.front().kind == Pending::Kind::kSynthetic) {
    append_bytes(out, pending_.front().synthetic);
    pending_.pop_front();
  }
}

// After an error in an extended-protocol batch the server skips everything up to Sync.
void Relay::drop_until_sync() {
  while (!pending_.empty() && !ends_at_ready_for_query(pending_.front().kind)) {
    const auto& entry = pending_.front();
    if (!entry.prepared_name.empty()) server_->prepared().erase(entry.prepared_name);
    pending_.pop_front();
  }
}

bool Relay::handle_server_message(const Frame& frame, ByteVector& out) {
  auto forward = [&] {
    out.push_back(std::byte(frame.type));
    append_u32be(out, static_cast<std::uint32_t>(frame.body.size() + 4));
    append_bytes(out, frame.body);
    if (cache_fill_) capture_for_cache(frame);
  };
  if (!pending_.empty() && pending_.front().kind == Pending::Kind::kWalPosition) {
    return handle_wal_position_message(frame);
  }
  bool replaying = !pending_.empty() && pending_.front().kind == Pending::Kind::kReplay;
  switch (frame.type) {
    case backend::kParameterStatus:
      if (auto status = parse_parameter_status(frame.body)) {
        server_->reported()[std::string(status->first)] = std::string(status->second);
      }
      if (!replaying) forward();
      return true;
    case backend::kNoticeResponse:
      if (!retry_batch_.empty() && server_going_away(frame)) {
        // "terminating connection because of crash of another server process" (57P02) comes
        // as a WARNING before the connection drops: the read is retried, the warning is not
        // the client's.
        retry_after_error_ = true;
        return false;
      }
      if (!replaying) forward();
      return true;
    case backend::kNotificationResponse:
      if (!replaying) forward();
      return true;
    default:
      break;
  }
  emit_synthetic(out);
  if (pending_.empty()) {
    // Nothing was asked: only a server going away talks unprompted (FATAL on shutdown).
    forward();
    if (frame.type == backend::kErrorResponse) {
      server_->mark_broken();
      server_failed_ = true;
      return false;
    }
    return true;
  }
  Pending& head = pending_.front();
  switch (frame.type) {
    case backend::kReadyForQuery: {
      auto status = parse_ready_for_query(frame.body).value_or(TxStatus::kIdle);
      server_->set_tx_status(status);
      // Anything still queued before the Sync was skipped by the server after an error.
      while (!pending_.empty() && !ends_at_ready_for_query(pending_.front().kind)) {
        if (pending_.front().kind == Pending::Kind::kSynthetic && !cycle_failed_) {
          append_bytes(out, pending_.front().synthetic);
        }
        pending_.pop_front();
      }
      if (pending_.empty()) return true;
      Pending done = std::move(pending_.front());
      pending_.pop_front();
      if (done.kind == Pending::Kind::kReplay) {
        if (cycle_failed_) server_->settings().clear();  // unknown now: replay all next time
        cycle_failed_ = false;
        return true;
      }
      if (mode_ == config::PoolMode::kStatement && status != TxStatus::kIdle) {
        // Statement mode hands the server back after every statement, so a transaction
        // cannot span two; the server's open transaction dies with its connection.
        encode_error(out, "FATAL", "0A000",
                     "transaction blocks are not allowed in statement pooling mode");
        server_->mark_broken();
        server_failed_ = true;
        return false;
      }
      if (done.kind == Pending::Kind::kQuery) finish_statement(done);
      if (cache_fill_) finish_cache_fill(status);
      if (status == TxStatus::kIdle && (!written_tables_.empty() || views_changed_)) {
        invalidate_written();
      }
      if (done.kind == Pending::Kind::kQuery && !cycle_failed_) {
        tx_settings_.insert(tx_settings_.end(), done.settings.begin(), done.settings.end());
        if (done.discards_prepared) {
          server_->prepared().clear();
          if (extended_) extended_->statements.clear();
        }
      }
      forward();
      finish_cycle(status);
      note_cycle_end(status);
      return true;
    }
    case backend::kErrorResponse:
      if (!retry_batch_.empty() && server_going_away(frame)) {
        retry_after_error_ = true;
        return false;
      }
      if (replaying) {
        auto fields = parse_error_fields(frame.body);
        log_.warn("backend {}: replaying settings failed: {}", backend_->name,
                  fields ? fields->message : "?");
        cycle_failed_ = true;
        // The server's settings are not the client's: its answer is not theirs to share.
        if (cache_fill_) cache_fill_->spoiled = true;
        return true;
      }
      cycle_failed_ = true;
      head.failed = true;
      if (keeps_text() && head.error_code.empty()) {
        if (auto fields = parse_error_fields(frame.body)) {
          head.error_code = fields->code;
          if (s_.config_->log.statements) head.error_message = fields->message;
        }
      }
      if (head.kind == Pending::Kind::kExecute) finish_statement(head);
      if (head.kind != Pending::Kind::kQuery) {
        if (!head.prepared_name.empty()) server_->prepared().erase(head.prepared_name);
        drop_until_sync();
      }
      forward();
      if (ends_connection(frame)) {
        // The server closes the connection after it: the client gets its error, not ours.
        server_->mark_broken();
        server_failed_ = true;
        return false;
      }
      return true;
    case backend::kParseComplete:
      if (head.kind == Pending::Kind::kParse || head.kind == Pending::Kind::kInternalParse) {
        if (head.kind == Pending::Kind::kParse) forward();
        pending_.pop_front();
        return true;
      }
      break;
    case backend::kBindComplete:
      if (head.kind == Pending::Kind::kBind) pending_.pop_front();
      break;
    case backend::kCloseComplete:
      if (head.kind == Pending::Kind::kClose) pending_.pop_front();
      break;
    case backend::kRowDescription:
    case backend::kNoData:
      if (head.kind == Pending::Kind::kDescribe) pending_.pop_front();
      break;
    case backend::kCommandComplete:
      if (auto tag = parse_command_complete(frame.body)) {
        if (*tag == "ROLLBACK") saw_rollback_ = true;
        if (auto rows = rows_in_command_tag(*tag))
          head.rows = std::max<std::int64_t>(head.rows, 0) + *rows;
      }
      if (head.kind == Pending::Kind::kExecute) {
        tx_settings_.insert(tx_settings_.end(), head.settings.begin(), head.settings.end());
        finish_statement(head);
        pending_.pop_front();
      }
      break;
    case backend::kEmptyQueryResponse:
    case backend::kPortalSuspended:
      if (head.kind == Pending::Kind::kExecute) {
        finish_statement(head);
        pending_.pop_front();
      }
      break;
    default:
      break;
  }
  if (!replaying) forward();
  return true;
}

// A ReadyForQuery closes a request cycle: settings made in a committed transaction become
// the client's, those of a failed or rolled back one are forgotten.
void Relay::finish_cycle(TxStatus status) {
  if (status == TxStatus::kFailed) tx_failed_ = true;
  if (status == TxStatus::kIdle) {
    if (!tx_failed_ && !cycle_failed_ && !saw_rollback_ && !tx_settings_.empty()) {
      apply(tx_settings_, settings_);
      server_->settings() = settings_;
    }
    tx_settings_.clear();
    tx_failed_ = false;
    saw_rollback_ = false;
  }
  cycle_failed_ = false;
}

void Relay::apply(const std::vector<SettingChange>& changes,
                  std::map<std::string, std::string>& to) {
  for (const auto& change : changes) {
    switch (change.kind) {
      case SettingChange::Kind::kSet:
        to[change.name] = set_statement(change.name, change.value);
        break;
      case SettingChange::Kind::kReset:
        if (auto it = startup_settings_.find(change.name); it != startup_settings_.end()) {
          to[change.name] = it->second;
        } else {
          to.erase(change.name);
        }
        break;
      case SettingChange::Kind::kResetAll:
        to = startup_settings_;
        break;
    }
  }
}

void Relay::start_statement(Pending& pending, std::shared_ptr<const std::string> sql) const {
  if (s_.env_.metrics.enabled() || keeps_text()) pending.arrived_at = pools::Clock::now();
  pending.statement = std::move(sql);
  if (cache_fill_ && !cache_fill_->counted) {
    pending.cache_miss = true;
    cache_fill_->counted = true;
  }
}

void Relay::start_statement(Pending& pending, std::string_view sql) const {
  start_statement(pending, keeps_text() ? std::make_shared<const std::string>(sql) : nullptr);
}

void Relay::finish_statement(const Pending& done) {
  if (done.arrived_at == pools::Clock::time_point{}) return;
  auto elapsed =
      std::chrono::duration_cast<std::chrono::nanoseconds>(pools::Clock::now() - done.arrived_at);
  // The role it served as: a write target takes writes as the primary, whatever its
  // configured role; other requests count under the backend's configured role.
  config::Role role = cycle_writes_ ? config::Role::kPrimary : backend_->role;
  if (keeps_text()) {
    std::string_view text = done.statement ? std::string_view(*done.statement) : "";
    const routing::StatementShape& shape = shape_of(text);
    if (digesting()) {
      routing::DigestSample sample;
      sample.cluster = s_.cluster_->name;
      sample.user = s_.user_;
      sample.digest = shape.digest;
      sample.shape = shape.text;
      sample.statement = text;
      sample.elapsed = elapsed;
      sample.rows = done.rows;
      sample.backend = backend_->name;
      sample.error = done.failed;
      sample.cache_miss = done.cache_miss;
      s_.env_.digests->record(sample);
    }
    if (auditing()) audit(done, elapsed, role, shape.text);
  }
  if (!s_.env_.metrics.enabled()) return;
  series_for(backend_, role).record(elapsed);
}

const routing::StatementShape& Relay::shape_of(std::string_view text) {
  thread_local routing::StatementShape shape;
  thread_local std::string shaped;  // the text `shape` is of: prepared and parameterised
  if (text != shaped) {
    routing::shape_statement(text, shape);
    shaped = text;
  }
  return shape;
}

const metrics::StatementSeries& Relay::series_for(const config::Backend* backend,
                                                  config::Role role) {
  if (!series_ || series_backend_ != backend || series_role_ != role) {
    series_ = &s_.env_.metrics.statements("postgres", s_.cluster_->name, backend->name,
                                          config::to_string(role));
    series_backend_ = backend;
    series_role_ = role;
  }
  return *series_;
}

void Relay::audit(const Pending& done, std::chrono::nanoseconds elapsed, config::Role role,
                  std::string_view shape) {
  auto log = s_.env_.audit ? s_.env_.audit() : nullptr;
  if (!log) return;
  // ip:port, [ipv6]:port, formatted without allocating.
  const auto& peer = s_.peer_;
  char client[64];
  std::size_t length = 0;
  if (peer.address().is_v4()) {
    auto bytes = peer.address().to_v4().to_bytes();
    length = fmt::format_to_n(client, sizeof(client), "{}.{}.{}.{}:{}", bytes[0], bytes[1],
                              bytes[2], bytes[3], peer.port())
                 .size;
  } else {
    length =
        fmt::format_to_n(client, sizeof(client), "[{}]:{}", peer.address().to_string(), peer.port())
            .size;
  }
  AuditRecord record;
  record.client = std::string_view(client, std::min(length, sizeof(client)));
  record.user = s_.user_;
  record.database = s_.database_;
  record.cluster = s_.cluster_->name;
  record.backend = backend_->name;
  record.role = config::to_string(role);
  record.protocol = "postgres";
  record.duration = elapsed;
  if (done.rows >= 0) record.rows = static_cast<std::uint64_t>(done.rows);
  record.error_code = done.error_code;
  record.error_message = done.error_message;
  if (done.statement) record.statement = *done.statement;
  record.shape = shape;
  log->write(record);
}

awaitable<void> Relay::stop_pump() {
  if (!pump_running_) co_return;
  stopping_ = true;
  if (server_) {
    error_code ignored;
    server_->socket().cancel(ignored);
  }
  co_await wait_for_pump();
}

awaitable<void> Relay::wait_for_pump() {
  if (!pump_running_) co_return;
  asio::steady_timer stopped(s_.socket_.get_executor(), asio::steady_timer::time_point::max());
  pump_stopped_ = &stopped;
  while (pump_running_) {
    error_code ignored;
    co_await stopped.async_wait(asio::redirect_error(use_awaitable, ignored));
  }
  pump_stopped_ = nullptr;
}

awaitable<void> Relay::teardown() {
  co_await stop_pump();
  if (!server_) co_return;
  bool clean = !server_failed_ && pending_.empty() && server_->tx_status() == TxStatus::kIdle &&
               server_->input().empty();
  if (clean && (mode_ == config::PoolMode::kSession || pin_ != PinReason::kNone)) {
    // The next client must not inherit this one's session state.
    const std::string& reset = backend_->pool.reset_query;
    if (!reset.empty()) {
      bool reset_done = co_await run_internal(reset);
      clean = reset_done;
    }
    server_->settings().clear();
    server_->prepared().clear();
  }
  if (clean) {
    release();
  } else {
    discard_server();
  }
}

void RelayDeleter::operator()(Relay* relay) const { delete relay; }

awaitable<bool> start_relay(Session& session) {
  session.relay_.reset(new Relay(session));
  bool serving = co_await session.relay_->start();
  co_return serving;
}

}  // namespace plexi::pg
