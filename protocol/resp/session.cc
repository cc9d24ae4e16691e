// A client's session on a Redis listener: requests read as they arrive and handled in
// order, replies written in that order by a second coroutine as they become ready, and the
// commands whose state belongs to the client's connection with the proxy answered here.
#include "protocol/resp/session.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include "common/socket_io.h"

namespace plexi::resp {
namespace {

// What a client waiting for its next request holds, and what one that sent a large pipeline
// keeps once it is idle again.
constexpr std::size_t kIdleInputBuffer = 1024;
constexpr std::size_t kLargestIdleInputBuffer = 16384;

bool equals_upper(std::string_view text, std::string_view upper) {
  return text.size() == upper.size() &&
         std::equal(text.begin(), text.end(), upper.begin(), [](char a, char b) {
           return (a >= 'a' && a <= 'z' ? static_cast<char>(a - 32) : a) == b;
         });
}

std::optional<std::int64_t> to_integer(std::string_view text) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

}  // namespace

Session::Session(tcp::socket socket, SessionEnvironment& environment, std::string cluster)
    : socket_(std::move(socket)),
      env_(environment),
      cluster_name_(std::move(cluster)),
      waker_(socket_.get_executor()),
      reader_waker_(socket_.get_executor()) {}

Session::~Session() {
  // Replies still on their way land in slots nobody reads.
  for (auto& pending : replies_) {
    if (pending.slot) pending.slot->waker = nullptr;
  }
  for (auto& link : own_) {
    if (link) link->close("the client left");
  }
  if (registry_key_) env_.registry.remove(*registry_key_);
  if (phase_ != Phase::kStartup && env_.log->should_log(spdlog::level::info)) {
    auto seconds = std::chrono::duration<double>(std::chrono::system_clock::now() - connected_at_);
    env_.log->info("redis client {}:{} {}@{} {} after {:.1f}s", peer_.address().to_string(),
                   peer_.port(), user_, cluster_name_,
                   handed_over_ ? "handed to the new process" : "disconnected", seconds.count());
  }
  if (counted_) env_.clients.fetch_sub(1);
  if (clients_gauge_) clients_gauge_->Decrement();
}

ClientInfo Session::describe() const {
  ClientInfo info;
  info.protocol = "redis";
  info.address = peer_.address().to_string() + ":" + std::to_string(peer_.port());
  info.cluster = cluster_name_;
  info.state = std::string(pg::to_string(phase_.load()));
  info.connected_at = connected_at_;
  if (const char* version = tls_version_.load()) info.tls = version;
  std::lock_guard lock(info_lock_);
  info.user = user_;
  info.database = std::to_string(database_);
  info.application_name = client_name_;
  info.backend = shown_backend_;
  info.pinned = pin_reason_;
  return info;
}

void Session::kill() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->env_.log->info("redis client {}@{} killed", self->user_, self->cluster_name_);
    error_code ignored;
    self->socket_.shutdown(tcp::socket::shutdown_both, ignored);
    self->socket_.close(ignored);
  });
}

void Session::expire_idle(std::chrono::milliseconds timeout) {
  asio::post(socket_.get_executor(), [self = shared_from_this(), timeout] {
    // Subscribers, MONITOR and transactions hold a link of their own and are not idle, as
    // redis-server's timeout spares subscribers.
    if (self->phase_ == Phase::kStartup || !self->replies_.empty() || self->pinned_backend_ >= 0 ||
        self->in_multi_) {
      return;
    }
    if (std::chrono::steady_clock::now() - self->last_request_ < timeout) return;
    self->env_.metrics.error(metrics::Error::kClientIdleTimeout);
    self->env_.log->info("redis client {}:{} {} closed after client_idle_timeout",
                         self->peer_.address().to_string(), self->peer_.port(), self->user_);
    // As redis-server's timeout: closed with nothing said.
    error_code ignored;
    self->socket_.shutdown(tcp::socket::shutdown_both, ignored);
    self->socket_.close(ignored);
  });
}

void Session::drain() {
  // A client between requests leaves at once; one with replies due gets them first.
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    if (!self->replies_.empty() || self->pinned_backend_ >= 0) return;
    error_code ignored;
    if (self->can_hand_over()) {
      // The read under way ends; the request loop, seeing why, hands the client over. (The
      // writer is idle: with no reply due, it has nothing under way on the socket.)
      if (self->output_.empty()) {
        self->handing_over_ = true;
        self->socket_.socket().cancel(ignored);
      }
      return;
    }
    self->socket_.shutdown(tcp::socket::shutdown_receive, ignored);
  });
}

bool Session::can_hand_over() const {
  return env_.handover && cluster_ && phase_ != Phase::kStartup && phase_ != Phase::kClosing &&
         !socket_.is_tls() && pinned_backend_ < 0 && !in_multi_ && !multi_deferred_ && !watching_ &&
         !subscribed_ && !monitoring_ && !sticky_ && !blocking_link_ && env_.handover->is_open();
}

bool Session::hand_over() {
  HandedSession state;
  state.cluster = cluster_name_;
  state.user = user_;
  state.authenticated = authenticated_;
  state.access_method = access_method_ ? static_cast<int>(*access_method_) : -1;
  state.protocol = protocol_;
  state.database = database_;
  state.client_name = client_name_;
  state.connected_at_us = to_unix_micros(connected_at_);
  state.unread = input_.readable_text();
  error_code ec;
  int fd = socket_.socket().release(ec);
  if (ec) return false;
  input_.consume(input_.size());
  bool offered = env_.handover->offer({"redis", encode_handed_session(state), fd});
  if (!offered) ::close(fd);  // the handover ended a moment ago: closed, as the drain would
  return offered;
}

void Session::reply(std::string bytes) {
  Pending pending;
  pending.ready = std::move(bytes);
  pending.is_ready = true;
  replies_.push_back(std::move(pending));
  waker_.wake();
}

void Session::reply_error(std::string_view message) {
  scratch_.clear();
  writer().error(message);
  reply(scratch_);
}

bool Session::check_password(std::string_view user, std::string_view password) {
  if (!config_->users_configured) return false;
  const auto* found = config_->find_user(user);
  if (!found) return false;
  // A user of auth: cert has no password: its proof is a verified client certificate naming
  // it, whatever AUTH carries.
  if (found->auth == config::UserAuth::kCert) return socket_.verified_peer_name() == user;
  if (config::is_hashed_secret(found->password)) {
    env_.log->error("user {}: a hashed secret cannot check a Redis password; give a plain password",
                    user);
    return false;
  }
  return found->password == password;
}

bool Session::admit_connection(std::string& refusal) {
  if (config_->access.empty()) {
    access_method_ = config::AccessMethod::kPassword;
    return true;
  }
  config::AccessRequest request{config::Protocol::kRedis, cluster_name_, "default",
                                pg::access_address(peer_.address()), socket_.is_tls()};
  if (config_->users_configured) {
    bool needs_user = false;
    config::match_access_before_user(*config_, request, needs_user);
    if (needs_user) return true;  // AUTH names the user
  }
  // The first rule this client matches names no user (or there are no users and every
  // client is "default"): it decides now.
  const auto* rule = pg::admit(*config_, request, env_);
  if (!rule) {
    refusal =
        "ERR plexiproxy access rules refuse connection for " + config::describe_access(request);
    return false;
  }
  access_method_ = rule->method;
  if (rule->method == config::AccessMethod::kTrust) authenticated_ = true;
  return true;
}

Session::Login Session::log_in(std::string_view user, std::string_view password) {
  auto method = access_method_;
  if (!method) {
    config::AccessRequest request{config::Protocol::kRedis, cluster_name_, user,
                                  pg::access_address(peer_.address()), socket_.is_tls()};
    const auto* rule = pg::admit(*config_, request, env_);
    if (!rule) {
      reply_error("NOPERM plexiproxy access rules refuse connection for " +
                  config::describe_access(request));
      return Login::kRefused;
    }
    method = rule->method;
  }
  bool ok = false;
  switch (*method) {
    case config::AccessMethod::kTrust:
      ok = true;
      break;
    case config::AccessMethod::kCert:
      ok = socket_.verified_peer_name() == user;
      break;
    default:
      ok = check_password(user, password);
      break;
  }
  if (!ok) {
    env_.metrics.error(metrics::Error::kAuthFailed);
    return Login::kWrongPassword;
  }
  if (env_.user_connections && (!user_slot_ || user != user_)) {
    const auto* found = config_->find_user(user);
    auto slot = env_.user_connections->take(user, pg::user_client_limit(*config_, found));
    if (!slot) {
      env_.metrics.error(metrics::Error::kMaxUserClientConn);
      reply_error("ERR max number of clients reached");
      return Login::kRefused;
    }
    user_slot_ = std::move(slot);
  }
  authenticated_ = true;
  std::lock_guard lock(info_lock_);
  user_ = std::string(user);
  return Login::kOk;
}

bool Session::auth(std::span<const std::string_view> args) {
  if (args.size() != 2 && args.size() != 3) {
    reply_error("ERR wrong number of arguments for 'auth' command");
    return true;
  }
  if (!config_->users_configured) {
    reply_error(
        "ERR AUTH <password> called without any password configured for the default user. "
        "Are you sure your configuration is correct?");
    return true;
  }
  std::string_view user = args.size() == 3 ? args[1] : "default";
  switch (log_in(user, args.back())) {
    case Login::kOk:
      reply("+OK\r\n");
      return true;
    case Login::kWrongPassword:
      reply_error("WRONGPASS invalid username-password pair or user is disabled.");
      return true;
    case Login::kRefused:
      return false;
  }
  return true;
}

bool Session::hello(std::span<const std::string_view> args) {
  int version = protocol_;
  std::size_t i = 1;
  if (args.size() > 1) {
    auto asked = to_integer(args[1]);
    if (!asked) {
      reply_error("ERR Protocol version is not an integer or out of range");
      return true;
    }
    if (*asked != 2 && *asked != 3) {
      reply_error("NOPROTO unsupported protocol version");
      return true;
    }
    version = static_cast<int>(*asked);
    i = 2;
  }
  std::string name;
  bool naming = false;
  for (; i < args.size(); ++i) {
    if (equals_upper(args[i], "AUTH") && i + 2 < args.size()) {
      auto login =
          config_->users_configured ? log_in(args[i + 1], args[i + 2]) : Login::kWrongPassword;
      if (login == Login::kRefused) return false;
      if (login == Login::kWrongPassword) {
        if (!config_->users_configured) env_.metrics.error(metrics::Error::kAuthFailed);
        reply_error("WRONGPASS invalid username-password pair or user is disabled.");
        return true;
      }
      i += 2;
    } else if (equals_upper(args[i], "SETNAME") && i + 1 < args.size()) {
      name = std::string(args[i + 1]);
      naming = true;
      ++i;
    } else {
      reply_error("ERR Syntax error in HELLO option '" + std::string(args[i]) + "'");
      return true;
    }
  }
  if (!authenticated_) {
    reply_error(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise "
        "the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the "
        "client and select the RESP protocol version at the same time");
    return true;
  }
  if (naming) {
    std::lock_guard lock(info_lock_);
    client_name_ = name;
  }
  if (version != protocol_) {
    // Replies of the other version come from links that speak it.
    protocol_ = version;
    shared_.clear();
  }
  scratch_.clear();
  auto w = writer();
  w.map(8);
  w.bulk("server");
  w.bulk("redis");
  w.bulk("version");
  w.bulk(kServerVersion);
  w.bulk("proto");
  w.integer(protocol_);
  w.bulk("id");
  w.integer(registry_key_ ? registry_key_->pid : 0);
  w.bulk("mode");
  w.bulk("standalone");
  w.bulk("role");
  w.bulk("master");
  w.bulk("modules");
  w.array(0);
  w.bulk("proxy");
  w.bulk("plexiproxy " PLEXI_VERSION);
  reply(scratch_);
  return true;
}

void Session::client_command(std::span<const std::string_view> args) {
  std::string_view sub = args.size() > 1 ? args[1] : "";
  if (equals_upper(sub, "SETNAME") && args.size() == 3) {
    if (std::any_of(args[2].begin(), args[2].end(), [](char c) { return c < '!' || c > '~'; })) {
      reply_error("ERR Client names cannot contain spaces, newlines or special characters.");
      return;
    }
    std::lock_guard lock(info_lock_);
    client_name_ = std::string(args[2]);
  } else if (equals_upper(sub, "GETNAME") && args.size() == 2) {
    std::string name;
    {
      std::lock_guard lock(info_lock_);
      name = client_name_;
    }
    scratch_.clear();
    if (name.empty()) {
      writer().null();
    } else {
      writer().bulk(name);
    }
    reply(scratch_);
    return;
  } else if (equals_upper(sub, "ID") && args.size() == 2) {
    reply(":" + std::to_string(registry_key_ ? registry_key_->pid : 0) + "\r\n");
    return;
  } else {
    // Every other CLIENT subcommand would describe or change the proxy's own connection to a
    // server, not this client's.
    reply_error("ERR plexiproxy: CLIENT " + std::string(sub) +
                " is not supported through the proxy");
    return;
  }
  reply("+OK\r\n");
}

bool Session::answer_locally(std::string_view name, std::span<const std::string_view> args,
                             bool& end_session) {
  if (equals_upper(name, "QUIT")) {
    reply("+OK\r\n");
    end_session = true;
    return true;
  }
  if (equals_upper(name, "AUTH")) {
    end_session = !auth(args);
    return true;
  }
  if (equals_upper(name, "HELLO")) {
    if (pinned_backend_ >= 0) {
      reply_error("ERR plexiproxy: HELLO inside a transaction or subscription is not supported");
      return true;
    }
    end_session = !hello(args);
    return true;
  }
  if (!authenticated_) {
    reply_error("NOAUTH Authentication required.");
    return true;
  }
  // A pinned client's own link answers the rest, with the server's own behaviour inside a
  // transaction or subscription.
  if ((pinned_backend_ >= 0 || in_multi_) && !equals_upper(name, "CLIENT")) return false;
  if (equals_upper(name, "PING") && args.size() <= 2) {
    scratch_.clear();
    if (args.size() == 2) {
      writer().bulk(args[1]);
    } else {
      writer().simple("PONG");
    }
    reply(scratch_);
    return true;
  }
  if (equals_upper(name, "ECHO") && args.size() == 2) {
    scratch_.clear();
    writer().bulk(args[1]);
    reply(scratch_);
    return true;
  }
  if (equals_upper(name, "SELECT")) {
    auto index = args.size() == 2 ? to_integer(args[1]) : std::nullopt;
    if (args.size() != 2) {
      reply_error("ERR wrong number of arguments for 'select' command");
    } else if (!index) {
      reply_error("ERR value is not an integer or out of range");
    } else if (*index < 0 || *index >= 16) {
      // Redis' default of 16 databases; a server configured with more refuses nothing the
      // proxy lets through, one with fewer answers its own error on the link's SELECT.
      reply_error("ERR DB index is out of range");
    } else {
      if (*index != database_) {
        {
          std::lock_guard lock(info_lock_);
          database_ = static_cast<int>(*index);
        }
        shared_.clear();
        for (auto& link : own_) {
          if (link) link->close("the client selected another database");
        }
        own_.clear();
      }
      reply("+OK\r\n");
    }
    return true;
  }
  if (equals_upper(name, "CLIENT")) {
    client_command(args);
    return true;
  }
  if (equals_upper(name, "RESET")) {
    for (auto& link : own_) {
      if (link) link->close("the client reset its connection");
    }
    own_.clear();
    shared_.clear();
    protocol_ = 2;
    in_multi_ = multi_deferred_ = multi_failed_ = watching_ = subscribed_ = monitoring_ = false;
    sticky_ = false;
    pinned_backend_ = -1;
    bool logs_out = config_->users_configured && access_method_ != config::AccessMethod::kTrust;
    {
      std::lock_guard lock(info_lock_);
      database_ = 0;
      client_name_.clear();
      pin_reason_.clear();
      if (logs_out) user_ = "default";
    }
    if (logs_out) {
      authenticated_ = false;
      user_slot_ = {};
    }
    reply("+RESET\r\n");
    return true;
  }
  return false;
}

awaitable<bool> Session::handle(const Request& request) {
  if (request.args.empty()) co_return true;
  std::span<const std::string_view> args(request.args);
  bool end_session = false;
  if (answer_locally(args[0], args, end_session)) co_return !end_session;
  std::string_view raw = request.inline_form ? std::string_view()
                                             : as_chars(input_.readable()).substr(0, request.size);
  bool going_on = co_await relay(args[0], args, raw);
  co_return going_on;
}

awaitable<void> Session::write_replies() {
  auto self = shared_from_this();
  while (true) {
    while (!replies_.empty()) {
      auto& front = replies_.front();
      if (front.slot) {
        if (!front.slot->done) break;
        output_.append(front.slot->reply);
      } else if (front.merge) {
        if (!front.merge->done()) break;
        output_.append(finish_merge(*front.merge));
      } else if (front.is_ready) {
        output_.append(front.ready);
      } else {
        break;
      }
      record(front);
      replies_.pop_front();
    }
    if (!output_.empty()) {
      if (env_.metrics.enabled())
        env_.metrics.bytes(metrics::Direction::kClientOut, output_.size());
      error_code ec;
      co_await asio::async_write(socket_, asio::buffer(output_),
                                 asio::redirect_error(use_awaitable, ec));
      output_.clear();
      if (output_.capacity() > (1 << 20)) std::string().swap(output_);
      reader_waker_.wake();
      if (ec) {
        error_code ignored;
        socket_.close(ignored);
        break;
      }
      continue;
    }
    reader_waker_.wake();
    if (closing_ && replies_.empty()) break;
    if (!socket_.is_open()) break;
    co_await waker_.wait();
  }
  writer_done_ = true;
  reader_waker_.wake();
}

awaitable<void> Session::serve() {
  while (true) {
    // Every whole request buffered is handled before reading again, so a pipeline reaches
    // the servers in as few writes as it arrived in.
    while (!input_.empty()) {
      Request& request = request_;
      auto status = parse_request(as_chars(input_.readable()), limits_, request);
      if (status == ParseStatus::kNeedMore) {
        // Room for the whole request when its size is known, else twice what is there: a
        // large request is not copied once per read.
        std::size_t missing = request.need > input_.size() ? request.need - input_.size() : 0;
        input_.prepare(std::max(missing, input_.size()));
        break;
      }
      if (status == ParseStatus::kError) {
        env_.metrics.error(metrics::Error::kClientProtocol);
        reply_error("ERR " + request.error);
        co_return;
      }
      bool going_on = co_await handle(request);
      input_.consume(request.size);
      if (!going_on) co_return;
      while (replies_.size() >= config_->limits.max_pipelined && !writer_done_) {
        co_await reader_waker_.wait();
      }
      if (writer_done_) co_return;
    }
    if (handing_over_) {
      handing_over_ = false;
      if (can_hand_over()) {
        handed_over_ = true;
        co_return;
      }
    }
    input_.shrink_if_idle(kLargestIdleInputBuffer);
    error_code ec;
    std::size_t chunk = input_.empty() ? kIdleInputBuffer : kLargestIdleInputBuffer;
    std::size_t received = co_await read_some(socket_, input_, ec, chunk);
    if (received == 0) {
      // The drain cancelled the read to hand the client over.
      handed_over_ = handing_over_ && ec == asio::error::operation_aborted && can_hand_over();
      co_return;
    }
    last_request_ = std::chrono::steady_clock::now();
    if (env_.metrics.enabled()) env_.metrics.bytes(metrics::Direction::kClientIn, received);
    phase_ = Phase::kActive;
  }
}

void Session::open() {
  env_.clients.fetch_add(1);
  counted_ = true;
  env_.metrics.client_connected();
  error_code ec;
  peer_ = socket_.socket().remote_endpoint(ec);
  config_generation_ = env_.generation();
  config_ = env_.config();
  registry_key_ = env_.registry.add(weak_from_this());
}

awaitable<void> Session::run() {
  auto self = shared_from_this();
  open();
  error_code ec;
  bool started = co_await start_tls();
  if (!started) {
    socket_.close(ec);
    co_return;
  }
  auto found = config_->clusters.find(cluster_name_);
  std::string refusal;
  if (found == config_->clusters.end() || found->second.protocol != config::Protocol::kRedis) {
    refusal = "ERR plexiproxy: this listener's cluster '" + cluster_name_ + "' is gone";
  } else if (env_.clients.load() > config_->limits.max_client_conn) {
    env_.metrics.error(metrics::Error::kMaxClientConn);
    refusal = "ERR max number of clients reached";
  } else if (!admit_connection(refusal)) {
    // refused by the access rules (counted and logged)
  } else if (!config_->users_configured && !is_loopback() &&
             access_method_ != config::AccessMethod::kTrust) {
    env_.metrics.error(metrics::Error::kAuthFailed);
    refusal = "ERR plexiproxy: no users are configured: only loopback clients are trusted";
  }
  if (refusal.empty() && !config_->users_configured && env_.user_connections) {
    user_slot_ = env_.user_connections->take(user_, pg::user_client_limit(*config_, nullptr));
    if (!user_slot_) {
      env_.metrics.error(metrics::Error::kMaxUserClientConn);
      refusal = "ERR max number of clients reached";
    }
  }
  if (refusal.empty()) {
    cluster_ = &found->second;
    std::string error;
    topology_ = routing::RedisTopology::build(*cluster_, error);
    if (!topology_) refusal = "ERR plexiproxy: " + error;
  }
  if (!refusal.empty()) {
    std::string bytes = "-" + refusal + "\r\n";
    co_await asio::async_write(socket_, asio::buffer(bytes),
                               asio::redirect_error(use_awaitable, ec));
    // Requests the client sent already are read and dropped first (for a second at most):
    // closing a socket with unread bytes resets the connection, and the client could lose
    // the refusal before reading it.
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    {
      Deadline deadline(socket_.get_executor(), std::chrono::seconds(1), socket_);
      while (true) {
        std::size_t dropped = co_await read_some(socket_, input_, ec, kIdleInputBuffer);
        if (dropped == 0) break;
        input_.consume(input_.size());
      }
    }
    socket_.close(ec);
    co_return;
  }
  authenticated_ = authenticated_ || !config_->users_configured;
  for (const auto& backend : cluster_->backends) {
    if (!backend.database.empty()) {
      std::lock_guard lock(info_lock_);
      database_ = static_cast<int>(to_integer(backend.database).value_or(0));
      break;
    }
  }
  co_await serve_admitted();
}

awaitable<void> Session::serve_admitted() {
  auto self = shared_from_this();
  error_code ec;
  limits_.max_bulk_bytes = std::min(limits_.max_bulk_bytes, config_->limits.max_message_size);
  commands_ = env_.pools.redis_links().commands(cluster_name_);
  clients_gauge_ = &env_.metrics.clients("redis", cluster_name_);
  clients_gauge_->Increment();
  phase_ = Phase::kIdle;
  if (env_.log->should_log(spdlog::level::debug)) {
    env_.log->debug("redis client {}:{} connected to {}", peer_.address().to_string(), peer_.port(),
                    cluster_name_);
  }
  asio::co_spawn(socket_.get_executor(), write_replies(), asio::detached);
  co_await serve();
  closing_ = true;
  waker_.wake();
  while (!writer_done_) co_await reader_waker_.wait();
  // Every reply due has been written: the new process starts from a clean slate.
  if (handed_over_) handed_over_ = socket_.is_open() && hand_over();
  if (handed_over_) {
    phase_ = Phase::kClosing;
    co_return;
  }
  phase_ = Phase::kClosing;
  socket_.close(ec);
}

awaitable<void> Session::resume(HandedSession state) {
  auto self = shared_from_this();
  connected_at_ = from_unix_micros(state.connected_at_us);  // before open() registers it
  open();
  error_code ec;
  auto found = config_->clusters.find(cluster_name_);
  std::string error;
  if (found != config_->clusters.end() && found->second.protocol == config::Protocol::kRedis) {
    cluster_ = &found->second;
    topology_ = routing::RedisTopology::build(*cluster_, error);
  }
  if (!topology_) {
    env_.log->warn(
        "redis client {}:{} handed over for cluster '{}', which this config does not "
        "serve: closed",
        peer_.address().to_string(), peer_.port(), cluster_name_);
    socket_.close(ec);
    co_return;
  }
  {
    std::lock_guard lock(info_lock_);
    user_ = std::move(state.user);
    database_ = state.database;
    client_name_ = std::move(state.client_name);
  }
  authenticated_ = state.authenticated || !config_->users_configured;
  if (state.access_method >= 0) {
    access_method_ = static_cast<config::AccessMethod>(state.access_method);
  }
  protocol_ = state.protocol;
  if (env_.user_connections && (authenticated_ || !config_->users_configured)) {
    // Counted as at its login; over a lowered limit, it goes on (it was let in).
    const config::User* user = config_->find_user(user_);
    user_slot_ = env_.user_connections->take(user_, pg::user_client_limit(*config_, user));
  }
  input_.append(state.unread);
  co_await serve_admitted();
}

void resume_client(tcp::socket socket, SessionEnvironment& environment, std::string_view state) {
  pg::resume_session(std::move(socket), environment, decode_handed_session(state),
                     [&environment](tcp::socket socket, const HandedSession& handed) {
                       return std::make_shared<Session>(std::move(socket), environment,
                                                        handed.cluster);
                     });
}

awaitable<bool> Session::start_tls() {
  auto tls = env_.tls();
  if (!tls) co_return true;
  // Under require a client has startup_timeout to complete its handshake; under allow a
  // plain client may stay silent before its first request, as without TLS.
  std::optional<Deadline> deadline;
  auto arm = [&] {
    if (!deadline)
      deadline.emplace(socket_.get_executor(), config_->limits.startup_timeout, socket_);
  };
  if (config_->client_tls == config::ClientTls::kRequire) arm();
  // The client speaks first; its first bytes are read as a Redis client's would be.
  error_code ec;
  std::size_t received = co_await read_some(socket_, input_, ec, kIdleInputBuffer);
  if (received == 0) co_return false;
  bool hello = input_.readable().front() == pg::kTlsHandshakeRecord;
  if (!hello && config_->client_tls == config::ClientTls::kAllow) co_return true;
  arm();
  if (!hello) {
    // As redis-server's tls-port: a plain client fails the handshake and is closed, with
    // no RESP error (it would be sent in clear to a client that may be anything).
    env_.metrics.error(metrics::Error::kTlsRequired);
  }
  bool ok = co_await pg::accept_tls(socket_, *tls, env_, "redis", input_.readable());
  input_.consume(input_.size());
  if (ok) tls_version_ = SSL_get_version(socket_.ssl());
  co_return ok && !deadline->expired();
}

awaitable<void> accept_clients(tcp::acceptor& acceptor, SessionEnvironment& environment,
                               std::string cluster) {
  return pg::accept_sessions(
      acceptor, environment, [&environment, cluster = std::move(cluster)](tcp::socket socket) {
        return std::make_shared<Session>(std::move(socket), environment, cluster);
      });
}

}  // namespace plexi::resp
