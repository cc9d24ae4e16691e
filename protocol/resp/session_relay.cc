// Where a Redis client's requests go: the command table says which arguments are keys and
// whether the command reads, writes, blocks or changes the connection's state; the keys
// pick the shard, the read or write the backend of it. Requests that span shards are split
// and their replies merged; the connection's state (a transaction, WATCH, a subscription,
// MONITOR) keeps the client on a link of its own.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <random>

#include "protocol/resp/session.h"
#include "routing/backend_choice.h"
#include "routing/cluster_routing.h"

namespace plexi::resp {
namespace {

using pools::redis::ReplySlot;
using pools::redis::ServerLink;
using routing::Dispatch;

constexpr std::string_view kCrossShard = "CROSSSLOT Keys in request don't hash to the same slot";

bool is_named(std::string_view text, std::string_view upper) {
  return text.size() == upper.size() &&
         std::equal(text.begin(), text.end(), upper.begin(), [](char a, char b) {
           return (a >= 'a' && a <= 'z' ? static_cast<char>(a - 32) : a) == b;
         });
}

bool is_error(std::string_view reply) {
  return !reply.empty() && (reply[0] == '-' || reply[0] == '!');
}

// The first element of an array or push reply when it is a bulk string: the kind of a
// pub/sub message ("message", "subscribe", ...). Empty otherwise.
std::string_view pubsub_kind(std::string_view reply) {
  if (reply.size() < 8 || (reply[0] != '*' && reply[0] != '>')) return {};
  std::size_t line = reply.find("\r\n");
  if (line == std::string_view::npos || line + 2 >= reply.size() || reply[line + 2] != '$') {
    return {};
  }
  std::size_t length_end = reply.find("\r\n", line + 3);
  if (length_end == std::string_view::npos) return {};
  std::size_t length = 0;
  auto digits = reply.substr(line + 3, length_end - line - 3);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
  if (ec != std::errc() || length > 16 || length_end + 2 + length > reply.size()) return {};
  return reply.substr(length_end + 2, length);
}

bool is_pubsub_reply(std::string_view reply) {
  auto kind = pubsub_kind(reply);
  return kind == "message" || kind == "pmessage" || kind == "smessage" || kind == "subscribe" ||
         kind == "psubscribe" || kind == "ssubscribe" || kind == "unsubscribe" ||
         kind == "punsubscribe" || kind == "sunsubscribe";
}

std::optional<std::uint64_t> to_unsigned(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::uint64_t command_digest(std::string_view name) {
  // FNV-1a of the upper-case name: the entry SHOW QUERIES counts a command under.
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : name) {
    hash ^= static_cast<unsigned char>(c >= 'a' && c <= 'z' ? c - 32 : c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

}  // namespace

// ---------------------------------------------------------------- links

pools::redis::LinkTarget Session::link_target(int backend) const {
  const auto& config = cluster_->backends[static_cast<std::size_t>(backend)];
  pools::redis::LinkTarget target;
  target.host = config.host;
  target.port = config.port;
  target.user = config.username;
  target.password = config.password;
  target.database = database_;
  target.protocol = protocol_;
  target.connect_timeout = config.pool.connect_timeout;
  target.tls = pools::tls_target(config);
  return target;
}

ServerLink& Session::shared_link(int backend) {
  auto index = static_cast<std::size_t>(backend);
  if (shared_.size() <= index) shared_.resize(cluster_->backends.size());
  auto& link = shared_[index];
  if (!link) {
    link =
        env_.pools.redis_links().shared_link(socket_.get_executor(), cluster_name_,
                                             cluster_->backends[index].name, link_target(backend));
  }
  return *link;
}

ServerLink& Session::own_link(int backend) {
  auto index = static_cast<std::size_t>(backend);
  if (own_.size() <= index) own_.resize(cluster_->backends.size());
  auto& link = own_[index];
  if (!link) {
    link = std::make_shared<ServerLink>(socket_.get_executor(), link_target(backend), limits_);
    link->on_unasked([this](std::string_view reply) { unasked(reply); });
    link->set_stream_filter([this](std::string_view reply) {
      if (monitoring_) return true;
      return subscribed_ && protocol_ == 2 && is_pubsub_reply(reply);
    });
  }
  return *link;
}

bool Session::reads_on_replica(const routing::CommandInfo* info) const {
  if (!info || !info->is_read() || cluster_->read_from != config::Role::kReplica) return false;
  // A client reads its own writes on the primary for a while.
  return cluster_->read_your_writes == config::ReadYourWrites::kOff ||
         pools::Clock::now() - wrote_at_ >= cluster_->read_your_writes_window;
}

void Session::follow_reload() {
  // Replies still owed come from the links they were asked on, in order; state (WATCH,
  // a subscription, MONITOR, a blocking command) lives on the links the client has.
  if (!replies_.empty() || blocking_link_ || watching_ || subscribed_ || monitoring_ ||
      sticky_ || !env_.reloaded_since(config_generation_)) {
    return;
  }
  auto latest = env_.config();
  const config::Cluster* cluster = latest->find_cluster(cluster_name_);
  std::string error;
  auto topology = cluster ? routing::RedisTopology::build(*cluster, error) : nullptr;
  if (!topology) return;  // a cluster gone or unusable: the client keeps what it had
  const config::User* no_user = nullptr;  // a Redis session's user is a name only
  std::shared_ptr<const config::Config> no_user_config;
  if (!config::adopt(latest, {config_, cluster_, no_user, no_user_config})) return;
  topology_ = std::move(topology);
  routing_.reset();
  series_.clear();
  shared_.clear();
  own_.clear();
}

int Session::choose(int shard, bool read, std::string& error) {
  routing::ChoiceRequest request;
  request.want = read ? routing::Want::kRead : routing::Want::kWrite;
  if (topology_->sharded()) request.among = topology_->backends(static_cast<std::size_t>(shard));
  if (!routing_) routing_ = env_.routing.cluster(config_, *cluster_);
  auto health = env_.health(cluster_name_);
  auto choice = routing::choose_backend(routing_->router(), *config_, *cluster_, health.get(),
                                        env_.traffic, request);
  if (choice.backend < 0) {
    env_.metrics.error(metrics::Error::kNoWriteTarget);
    error = choice.error;
  }
  return choice.backend;
}

void Session::send(ServerLink& link, int backend, std::string_view raw, std::string_view command) {
  auto slot = std::make_shared<ReplySlot>();
  slot->waker = &waker_;
  Pending pending;
  pending.slot = slot;
  pending.backend = backend;
  pending.command = command;
  if (env_.metrics.enabled() || digesting()) pending.started = pools::Clock::now();
  replies_.push_back(std::move(pending));
  link.send(raw, std::move(slot));
  last_own_ = pinned_backend_ >= 0 || &link == blocking_link_;
}

void Session::watch_for_hangup(std::weak_ptr<ReplySlot> blocked) {
  // The client is not read while its blocking command waits; a client that hangs up then
  // must still free the server connection, as a server frees a blocked client that left.
  socket_.socket().async_wait(
      tcp::socket::wait_read,
      [self = shared_from_this(), blocked = std::move(blocked)](const error_code& ec) {
        auto slot = blocked.lock();
        if (ec || !slot || slot->done || !self->blocking_link_) return;
        char byte = 0;
        error_code peek;
        auto& socket = self->socket_.socket();
        socket.non_blocking(true, peek);  // a look, never a wait on the worker
        std::size_t n = socket.receive(asio::buffer(&byte, 1), tcp::socket::message_peek, peek);
        error_code ignored_mode;
        socket.non_blocking(false, ignored_mode);
        if (n > 0 || peek == asio::error::would_block) return;  // more requests, not a hangup
        self->blocking_link_->close("the client left during a blocking command");
        error_code ignored;
        self->socket_.close(ignored);
      });
}

awaitable<void> Session::wait_for_replies() {
  while (!replies_.empty() && !writer_done_) co_await reader_waker_.wait();
}

void Session::unasked(std::string_view reply) {
  // In the order the server sent it: before the replies still awaited from this link.
  Pending pending;
  pending.ready = std::string(reply);
  pending.is_ready = true;
  auto at = std::find_if(replies_.begin(), replies_.end(),
                         [](const Pending& p) { return (p.slot && !p.slot->done) || p.merge; });
  replies_.insert(at, std::move(pending));
  waker_.wake();
  auto kind = pubsub_kind(reply);
  if (kind == "unsubscribe" || kind == "punsubscribe" || kind == "sunsubscribe") {
    // The last element is how many subscriptions remain.
    auto value = parse_value(reply, limits_);
    if (value && value->elements.size() == 3 && value->elements[2].type == Type::kInteger &&
        value->elements[2].integer == 0) {
      subscribed_ = false;
      leave_pin_if_done();
    }
  }
}

void Session::pin(int backend, std::string reason) {
  pinned_backend_ = backend;
  env_.metrics.pinned(reason);
  std::lock_guard lock(info_lock_);
  pin_reason_ = std::move(reason);
  shown_backend_ = cluster_->backends[static_cast<std::size_t>(backend)].name;
}

void Session::leave_pin_if_done() {
  if (pinned_backend_ < 0 || in_multi_ || watching_ || subscribed_ || monitoring_ || sticky_) {
    return;
  }
  pinned_backend_ = -1;
  std::lock_guard lock(info_lock_);
  pin_reason_.clear();
  shown_backend_.clear();
}

// ---------------------------------------------------------------- routing

bool Session::shard_of_keys(std::span<const std::string_view> args, int& shard) {
  shard = 0;
  if (!topology_->sharded()) return true;
  bool first = true;
  for (auto position : keys_) {
    int key_shard = static_cast<int>(topology_->shard_for(args[position]));
    if (first) {
      shard = key_shard;
      first = false;
    } else if (key_shard != shard) {
      return false;
    }
  }
  return true;
}

awaitable<bool> Session::relay(std::string_view name, std::span<const std::string_view> args,
                               std::string_view raw) {
  std::string encoded;
  if (raw.empty()) {
    // An inline command goes to servers as the array it stands for.
    encode_command(encoded, args);
    raw = encoded;
  }
  if (!command_table_asked_) {
    command_table_asked_ = true;
    load_command_table();
  }
  const routing::CommandInfo* info = commands_->find(args);
  keys_.clear();
  if (info && routing::key_positions(*info, args, keys_) == routing::KeyScan::kMalformed) {
    keys_.clear();  // the server answers the arguments with its own error
  }
  if (in_multi_ || pinned_backend_ >= 0) co_return co_await relay_pinned(name, args, raw, info);
  // PAUSE holds requests that start something new (a transaction under way goes on).
  if (env_.traffic.paused(cluster_name_)) {
    bool resumed = co_await pg::wait_while_paused(
        socket_.get_executor(), env_.traffic, cluster_name_,
        [this] { return env_.shutting_down.load() || writer_done_ || !socket_.is_open(); });
    if (!resumed) co_return false;
  }
  follow_reload();
  if (info && info->dispatch == Dispatch::kConnection) {
    co_return co_await enter_state(name, args, raw, info);
  }

  int shard = 0;
  if (topology_->sharded()) {
    if (info && info->dispatch == Dispatch::kFanOut) {
      if (is_named(name, "SCAN")) co_return co_await scan(args);
      if (is_named(name, "RANDOMKEY")) {
        thread_local std::minstd_rand random{std::random_device{}()};
        shard = static_cast<int>(random() % topology_->shards());
      } else {
        co_return co_await fan_out(name, raw, info);
      }
    } else if (!shard_of_keys(args, shard)) {
      if (info && info->dispatch == Dispatch::kSplit) co_return co_await split(name, args, info);
      reply_error(kCrossShard);
      co_return true;
    } else if (info && info->dispatch == Dispatch::kPubSub && args.size() > 1 &&
               is_named(name, "SPUBLISH")) {
      shard = static_cast<int>(topology_->shard_for(args[1]));
    }
  }

  if (info && info->blocks(args)) {
    // A command that may wait for data waits on a link of the client's own, and nothing the
    // client sends after it runs before it ends, as on a server.
    co_await wait_for_replies();
    std::string error;
    int backend = choose(shard, false, error);
    if (backend < 0) {
      reply_error("ERR plexiproxy: " + error);
      co_return true;
    }
    auto& link = own_link(backend);
    blocking_link_ = &link;
    send(link, backend, raw, info->name);
    watch_for_hangup(replies_.back().slot);
    co_await wait_for_replies();
    co_return !writer_done_;
  }

  std::string error;
  int backend = choose(shard, reads_on_replica(info), error);
  if (backend < 0) {
    reply_error("ERR plexiproxy: " + error);
    co_return true;
  }
  if (info && info->is_write()) wrote_at_ = pools::Clock::now();
  if (last_own_) co_await wait_for_replies();
  send(shared_link(backend), backend, raw, info ? std::string_view(info->name) : "unknown");
  co_return true;
}

awaitable<bool> Session::enter_state(std::string_view name, std::span<const std::string_view> args,
                                     std::string_view raw, const routing::CommandInfo* info) {
  if (is_named(name, "EXEC")) {
    reply_error("ERR EXEC without MULTI");
    co_return true;
  }
  if (is_named(name, "DISCARD")) {
    reply_error("ERR DISCARD without MULTI");
    co_return true;
  }
  if (is_named(name, "UNWATCH")) {
    reply("+OK\r\n");
    co_return true;
  }
  int shard = 0;
  std::string reason;
  bool streamed = false;
  if (is_named(name, "MULTI")) {
    if (topology_->sharded()) {
      // The first command with keys decides which shard runs the transaction.
      in_multi_ = multi_deferred_ = true;
      multi_failed_ = false;
      reply("+OK\r\n");
      co_return true;
    }
    in_multi_ = true;
    reason = "transaction";
  } else if (is_named(name, "WATCH")) {
    if (!shard_of_keys(args, shard)) {
      reply_error(kCrossShard);
      co_return true;
    }
    watching_ = true;
    reason = "watch";
  } else if (is_named(name, "SUBSCRIBE") || is_named(name, "PSUBSCRIBE") ||
             is_named(name, "SSUBSCRIBE")) {
    // Channels meet their publishers on the first shard; shard channels where they hash.
    if (is_named(name, "SSUBSCRIBE") && args.size() > 1) {
      shard = static_cast<int>(topology_->shard_for(args[1]));
    }
    subscribed_ = true;
    streamed = true;
    reason = "subscribe";
  } else if (is_named(name, "MONITOR")) {
    monitoring_ = true;
    streamed = true;
    reason = "monitor";
  } else if (is_named(name, "UNSUBSCRIBE") || is_named(name, "PUNSUBSCRIBE") ||
             is_named(name, "SUNSUBSCRIBE")) {
    // Not subscribed: what a server answers, without holding a link for it.
    scratch_.clear();
    auto w = writer();
    std::string kind(name.size(), ' ');
    std::transform(name.begin(), name.end(), kind.begin(),
                   [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
    std::size_t channels = std::max<std::size_t>(1, args.size() - 1);
    for (std::size_t i = 0; i < channels; ++i) {
      if (protocol_ == 3) {
        w.push(3);
      } else {
        w.array(3);
      }
      w.bulk(kind);
      if (args.size() > 1) {
        w.bulk(args[i + 1]);
      } else {
        w.null();
      }
      w.integer(0);
    }
    reply(scratch_);
    co_return true;
  } else {
    // State the proxy does not follow (CLIENT TRACKING, READONLY, ...): the client keeps
    // one server connection from now on.
    sticky_ = true;
    reason = "connection state (" + std::string(info->name) + ")";
  }
  co_await wait_for_replies();
  std::string error;
  int backend = choose(shard, false, error);
  if (backend < 0) {
    in_multi_ = watching_ = subscribed_ = monitoring_ = sticky_ = false;
    reply_error("ERR plexiproxy: " + error);
    co_return true;
  }
  pin(backend, reason);
  auto& link = own_link(backend);
  if (streamed) {
    link.send_streamed(raw);
    last_own_ = true;
  } else {
    send(link, backend, raw, info->name);
  }
  co_return true;
}

awaitable<bool> Session::relay_pinned(std::string_view name, std::span<const std::string_view> args,
                                      std::string_view raw, const routing::CommandInfo* info) {
  std::string_view command = info ? std::string_view(info->name) : "unknown";
  int shard = 0;
  bool one_shard = shard_of_keys(args, shard);
  if (multi_deferred_) {
    if (is_named(name, "EXEC") || is_named(name, "DISCARD")) {
      bool failed = multi_failed_;
      in_multi_ = multi_deferred_ = multi_failed_ = false;
      if (is_named(name, "DISCARD")) {
        reply("+OK\r\n");
      } else if (failed) {
        reply_error("EXECABORT Transaction discarded because of previous errors.");
      } else {
        reply("*0\r\n");  // nothing was queued
      }
      co_return true;
    }
    if (is_named(name, "MULTI")) {
      reply_error("ERR MULTI calls can not be nested");
      co_return true;
    }
    if (is_named(name, "WATCH")) {
      reply_error("ERR WATCH inside MULTI is not allowed");
      co_return true;
    }
    if (!one_shard) {
      multi_failed_ = true;
      reply_error(kCrossShard);
      co_return true;
    }
    co_await wait_for_replies();
    std::string error;
    int backend = choose(shard, false, error);
    if (backend < 0) {
      multi_failed_ = true;
      reply_error("ERR plexiproxy: " + error);
      co_return true;
    }
    pin(backend, "transaction");
    multi_deferred_ = false;
    auto& link = own_link(backend);
    std::array<std::string_view, 1> multi{"MULTI"};
    link.send_command(multi, nullptr);  // answered +OK to the client already
    send(link, backend, raw, command);
    co_return true;
  }

  auto& link = own_link(pinned_backend_);
  bool other_shard =
      topology_->sharded() && !keys_.empty() &&
      (!one_shard ||
       !std::count(topology_->backends(static_cast<std::size_t>(shard)).begin(),
                   topology_->backends(static_cast<std::size_t>(shard)).end(), pinned_backend_));
  if (other_shard) {
    if (in_multi_) multi_failed_ = true;
    reply_error(kCrossShard);
    co_return true;
  }
  if (in_multi_ && multi_failed_ && is_named(name, "EXEC")) {
    std::array<std::string_view, 1> discard{"DISCARD"};
    link.send_command(discard, nullptr);
    in_multi_ = watching_ = multi_failed_ = false;
    leave_pin_if_done();
    reply_error("EXECABORT Transaction discarded because of previous errors.");
    co_return true;
  }
  if (is_named(name, "SUBSCRIBE") || is_named(name, "PSUBSCRIBE") || is_named(name, "SSUBSCRIBE") ||
      is_named(name, "UNSUBSCRIBE") || is_named(name, "PUNSUBSCRIBE") ||
      is_named(name, "SUNSUBSCRIBE")) {
    if (!in_multi_) {
      if (!is_named(name.substr(0, 2), "UN") && !is_named(name.substr(0, 3), "PUN") &&
          !is_named(name.substr(0, 3), "SUN")) {
        subscribed_ = true;
      }
      if (subscribed_) {
        link.send_streamed(raw);
        co_return true;
      }
    }
  }
  send(link, pinned_backend_, raw, command);
  // The state a command leaves takes effect for the next one, which goes to a shared link
  // only after this one's reply (so it runs after it).
  if (is_named(name, "MULTI")) {
    in_multi_ = true;
  } else if (is_named(name, "EXEC") || is_named(name, "DISCARD")) {
    in_multi_ = watching_ = false;
  } else if (is_named(name, "UNWATCH") && !in_multi_) {
    watching_ = false;
  } else if (is_named(name, "WATCH")) {
    watching_ = true;
  }
  leave_pin_if_done();
  co_return true;
}

// ---------------------------------------------------------------- several shards

awaitable<bool> Session::split(std::string_view name, std::span<const std::string_view> args,
                               const routing::CommandInfo* info) {
  // MSET's keys come with their values: every argument from a key up to the next key
  // travels with it.
  std::size_t group = 1;
  if (keys_.size() >= 2) group = keys_[1] - keys_[0];
  auto merge = std::make_shared<Merge>();
  merge->op = is_named(name, "MGET")   ? Merge::Op::kByPosition
              : is_named(name, "MSET") ? Merge::Op::kAllOk
                                       : Merge::Op::kSum;
  merge->results = keys_.size();
  std::vector<std::vector<std::size_t>> by_shard(topology_->shards());
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    by_shard[topology_->shard_for(args[keys_[i]])].push_back(i);
  }
  const bool read = reads_on_replica(info);
  std::vector<std::pair<int, std::string>> requests;
  for (std::size_t shard = 0; shard < by_shard.size(); ++shard) {
    if (by_shard[shard].empty()) continue;
    std::vector<std::string_view> part{args[0]};
    for (auto key_index : by_shard[shard]) {
      for (std::size_t j = 0; j < group && keys_[key_index] + j < args.size(); ++j) {
        part.push_back(args[keys_[key_index] + j]);
      }
    }
    std::string error;
    int backend = choose(static_cast<int>(shard), read, error);
    if (backend < 0) {
      reply_error("ERR plexiproxy: " + error);
      co_return true;
    }
    std::string request;
    encode_command(request, part);
    requests.emplace_back(backend, std::move(request));
    merge->positions.push_back(by_shard[shard]);
  }
  if (info->is_write()) wrote_at_ = pools::Clock::now();
  co_await send_merge(std::move(merge), requests, info->name);
  co_return true;
}

awaitable<bool> Session::fan_out(std::string_view name, std::string_view raw,
                                 const routing::CommandInfo* info) {
  auto merge = std::make_shared<Merge>();
  merge->op = is_named(name, "KEYS")     ? Merge::Op::kConcat
              : is_named(name, "DBSIZE") ? Merge::Op::kSum
                                         : Merge::Op::kAllOk;
  std::vector<std::pair<int, std::string_view>> requests;
  for (std::size_t shard = 0; shard < topology_->shards(); ++shard) {
    std::string error;
    int backend = choose(static_cast<int>(shard), false, error);
    if (backend < 0) {
      reply_error("ERR plexiproxy: shard " + topology_->shard_name(shard) + ": " + error);
      co_return true;
    }
    requests.emplace_back(backend, raw);
  }
  if (info->is_write()) wrote_at_ = pools::Clock::now();
  co_await send_merge(std::move(merge), requests, info->name);
  co_return true;
}

awaitable<bool> Session::scan(std::span<const std::string_view> args) {
  // The client's cursor is the server's cursor times the number of shards plus the shard
  // it is scanning, so one cursor walks every shard in turn.
  auto cursor = args.size() > 1 ? to_unsigned(args[1]) : std::nullopt;
  if (!cursor) {
    reply_error("ERR invalid cursor");
    co_return true;
  }
  std::size_t shards = topology_->shards();
  std::size_t shard = *cursor % shards;
  std::string server_cursor = std::to_string(*cursor / shards);
  std::vector<std::string_view> request(args.begin(), args.end());
  request[1] = server_cursor;
  std::string error;
  int backend = choose(static_cast<int>(shard), false, error);
  if (backend < 0) {
    reply_error("ERR plexiproxy: " + error);
    co_return true;
  }
  std::string encoded;
  encode_command(encoded, request);
  auto merge = std::make_shared<Merge>();
  merge->op = Merge::Op::kScan;
  merge->shard = shard;
  merge->shards = shards;
  std::array<std::pair<int, std::string_view>, 1> one{{{backend, encoded}}};
  co_await send_merge(std::move(merge), one, "scan");
  co_return true;
}

template <class Requests>
awaitable<void> Session::send_merge(std::shared_ptr<Merge> merge, const Requests& requests,
                                    std::string_view command) {
  if (last_own_) co_await wait_for_replies();
  for (const auto& [backend, request] : requests) {
    auto slot = std::make_shared<ReplySlot>();
    slot->waker = &waker_;
    merge->parts.push_back(slot);
    shared_link(backend).send(request, std::move(slot));
  }
  Pending pending;
  pending.merge = std::move(merge);
  pending.command = command;
  if (env_.metrics.enabled() || digesting()) pending.started = pools::Clock::now();
  replies_.push_back(std::move(pending));
  last_own_ = false;
}

std::string Session::finish_merge(const Merge& merge) {
  std::string out;
  Writer w(out, protocol_);
  std::vector<Value> values;
  for (const auto& part : merge.parts) {
    if (is_error(part->reply)) return part->reply;
    auto value = parse_value(part->reply, limits_);
    if (!value) return "-ERR plexiproxy: a server's reply could not be read\r\n";
    values.push_back(std::move(*value));
  }
  switch (merge.op) {
    case Merge::Op::kByPosition: {
      std::vector<const Value*> results(merge.results, nullptr);
      for (std::size_t p = 0; p < values.size(); ++p) {
        const auto& elements = values[p].elements;
        const auto& positions = merge.positions[p];
        for (std::size_t j = 0; j < positions.size() && j < elements.size(); ++j) {
          results[positions[j]] = &elements[j];
        }
      }
      w.array(results.size());
      for (const auto* result : results) {
        if (result) {
          w.value(*result);
        } else {
          w.null();
        }
      }
      break;
    }
    case Merge::Op::kSum: {
      std::int64_t sum = 0;
      for (const auto& value : values) sum += value.integer;
      w.integer(sum);
      break;
    }
    case Merge::Op::kAllOk:
      w.simple("OK");
      break;
    case Merge::Op::kConcat: {
      std::size_t count = 0;
      for (const auto& value : values) count += value.elements.size();
      w.array(count);
      for (const auto& value : values) {
        for (const auto& element : value.elements) w.value(element);
      }
      break;
    }
    case Merge::Op::kScan: {
      const auto& value = values.front();
      if (value.elements.size() != 2) return "-ERR plexiproxy: unexpected SCAN reply\r\n";
      auto next = to_unsigned(value.elements[0].text).value_or(0);
      std::uint64_t cursor = 0;
      if (next != 0) {
        cursor = next * merge.shards + merge.shard;
      } else if (merge.shard + 1 < merge.shards) {
        cursor = merge.shard + 1;  // the next shard, from its start
      }
      w.array(2);
      w.bulk(std::to_string(cursor));
      w.value(value.elements[1]);
      break;
    }
  }
  return out;
}

// ---------------------------------------------------------------- bookkeeping

bool Session::digesting() const { return env_.digests && config_->digest.enabled; }

void Session::record(const Pending& pending) {
  if (pending.started == pools::Clock::time_point{} || pending.backend < 0) return;
  auto elapsed =
      std::chrono::duration_cast<std::chrono::nanoseconds>(pools::Clock::now() - pending.started);
  const auto& backend = cluster_->backends[static_cast<std::size_t>(pending.backend)];
  if (pending.slot && pending.slot->link_failed) {
    // The reply is the proxy's own error: say in the log why the server was out of reach.
    std::string_view why = pending.slot->reply;
    while (!why.empty() && (why.back() == '\n' || why.back() == '\r')) why.remove_suffix(1);
    env_.log->warn("backend {} of cluster {}: {}", backend.name, cluster_name_, why.substr(1));
  }
  if (digesting()) {
    routing::DigestSample sample;
    sample.cluster = cluster_name_;
    sample.user = user_;
    auto found = std::find_if(digest_entries_.begin(), digest_entries_.end(),
                              [&](const auto& e) { return e.first == pending.command.data(); });
    if (found == digest_entries_.end()) {
      DigestEntry entry;
      entry.shape = std::string(pending.command);
      std::transform(entry.shape.begin(), entry.shape.end(), entry.shape.begin(), [](char c) {
        return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c == '|' ? ' ' : c;
      });
      entry.digest = command_digest(entry.shape);
      digest_entries_.emplace_back(pending.command.data(), std::move(entry));
      found = digest_entries_.end() - 1;
    }
    sample.digest = found->second.digest;
    sample.shape = found->second.shape;
    sample.elapsed = elapsed;
    sample.backend = backend.name;
    sample.error = pending.slot && is_error(pending.slot->reply);
    env_.digests->record(sample);
  }
  if (!env_.metrics.enabled()) return;
  auto index = static_cast<std::size_t>(pending.backend);
  if (series_.size() <= index) series_.resize(cluster_->backends.size(), nullptr);
  if (!series_[index]) {
    series_[index] = &env_.metrics.statements("redis", cluster_name_, backend.name,
                                              config::to_string(backend.role));
  }
  series_[index]->record(elapsed);
}

void Session::load_command_table() {
  auto& registry = env_.pools.redis_links();
  if (!registry.claim_command_table(cluster_name_)) return;
  std::string error;
  int backend = choose(0, false, error);
  if (backend < 0) {
    registry.set_commands(cluster_name_, nullptr);
    return;
  }
  shared_link(backend);
  std::shared_ptr<ServerLink> link = shared_[static_cast<std::size_t>(backend)];
  asio::co_spawn(
      socket_.get_executor(),
      [link, &registry, cluster = cluster_name_, log = env_.log]() -> awaitable<void> {
        Waker waker(co_await asio::this_coro::executor);
        auto slot = std::make_shared<ReplySlot>();
        slot->waker = &waker;
        std::array<std::string_view, 1> command{"COMMAND"};
        link->send_command(command, slot);
        while (!slot->done) co_await waker.wait();
        slot->waker = nullptr;
        Limits limits;
        auto value = parse_value(slot->reply, limits);
        if (!value || value->type != Type::kArray) {
          log->warn("cluster {}: no command table from the server ({}); using the built-in one",
                    cluster, slot->reply.substr(0, 120));
          registry.set_commands(cluster, nullptr);
          co_return;
        }
        auto table = std::make_shared<routing::CommandTable>(
            routing::CommandTable::from_command_reply(*value));
        log->info("cluster {}: {} commands known from the server", cluster, table->size());
        registry.set_commands(cluster, std::move(table));
      },
      asio::detached);
}

}  // namespace plexi::resp
