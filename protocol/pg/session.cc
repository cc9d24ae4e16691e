// A client's session on the PostgreSQL listener: startup packet, TLS (SSLRequest or direct)
// and GSS refusal, cancel requests, authentication against the config's users, then the
// cluster's front (relay or SQLite executor).
#include "protocol/pg/session.h"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <array>
#include <mutex>
#include <unordered_map>

#include "common/log_throttle.h"
#include "common/socket_io.h"
#include "pools/pg/server_connection.h"
#include "protocol/pg/auth.h"
#include "protocol/pg/decoder.h"
#include "protocol/pg/encoder.h"
#include "protocol/pg/session_fronts.h"
#include "protocol/pg/session_relay.h"
#include "routing/backend_choice.h"
#include "routing/pg_auth_query.h"

namespace plexi::pg {
namespace {

// Deriving a SCRAM secret costs thousands of HMACs; plain passwords from the config are
// derived once per process, not once per login.
ScramSecret secret_for_plain_password(const std::string& user, const std::string& password) {
  static std::mutex mutex;
  static std::unordered_map<std::string, ScramSecret> cache;
  std::string key = user + '\0' + password;
  std::lock_guard lock(mutex);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  std::array<std::byte, 16> salt;
  random_bytes(salt);
  auto secret = make_scram_secret(password, as_chars(salt), 4096);
  cache.emplace(key, secret);
  return secret;
}

// Parses the "options" startup parameter: "-c name=value" and "--name=value" pairs.
void parse_options(std::string_view options,
                   std::vector<std::pair<std::string, std::string>>& settings) {
  std::vector<std::string> words;
  std::string word;
  bool escaped = false;
  for (char c : options) {
    if (escaped) {
      word += c;
      escaped = false;
    } else if (c == '\\') {
      escaped = true;
    } else if (c == ' ') {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::string_view assignment;
    if (words[i] == "-c" && i + 1 < words.size()) {
      assignment = words[++i];
    } else if (words[i].starts_with("-c")) {
      assignment = std::string_view(words[i]).substr(2);
    } else if (words[i].starts_with("--")) {
      assignment = std::string_view(words[i]).substr(2);
    } else {
      continue;
    }
    auto eq = assignment.find('=');
    if (eq == std::string_view::npos) continue;
    std::string name(assignment.substr(0, eq));
    for (auto& c : name) c = (c == '-') ? '_' : static_cast<char>(std::tolower(c));
    settings.emplace_back(std::move(name), std::string(assignment.substr(eq + 1)));
  }
}

// The admin console's database name; no cluster may have it.
constexpr std::string_view kAdminDatabase = "plexiproxy";

// What a direct TLS client must ask for through ALPN, as PostgreSQL 17 requires.
constexpr std::string_view kPostgresAlpn = "postgresql";

}  // namespace

Session::Session(tcp::socket socket, SessionEnvironment& environment)
    : socket_(std::move(socket)), env_(environment) {}

Session::~Session() {
  if (cancel_key_) env_.registry.remove(*cancel_key_);
  if (cancel_key_ && env_.log->should_log(spdlog::level::info)) {
    auto seconds = std::chrono::duration<double>(std::chrono::system_clock::now() - connected_at_);
    env_.log->info("client {}:{} {}@{} disconnected after {:.1f}s", peer_.address().to_string(),
                   peer_.port(), user_, database_, seconds.count());
  }
  if (counted_) env_.clients.fetch_sub(1);
  if (clients_gauge_) clients_gauge_->Decrement();
}

std::string_view to_string(Phase phase) {
  switch (phase) {
    case Phase::kStartup:
      return "startup";
    case Phase::kAuthentication:
      return "authentication";
    case Phase::kIdle:
      return "idle";
    case Phase::kActive:
      return "active";
    case Phase::kClosing:
      return "closing";
  }
  return "?";
}

// Registered clients have logged in: user, database, cluster and settings no longer change.
ClientInfo Session::describe() const {
  ClientInfo info;
  info.protocol = "postgres";
  info.address = peer_.address().to_string() + ":" + std::to_string(peer_.port());
  info.user = user_;
  info.database = database_;
  for (const auto& [name, value] : startup_settings_) {
    if (name == "application_name") info.application_name = value;
  }
  info.state = std::string(to_string(phase_.load()));
  info.connected_at = connected_at_;
  if (const char* version = tls_version_.load()) info.tls = version;
  std::lock_guard lock(cancel_lock_);
  if (cluster_) info.cluster = cluster_->name;  // a reload may move it to a new snapshot
  if (attached_backend_) info.backend = attached_backend_->name;
  if (server_cancel_key_) info.server_pid = server_cancel_key_->pid;
  if (shown_pin_ != PinReason::kNone) info.pinned = std::string(to_string(shown_pin_));
  return info;
}

void Session::kill() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->env_.log->info("client {}@{} killed by an administrator", self->user_, self->database_);
    error_code ignored;
    self->socket_.shutdown(tcp::socket::shutdown_both, ignored);
    self->socket_.close(ignored);
  });
}

void Session::cancel() {
  std::optional<ServerCancelKey> key;
  std::function<void()> action;
  {
    std::lock_guard lock(cancel_lock_);
    key = server_cancel_key_;
    action = cancel_action_;
  }
  if (key) {
    asio::co_spawn(socket_.get_executor(), send_cancel(key->endpoint, key->pid, key->secret),
                   asio::detached);
  } else if (action) {
    action();
  }
}

void Session::drain() {
  // Runs on the session's worker, so it sees the phase the coroutine left.
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    if (self->phase_ == Phase::kIdle || self->phase_ == Phase::kStartup ||
        self->phase_ == Phase::kAuthentication) {
      // The lambda, kept in the spawned coroutine's frame, holds the session: the coroutine
      // body starts later, when the client may have gone and dropped its last reference.
      asio::co_spawn(
          self->socket_.get_executor(), [self]() { return self->end_for_shutdown(); },
          asio::detached);
    }
  });
}

void Session::expire_idle(std::chrono::milliseconds timeout) {
  asio::post(socket_.get_executor(), [self = shared_from_this(), timeout] {
    // A client with a server connection (session pooling, a transaction) is not idle: as
    // PgBouncer's client_idle_timeout, only clients that hold nothing are closed.
    if (self->phase_ != Phase::kIdle || self->attached_backend_ || !self->cancel_key_) return;
    if (std::chrono::steady_clock::now() - self->last_request_ < timeout) return;
    self->env_.metrics.error(metrics::Error::kClientIdleTimeout);
    self->env_.log->info("client {}:{} {}@{} closed after client_idle_timeout",
                         self->peer_.address().to_string(), self->peer_.port(), self->user_,
                         self->database_);
    asio::co_spawn(
        self->socket_.get_executor(),
        [self]() {
          return self->end_with("57P05", "terminating connection due to idle-session timeout");
        },
        asio::detached);
  });
}

awaitable<void> Session::end_with(std::string_view sqlstate, std::string message) {
  if (phase_ == Phase::kClosing) co_return;
  phase_ = Phase::kClosing;
  ByteVector out;
  encode_error(out, "FATAL", sqlstate, message);
  error_code ec;
  co_await write_all(socket_, out, ec);
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

awaitable<void> Session::end_for_shutdown() {
  if (try_hand_over() != Handover::kNo) co_return;
  co_await end_with("57P01", "terminating connection due to administrator command");
}

Session::Handover Session::try_hand_over() {
  // Only a relay client: the executor's and the admin console's state is this process's.
  // A TLS session's keys cannot leave the process.
  if (!env_.handover || !relay_ || phase_ == Phase::kClosing || !cancel_key_ || socket_.is_tls() ||
      !env_.handover->is_open()) {
    return Handover::kNo;
  }
  switch (relay_->handover_readiness()) {
    case Relay::Handover::kNever:
      return Handover::kNo;
    case Relay::Handover::kBusy:
      return Handover::kLater;
    case Relay::Handover::kReady:
      break;
  }
  if (!output_.empty()) return Handover::kLater;
  HandedSession state;
  state.user = user_;
  state.database = database_;
  state.cluster = cluster_->name;
  state.client_password = client_password_;
  state.scram_keys = client_scram_keys_;
  state.startup_settings = startup_settings_;
  state.cancel_pid = cancel_key_->pid;
  state.cancel_secret = cancel_key_->secret;
  state.connected_at_us = to_unix_micros(connected_at_);
  relay_->write_handover_state(state);
  state.unread = input_.readable_text();
  error_code ec;
  int fd = socket_.socket().release(ec);
  if (ec) return Handover::kNo;
  phase_ = Phase::kClosing;
  input_.consume(input_.size());
  HandedClient client{"postgres", encode_handed_session(state), fd};
  if (!env_.handover->offer(std::move(client))) {
    // The upgrade's handover ended a moment ago: the client is closed without a word, as
    // the drain would have closed it.
    ::close(fd);
    return Handover::kDone;
  }
  // Cancel requests for its key reach the new process now.
  env_.registry.remove(*cancel_key_);
  cancel_key_.reset();
  if (env_.log->should_log(spdlog::level::info)) {
    env_.log->info("client {}:{} {}@{} handed to the new process", peer_.address().to_string(),
                   peer_.port(), user_, database_);
  }
  return Handover::kDone;
}

awaitable<void> Session::resume(HandedSession state) {
  open();
  error_code ec;
  user_ = std::move(state.user);
  database_ = std::move(state.database);
  client_password_ = std::move(state.client_password);
  client_scram_keys_ = state.scram_keys;
  startup_settings_ = std::move(state.startup_settings);
  connected_at_ = from_unix_micros(state.connected_at_us);
  cluster_ = config_->find_cluster(state.cluster);
  if (!cluster_ || cluster_->protocol != config::Protocol::kPostgres || cluster_->is_sqlite()) {
    env_.log->warn("client {}:{} handed over for cluster \"{}\", which this config does not relay",
                   peer_.address().to_string(), peer_.port(), state.cluster);
    co_await end_for_shutdown();
    co_return;
  }
  config_user_ = config_->find_user(user_);
  bool slot = co_await take_user_slot();
  if (!slot) {
    socket_.close(ec);
    co_return;
  }
  clients_gauge_ = &env_.metrics.clients("postgres", cluster_->name);
  clients_gauge_->Increment();
  cancel_key_ = env_.registry.add(weak_from_this(), {state.cancel_pid, state.cancel_secret});
  input_.append(state.unread);
  relay_.reset(new Relay(*this));
  relay_->resume(state);
}

bool Session::is_loopback() const {
  error_code ec;
  auto endpoint = socket_.socket().remote_endpoint(ec);
  return !ec && endpoint.address().is_loopback();
}

void Session::append_error(std::string_view sqlstate, std::string_view message) {
  encode_error(output_, "ERROR", sqlstate, message);
}

awaitable<bool> Session::flush() {
  if (output_.empty()) co_return true;
  if (env_.metrics.enabled()) env_.metrics.bytes(metrics::Direction::kClientOut, output_.size());
  error_code ec;
  bool ok = co_await write_all(socket_, output_, ec);
  ByteVector().swap(output_);  // idle sessions keep no output buffer
  co_return ok;
}

awaitable<void> Session::fatal(std::string_view sqlstate, std::string_view message) {
  phase_ = Phase::kClosing;
  encode_error(output_, "FATAL", sqlstate, message);
  co_await flush();
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

awaitable<bool> Session::read_message(Frame& frame) {
  std::size_t limit = config_ ? config_->limits.max_message_size : kDefaultMaxMessage;
  while (true) {
    auto decoded = decode_frame(input_.readable(), limit);
    if (decoded.status == DecodeStatus::kOk) {
      frame = decoded.message;
      co_return true;
    }
    if (decoded.status == DecodeStatus::kError) {
      env_.metrics.error(metrics::Error::kClientProtocol);
      co_await fatal("08P01", "invalid message: " + decoded.error);
      co_return false;
    }
    error_code ec;
    // Authentication messages are small; a login storm must not hold a large buffer per
    // client while it lasts (the memory stays with the process afterwards).
    std::size_t chunk = phase_ == Phase::kAuthentication ? 1024 : 16384;
    std::size_t received = co_await read_some(socket_, input_, ec, chunk);
    if (received == 0) co_return false;
    last_request_ = std::chrono::steady_clock::now();
    if (env_.metrics.enabled()) env_.metrics.bytes(metrics::Direction::kClientIn, received);
  }
}

awaitable<bool> Session::start_tls(bool direct) {
  bool ok = co_await accept_tls(socket_, *tls_, env_, "postgres", input_.readable());
  input_.consume(input_.size());
  if (!ok) co_return false;
  tls_version_ = SSL_get_version(socket_.ssl());
  if (direct && socket_.alpn() != kPostgresAlpn) {
    co_await fatal("08P01",
                   "received direct SSL connection request without ALPN protocol negotiation "
                   "extension");
    co_return false;
  }
  co_return true;
}

awaitable<bool> Session::read_startup() {
  while (true) {
    if (tls_ && !socket_.is_tls() && !input_.empty() &&
        input_.readable().front() == kTlsHandshakeRecord) {
      // A startup packet's first byte is its length's highest, never 0x16 below 16 MB: this
      // is a ClientHello, TLS without an SSLRequest first.
      bool started = co_await start_tls(true);
      if (!started) co_return false;
      continue;
    }
    auto decoded = decode_startup(input_.readable());
    if (decoded.status == DecodeStatus::kError) {
      env_.metrics.error(metrics::Error::kClientProtocol);
      co_await fatal("08P01", "invalid startup packet: " + decoded.error);
      co_return false;
    }
    if (decoded.status == DecodeStatus::kNeedMore) {
      error_code ec;
      std::size_t received = co_await read_some(socket_, input_, ec, 1024);
      if (received == 0) co_return false;
      continue;
    }
    input_.consume(decoded.consumed);
    StartupPacket& packet = decoded.message;
    switch (packet.kind) {
      case StartupPacket::Kind::kSslRequest:
        if (tls_ && !socket_.is_tls()) {
          if (!input_.empty()) {
            // Bytes sent before the answer would pass as if they came over TLS.
            env_.metrics.error(metrics::Error::kClientProtocol);
            co_await fatal("08P01", "received unencrypted data after SSL request");
            co_return false;
          }
          output_.push_back(std::byte{'S'});
          bool answered = co_await flush();
          if (!answered) co_return false;
          bool started = co_await start_tls(false);
          if (!started) co_return false;
          continue;
        }
        [[fallthrough]];
      case StartupPacket::Kind::kGssEncRequest: {
        // No GSSAPI encryption (nor TLS when it is off, or a second time): 'N', and the
        // client goes on as it is.
        output_.push_back(std::byte{'N'});
        bool sent = co_await flush();
        if (!sent) co_return false;
        continue;
      }
      case StartupPacket::Kind::kCancelRequest:
        env_.registry.cancel({packet.cancel_pid, packet.cancel_secret});
        co_return false;
      case StartupPacket::Kind::kStartup:
        break;
    }
    if (config_->client_tls == config::ClientTls::kRequire && !socket_.is_tls()) {
      env_.metrics.error(metrics::Error::kTlsRequired);
      co_await fatal("28000", "SSL required");
      co_return false;
    }
    if (packet.protocol != kProtocolVersion3) {
      // A newer 3.x minor version: say which one we speak and which options we ignored.
      MessageWriter message(output_, backend::kNegotiateProtocolVersion);
      message.i32(0);
      std::vector<std::string_view> unknown;
      for (const auto& [key, value] : packet.parameters) {
        if (key.starts_with("_pq_.")) unknown.push_back(key);
      }
      message.i32(static_cast<std::int32_t>(unknown.size()));
      for (auto name : unknown) message.cstr(name);
    }
    for (auto& [key, value] : packet.parameters) {
      if (key == "user") {
        user_ = value;
      } else if (key == "database") {
        database_ = value;
      } else if (key == "replication") {
        if (value != "false" && value != "off" && value != "0") {
          co_await fatal("08P01", "replication connections are not supported by plexiproxy");
          co_return false;
        }
      } else if (key == "options") {
        parse_options(value, startup_settings_);
      } else if (!key.starts_with("_pq_.")) {
        startup_settings_.emplace_back(key, value);
      }
    }
    if (user_.empty()) {
      co_await fatal("28000", "no PostgreSQL user name specified in startup packet");
      co_return false;
    }
    if (database_.empty()) database_ = user_;
    co_return true;
  }
}

awaitable<bool> Session::authenticate() {
  phase_ = Phase::kAuthentication;
  using config::AccessMethod;
  if (access_method_ == AccessMethod::kTrust || access_method_ == AccessMethod::kCert) {
    config_user_ = config_->find_user(user_);
    // The user's plain password, when the config has one, still logs in to servers.
    if (config_user_ && !config::is_hashed_secret(config_user_->password)) {
      client_password_ = config_user_->password;
    }
    if (access_method_ == AccessMethod::kCert) co_return co_await authenticate_cert();
    encode_authentication_ok(output_);
    co_return true;
  }
  const bool looks_up = cluster_ && cluster_->auth.enabled() && env_.auth_queries;
  if (!config_->users_configured && !looks_up) {
    if (!is_loopback()) {
      env_.metrics.error(metrics::Error::kAuthFailed);
      co_await fatal("28000", "no users are configured: only loopback clients are trusted");
      co_return false;
    }
    encode_authentication_ok(output_);
    co_return true;
  }
  config_user_ = config_->find_user(user_);
  if (config_user_ && config_user_->auth == config::UserAuth::kCert) {
    co_return co_await authenticate_cert();
  }
  if (!config_user_ && looks_up) co_return co_await authenticate_looked_up();
  if (!config_user_) co_return co_await authenticate_unknown();
  const std::string& password = config_user_->password;
  if (is_md5_secret(password)) {
    if (access_method_ == AccessMethod::kScramSha256) co_return co_await authenticate_unknown();
    client_password_ = password;  // logs in to md5 servers as it is
    co_return co_await authenticate_md5(password);
  }
  if (password.starts_with("SCRAM-SHA-256$")) co_return co_await authenticate_scram(password);
  client_password_ = password;
  if (access_method_ == AccessMethod::kMd5) {
    co_return co_await authenticate_md5(md5_password_secret(password, user_));
  }
  bool ok =
      co_await authenticate_scram(format_scram_secret(secret_for_plain_password(user_, password)));
  client_scram_keys_.reset();  // of the proxy's own salt, unknown to servers
  co_return ok;
}

awaitable<bool> Session::authenticate_unknown() {
  std::array<std::byte, 16> noise;
  random_bytes(noise);
  bool ok = co_await authenticate_scram(
      format_scram_secret(make_scram_secret(as_chars(noise), "plexiproxy", 4096)));
  co_return ok;
}

const config::Backend& Session::write_target() const {
  auto health = env_.health ? env_.health(cluster_->name) : nullptr;
  return routing::write_target(*cluster_, health.get());
}

awaitable<bool> Session::authenticate_looked_up() {
  std::string error;
  const config::Backend& backend = write_target();
  auto found = co_await env_.auth_queries->find(*cluster_, backend, user_, error);
  if (!found) {
    env_.log->warn("auth_query for user {} on backend {} of cluster {} failed: {}", user_,
                   backend.name, cluster_->name, error);
    env_.metrics.error(metrics::Error::kBackendConnect);
    co_await fatal("08006", "plexiproxy: cannot look up user \"" + user_ + "\" on the server");
    co_return false;
  }
  const std::string& secret = found->secret;
  if (found->found && is_md5_secret(secret) &&
      access_method_ != config::AccessMethod::kScramSha256) {
    client_password_ = secret;
    co_return co_await authenticate_md5(secret);
  }
  if (found->found && parse_scram_secret(secret)) co_return co_await authenticate_scram(secret);
  if (found->found) {
    // No password (NULL), or a form PostgreSQL no longer stores: nobody logs in with it.
    env_.log->warn("auth_query found no usable secret for user {} in cluster {}", user_,
                   cluster_->name);
  }
  co_return co_await authenticate_unknown();
}

awaitable<bool> Session::authenticate_cert() {
  std::string name = socket_.verified_peer_name();
  if (name != user_) {
    env_.metrics.error(metrics::Error::kAuthFailed);
    // Built before the co_await: GCC 12 mishandles temporaries of a ?: inside one.
    std::string message = "certificate authentication failed for user \"" + user_ + "\"";
    if (name.empty()) message = "connection requires a valid client certificate";
    co_await fatal("28000", message);
    co_return false;
  }
  encode_authentication_ok(output_);
  co_return true;
}

awaitable<bool> Session::authenticate_scram(const std::string& secret_text) {
  auto failed = [this]() -> awaitable<bool> {
    env_.metrics.error(metrics::Error::kAuthFailed);
    co_await fatal("28P01", "password authentication failed for user \"" + user_ + "\"");
    co_return false;
  };
  auto secret = parse_scram_secret(secret_text);
  if (!secret) {
    env_.log->error("user {}: the configured SCRAM secret is malformed", user_);
    co_return co_await failed();
  }
  std::array<std::string_view, 1> mechanisms{kScramSha256};
  encode_authentication_sasl(output_, mechanisms);
  bool sent = co_await flush();
  if (!sent) co_return false;

  ScramServer scram(*secret);
  Frame frame;
  bool got_message = co_await read_message(frame);
  if (!got_message) co_return false;
  if (frame.type != frontend::kPassword) {
    co_await fatal("08P01", "expected SASL response");
    co_return false;
  }
  auto initial = parse_sasl_initial_response(frame.body);
  if (!initial || initial->first != kScramSha256) {
    input_.consume(frame.size);
    co_await fatal("08P01", "client selected an invalid SASL authentication mechanism");
    co_return false;
  }
  std::string error;
  auto server_first = scram.handle_client_first(as_chars(initial->second), error);
  input_.consume(frame.size);
  if (!server_first) {
    co_await fatal("08P01", "malformed SCRAM message: " + error);
    co_return false;
  }
  encode_authentication_sasl_continue(output_, *server_first);
  bool sent_first = co_await flush();
  if (!sent_first) co_return false;

  bool got_final = co_await read_message(frame);
  if (!got_final) co_return false;
  if (frame.type != frontend::kPassword) {
    co_await fatal("08P01", "expected SASL response");
    co_return false;
  }
  auto server_final = scram.handle_client_final(as_chars(frame.body), error);
  input_.consume(frame.size);
  if (!server_final) co_return co_await failed();
  client_scram_keys_ = scram.client_keys();
  encode_authentication_sasl_final(output_, *server_final);
  encode_authentication_ok(output_);
  co_return true;
}

awaitable<bool> Session::authenticate_md5(const std::string& secret) {
  std::array<std::byte, 4> salt;
  random_bytes(salt);
  encode_authentication_md5(output_, salt);
  bool sent = co_await flush();
  if (!sent) co_return false;
  Frame frame;
  bool got_message = co_await read_message(frame);
  if (!got_message) co_return false;
  auto answer = frame.type == frontend::kPassword ? parse_password(frame.body) : std::nullopt;
  bool ok = answer && *answer == md5_salted_response(secret, salt);
  input_.consume(frame.size);
  if (!ok) {
    env_.metrics.error(metrics::Error::kAuthFailed);
    co_await fatal("28P01", "password authentication failed for user \"" + user_ + "\"");
    co_return false;
  }
  encode_authentication_ok(output_);
  co_return true;
}

// Everything before the client is served, in its own coroutine so its frame (and the
// deadline's timer) is gone while the session idles.
awaitable<bool> Session::log_in() {
  auto executor = co_await asio::this_coro::executor;
  // Slow or silent clients may not hold a connection slot for ever before logging in.
  Deadline deadline(executor, config_->limits.startup_timeout, socket_);
  bool started = co_await read_startup();
  if (!started) {
    if (deadline.expired()) env_.metrics.error(metrics::Error::kStartupTimeout);
    co_return false;
  }
  if (env_.shutting_down.load()) {
    co_await fatal("57P03", "the database system is shutting down");
    co_return false;
  }
  if (env_.clients.load() > config_->limits.max_client_conn) {
    env_.metrics.error(metrics::Error::kMaxClientConn);
    co_await fatal("53300", "sorry, too many clients already");
    co_return false;
  }
  if (database_ == kAdminDatabase) {
    admin_console_ = true;
    bool admitted = co_await check_access(kAdminDatabase);
    if (!admitted) co_return false;
    bool authenticated = co_await authenticate();
    if (!authenticated || deadline.expired()) {
      if (deadline.expired()) env_.metrics.error(metrics::Error::kStartupTimeout);
      co_return false;
    }
    // With no users section, loopback clients are trusted, as administrators too.
    bool allowed = config_user_ ? config_user_->admin : !config_->users_configured;
    if (!allowed) {
      env_.metrics.error(metrics::Error::kAuthFailed);
      co_await fatal("42501", "user \"" + user_ + "\" may not use the admin console");
      co_return false;
    }
    co_return co_await take_user_slot();
  }
  cluster_ = config_->find_cluster(database_);
  if (!cluster_ && !config_->fallback_cluster.empty()) {
    cluster_ = config_->find_cluster(config_->fallback_cluster);
  }
  if (!cluster_ || cluster_->protocol != config::Protocol::kPostgres) {
    co_await fatal("3D000", "database \"" + database_ + "\" does not exist");
    co_return false;
  }
  bool admitted = co_await check_access(cluster_->name);
  if (!admitted) co_return false;
  bool authenticated = co_await authenticate();
  if (deadline.expired()) env_.metrics.error(metrics::Error::kStartupTimeout);
  if (!authenticated || deadline.expired()) co_return false;
  co_return co_await take_user_slot();
}

awaitable<bool> Session::check_access(std::string_view cluster) {
  config::AccessRequest request{config::Protocol::kPostgres, cluster, user_,
                                access_address(peer_.address()), socket_.is_tls()};
  const auto* rule = admit(*config_, request, env_);
  if (rule) {
    access_method_ = rule->method;
    co_return true;
  }
  // As PostgreSQL words a pg_hba.conf refusal, so tools that show it read naturally.
  std::string message =
      "plexiproxy access rules refuse connection for " + config::describe_access(request);
  co_await fatal("28000", message);
  co_return false;
}

awaitable<bool> Session::take_user_slot() {
  if (!env_.user_connections) co_return true;
  user_slot_ = env_.user_connections->take(user_, user_client_limit(*config_, config_user_));
  if (user_slot_) co_return true;
  env_.metrics.error(metrics::Error::kMaxUserClientConn);
  co_await fatal("53300", "too many connections for role \"" + user_ + "\"");
  co_return false;
}

void Session::open() {
  env_.clients.fetch_add(1);
  counted_ = true;
  env_.metrics.client_connected();
  error_code ec;
  peer_ = socket_.socket().remote_endpoint(ec);
  config_generation_ = env_.generation();
  config_ = env_.config();
  tls_ = env_.tls();
}

awaitable<void> Session::run() {
  open();
  bool logged_in = co_await log_in();
  if (logged_in && env_.log->should_log(spdlog::level::info)) {
    env_.log->info("client {}:{} {}@{} logged in", peer_.address().to_string(), peer_.port(), user_,
                   database_);
  }
  if (logged_in && admin_console_) {
    cancel_key_ = env_.registry.add(weak_from_this());
    co_await run_admin_console(*this);
  } else if (logged_in) {
    clients_gauge_ = &env_.metrics.clients("postgres", cluster_->name);
    clients_gauge_->Increment();
    cancel_key_ = env_.registry.add(weak_from_this());
    if (cluster_->is_sqlite()) {
      co_await run_sqlite_front(*this);
    } else {
      bool serving = co_await start_relay(*this);
      if (serving) co_return;
    }
  }
  phase_ = Phase::kClosing;
  error_code ignored;
  socket_.close(ignored);
}

awaitable<bool> wait_while_paused(const asio::any_io_executor& executor,
                                  const routing::TrafficControl& traffic, std::string cluster,
                                  std::function<bool()> over) {
  asio::steady_timer timer(executor);
  while (traffic.paused(cluster)) {
    if (over()) co_return false;
    timer.expires_after(std::chrono::milliseconds(20));
    error_code ec;
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
  }
  co_return !over();
}

std::function<void(std::exception_ptr)> log_session_errors(std::shared_ptr<spdlog::logger> log) {
  return [log = std::move(log)](std::exception_ptr error) {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      log->error("session ended by an unexpected error: {}", e.what());
    }
  };
}

awaitable<bool> accept_tls(ClientStream& stream, asio::ssl::context& context,
                           SessionEnvironment& environment, std::string_view protocol,
                           Bytes already_read) {
  error_code ec;
  bool ok = co_await stream.start_tls(context, asio::ssl::stream_base::server, ec, already_read);
  environment.metrics.tls_handshake(protocol, ok);
  if (!ok && environment.log->should_log(spdlog::level::info)) {
    error_code ignored;
    auto peer = stream.socket().remote_endpoint(ignored);
    environment.log->info("TLS handshake with {}:{} failed: {}", peer.address().to_string(),
                          peer.port(), ec.message());
  }
  co_return ok;
}

void log_accept_failure(spdlog::logger& log, const boost::system::error_code& ec) {
  log.warn("accept failed: {}", ec.message());
}

std::array<std::uint8_t, 16> access_address(const asio::ip::address& address) {
  if (address.is_v4()) {
    auto bytes = address.to_v4().to_bytes();
    return config::to_address_bytes(bytes.data(), bytes.size());
  }
  auto bytes = address.to_v6().to_bytes();
  return config::to_address_bytes(bytes.data(), bytes.size());
}

const config::AccessRule* admit(const config::Config& config, const config::AccessRequest& request,
                                SessionEnvironment& environment) {
  static const config::AccessRule kEveryone{};
  if (config.access.empty()) return &kEveryone;
  const auto* rule = config::match_access(config, request);
  if (rule && rule->method != config::AccessMethod::kReject) return rule;
  environment.metrics.error(metrics::Error::kAccessRule);
  static LogThrottle throttle(20, std::chrono::seconds(10));
  std::uint64_t held_back = 0;
  if (!throttle.allow(held_back)) return nullptr;
  std::string unlogged =
      held_back ? fmt::format(" ({} more refused since the last one logged)", held_back) : "";
  if (rule) {
    environment.log->warn("{} refused by the access rule at line {}{}",
                          config::describe_access(request), rule->line, unlogged);
  } else {
    environment.log->warn("{} refused: no access rule matches{}", config::describe_access(request),
                          unlogged);
  }
  return nullptr;
}

int user_client_limit(const config::Config& config, const config::User* user) {
  if (user && user->max_client_conn > 0) return user->max_client_conn;
  return config.limits.max_user_client_conn;
}

void log_unreadable_handover(SessionEnvironment& environment) {
  environment.log->error(
      "a client handed over in the upgrade came with an unreadable state: "
      "closed");
}

void resume_client(tcp::socket socket, SessionEnvironment& environment, std::string_view state) {
  resume_session(std::move(socket), environment, decode_handed_session(state),
                 [&environment](tcp::socket socket, const HandedSession&) {
                   return std::make_shared<Session>(std::move(socket), environment);
                 });
}

awaitable<void> accept_clients(tcp::acceptor& acceptor, SessionEnvironment& environment) {
  return accept_sessions(acceptor, environment, [&environment](tcp::socket socket) {
    return std::make_shared<Session>(std::move(socket), environment);
  });
}

}  // namespace plexi::pg
