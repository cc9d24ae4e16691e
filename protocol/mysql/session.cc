// A client's session on the MySQL listener: the server greeting, the client's handshake
// response, authentication (mysql_native_password, caching_sha2_password with its fast path
// and its full authentication over the RSA key exchange, auth switch), then the cluster's
// front.
#include "protocol/mysql/session.h"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <set>

#include "common/socket_io.h"
#include "protocol/mysql/auth.h"
#include "routing/auth_query.h"
#include "routing/backend_choice.h"

namespace plexi::mysql {
namespace {

// The proxy's RSA key for caching_sha2_password's full authentication without TLS, made
// once per process (2048-bit generation takes a moment).
std::shared_ptr<RsaKey> rsa_key() {
  static std::once_flag once;
  static std::shared_ptr<RsaKey> key;
  std::call_once(once, [] { key = RsaKey::generate(); });
  return key;
}

// caching_sha2_password's cache, as MySQL keeps it: users who completed a full
// authentication since start may use the fast path. Keyed by user and a digest of the
// password, so a changed password needs a full authentication again.
class FastAuthCache {
 public:
  bool contains(const std::string& key) {
    std::lock_guard lock(mutex_);
    return entries_.count(key) != 0;
  }
  void add(const std::string& key) {
    std::lock_guard lock(mutex_);
    if (entries_.size() >= 100000) entries_.clear();
    entries_.insert(key);
  }

 private:
  std::mutex mutex_;
  std::set<std::string> entries_;
};

FastAuthCache& fast_auth_cache() {
  static FastAuthCache cache;
  return cache;
}

std::string denied(const std::string& user, const std::string& host, bool with_password) {
  return "Access denied for user '" + user + "'@'" + host +
         "' (using password: " + (with_password ? "YES" : "NO") + ")";
}

bool is_native_hash(std::string_view password) {
  return password.size() == 41 && password[0] == '*';
}

}  // namespace

Session::Session(tcp::socket socket, SessionEnvironment& environment)
    : socket_(std::move(socket)), env_(environment) {}

Session::~Session() {
  if (registry_key_) env_.registry.remove(*registry_key_);
  if (phase_ != Phase::kStartup && env_.log->should_log(spdlog::level::info)) {
    auto seconds = std::chrono::duration<double>(std::chrono::system_clock::now() - connected_at_);
    env_.log->info("mysql client {}:{} {}@{} {} after {:.1f}s", peer_.address().to_string(),
                   peer_.port(), user_, database_,
                   handed_over_ ? "handed to the new process" : "disconnected", seconds.count());
  }
  if (counted_) env_.clients.fetch_sub(1);
  if (clients_gauge_) clients_gauge_->Decrement();
}

ClientInfo Session::describe() const {
  ClientInfo info;
  info.protocol = "mysql";
  info.address = peer_.address().to_string() + ":" + std::to_string(peer_.port());
  info.state = std::string(pg::to_string(phase_.load()));
  info.connected_at = connected_at_;
  if (const char* version = tls_version_.load()) info.tls = version;
  std::lock_guard lock(cancel_lock_);
  info.user = user_;
  info.database = database_;
  info.application_name = program_name_;
  if (cluster_) info.cluster = cluster_->name;  // a reload may move it to a new snapshot
  if (attached_backend_) info.backend = attached_backend_->name;
  if (server_thread_) info.server_pid = static_cast<std::int32_t>(server_thread_->thread_id);
  info.pinned = shown_pin_;
  return info;
}

bool Session::follow_reload() {
  if (!env_.reloaded_since(config_generation_)) return false;
  auto latest = env_.config();
  auto previous = config_;             // freed (when this was the last user) outside the lock
  std::lock_guard lock(cancel_lock_);  // describe() reads the cluster from another thread
  return config::adopt(latest, {config_, cluster_, config_user_, user_config_});
}

void Session::set_server_thread(std::optional<ServerThread> thread,
                                const config::Backend* backend) {
  std::lock_guard lock(cancel_lock_);
  server_thread_ = std::move(thread);
  attached_backend_ = backend;
}

void Session::set_cancel_action(std::function<void()> action) {
  std::lock_guard lock(cancel_lock_);
  cancel_action_ = std::move(action);
}

void Session::show_pin(std::string reason) {
  std::lock_guard lock(cancel_lock_);
  shown_pin_ = std::move(reason);
}

void Session::kill() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->env_.log->info("mysql client {}@{} killed", self->user_, self->database_);
    error_code ignored;
    self->socket_.shutdown(tcp::socket::shutdown_both, ignored);
    self->socket_.close(ignored);
  });
}

void Session::expire_idle(std::chrono::milliseconds timeout) {
  asio::post(socket_.get_executor(), [self = shared_from_this(), timeout] {
    if (!self->awaiting_command_ || self->attached_backend_) return;
    if (std::chrono::steady_clock::now() - self->last_request_ < timeout) return;
    self->env_.metrics.error(metrics::Error::kClientIdleTimeout);
    self->env_.log->info("mysql client {}:{} {} closed after client_idle_timeout",
                         self->peer_.address().to_string(), self->peer_.port(), self->user_);
    // As MariaDB's wait_timeout: the connection is closed, with nothing said.
    error_code ignored;
    self->socket_.shutdown(tcp::socket::shutdown_both, ignored);
    self->socket_.close(ignored);
  });
}

void Session::cancel() {
  std::optional<ServerThread> thread;
  std::function<void()> action;
  {
    std::lock_guard lock(cancel_lock_);
    thread = server_thread_;
    action = cancel_action_;
  }
  if (thread && thread->address) {
    asio::co_spawn(socket_.get_executor(), kill_query(*thread->address, thread->thread_id),
                   asio::detached);
  } else if (action) {
    action();
  }
}

void Session::drain() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    if (self->phase_ == Phase::kIdle && self->awaiting_command_ && self->can_hand_over()) {
      // The wait for the next command ends; the relay, seeing why, hands the client over.
      self->handing_over_ = true;
      error_code ignored;
      self->socket_.socket().cancel(ignored);
      return;
    }
    if (self->phase_ == Phase::kIdle || self->phase_ == Phase::kStartup ||
        self->phase_ == Phase::kAuthentication) {
      asio::co_spawn(
          self->socket_.get_executor(), [self]() { return self->end_for_shutdown(); },
          asio::detached);
    }
  });
}

awaitable<void> Session::end_for_shutdown() {
  if (phase_ == Phase::kClosing) co_return;
  phase_ = Phase::kClosing;
  ByteVector out;
  std::uint8_t sequence = 0;
  append_packet(
      out, sequence,
      encode_err_payload({error::kServerShutdown, "08S01", "Server shutdown in progress"}));
  error_code ec;
  co_await write_all(socket_, out, ec);
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

bool Session::is_loopback() const { return peer_.address().is_loopback(); }

void Session::send_packet(Bytes payload) { append_packet(output_, sequence_, payload); }

void Session::send_ok(std::uint64_t affected_rows, std::uint64_t last_insert_id,
                      std::uint16_t warnings, std::string_view info) {
  Ok ok;
  ok.affected_rows = affected_rows;
  ok.last_insert_id = last_insert_id;
  ok.status = status_flags_;
  ok.warnings = warnings;
  ok.info = std::string(info);
  send_packet(encode_ok_payload(ok, capabilities_));
}

void Session::send_error(std::uint16_t code, std::string_view sqlstate, std::string_view message) {
  send_packet(encode_err_payload({code, std::string(sqlstate), std::string(message)}));
}

void Session::send_eof(bool end_of_rows, std::uint16_t warnings) {
  if (capabilities_ & cap::kDeprecateEof) {
    if (!end_of_rows) return;  // no EOF after column definitions
    Ok ok;
    ok.status = status_flags_;
    ok.warnings = warnings;
    send_packet(encode_ok_payload(ok, capabilities_, true));
    return;
  }
  send_packet(encode_eof_payload({warnings, status_flags_}));
}

awaitable<bool> Session::flush() {
  if (output_.empty()) co_return true;
  if (env_.metrics.enabled()) env_.metrics.bytes(metrics::Direction::kClientOut, output_.size());
  error_code ec;
  bool ok = co_await write_all(socket_, output_, ec);
  output_.clear();
  if (output_.capacity() > 65536) ByteVector().swap(output_);
  co_return ok;
}

awaitable<void> Session::fatal(std::uint16_t code, std::string_view sqlstate,
                               std::string_view message) {
  phase_ = Phase::kClosing;
  send_error(code, sqlstate, message);
  co_await flush();
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

awaitable<bool> Session::read_packet(ByteVector& payload, bool* starts_at_zero) {
  payload.clear();
  std::size_t limit = config_ ? config_->limits.max_message_size : (64u << 20);
  while (true) {
    if (auto packet = next_packet(input_.readable())) {
      if (payload.size() + packet->payload.size() > limit) {
        env_.metrics.error(metrics::Error::kClientProtocol);
        sequence_ = static_cast<std::uint8_t>(packet->sequence + 1);
        co_await fatal(error::kNetPacketTooLarge, "08S01",
                       "Got a packet bigger than 'max_allowed_packet' bytes");
        co_return false;
      }
      if (starts_at_zero && payload.empty()) *starts_at_zero = packet->sequence == 0;
      payload.insert(payload.end(), packet->payload.begin(), packet->payload.end());
      sequence_ = static_cast<std::uint8_t>(packet->sequence + 1);
      bool more = packet->payload.size() == kMaxPayload;
      input_.consume(packet->size());
      if (!more) co_return true;
      continue;
    }
    // A header announcing more than the limit is refused before its payload arrives.
    auto pending = input_.readable();
    if (pending.size() >= kHeaderSize) {
      std::size_t announced = std::to_integer<std::size_t>(pending[0]) |
                              (std::to_integer<std::size_t>(pending[1]) << 8) |
                              (std::to_integer<std::size_t>(pending[2]) << 16);
      if (payload.size() + announced > limit) {
        env_.metrics.error(metrics::Error::kClientProtocol);
        sequence_ = static_cast<std::uint8_t>(std::to_integer<std::uint8_t>(pending[3]) + 1);
        co_await fatal(error::kNetPacketTooLarge, "08S01",
                       "Got a packet bigger than 'max_allowed_packet' bytes");
        co_return false;
      }
    }
    error_code ec;
    std::size_t chunk = payload.empty() && input_.empty() ? kIdleInputBuffer : 16384;
    std::size_t received = co_await read_some(socket_, input_, ec, chunk);
    if (received == 0 && handing_over_ && ec == asio::error::operation_aborted &&
        !payload.empty()) {
      // Cancelled for a handover in the middle of a command over 16 MB: it is read whole
      // and served here.
      handing_over_ = false;
      continue;
    }
    if (received == 0) co_return false;
    if (env_.metrics.enabled()) env_.metrics.bytes(metrics::Direction::kClientIn, received);
  }
}

bool Session::can_hand_over() const {
  return env_.handover && handover_source_ && cluster_ && !cluster_->is_sqlite() &&
         phase_ != Phase::kClosing && !socket_.is_tls() && output_.empty() &&
         handover_source_->can_hand_over() && env_.handover->is_open();
}

bool Session::hand_over() {
  if (!can_hand_over() || !registry_key_) return false;
  HandedSession state;
  state.user = user_;
  state.password = password_;
  state.password_sha1 = password_sha1_;
  state.database = database_;
  state.cluster = cluster_->name;
  state.schema = schema_;
  state.program_name = program_name_;
  state.capabilities = capabilities_;
  state.collation = collation_;
  state.status_flags = status_flags_;
  state.registry_pid = registry_key_->pid;
  state.registry_secret = registry_key_->secret;
  state.connected_at_us = to_unix_micros(connected_at_);
  handover_source_->write_handover_state(state);
  state.unread = input_.readable_text();
  error_code ec;
  int fd = socket_.socket().release(ec);
  if (ec) return false;
  input_.consume(input_.size());
  phase_ = Phase::kClosing;
  // KILL with its id reaches the new process now.
  env_.registry.remove(*registry_key_);
  registry_key_.reset();
  handed_over_ = env_.handover->offer({"mysql", encode_handed_session(state), fd});
  if (!handed_over_) ::close(fd);  // the handover ended a moment ago: closed, as the drain would
  return true;
}

awaitable<bool> Session::read_command(ByteVector& payload) {
  // The wait for the next command is a read into a small buffer rather than a wait for
  // readability: Asio re-arms epoll (one more system call) for every wait, not for a read.
  // An idle client costs that buffer.
  input_.shrink_if_idle(kIdleInputBuffer);
  awaiting_command_ = true;
  bool got = co_await read_packet(payload, &first_in_order_);
  awaiting_command_ = false;
  last_request_ = std::chrono::steady_clock::now();
  if (!got) co_return false;
  if (!first_in_order_ || payload.empty()) {
    // A command starts a new exchange at sequence 0; anything else is not a client speaking
    // this protocol (or one that lost its place).
    env_.metrics.error(metrics::Error::kClientProtocol);
    sequence_ = 1;
    co_await fatal(1156, "08S01", "Got packets out of order");
    co_return false;
  }
  co_return true;
}

awaitable<bool> Session::switch_plugin(std::string_view plugin, std::string& response) {
  scramble_ = make_scramble();
  send_packet(encode_auth_switch_payload(plugin, scramble_));
  bool sent = co_await flush();
  if (!sent) co_return false;
  ByteVector answer;
  bool got = co_await read_packet(answer);
  if (!got) co_return false;
  response.assign(as_chars(answer));
  co_return true;
}

bool Session::looks_up() const { return cluster_ && cluster_->auth.enabled() && env_.auth_queries; }

awaitable<bool> Session::look_up(const std::string& user, std::string& hash) {
  std::string error;
  auto health = env_.health ? env_.health(cluster_->name) : nullptr;
  const config::Backend& backend = routing::write_target(*cluster_, health.get());
  auto found = co_await env_.auth_queries->find(*cluster_, backend, user, error);
  if (!found) {
    env_.log->warn("auth_query for user {} on backend {} of cluster {} failed: {}", user,
                   backend.name, cluster_->name, error);
    env_.metrics.error(metrics::Error::kBackendConnect);
    co_await fatal(error::kNoBackend, "HY000",
                   "plexiproxy: cannot look up user '" + user + "' on the server");
    co_return false;
  }
  if (found->found && is_native_hash(found->secret)) {
    hash = found->secret;
  } else if (found->found) {
    // No password, or another plugin's secret: nothing the proxy can check or log in with.
    env_.log->warn("auth_query found no mysql_native_password hash for user {} in cluster {}", user,
                   cluster_->name);
  }
  co_return true;
}

awaitable<bool> Session::verify(const std::string& user, std::string plugin, std::string response) {
  password_.clear();
  password_sha1_.clear();
  // Without a users section (or lookups), loopback clients are trusted, whatever they answer.
  if (!config_->users_configured && !looks_up()) co_return is_loopback();
  config_user_ = config_->find_user(user);
  if (config_user_ && config_user_->auth == config::UserAuth::kCert) {
    // The certificate is the proof; whatever the client answered is not looked at.
    co_return socket_.verified_peer_name() == user;
  }
  const std::string* password = config_user_ ? &config_user_->password : nullptr;
  std::string looked_up;
  if (!config_user_ && looks_up()) {
    bool asked = co_await look_up(user, looked_up);
    if (!asked) co_return false;
    if (!looked_up.empty()) password = &looked_up;
  }
  bool plain = password && !is_native_hash(*password) && !password->starts_with("SCRAM-SHA-256$") &&
               !(password->size() == 35 && password->starts_with("md5"));
  if (password && !plain && !is_native_hash(*password)) {
    env_.log->error(
        "user {}: a PostgreSQL secret cannot authenticate MySQL clients; give a plain "
        "password or a mysql_native_password hash",
        user);
  }
  // Answers for another plugin, or caching_sha2 when only a native hash is known, are
  // switched to mysql_native_password with a fresh scramble.
  bool switch_to_native = plugin != kNativePassword && !(plugin == kCachingSha2Password && plain);
  if (switch_to_native) {
    bool answered = co_await switch_plugin(kNativePassword, response);
    if (!answered) co_return false;
    plugin = std::string(kNativePassword);
  }
  if (!password) co_return false;
  if (plugin == kCachingSha2Password && response.empty() && !password->empty()) {
    // A client whose own plugin is not the one the greeting named answers empty, asking to
    // be switched to its plugin (with a scramble meant for it).
    bool answered = co_await switch_plugin(kCachingSha2Password, response);
    if (!answered) co_return false;
  }
  if (plugin == kNativePassword && plain) {
    bool ok = check_native_password(response, scramble_, native_password_hash(*password));
    if (ok) password_ = *password;
    co_return ok;
  }
  if (plugin == kNativePassword) {
    // Only the hash is known: a right answer also gives SHA1(password), which is what the
    // relay logs in to servers with.
    if (!is_native_hash(*password)) co_return false;
    auto stage1 = recover_native_stage1(response, scramble_, *password);
    if (!stage1) co_return false;
    password_sha1_ = std::move(*stage1);
    co_return true;
  }
  // caching_sha2_password with a plain password known.
  std::string cache_key = user + '\0' + native_password_hash(*password);
  if (!response.empty() && fast_auth_cache().contains(cache_key) &&
      check_caching_sha2(response, scramble_, *password)) {
    send_packet(encode_auth_more_data_payload(std::string(1, kFastAuthSuccess)));
    password_ = *password;
    co_return true;
  }
  if (response.empty() && password->empty()) {
    password_.clear();
    co_return true;
  }
  // Full authentication: the password itself, in clear over TLS (NUL-terminated), otherwise
  // RSA-encrypted with the proxy's public key.
  send_packet(encode_auth_more_data_payload(std::string(1, kPerformFullAuthentication)));
  bool sent = co_await flush();
  if (!sent) co_return false;
  ByteVector answer;
  bool got = co_await read_packet(answer);
  if (!got) co_return false;
  if (socket_.is_tls()) {
    std::string_view clear = as_chars(answer);
    if (!clear.empty() && clear.back() == '\0') clear.remove_suffix(1);
    bool same = clear.size() == password->size() &&
                CRYPTO_memcmp(clear.data(), password->data(), clear.size()) == 0;
    if (!same) co_return false;
    fast_auth_cache().add(cache_key);
    password_ = *password;
    co_return true;
  }
  auto key = rsa_key();
  if (answer.size() == 1 && answer[0] == std::byte{static_cast<std::uint8_t>(kRequestPublicKey)}) {
    send_packet(encode_auth_more_data_payload(key->public_pem()));
    bool sent_key = co_await flush();
    if (!sent_key) co_return false;
    bool got_password = co_await read_packet(answer);
    if (!got_password) co_return false;
  }
  auto decrypted = key->decrypt_password(as_chars(answer), scramble_);
  if (!decrypted || *decrypted != *password) co_return false;
  fast_auth_cache().add(cache_key);
  password_ = *password;
  co_return true;
}

awaitable<bool> Session::authenticate(const HandshakeResponse& response) {
  phase_ = Phase::kAuthentication;
  if (!config_->users_configured && !looks_up() && !is_loopback()) {
    env_.metrics.error(metrics::Error::kAuthFailed);
    co_await fatal(error::kAccessDenied, "28000",
                   "no users are configured: only loopback clients are trusted");
    co_return false;
  }
  std::string plugin =
      response.auth_plugin.empty() ? std::string(kNativePassword) : response.auth_plugin;
  bool ok = co_await verify(response.user, plugin, response.auth_response);
  if (!ok) {
    if (phase_ == Phase::kClosing || !socket_.is_open()) co_return false;
    env_.metrics.error(metrics::Error::kAuthFailed);
    co_await fatal(
        error::kAccessDenied, "28000",
        denied(response.user, peer_.address().to_string(), !response.auth_response.empty()));
    co_return false;
  }
  co_return true;
}

// GCC 12 at -O2 reports Asio's coroutine frame deallocation in this function as mismatched
// with its allocation (a false positive, as in ServerConnection::log_in).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
awaitable<bool> Session::log_in() {
  auto executor = co_await asio::this_coro::executor;
  Deadline deadline(executor, config_->limits.startup_timeout, socket_);

  scramble_ = make_scramble();
  Handshake greeting;
  greeting.server_version = std::string(kServerVersion);
  greeting.connection_id = connection_id_;
  greeting.auth_data = scramble_;
  greeting.capabilities = kOfferedCapabilities | (tls_ ? cap::kSsl : 0);
  greeting.collation = kCollationUtf8mb4GeneralCi;
  // Clients that quote values themselves (PyMySQL, mysql_real_escape_string) read
  // NO_BACKSLASH_ESCAPES from the greeting before their first query: when every client of
  // this listener reaches the embedded SQLite database, which keeps backslashes as they
  // are, the greeting says so already.
  bool relays =
      std::any_of(config_->clusters.begin(), config_->clusters.end(), [](const auto& entry) {
        return entry.second.protocol == config::Protocol::kMysql && !entry.second.is_sqlite();
      });
  greeting.status = status::kAutocommit;
  if (!relays) greeting.status |= status::kNoBackslashEscapes;
  status_flags_ = greeting.status;
  greeting.auth_plugin = std::string(kNativePassword);
  sequence_ = 0;
  send_packet(encode_handshake_payload(greeting));
  bool greeted = co_await flush();
  if (!greeted) co_return false;

  ByteVector payload;
  bool got = co_await read_packet(payload);
  if (!got) {
    if (deadline.expired()) env_.metrics.error(metrics::Error::kStartupTimeout);
    co_return false;
  }
  auto response = decode_handshake_response(payload);
  if (response && response->ssl_request && tls_) {
    bool started = co_await start_tls();
    if (!started) co_return false;
    got = co_await read_packet(payload);
    if (!got) {
      if (deadline.expired()) env_.metrics.error(metrics::Error::kStartupTimeout);
      co_return false;
    }
    response = decode_handshake_response(payload);
    if (response && response->ssl_request) response.reset();
  }
  if (response && config_->client_tls == config::ClientTls::kRequire && !socket_.is_tls()) {
    // MySQL 8's answer with require_secure_transport, after the client's response as there.
    env_.metrics.error(metrics::Error::kTlsRequired);
    co_await fatal(error::kSecureTransportRequired, "HY000",
                   "Connections using insecure transport are prohibited while "
                   "--require_secure_transport=ON.");
    co_return false;
  }
  if (!response || response->ssl_request) {
    env_.metrics.error(metrics::Error::kClientProtocol);
    co_await fatal(error::kHandshake, "08S01",
                   response ? "TLS is not enabled on this listener" : "Bad handshake");
    co_return false;
  }
  {
    std::lock_guard lock(cancel_lock_);  // describe() reads it from other threads
    user_ = response->user;
  }
  capabilities_ = response->capabilities & kOfferedCapabilities;
  collation_ = response->collation;
  for (const auto& [key, value] : response->attributes) {
    if (key == "program_name") {
      std::lock_guard lock(cancel_lock_);
      program_name_ = value;
    }
  }
  if (env_.shutting_down.load()) {
    co_await fatal(error::kServerShutdown, "08S01", "Server shutdown in progress");
    co_return false;
  }
  if (env_.clients.load() > config_->limits.max_client_conn) {
    env_.metrics.error(metrics::Error::kMaxClientConn);
    co_await fatal(error::kTooManyConnections, "08004", "Too many connections");
    co_return false;
  }

  // The database names a cluster; any other name is a schema of the only MySQL cluster
  // (or of the fallback cluster, which serves every name).
  {
    std::lock_guard lock(cancel_lock_);
    database_ = (capabilities_ & cap::kConnectWithDb) ? response->database : "";
  }
  auto serves_mysql = [](const config::Cluster& cluster) {
    return cluster.protocol == config::Protocol::kMysql || cluster.is_sqlite();
  };
  const config::Cluster* named = database_.empty() ? nullptr : config_->find_cluster(database_);
  if (named && serves_mysql(*named)) {
    cluster_ = named;
  } else {
    const config::Cluster* only = nullptr;
    int mysql_clusters = 0;
    for (const auto& [name, cluster] : config_->clusters) {
      if (cluster.protocol == config::Protocol::kMysql) {
        only = &cluster;
        ++mysql_clusters;
      }
    }
    if (mysql_clusters == 1) {
      cluster_ = only;
    } else if (!config_->fallback_cluster.empty()) {
      cluster_ = config_->find_cluster(config_->fallback_cluster);
      if (cluster_ && !serves_mysql(*cluster_)) cluster_ = nullptr;
    }
    if (cluster_) schema_ = database_;
  }
  bool logged_in_without_password = false;
  auto refusal =
      admit_user(cluster_ ? cluster_->name : database_, user_, logged_in_without_password);
  if (refusal) {
    co_await fatal(refusal->code, refusal->sqlstate, refusal->message);
    co_return false;
  }
  bool authenticated = logged_in_without_password;
  if (!authenticated) authenticated = co_await authenticate(*response);
  if (deadline.expired()) env_.metrics.error(metrics::Error::kStartupTimeout);
  if (!authenticated || deadline.expired()) co_return false;
  if (!cluster_) {
    co_await fatal(error::kBadDatabase, "42000", "Unknown database '" + database_ + "'");
    co_return false;
  }
  refusal = take_user_slot(user_);
  if (refusal) {
    co_await fatal(refusal->code, refusal->sqlstate, refusal->message);
    co_return false;
  }
  co_return true;
}

std::optional<Err> Session::take_user_slot(const std::string& user) {
  if (!env_.user_connections) return std::nullopt;
  auto slot = env_.user_connections->take(user, pg::user_client_limit(*config_, config_user_));
  if (!slot) {
    env_.metrics.error(metrics::Error::kMaxUserClientConn);
    return Err{error::kTooManyUserConnections, "42000",
               "User " + user + " already has more than 'max_user_connections' active connections"};
  }
  user_slot_ = std::move(slot);
  return std::nullopt;
}

std::optional<Err> Session::admit_user(std::string_view cluster, const std::string& user,
                                       bool& done) {
  done = false;
  config::AccessRequest request{config::Protocol::kMysql, cluster, user,
                                pg::access_address(peer_.address()), socket_.is_tls()};
  const auto* rule = pg::admit(*config_, request, env_);
  if (!rule) {
    return Err{error::kAccessDenied, "28000",
               "Access denied for user '" + user + "'@'" + peer_.address().to_string() +
                   "' by plexiproxy access rules"};
  }
  if (rule->method != config::AccessMethod::kTrust && rule->method != config::AccessMethod::kCert) {
    return std::nullopt;
  }
  phase_ = Phase::kAuthentication;
  if (rule->method == config::AccessMethod::kCert && socket_.verified_peer_name() != user) {
    env_.metrics.error(metrics::Error::kAuthFailed);
    return Err{error::kAccessDenied, "28000",
               "Access denied for user '" + user + "'@'" + peer_.address().to_string() +
                   "': no valid client certificate names this user"};
  }
  config_user_ = config_->find_user(user);
  // The user's plain password, when the config has one, still logs in to servers.
  password_.clear();
  password_sha1_.clear();
  if (config_user_ && !config::is_hashed_secret(config_user_->password)) {
    password_ = config_user_->password;
  }
  done = true;
  return std::nullopt;
}
#pragma GCC diagnostic pop

awaitable<bool> Session::start_tls() {
  bool ok = co_await pg::accept_tls(socket_, *tls_, env_, "mysql", input_.readable());
  input_.consume(input_.size());
  if (ok) tls_version_ = SSL_get_version(socket_.ssl());
  co_return ok;
}

awaitable<bool> Session::change_user(Bytes payload) {
  auto change = decode_change_user(payload.subspan(1), capabilities_);
  if (!change) {
    send_error(error::kHandshake, "08S01", "Bad handshake");
    co_return false;
  }
  // The client answers with the scramble of this connection's last exchange, as a server
  // expects; verify() switches plugins when it must.
  std::string plugin =
      change->auth_plugin.empty() ? std::string(kNativePassword) : change->auth_plugin;
  std::string answer = change->auth_response;
  // The rules apply to the new user as to one logging in: a user they refuse cannot be
  // reached by changing to it.
  bool ok = false;
  auto refusal = admit_user(cluster_->name, change->user, ok);
  if (refusal) {
    send_error(refusal->code, refusal->sqlstate, refusal->message);
    co_return false;
  }
  if (!ok) ok = co_await verify(change->user, plugin, answer);
  if (!ok) {
    env_.metrics.error(metrics::Error::kAuthFailed);
    send_error(error::kAccessDenied, "28000",
               denied(change->user, peer_.address().to_string(), !answer.empty()));
    co_return false;
  }
  if (change->user != user_) {
    refusal = take_user_slot(change->user);
    if (refusal) {
      send_error(refusal->code, refusal->sqlstate, refusal->message);
      co_return false;
    }
  }
  {
    std::lock_guard lock(cancel_lock_);
    user_ = change->user;
  }
  // As at login, the cluster's own name is no schema: the backend's database is.
  schema_ = change->database == cluster_->name ? "" : change->database;
  if (change->collation != 0) collation_ = static_cast<std::uint8_t>(change->collation);
  status_flags_ = status::kAutocommit;
  send_ok();
  co_return true;
}

bool Session::kill_client(std::uint64_t id, bool query_only, std::uint16_t& code,
                          std::string& message) {
  bool admin = config_user_ ? config_user_->admin : !config_->users_configured;
  for (auto& [client_id, client] : env_.registry.clients()) {
    if (static_cast<std::uint64_t>(static_cast<std::uint32_t>(client_id)) != id) continue;
    auto info = client->describe();
    if (info.protocol != "mysql") break;
    if (!admin && info.user != user_) {
      code = error::kKillDenied;
      message = "You are not owner of thread " + std::to_string(id);
      return false;
    }
    if (query_only) {
      client->cancel();
    } else {
      client->kill();
    }
    return true;
  }
  code = error::kUnknownThread;
  message = "Unknown thread id: " + std::to_string(id);
  return false;
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
  // The connection id of the greeting is the key KILL finds this client by.
  registry_key_ = env_.registry.add(weak_from_this());
  connection_id_ = static_cast<std::uint32_t>(registry_key_->pid);
  bool logged_in = co_await log_in();
  if (logged_in) {
    if (env_.log->should_log(spdlog::level::info)) {
      env_.log->info("mysql client {}:{} {}@{} logged in", peer_.address().to_string(),
                     peer_.port(), user_, cluster_->name);
    }
    send_ok();
    bool sent = co_await flush();
    if (sent) {
      co_await serve();
      co_return;
    }
  }
  phase_ = Phase::kClosing;
  error_code ignored;
  socket_.close(ignored);
}

awaitable<void> Session::serve() {
  clients_gauge_ = &env_.metrics.clients("mysql", cluster_->name);
  clients_gauge_->Increment();
  phase_ = Phase::kIdle;
  if (cluster_->is_sqlite()) {
    co_await run_sqlite_front(*this);
  } else {
    co_await run_relay(*this);
  }
  phase_ = Phase::kClosing;
  error_code ignored;
  socket_.close(ignored);
}

awaitable<void> Session::resume(HandedSession state) {
  open();
  {
    std::lock_guard lock(cancel_lock_);
    user_ = std::move(state.user);
    database_ = std::move(state.database);
    program_name_ = std::move(state.program_name);
  }
  password_ = std::move(state.password);
  password_sha1_ = std::move(state.password_sha1);
  schema_ = std::move(state.schema);
  capabilities_ = state.capabilities;
  collation_ = state.collation;
  status_flags_ = state.status_flags;
  connected_at_ = from_unix_micros(state.connected_at_us);
  registry_key_ = env_.registry.add(weak_from_this(), {state.registry_pid, state.registry_secret});
  connection_id_ = static_cast<std::uint32_t>(registry_key_->pid);
  cluster_ = config_->find_cluster(state.cluster);
  error_code ec;
  if (!cluster_ || cluster_->protocol != config::Protocol::kMysql || cluster_->is_sqlite()) {
    env_.log->warn(
        "mysql client {}:{} handed over for cluster '{}', which this config does not "
        "relay: closed",
        peer_.address().to_string(), peer_.port(), state.cluster);
    co_await end_for_shutdown();
    co_return;
  }
  config_user_ = config_->find_user(user_);
  if (env_.user_connections) {
    // Counted as at its login; over a lowered limit, it goes on (it was let in).
    user_slot_ = env_.user_connections->take(user_, pg::user_client_limit(*config_, config_user_));
  }
  input_.append(state.unread);
  clients_gauge_ = &env_.metrics.clients("mysql", cluster_->name);
  clients_gauge_->Increment();
  phase_ = Phase::kIdle;
  co_await resume_relay(*this, state);
  phase_ = Phase::kClosing;
  socket_.close(ec);
}

void resume_client(tcp::socket socket, SessionEnvironment& environment, std::string_view state) {
  pg::resume_session(std::move(socket), environment, decode_handed_session(state),
                     [&environment](tcp::socket socket, const HandedSession&) {
                       return std::make_shared<Session>(std::move(socket), environment);
                     });
}

awaitable<void> accept_clients(tcp::acceptor& acceptor, SessionEnvironment& environment) {
  return pg::accept_sessions(acceptor, environment, [&environment](tcp::socket socket) {
    return std::make_shared<Session>(std::move(socket), environment);
  });
}

}  // namespace plexi::mysql
