// Sentinel discovery over hiredis: per Sentinel, one connection subscribed to +switch-master
// and one that asks SENTINEL get-master-addr-by-name, both waited on with Asio; a Sentinel
// that fails hands over to the next one.
#include "routing/redis_sentinel.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "routing/redis_async.h"

namespace plexi::routing {
namespace {

using Clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;

const std::string kSwitchChannel = "+switch-master";

std::optional<std::uint16_t> parse_port(std::string_view text) {
  std::uint16_t port = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || port == 0) {
    return std::nullopt;
  }
  return port;
}

// The words of a +switch-master message: master name, old ip, old port, new ip, new port.
std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    const auto space = text.find(' ');
    if (space != 0) out.push_back(text.substr(0, space));
    if (space == std::string_view::npos) break;
    text.remove_prefix(space + 1);
  }
  return out;
}

// Waits on a dup of one hiredis connection's socket until a deadline. The timer's handler
// shares the state, not the waiter: it may run after the waiter is gone.
class SocketWait {
 public:
  explicit SocketWait(asio::any_io_executor executor)
      : state_(std::make_shared<State>(executor)), timer_(executor) {}
  ~SocketWait() { timer_.cancel(); }
  SocketWait(const SocketWait&) = delete;
  SocketWait& operator=(const SocketWait&) = delete;

  void expires_at(Clock::time_point deadline) { deadline_ = deadline; }
  // The last wait ended at the deadline.
  bool timed_out() const { return state_->timed_out; }
  // Ends the wait in progress and refuses every later one.
  void cancel() {
    state_->cancelled = true;
    error_code ignored;
    state_->socket.cancel(ignored);
  }

  awaitable<bool> wait(int fd, bool for_write, bool new_socket, std::string& error) {
    auto state = state_;
    state->timed_out = false;
    if (state->cancelled) co_return false;
    if (new_socket || !state->socket.is_open()) {
      error_code ec;
      state->socket.close(ec);
      const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
      if (copy < 0) {
        error = std::string("cannot duplicate hiredis's socket: ") + std::strerror(errno);
        co_return false;
      }
      state->socket.assign(copy, ec);
      if (ec) {
        ::close(copy);
        error = "cannot watch hiredis's socket: " + ec.message();
        co_return false;
      }
    }
    const unsigned generation = ++state->generation;
    timer_.expires_at(deadline_);
    timer_.async_wait([state, generation](const error_code& ec) {
      if (ec || state->generation != generation) return;
      state->timed_out = true;
      error_code ignored;
      state->socket.cancel(ignored);
    });
    error_code ec;
    co_await state->socket.async_wait(for_write ? asio::posix::stream_descriptor::wait_write
                                                : asio::posix::stream_descriptor::wait_read,
                                      asio::redirect_error(use_awaitable, ec));
    ++state->generation;  // a timer that fired meanwhile no longer counts
    timer_.cancel();
    if (state->timed_out || state->cancelled) co_return false;
    if (ec) {
      error = "waiting on the socket: " + ec.message();
      co_return false;
    }
    co_return true;
  }

 private:
  struct State {
    explicit State(asio::any_io_executor executor) : socket(executor) {}
    asio::posix::stream_descriptor socket;
    unsigned generation = 0;
    bool timed_out = false;
    bool cancelled = false;
  };
  std::shared_ptr<State> state_;
  asio::steady_timer timer_;
  Clock::time_point deadline_ = Clock::time_point::max();
};

// One connection to a Sentinel with its own wait.
struct SentinelLink {
  explicit SentinelLink(asio::any_io_executor executor)
      : wait(executor),
        connection([this](int fd, bool for_write, bool new_socket, std::string& error) {
          return wait.wait(fd, for_write, new_socket, error);
        }) {}
  ~SentinelLink() {
    wait.cancel();
    connection.close();
  }
  SocketWait wait;
  HiredisConnection connection;
};

}  // namespace

std::optional<SentinelSettings> sentinel_settings(const config::Cluster& cluster) {
  if (cluster.sentinels.empty() || cluster.sentinel_master.empty()) return std::nullopt;
  return SentinelSettings{cluster.sentinels, cluster.sentinel_master, cluster.health.timeout,
                          cluster.health.interval};
}

struct SentinelWatch::Core : std::enable_shared_from_this<Core> {
  Core(asio::any_io_executor ex, SentinelSettings s, MasterCallback callback,
       std::shared_ptr<spdlog::logger> logger)
      : executor(ex),
        settings(std::move(s)),
        on_master(std::move(callback)),
        log(std::move(logger)),
        resolver(ex),
        pause(ex) {}

  static awaitable<void> run(std::shared_ptr<Core> self);
  // Follows one Sentinel until it fails (`error` says how) or the watch stops. True when it
  // named the master at least once.
  awaitable<bool> follow(const config::Endpoint& sentinel, std::string& error);
  awaitable<bool> listen(const config::Endpoint& sentinel, SentinelLink& messages,
                         SentinelLink& questions, std::string& error);
  awaitable<std::optional<std::string>> resolve(const config::Endpoint& sentinel,
                                                std::string& error);
  // Connects `link` within the timeout.
  awaitable<bool> open(SentinelLink& link, const std::string& address, std::uint16_t port,
                       std::string& error);
  // Asks where the master is and reports it.
  awaitable<bool> ask(SentinelLink& link, std::string& error);
  void report(std::string host, std::uint16_t port, std::string_view how);
  void halt();
  std::string timed_out(std::string_view doing) const {
    return "no answer within " + std::to_string(settings.timeout.count()) + "ms (" +
           std::string(doing) + ")";
  }

  asio::any_io_executor executor;
  SentinelSettings settings;
  MasterCallback on_master;
  std::shared_ptr<spdlog::logger> log;
  tcp::resolver resolver;
  asio::steady_timer pause;
  // The links of the Sentinel followed now, for halt() to cut short.
  std::vector<SentinelLink*> links;
  std::string reported;  // host:port last reported
  bool started = false;
  bool stopped = false;
};

SentinelWatch::SentinelWatch(asio::any_io_executor executor, SentinelSettings settings,
                             MasterCallback on_master, std::shared_ptr<spdlog::logger> log)
    : core_(std::make_shared<Core>(executor, std::move(settings), std::move(on_master),
                                   std::move(log))) {}

SentinelWatch::~SentinelWatch() { stop(); }

void SentinelWatch::start() {
  asio::dispatch(core_->executor, [core = core_] {
    if (core->started || core->stopped || core->settings.sentinels.empty()) return;
    core->started = true;
    asio::co_spawn(core->executor, Core::run(core), [log = core->log](std::exception_ptr error) {
      if (!error) return;
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        log->error("Sentinel discovery ended with an exception: {}", e.what());
      }
    });
  });
}

void SentinelWatch::stop() {
  asio::dispatch(core_->executor, [core = core_] { core->halt(); });
}

void SentinelWatch::Core::halt() {
  stopped = true;
  for (auto* link : links) link->wait.cancel();
  resolver.cancel();
  pause.cancel();
}

awaitable<void> SentinelWatch::Core::run(std::shared_ptr<Core> self) {
  const std::size_t count = self->settings.sentinels.size();
  std::size_t next = 0;
  std::size_t silent = 0;  // Sentinels in a row that never named the master
  while (!self->stopped) {
    const auto& sentinel = self->settings.sentinels[next];
    std::string error;
    const bool named = co_await self->follow(sentinel, error);
    if (self->stopped) break;
    self->log->warn("Sentinel {} (master {}): {}; trying {}", sentinel.to_string(),
                    self->settings.master, error, count > 1 ? "the next Sentinel" : "it again");
    next = (next + 1) % count;
    silent = named ? 0 : silent + 1;
    if (silent >= count) {
      // A whole round without an answer: wait a refresh period rather than spin.
      silent = 0;
      self->pause.expires_after(self->settings.refresh);
      error_code ignored;
      co_await self->pause.async_wait(asio::redirect_error(use_awaitable, ignored));
    }
  }
}

awaitable<bool> SentinelWatch::Core::follow(const config::Endpoint& sentinel, std::string& error) {
  SentinelLink messages(executor);
  SentinelLink questions(executor);
  links = {&messages, &questions};
  struct Forget {  // also when listen() throws: halt() must not reach the links afterwards
    std::vector<SentinelLink*>& links;
    ~Forget() { links.clear(); }
  } forget{links};
  const bool named = co_await listen(sentinel, messages, questions, error);
  co_return named;
}

awaitable<bool> SentinelWatch::Core::listen(const config::Endpoint& sentinel,
                                            SentinelLink& messages, SentinelLink& questions,
                                            std::string& error) {
  const auto address = co_await resolve(sentinel, error);
  if (!address) co_return false;
  // Subscribed before the first question, so no switch falls between the answer and the
  // subscription.
  bool ok = co_await open(messages, *address, sentinel.port, error);
  if (!ok) co_return false;
  messages.wait.expires_at(Clock::now() + settings.timeout);
  ok = co_await messages.connection.subscribe(kSwitchChannel, error);
  if (!ok) {
    if (error.empty() && !stopped) error = timed_out("subscribing to " + kSwitchChannel);
    co_return false;
  }
  ok = co_await open(questions, *address, sentinel.port, error);
  if (!ok) co_return false;

  bool named = false;
  while (!stopped) {
    ok = co_await ask(questions, error);
    if (!ok) co_return named;
    named = true;
    // Announcements until the next question.
    messages.wait.expires_at(Clock::now() + settings.refresh);
    while (!stopped) {
      auto message = co_await messages.connection.message(error);
      if (!message) {
        if (messages.wait.timed_out()) break;
        if (error.empty() && !stopped) error = "the subscription was cut short";
        co_return named;
      }
      // ["message", "+switch-master", "<name> <old ip> <old port> <new ip> <new port>"]
      const auto& parts = message->elements;
      if (parts.size() != 3 || parts[0].text != "message") continue;
      const auto fields = words(parts[2].text);
      if (fields.size() != 5 || fields[0] != settings.master) continue;
      if (const auto port = parse_port(fields[4])) {
        report(std::string(fields[3]), *port, "+switch-master from " + sentinel.to_string());
      }
    }
  }
  co_return named;
}

awaitable<std::optional<std::string>> SentinelWatch::Core::resolve(const config::Endpoint& sentinel,
                                                                   std::string& error) {
  error_code ec;
  const auto ip = asio::ip::make_address(sentinel.host, ec);
  if (!ec) co_return ip.to_string();
  // The pause timer bounds the lookup; nothing else uses it meanwhile.
  pause.expires_after(settings.timeout);
  pause.async_wait([self = shared_from_this()](const error_code& expired) {
    if (!expired) self->resolver.cancel();
  });
  auto found = co_await resolver.async_resolve(sentinel.host, std::to_string(sentinel.port),
                                               asio::redirect_error(use_awaitable, ec));
  pause.cancel();
  if (ec || found.empty()) {
    error = ec == asio::error::operation_aborted
                ? timed_out("resolving " + sentinel.host)
                : "cannot resolve " + sentinel.host + ": " + (ec ? ec.message() : "no address");
    co_return std::nullopt;
  }
  co_return found.begin()->endpoint().address().to_string();
}

awaitable<bool> SentinelWatch::Core::open(SentinelLink& link, const std::string& address,
                                          std::uint16_t port, std::string& error) {
  link.wait.expires_at(Clock::now() + settings.timeout);
  const bool connected = co_await link.connection.connect(address, port, error);
  if (!connected && error.empty() && !stopped) error = timed_out("connecting");
  co_return connected;
}

awaitable<bool> SentinelWatch::Core::ask(SentinelLink& link, std::string& error) {
  link.wait.expires_at(Clock::now() + settings.timeout);
  std::vector<std::string> question = {"SENTINEL", "get-master-addr-by-name", settings.master};
  const auto reply = co_await link.connection.command(std::move(question), error);
  if (!reply) {
    if (error.empty() && !stopped) error = timed_out("asking for the master");
    co_return false;
  }
  if (reply->is_error()) {
    error = "SENTINEL get-master-addr-by-name: " + reply->text;
    co_return false;
  }
  if (reply->type == resp::Type::kNull) {
    error = "it knows no master named " + settings.master;
    co_return false;
  }
  const auto& parts = reply->elements;
  const auto port = parts.size() == 2 ? parse_port(parts[1].text) : std::nullopt;
  if (!port || parts[0].text.empty()) {
    error = "SENTINEL get-master-addr-by-name returned an unexpected shape";
    co_return false;
  }
  report(parts[0].text, *port, "asked");
  co_return true;
}

void SentinelWatch::Core::report(std::string host, std::uint16_t port, std::string_view how) {
  if (stopped) return;
  const config::Endpoint at{host, port};
  const std::string address = at.to_string();
  if (address == reported) return;
  log->info("master {} is at {} ({})", settings.master, address, how);
  reported = address;
  on_master(std::move(host), port);
}

}  // namespace plexi::routing
