// hiredis's event hooks turned into a coroutine loop: hiredis says through its hooks which
// way it waits, the loop waits that way on the socket and calls hiredis's read or write
// handler, which runs the reply callbacks that fill in what the loop waits for.
#include "routing/redis_async.h"

#include <utility>

namespace plexi::routing {
namespace {

HiredisConnection& owner(void* self) { return *static_cast<HiredisConnection*>(self); }

}  // namespace

resp::Value to_value(const redisReply& reply) {
  resp::Value value;
  switch (reply.type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      value.type = reply.type == REDIS_REPLY_STRING   ? resp::Type::kBulkString
                   : reply.type == REDIS_REPLY_STATUS ? resp::Type::kSimpleString
                                                      : resp::Type::kError;
      value.text.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_INTEGER:
      value.type = resp::Type::kInteger;
      value.integer = reply.integer;
      break;
    case REDIS_REPLY_ARRAY:
      // hiredis's reader nests arrays 7 deep at most, which bounds the recursion.
      value.type = resp::Type::kArray;
      value.elements.reserve(reply.elements);
      for (std::size_t i = 0; i < reply.elements; ++i) {
        value.elements.push_back(to_value(*reply.element[i]));
      }
      break;
    default:
      value.type = resp::Type::kNull;
  }
  return value;
}

HiredisConnection::HiredisConnection(Wait wait) : wait_(std::move(wait)) {}

HiredisConnection::~HiredisConnection() { close(); }

void HiredisConnection::close() {
  // Cleared first, so that on_cleanup does not take a close we asked for as a lost connection.
  if (auto* context = std::exchange(context_, nullptr)) redisAsyncFree(context);
  want_read_ = want_write_ = false;
}

// hiredis calls this (with the context still valid) whenever it frees a context: on close(),
// and by itself when the connection failed, which is how we learn that it is gone.
void HiredisConnection::on_cleanup(void* self) {
  auto& connection = owner(self);
  if (connection.context_ == nullptr) return;
  const redisContext& c = connection.context_->c;
  connection.lost_ =
      c.err != 0 && c.errstr[0] != '\0' ? std::string(c.errstr) : "connection closed";
  connection.context_ = nullptr;
  connection.want_read_ = connection.want_write_ = false;
}

void HiredisConnection::on_connect(const redisAsyncContext* context, int status) {
  if (status == REDIS_OK) owner(context->data).established_ = true;
}

void HiredisConnection::on_reply(redisAsyncContext* context, void* reply, void*) {
  // A null reply: the context is being freed with this command unanswered.
  if (reply != nullptr) owner(context->data).reply_ = to_value(*static_cast<redisReply*>(reply));
}

void HiredisConnection::on_message(redisAsyncContext* context, void* reply, void*) {
  if (reply != nullptr) {
    owner(context->data).messages_.push_back(to_value(*static_cast<redisReply*>(reply)));
  }
}

awaitable<bool> HiredisConnection::connect(const std::string& address, std::uint16_t port,
                                           std::string& error) {
  close();
  redisAsyncContext* context = address.starts_with('/') ? redisAsyncConnectUnix(address.c_str())
                                                        : redisAsyncConnect(address.c_str(), port);
  if (context == nullptr) {
    error = "hiredis could not allocate a connection";
    co_return false;
  }
  if (context->err != 0) {  // refused at once, or a bad address
    error = context->errstr;
    redisAsyncFree(context);
    co_return false;
  }
  context->data = this;
  context->ev.data = this;
  context->ev.addRead = [](void* self) { owner(self).want_read_ = true; };
  context->ev.delRead = [](void* self) { owner(self).want_read_ = false; };
  context->ev.addWrite = [](void* self) { owner(self).want_write_ = true; };
  context->ev.delWrite = [](void* self) { owner(self).want_write_ = false; };
  context->ev.cleanup = &HiredisConnection::on_cleanup;
  context_ = context;
  new_socket_ = true;
  established_ = false;
  lost_.clear();
  reply_.reset();
  messages_.clear();
  // A non-blocking connect completes when the socket turns writable: this asks for that wait.
  redisAsyncSetConnectCallback(context, &HiredisConnection::on_connect);
  co_return co_await run_until([this] { return established_; }, error);
}

awaitable<std::optional<resp::Value>> HiredisConnection::command(std::vector<std::string> args,
                                                                 std::string& error) {
  if (context_ == nullptr) {
    error = lost_.empty() ? "not connected" : lost_;
    co_return std::nullopt;
  }
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (const auto& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  reply_.reset();
  // hiredis copies the arguments into its output buffer here.
  if (redisAsyncCommandArgv(context_, &HiredisConnection::on_reply, nullptr,
                            static_cast<int>(argv.size()), argv.data(),
                            lengths.data()) != REDIS_OK) {
    error = "hiredis refused to send " + args.front();
    co_return std::nullopt;
  }
  const bool answered = co_await run_until([this] { return reply_.has_value(); }, error);
  if (!answered) co_return std::nullopt;
  co_return std::exchange(reply_, std::nullopt);
}

awaitable<bool> HiredisConnection::subscribe(const std::string& channel, std::string& error) {
  if (context_ == nullptr) {
    error = lost_.empty() ? "not connected" : lost_;
    co_return false;
  }
  const char* argv[] = {"SUBSCRIBE", channel.c_str()};
  const std::size_t lengths[] = {9, channel.size()};
  if (redisAsyncCommandArgv(context_, &HiredisConnection::on_message, nullptr, 2, argv, lengths) !=
      REDIS_OK) {
    error = "hiredis refused to send SUBSCRIBE";
    co_return false;
  }
  // The confirmation, ["subscribe", channel, count], comes through the message callback.
  auto confirmation = co_await message(error);
  if (!confirmation) co_return false;
  const auto& parts = confirmation->elements;
  if (parts.size() != 3 || parts[0].text != "subscribe" || parts[1].text != channel) {
    error = "SUBSCRIBE " + channel + " was not confirmed";
    co_return false;
  }
  co_return true;
}

awaitable<std::optional<resp::Value>> HiredisConnection::message(std::string& error) {
  const bool arrived = co_await run_until([this] { return !messages_.empty(); }, error);
  if (!arrived) co_return std::nullopt;
  resp::Value next = std::move(messages_.front());
  messages_.pop_front();
  co_return next;
}

awaitable<bool> HiredisConnection::run_until(const std::function<bool()>& done,
                                             std::string& error) {
  while (!done()) {
    if (context_ == nullptr) {
      error = lost_.empty() ? "connection closed" : lost_;
      co_return false;
    }
    // A command is written whole before its reply is read: one direction at a time.
    const bool for_write = want_write_;
    if (!for_write && !want_read_) {
      error = "hiredis waits for nothing";
      co_return false;
    }
    const int fd = context_->c.fd;
    const bool fresh = std::exchange(new_socket_, false);
    const bool ready = co_await wait_(fd, for_write, fresh, error);
    if (!ready) co_return false;
    if (context_ == nullptr) continue;  // closed while we waited
    // May free the context (on_cleanup then clears context_) and runs the reply callbacks.
    if (for_write) {
      redisAsyncHandleWrite(context_);
    } else {
      redisAsyncHandleRead(context_);
    }
  }
  co_return true;
}

}  // namespace plexi::routing
