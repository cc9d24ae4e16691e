// A client of a Redis listener: its requests read as they come (pipelined), authenticated
// against the config's users, answered by the proxy where the proxy owns the state (AUTH,
// HELLO, SELECT, CLIENT SETNAME) and otherwise routed by the command table to a shard and a
// role, relayed over links shared with other clients, and answered in request order.
// Transactions, subscriptions, MONITOR and blocking commands get a link of their own.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/asio.h"
#include "common/bytes.h"
#include "common/client_registry.h"
#include "common/spin_lock.h"
#include "config/config.h"
#include "pools/redis/server_link.h"
#include "protocol/pg/session.h"
#include "protocol/resp/handover_state.h"
#include "protocol/resp/resp.h"
#include "routing/cluster_routing.h"
#include "routing/redis_commands.h"
#include "routing/redis_topology.h"

namespace plexi::resp {

using pg::Phase;
using pg::SessionEnvironment;

// The Redis version the proxy reports in HELLO: the command set it knows.
inline constexpr std::string_view kServerVersion = "7.0.15";

class Session : public Client, public std::enable_shared_from_this<Session> {
 public:
  // `cluster`: the Redis cluster this listener serves.
  Session(tcp::socket socket, SessionEnvironment& environment, std::string cluster);
  ~Session() override;

  awaitable<void> run();
  // Goes on serving a client handed over by the process this one took over from.
  awaitable<void> resume(HandedSession state);
  void cancel() override {}  // Redis has no way to stop a running command
  void drain() override;
  ClientInfo describe() const override;
  std::string_view protocol() const override { return "redis"; }
  bool logging_in() const override { return phase_ == Phase::kStartup; }
  void kill() override;
  void expire_idle(std::chrono::milliseconds timeout) override;

 private:
  // A request split over shards (or sent to all of them), and how their replies combine.
  struct Merge {
    enum class Op { kByPosition, kSum, kAllOk, kConcat, kScan };
    Op op = Op::kAllOk;
    std::vector<std::shared_ptr<pools::redis::ReplySlot>> parts;
    // kByPosition: for each part, where each of its results goes in the client's reply.
    std::vector<std::vector<std::size_t>> positions;
    std::size_t results = 0;
    // kScan: the shard scanned and how many there are.
    std::size_t shard = 0;
    std::size_t shards = 1;

    bool done() const {
      for (const auto& part : parts) {
        if (!part->done) return false;
      }
      return true;
    }
  };
  // One reply owed to the client, in request order.
  struct Pending {
    std::shared_ptr<pools::redis::ReplySlot> slot;  // relayed to one server
    std::shared_ptr<Merge> merge;                   // split over several shards
    std::string ready;                              // made by the proxy
    bool is_ready = false;
    int backend = -1;  // for metrics: where it went
    std::uint64_t digest = 0;
    std::string_view command;  // a name from the command table (lives as long as the table)
    pools::Clock::time_point started{};
  };

  // Counts the client and takes the process's current config: how run() and resume() begin.
  void open();
  // --- connection, authentication, local commands (session.cc) ---
  // Once admitted: the reply writer and the request loop, until the client leaves (or is
  // handed over).
  awaitable<void> serve_admitted();
  awaitable<void> serve();
  // Between requests, with no state on a connection of its own: the client can be handed to
  // the process that takes over in a binary upgrade.
  bool can_hand_over() const;
  // Gives the socket and the session's state to the new process; false when it cannot.
  bool hand_over();
  awaitable<void> write_replies();
  // Handles one request; false when the session must end (QUIT, a fatal error).
  awaitable<bool> handle(const Request& request);
  // Commands the proxy answers itself; true when `name` was one of them.
  bool answer_locally(std::string_view name, std::span<const std::string_view> args,
                      bool& end_session);
  // AUTH and HELLO: false when the client is to be closed (refused by the access rules or
  // its user's max_client_conn).
  bool auth(std::span<const std::string_view> args);
  bool hello(std::span<const std::string_view> args);
  enum class Login { kOk, kWrongPassword, kRefused };
  // The access rules, the password, then the user's client count, for AUTH `user` `password`;
  // kOk makes the client that user. kRefused has been replied.
  Login log_in(std::string_view user, std::string_view password);
  bool check_password(std::string_view user, std::string_view password);
  // The access rules at connection, before any AUTH; false when they refuse the client
  // (replied). A rule naming users is decided at AUTH.
  bool admit_connection(std::string& refusal);
  void client_command(std::span<const std::string_view> args);
  void reply(std::string bytes);
  void reply_error(std::string_view message);
  Writer writer() { return Writer(scratch_, protocol_); }
  bool is_loopback() const { return peer_.address().is_loopback(); }

  // --- routing and relaying (session_relay.cc) ---
  awaitable<bool> relay(std::string_view name, std::span<const std::string_view> args,
                        std::string_view raw);
  // MULTI, WATCH, SUBSCRIBE, MONITOR and other state: the client gets a link of its own.
  awaitable<bool> enter_state(std::string_view name, std::span<const std::string_view> args,
                              std::string_view raw, const routing::CommandInfo* info);
  awaitable<bool> relay_pinned(std::string_view name, std::span<const std::string_view> args,
                               std::string_view raw, const routing::CommandInfo* info);
  // Where a link to `backend` goes, for this client's database and protocol.
  pools::redis::LinkTarget link_target(int backend) const;
  // The link for a backend of the cluster, shared with this worker's other clients.
  pools::redis::ServerLink& shared_link(int backend);
  // This client's own link to `backend`, for state that must stay on one connection.
  pools::redis::ServerLink& own_link(int backend);
  // Before a request that no earlier one's reply or the connection's state holds back:
  // when a reload happened, the client's next requests go to the latest config's backends
  // (new shared links; those to dropped backends close once no client uses them).
  void follow_reload();
  // The backend of `shard` for a read or a write; -1 with `error`.
  int choose(int shard, bool read, std::string& error);
  // The shard all of `keys_` hash to (0 without shards or keys); false when they span
  // several.
  bool shard_of_keys(std::span<const std::string_view> args, int& shard);
  void send(pools::redis::ServerLink& link, int backend, std::string_view raw,
            std::string_view command);
  // Until every reply owed is written: what makes a request sent to another link run after
  // the ones before it.
  awaitable<void> wait_for_replies();
  // While a blocking command waits: a client that hangs up closes its server connection.
  void watch_for_hangup(std::weak_ptr<pools::redis::ReplySlot> blocked);
  awaitable<bool> split(std::string_view name, std::span<const std::string_view> args,
                        const routing::CommandInfo* info);
  awaitable<bool> fan_out(std::string_view name, std::string_view raw,
                          const routing::CommandInfo* info);
  // Sends the parts of a split or fanned-out request, (backend, request) each, and owes
  // the client their merged reply.
  template <class Requests>
  awaitable<void> send_merge(std::shared_ptr<Merge> merge, const Requests& requests,
                             std::string_view command);
  // A read-only command goes to a replica: read_from: replica, and not right after the
  // client's own write.
  bool reads_on_replica(const routing::CommandInfo* info) const;
  awaitable<bool> scan(std::span<const std::string_view> args);
  std::string finish_merge(const Merge& merge);
  void unasked(std::string_view reply);
  void pin(int backend, std::string reason);
  void leave_pin_if_done();
  bool digesting() const;
  void record(const Pending& pending);
  // Asks a server for the cluster's command table, once per process and cluster.
  void load_command_table();
  // With TLS on the listener: `require` makes every client start with a TLS handshake,
  // `allow` only one whose first byte opens a TLS record (as redis-server's tls-port and
  // port are one listener here). False when the client is to be closed.
  awaitable<bool> start_tls();

  pg::ClientStream socket_;
  SessionEnvironment& env_;
  std::atomic<const char*> tls_version_ = nullptr;  // as pg::Session's
  std::string cluster_name_;
  std::shared_ptr<const config::Config> config_;
  std::uint64_t config_generation_ = 0;  // of config_ (see SessionEnvironment)
  const config::Cluster* cluster_ = nullptr;
  std::shared_ptr<const routing::RedisTopology> topology_;
  std::shared_ptr<const routing::CommandTable> commands_;
  bool command_table_asked_ = false;
  std::shared_ptr<routing::ClusterRouting> routing_;
  std::vector<const metrics::StatementSeries*> series_;
  std::vector<std::size_t> keys_;  // positions of the current request's keys
  // SHOW QUERIES' entry of each command name seen (keyed by the table's name storage).
  struct DigestEntry {
    std::uint64_t digest = 0;
    std::string shape;
  };
  std::vector<std::pair<const char*, DigestEntry>> digest_entries_;
  Limits limits_;

  ReadBuffer input_;
  Request request_;  // reused: its vectors keep their capacity
  std::string output_;
  std::string scratch_;  // replies being made
  std::deque<Pending> replies_;
  Waker waker_;         // the writer waits on it for replies
  Waker reader_waker_;  // the reader waits on it for the writer
  bool closing_ = false;
  bool writer_done_ = false;
  bool handing_over_ = false;  // asked to by the drain: the request loop stops at its next read
  bool handed_over_ = false;   // the request loop stopped for it

  std::atomic<Phase> phase_ = Phase::kStartup;
  bool counted_ = false;
  prometheus::Gauge* clients_gauge_ = nullptr;
  std::chrono::system_clock::time_point connected_at_ = std::chrono::system_clock::now();
  tcp::endpoint peer_;
  std::optional<ClientRegistry::Key> registry_key_;

  bool authenticated_ = false;
  // What the access rules asked at connection; unset when they need the user (AUTH decides).
  std::optional<config::AccessMethod> access_method_;
  UserConnections::Slot user_slot_;
  std::chrono::steady_clock::time_point last_request_ = std::chrono::steady_clock::now();
  int protocol_ = 2;
  int database_ = 0;
  std::string user_ = "default";
  std::string client_name_;
  pools::Clock::time_point wrote_at_{};  // the last write: reads stay on the primary a while

  // Links: shared ones by backend (for this client's database and protocol), own ones by
  // backend. `pinned_` is the own link everything goes to while a transaction, WATCH,
  // subscription or MONITOR is on.
  std::vector<std::shared_ptr<pools::redis::ServerLink>> shared_;
  std::vector<std::shared_ptr<pools::redis::ServerLink>> own_;
  int pinned_backend_ = -1;
  bool last_own_ = false;  // the last request went to a link of the client's own
  pools::redis::ServerLink* blocking_link_ = nullptr;
  bool in_multi_ = false;
  bool multi_deferred_ = false;  // MULTI answered, not yet sent: the first key picks the shard
  bool multi_failed_ = false;    // a command was refused while queuing: EXEC aborts
  bool watching_ = false;
  bool subscribed_ = false;
  bool monitoring_ = false;
  bool sticky_ = false;  // state the proxy cannot follow: pinned until the client leaves
  std::string pin_reason_;

  // Guards what describe() reads that the session changes after it is registered: user_,
  // database_, client_name_, shown_backend_, pin_reason_.
  mutable SpinLock info_lock_;
  std::string shown_backend_;
};

// Serves a client handed over in a binary upgrade (`state`: its HandedSession, encoded) on
// the worker `socket` belongs to.
void resume_client(tcp::socket socket, SessionEnvironment& environment, std::string_view state);

// Accepts on `acceptor` until it is closed, running a Session for each client, all of them
// served by `cluster`.
awaitable<void> accept_clients(tcp::acceptor& acceptor, SessionEnvironment& environment,
                               std::string cluster);

}  // namespace plexi::resp
