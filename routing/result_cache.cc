// The result cache's Redis connection: hiredis's async API driven by Asio waits on hiredis's
// own socket, with each command's reply delivered to the coroutine that sent it.
#include "routing/result_cache.h"

#include <algorithm>
#include <charconv>

#include "common/socket_io.h"

namespace plexi::routing {
namespace {

std::optional<std::int64_t> parse_integer(const char* text, std::size_t length) {
  std::int64_t value = 0;
  auto [end, error] = std::from_chars(text, text + length, value);
  if (error != std::errc() || end != text + length) return std::nullopt;
  return value;
}

CacheConnection& owner(void* self) { return *static_cast<CacheConnection*>(self); }

}  // namespace

struct CacheConnection::Request {
  explicit Request(const asio::any_io_executor& executor)
      : timer(executor, asio::steady_timer::time_point::max()) {}
  asio::steady_timer timer;
  bool done = false;
  bool ok = false;
  std::optional<std::string> entry;
  std::vector<std::int64_t> generations;
};

CacheConnection::CacheConnection(asio::any_io_executor worker, CacheTarget target,
                                 std::shared_ptr<spdlog::logger> log,
                                 std::shared_ptr<UnsentInvalidations> unsent)
    : worker_(std::move(worker)),
      target_(std::move(target)),
      log_(std::move(log)),
      unsent_(unsent ? std::move(unsent) : std::make_shared<UnsentInvalidations>()),
      connect_timer_(worker_),
      resolver_(worker_) {}

CacheConnection::~CacheConnection() { close(); }

void CacheConnection::close() {
  connect_timer_.cancel();
  // hiredis answers every command still waiting with a null reply, then calls cleanup().
  if (auto* context = std::exchange(context_, nullptr)) redisAsyncFree(context);
  established_ = false;
}

void CacheConnection::cleanup(void* self) {
  auto& connection = owner(self);
  if (connection.socket_) {
    // Before hiredis closes the descriptor: Asio must stop watching it first.
    connection.socket_->release();
    connection.socket_.reset();
  }
  ++connection.epoch_;
  connection.want_read_ = connection.want_write_ = false;
  connection.reading_ = connection.writing_ = false;
  connection.established_ = false;
  if (connection.context_) {
    // hiredis frees the context itself: the connection failed or the server closed it.
    const redisContext& c = connection.context_->c;
    std::string why = c.err != 0 && c.errstr[0] != '\0' ? c.errstr : "connection closed";
    connection.context_ = nullptr;
    connection.fail(why);
  }
}

void CacheConnection::add_read(void* self) {
  owner(self).want_read_ = true;
  owner(self).arm_read();
}
void CacheConnection::del_read(void* self) { owner(self).want_read_ = false; }
void CacheConnection::add_write(void* self) {
  owner(self).want_write_ = true;
  owner(self).arm_write();
}
void CacheConnection::del_write(void* self) { owner(self).want_write_ = false; }

void CacheConnection::arm_read() {
  if (reading_ || !want_read_ || !socket_) return;
  reading_ = true;
  socket_->async_wait(asio::posix::stream_descriptor::wait_read,
                      [self = shared_from_this(), epoch = epoch_](error_code ec) {
                        if (epoch != self->epoch_) return;  // of a connection since closed
                        self->reading_ = false;
                        if (ec || !self->context_) return;
                        // May run reply callbacks, and free the context (cleanup).
                        redisAsyncHandleRead(self->context_);
                        if (epoch == self->epoch_) self->arm_read();
                      });
}

void CacheConnection::arm_write() {
  if (writing_ || !want_write_ || !socket_) return;
  writing_ = true;
  socket_->async_wait(asio::posix::stream_descriptor::wait_write,
                      [self = shared_from_this(), epoch = epoch_](error_code ec) {
                        if (epoch != self->epoch_) return;
                        self->writing_ = false;
                        if (ec || !self->context_) return;
                        redisAsyncHandleWrite(self->context_);
                        if (epoch == self->epoch_) self->arm_write();
                      });
}

void CacheConnection::on_connect(const redisAsyncContext* context, int status) {
  if (context->data == nullptr || status != REDIS_OK) return;  // a failure reaches cleanup()
  auto& connection = owner(context->data);
  connection.established_ = true;
  connection.connect_timer_.cancel();
  if (connection.log_) {
    connection.log_->info("result cache: connected to {}:{}", connection.target_.host,
                          connection.target_.port);
  }
}

void CacheConnection::fail(const std::string& why) {
  connect_timer_.cancel();
  if (log_ && !failing_) {
    log_->warn("result cache: {}:{}: {}; statements skip the cache for now", target_.host,
               target_.port, why);
  }
  failing_ = true;
  retry_at_ = std::chrono::steady_clock::now() + retry_interval_;
  address_.clear();  // looked up again: the name may point elsewhere by then
  // Deferred by hiredis when called from one of its callbacks.
  if (auto* context = std::exchange(context_, nullptr)) redisAsyncFree(context);
  established_ = false;
}

CacheConnection::Connecting CacheConnection::ensure_connected(config::Duration retry_interval) {
  retry_interval_ = retry_interval;
  if (context_) return Connecting::kUp;
  if (std::chrono::steady_clock::now() < retry_at_) return Connecting::kLater;
  const bool unix_socket = target_.host.starts_with('/');
  std::string address = target_.host;
  error_code not_an_address;
  asio::ip::make_address(address, not_an_address);
  if (!unix_socket && not_an_address) {
    // hiredis would resolve the name itself, blocking the worker.
    if (address_.empty()) {
      resolve();
      return Connecting::kLater;
    }
    address = address_;
  }
  redisAsyncContext* context = unix_socket ? redisAsyncConnectUnix(address.c_str())
                                           : redisAsyncConnect(address.c_str(), target_.port);
  if (context == nullptr) {
    fail("hiredis could not allocate a connection");
    return Connecting::kFailed;
  }
  if (context->err != 0) {  // refused at once, or a bad address
    std::string why = context->errstr;
    redisAsyncFree(context);
    fail(why);
    return Connecting::kFailed;
  }
  context_ = context;
  ++epoch_;
  context->data = this;
  context->ev.data = this;
  context->ev.addRead = &CacheConnection::add_read;
  context->ev.delRead = &CacheConnection::del_read;
  context->ev.addWrite = &CacheConnection::add_write;
  context->ev.delWrite = &CacheConnection::del_write;
  context->ev.cleanup = &CacheConnection::cleanup;
  socket_ = std::make_unique<asio::posix::stream_descriptor>(worker_, context->c.fd);
  // Asks for the write wait that tells a non-blocking connect has completed.
  redisAsyncSetConnectCallback(context, &CacheConnection::on_connect);
  connect_timer_.expires_after(target_.connect_timeout);
  connect_timer_.async_wait([self = shared_from_this(), epoch = epoch_](error_code ec) {
    if (ec || epoch != self->epoch_ || self->established_ || !self->context_) return;
    self->fail("no connection within " + std::to_string(self->target_.connect_timeout.count()) +
               " ms");
  });
  if (!target_.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!target_.username.empty()) auth.push_back(target_.username);
    auth.push_back(target_.password);
    send(auth, &CacheConnection::on_auth, nullptr);
  }
  if (!target_.database.empty() && context_) {
    send({"SELECT", target_.database}, &CacheConnection::on_auth, nullptr);
  }
  // Ahead of any lookup on this connection (Redis answers in order): an entry of a table
  // written while Redis was away must not be served once it is back.
  if (context_) flush_pending_invalidations();
  return context_ ? Connecting::kUp : Connecting::kFailed;
}

void CacheConnection::resolve() {
  if (resolving_) return;
  resolving_ = true;
  resolver_.async_resolve(
      target_.host, std::to_string(target_.port),
      [self = shared_from_this()](error_code ec, const tcp::resolver::results_type& results) {
        self->resolving_ = false;
        if (ec || results.empty()) {
          self->fail("cannot resolve " + self->target_.host + ": " +
                     (ec ? ec.message() : std::string("no address")));
          return;
        }
        self->address_ = results.begin()->endpoint().address().to_string();
        // Invalidations waiting for the connection should not wait for a lookup to open it.
        if (!self->unsent_->empty()) self->ensure_connected(self->retry_interval_);
      });
}

// AUTH and SELECT: a refusal means no command of this connection would do what it should.
void CacheConnection::on_auth(redisAsyncContext* context, void* reply, void*) {
  if (reply == nullptr || context->data == nullptr) return;
  const auto& r = *static_cast<redisReply*>(reply);
  if (r.type == REDIS_REPLY_ERROR) {
    owner(context->data).fail("refused: " + std::string(r.str, r.len));
  }
}

void CacheConnection::send(const std::vector<std::string>& args, redisCallbackFn* callback,
                           void* privdata) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const auto& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  // hiredis copies the arguments into its output buffer; the callback runs exactly once
  // (with a null reply when the connection goes first), unless this refuses the command.
  if (redisAsyncCommandArgv(context_, callback, privdata, static_cast<int>(argv.size()),
                            argv.data(), lengths.data()) != REDIS_OK &&
      callback != nullptr) {
    callback(context_, nullptr, privdata);
  }
}

void CacheConnection::on_lookup_reply(redisAsyncContext*, void* reply, void* privdata) {
  std::unique_ptr<std::shared_ptr<Request>> holder(
      static_cast<std::shared_ptr<Request>*>(privdata));
  Request& request = **holder;
  request.done = true;
  request.timer.cancel();
  if (reply == nullptr) return;
  const auto& r = *static_cast<redisReply*>(reply);
  if (r.type != REDIS_REPLY_ARRAY || r.elements < 1) return;
  const redisReply& entry = *r.element[0];
  if (entry.type == REDIS_REPLY_STRING) {
    request.entry.emplace(entry.str, entry.len);
  } else if (entry.type != REDIS_REPLY_NIL) {
    return;
  }
  for (std::size_t i = 1; i < r.elements; ++i) {
    const redisReply& generation = *r.element[i];
    if (generation.type == REDIS_REPLY_NIL) {
      request.generations.push_back(0);
    } else if (generation.type == REDIS_REPLY_STRING) {
      auto value = parse_integer(generation.str, generation.len);
      if (!value) return;  // someone else's value under our key
      request.generations.push_back(*value);
    } else {
      return;
    }
  }
  request.ok = true;
}

awaitable<CacheLookup> CacheConnection::lookup(const std::string& key,
                                               const std::vector<std::string>& generation_keys,
                                               config::Duration timeout,
                                               config::Duration retry_interval) {
  CacheLookup result;
  const std::uint64_t epoch = epoch_;  // a new connection sends what Redis missed itself
  switch (ensure_connected(retry_interval)) {
    case Connecting::kUp:
      break;
    case Connecting::kLater:
      result.status = CacheLookup::Status::kUnavailable;
      co_return result;
    case Connecting::kFailed:
      result.status = CacheLookup::Status::kFailed;
      co_return result;
  }
  // Written while some connection to this Redis could not say so: raised first.
  if (epoch == epoch_ && !unsent_->empty()) flush_pending_invalidations();
  auto self = shared_from_this();  // kept while the coroutine waits
  auto request = std::make_shared<Request>(worker_);
  request->timer.expires_after(timeout);
  std::vector<std::string> args;
  args.reserve(generation_keys.size() + 2);
  args.push_back("MGET");
  args.push_back(key);
  args.insert(args.end(), generation_keys.begin(), generation_keys.end());
  send(args, &CacheConnection::on_lookup_reply, new std::shared_ptr<Request>(request));
  if (!request->done) {
    error_code ignored;
    co_await request->timer.async_wait(asio::redirect_error(use_awaitable, ignored));
  }
  if (!request->done) {
    fail("no answer within " + std::to_string(timeout.count()) + " ms");
    result.status = CacheLookup::Status::kFailed;
    co_return result;
  }
  if (!request->ok) {
    // The connection went (fail() has logged why), or the reply was not MGET's.
    result.status = CacheLookup::Status::kFailed;
    co_return result;
  }
  failing_ = false;
  result.generations = std::move(request->generations);
  if (request->entry) {
    result.status = CacheLookup::Status::kHit;
    result.entry = std::move(*request->entry);
  } else {
    result.status = CacheLookup::Status::kMiss;
  }
  co_return result;
}

void CacheConnection::store(const std::string& key, const std::string& entry,
                            config::Duration ttl) {
  if (!connected()) return;
  send({"SET", key, entry, "PX", std::to_string(std::max<std::int64_t>(1, ttl.count()))}, nullptr,
       nullptr);
}

void CacheConnection::on_invalidate_reply(redisAsyncContext* context, void* reply, void* privdata) {
  std::unique_ptr<std::string> key(static_cast<std::string*>(privdata));
  if (reply != nullptr && static_cast<redisReply*>(reply)->type == REDIS_REPLY_INTEGER) {
    if (context != nullptr && context->data != nullptr) owner(context->data).unsent_->sent(*key);
    return;
  }
  // Unknown whether it was applied: raised again once Redis is back.
  if (context != nullptr && context->data != nullptr) {
    owner(context->data).remember_invalidation(std::move(*key));
  }
}

void UnsentInvalidations::add(const std::string& key) {
  std::lock_guard lock(mutex_);
  if (keys_.size() >= kMaxKeys) return;
  keys_.insert(key);
  count_.store(keys_.size(), std::memory_order_release);
}

std::vector<std::string> UnsentInvalidations::keys() const {
  std::lock_guard lock(mutex_);
  return {keys_.begin(), keys_.end()};
}

void UnsentInvalidations::sent(const std::string& key) {
  if (empty()) return;
  std::lock_guard lock(mutex_);
  keys_.erase(key);
  count_.store(keys_.size(), std::memory_order_release);
}

void CacheConnection::on_last_invalidate_reply(redisAsyncContext* context, void* reply,
                                               void* privdata) {
  std::unique_ptr<std::shared_ptr<Request>> holder(
      static_cast<std::shared_ptr<Request>*>(privdata));
  Request& request = **holder;
  request.done = true;
  request.timer.cancel();
  if (reply != nullptr && static_cast<redisReply*>(reply)->type == REDIS_REPLY_INTEGER) {
    request.ok = true;
    if (context != nullptr && context->data != nullptr && request.entry) {
      owner(context->data).unsent_->sent(*request.entry);
    }
  } else if (context != nullptr && context->data != nullptr && request.entry) {
    owner(context->data).remember_invalidation(std::move(*request.entry));
  }
}

awaitable<bool> CacheConnection::invalidate_now(const std::vector<std::string>& generation_keys,
                                                config::Duration timeout,
                                                config::Duration retry_interval) {
  if (generation_keys.empty()) co_return true;
  if (ensure_connected(retry_interval) != Connecting::kUp) {
    for (const auto& key : generation_keys) remember_invalidation(key);
    co_return false;
  }
  auto self = shared_from_this();
  auto request = std::make_shared<Request>(worker_);
  request->timer.expires_after(timeout);
  // Redis answers in order: when the last INCR is answered, the others have been.
  for (std::size_t i = 0; i + 1 < generation_keys.size(); ++i) {
    send({"INCR", generation_keys[i]}, &CacheConnection::on_invalidate_reply,
         new std::string(generation_keys[i]));
  }
  request->entry = generation_keys.back();
  send({"INCR", generation_keys.back()}, &CacheConnection::on_last_invalidate_reply,
       new std::shared_ptr<Request>(request));
  if (!request->done) {
    error_code ignored;
    co_await request->timer.async_wait(asio::redirect_error(use_awaitable, ignored));
  }
  if (!request->done) {
    // Closing the connection answers the INCRs with nothing, which keeps their keys.
    fail("no answer within " + std::to_string(timeout.count()) + " ms");
    co_return false;
  }
  co_return request->ok;
}

void CacheConnection::flush_pending_invalidations() {
  for (const auto& key : unsent_->keys()) {
    send({"INCR", key}, &CacheConnection::on_invalidate_reply, new std::string(key));
  }
}

// ---- the process's connections ----

ResultCache::ResultCache(std::shared_ptr<spdlog::logger> log) : log_(std::move(log)) {}

std::shared_ptr<CacheConnection> ResultCache::connection(const asio::any_io_executor& worker,
                                                         const config::Backend& backend) {
  CacheTarget target;
  target.host = backend.host;
  target.port = backend.port;
  target.username = backend.username;
  target.password = backend.password;
  target.database = backend.database;
  target.connect_timeout = backend.pool.connect_timeout;
  std::pair<const void*, CacheTarget> key{&asio::query(worker, asio::execution::context), target};
  std::lock_guard lock(mutex_);
  auto& connection = connections_[key];
  if (!connection) {
    auto& unsent = unsent_[target];
    if (!unsent) unsent = std::make_shared<UnsentInvalidations>();
    connection = std::make_shared<CacheConnection>(worker, target, log_, unsent);
  }
  return connection;
}

void ResultCache::close_all() {
  decltype(connections_) connections;
  {
    std::lock_guard lock(mutex_);
    connections.swap(connections_);
  }
  for (auto& [key, connection] : connections) connection->close();
}

const config::Backend* cache_backend(const config::Cluster& cluster) {
  for (const auto& backend : cluster.backends) {
    if (backend.role == config::Role::kCache) return &backend;
  }
  return nullptr;
}

}  // namespace plexi::routing
