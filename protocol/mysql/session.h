// A client of the MySQL listener, from the server greeting to its last command, as one
// coroutine: handshake, authentication against the config's users, then commands relayed
// to a server pool (session_relay.cc) or answered by the SQLite executor
// (session_sqlite.cc).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/asio.h"
#include "common/bytes.h"
#include "common/client_registry.h"
#include "common/spin_lock.h"
#include "config/config.h"
#include "pools/mysql/server_connection.h"
#include "protocol/mysql/handover_state.h"
#include "protocol/mysql/packets.h"
#include "protocol/pg/session.h"

namespace plexi::mysql {

using pg::Phase;
using pg::SessionEnvironment;

// The server version the greeting announces: MySQL 8.0's level, so clients take their 8.0
// code paths (transaction_isolation, utf8mb4), and what really answers.
inline constexpr std::string_view kServerVersion = "8.0.36-plexiproxy-" PLEXI_VERSION;

// The capabilities the proxy offers clients.
inline constexpr std::uint32_t kOfferedCapabilities =
    cap::kLongPassword | cap::kFoundRows | cap::kLongFlag | cap::kConnectWithDb | cap::kNoSchema |
    cap::kOdbc | cap::kIgnoreSpace | cap::kProtocol41 | cap::kInteractive | cap::kIgnoreSigpipe |
    cap::kTransactions | cap::kSecureConnection | cap::kMultiStatements | cap::kMultiResults |
    cap::kPsMultiResults | cap::kPluginAuth | cap::kConnectAttrs | cap::kPluginAuthLenencData |
    cap::kSessionTrack | cap::kDeprecateEof;

// MySQL error numbers the proxy answers with itself.
namespace error {
inline constexpr std::uint16_t kTooManyConnections = 1040;
inline constexpr std::uint16_t kHandshake = 1043;
inline constexpr std::uint16_t kAccessDenied = 1045;
inline constexpr std::uint16_t kNoDatabase = 1046;
inline constexpr std::uint16_t kUnknownCommand = 1047;
inline constexpr std::uint16_t kBadDatabase = 1049;
inline constexpr std::uint16_t kServerShutdown = 1053;
inline constexpr std::uint16_t kParse = 1064;
inline constexpr std::uint16_t kUnknownThread = 1094;
inline constexpr std::uint16_t kTooManyUserConnections = 1203;
inline constexpr std::uint16_t kNotAllowed = 1148;  // LOAD DATA LOCAL
inline constexpr std::uint16_t kNetPacketTooLarge = 1153;
inline constexpr std::uint16_t kNetReadError = 1158;
inline constexpr std::uint16_t kKillDenied = 1095;
inline constexpr std::uint16_t kUnknownStatement = 1243;
inline constexpr std::uint16_t kQueryInterrupted = 1317;
inline constexpr std::uint16_t kOptionPreventsStatement = 1290;
inline constexpr std::uint16_t kLockWaitTimeout = 1205;
inline constexpr std::uint16_t kSecureTransportRequired = 3159;  // ER_SECURE_TRANSPORT_REQUIRED
inline constexpr std::uint16_t kConnectionLost = 2013;  // client-side number, used for relays
inline constexpr std::uint16_t kNoBackend = 9001;       // the proxy found no server (ProxySQL's)
}  // namespace error

// What the relay front tells the session about handing its client to a new process in a
// binary upgrade (the relay's state lives on its coroutine's frame).
class HandoverSource {
 public:
  virtual ~HandoverSource() = default;
  // Between commands with nothing a new process could not take over: no server connection
  // held, no transaction, pin, cursor or held-over server.
  virtual bool can_hand_over() const = 0;
  virtual void write_handover_state(HandedSession& state) const = 0;
};

class Session : public Client, public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, SessionEnvironment& environment);
  ~Session() override;

  awaitable<void> run();
  // Goes on serving a client handed over by the process this one took over from.
  awaitable<void> resume(HandedSession state);
  void cancel() override;
  void drain() override;
  ClientInfo describe() const override;
  std::string_view protocol() const override { return "mysql"; }
  bool logging_in() const override {
    return phase_ == Phase::kStartup || phase_ == Phase::kAuthentication;
  }
  void kill() override;
  void expire_idle(std::chrono::milliseconds timeout) override;

  // --- what the fronts use ---
  SessionEnvironment& env() { return env_; }
  const config::Config& config() const { return *config_; }
  std::shared_ptr<const config::Config> config_snapshot() const { return config_; }
  const config::Cluster& cluster() const { return *cluster_; }
  const config::User* config_user() const { return config_user_; }
  // Moves the session to the latest config when a reload happened since it took its
  // snapshot (see config::adopt()); true when it moved. Only between transactions: what
  // config() and cluster() returned before is then gone.
  bool follow_reload();
  const std::string& user() const { return user_; }
  // The plain password the client logged in with, when the proxy knows it (a plain password
  // in the config); the relay logs in to servers with it when a backend has no username.
  const std::string& password() const { return password_; }
  // Otherwise SHA1(password), when the proxy holds only the user's mysql_native_password hash
  // (in the config or found by auth_query): recovered from the client's answer, it logs in
  // to servers that take mysql_native_password (ServerAddress::password_sha1). Never logged.
  const std::string& password_sha1() const { return password_sha1_; }
  std::uint32_t capabilities() const { return capabilities_; }
  std::uint8_t collation() const { return collation_; }
  std::uint32_t connection_id() const { return connection_id_; }
  // The schema the client chose (handshake, COM_INIT_DB, USE); empty: none.
  std::string& schema() { return schema_; }
  pg::ClientStream& socket() { return socket_; }
  void set_phase(Phase phase) { phase_ = phase; }
  bool draining() const { return env_.shutting_down.load(); }
  // The relay while it serves (null otherwise).
  void set_handover_source(const HandoverSource* source) { handover_source_ = source; }
  // Gives the client to the new process of a binary upgrade, when one takes clients and the
  // relay can; true when it is gone (the session must then end without a word).
  bool hand_over();
  // The drain cancelled the wait for the next command to hand the client over.
  bool handing_over() const { return handing_over_; }

  // Reads one command from the client: its payload (pieces of a packet over 16 MB joined)
  // in `payload`, command byte first. The client's sequence ids are checked; the replies
  // queued next continue them. False on EOF, or a framing error or oversized packet (then
  // reported to the client with an ERR and counted).
  awaitable<bool> read_command(ByteVector& payload);
  // Reads the next packet of an exchange the client continues (authentication, LOCAL
  // INFILE data): false on EOF or error.
  // `starts_at_zero`, when given, says whether the packet's sequence id was 0.
  awaitable<bool> read_packet(ByteVector& payload, bool* starts_at_zero = nullptr);

  // Replies, queued until flush(); each gets the next sequence id.
  void send_packet(Bytes payload);
  void send_ok(std::uint64_t affected_rows = 0, std::uint64_t last_insert_id = 0,
               std::uint16_t warnings = 0, std::string_view info = {});
  void send_error(std::uint16_t code, std::string_view sqlstate, std::string_view message);
  // The packet that ends a result set's column definitions or rows: EOF, or with
  // kDeprecateEof the OK packet that replaces it (`end_of_rows` says which place it is in:
  // only the rows' end is replaced).
  void send_eof(bool end_of_rows = true, std::uint16_t warnings = 0);
  // The status flags this session reports in OK and EOF packets (autocommit, in
  // transaction, more results).
  std::uint16_t& status_flags() { return status_flags_; }
  std::uint8_t& sequence() { return sequence_; }
  ByteVector& output() { return output_; }
  awaitable<bool> flush();

  // COM_CHANGE_USER: authenticates the client again as the user it names (an auth switch
  // with a fresh scramble). True with the OK queued; false when refused (the ERR is queued
  // and the session must end, as a server ends it).
  awaitable<bool> change_user(Bytes payload);
  // KILL [QUERY] <id> from this client: another client's query stopped, or its connection
  // closed. The client must be this user's own, unless this user is an admin. False with
  // the error to send (unknown thread, not allowed).
  bool kill_client(std::uint64_t id, bool query_only, std::uint16_t& code, std::string& message);

  // Sends an ERR and ends the session.
  awaitable<void> fatal(std::uint16_t code, std::string_view sqlstate, std::string_view message);

  // Where a KILL QUERY for this client goes: the server thread its relay is using, or the
  // executor front's own interrupt. Guarded: cancel() runs on another thread.
  struct ServerThread {
    // Shared with the relay's pool of that backend: attaching copies a pointer, not strings.
    std::shared_ptr<const ServerAddress> address;
    std::uint32_t thread_id = 0;
  };
  void set_server_thread(std::optional<ServerThread> thread, const config::Backend* backend);
  void set_cancel_action(std::function<void()> action);
  void show_pin(std::string reason);

 private:
  awaitable<bool> log_in();
  awaitable<bool> authenticate(const HandshakeResponse& response);
  // The client's answer for `plugin` (whose scramble is scramble_) checked against the
  // config: true when it is the user's password. May continue the exchange (caching_sha2's
  // full authentication, an auth switch).
  awaitable<bool> verify(const std::string& user, std::string plugin, std::string response);
  // Whether users the config does not list are looked up on the cluster's server.
  bool looks_up() const;
  // The mysql_native_password hash of `user` found by auth_query, or empty when there is no
  // usable one. False when the lookup failed (the client has been told, the session ends).
  awaitable<bool> look_up(const std::string& user, std::string& hash);
  // Asks the client to answer again for `plugin`, with a fresh scramble.
  awaitable<bool> switch_plugin(std::string_view plugin, std::string& response);
  awaitable<void> end_for_shutdown();
  // The access rules' say on `user` of `cluster` for this client, then the login its method
  // asks for when that is not a password (trust, cert): the error when refused (counted
  // and logged); `done` when the user is logged in without the password exchange. At login
  // and at COM_CHANGE_USER.
  std::optional<Err> admit_user(std::string_view cluster, const std::string& user, bool& done);
  // Counts the client as `user`'s against its max_client_conn; the error when it is over.
  std::optional<Err> take_user_slot(const std::string& user);
  bool is_loopback() const;
  // The SSL request: TLS on the client's stream, the bytes behind the request opening it.
  awaitable<bool> start_tls();

  bool can_hand_over() const;
  // Counts the client and takes the process's current config: how run() and resume() begin.
  void open();
  // Logged in (or handed over): the client count, then the front that serves it.
  awaitable<void> serve();

  pg::ClientStream socket_;
  SessionEnvironment& env_;
  const HandoverSource* handover_source_ = nullptr;
  bool handing_over_ = false;
  bool handed_over_ = false;
  std::shared_ptr<asio::ssl::context> tls_;         // null: TLS is off for this client
  std::atomic<const char*> tls_version_ = nullptr;  // as pg::Session's
  std::shared_ptr<const config::Config> config_;
  std::uint64_t config_generation_ = 0;                // of config_ (see SessionEnvironment)
  std::shared_ptr<const config::Config> user_config_;  // see config::SessionView
  // What a client waiting for its next command holds: commands are usually this small.
  static constexpr std::size_t kIdleInputBuffer = 1024;
  ReadBuffer input_;
  bool first_in_order_ = true;
  ByteVector output_;
  std::uint8_t sequence_ = 0;
  std::string scramble_;

  std::atomic<Phase> phase_ = Phase::kStartup;
  bool counted_ = false;
  prometheus::Gauge* clients_gauge_ = nullptr;
  std::chrono::system_clock::time_point connected_at_ = std::chrono::system_clock::now();
  tcp::endpoint peer_;
  // For client_idle_timeout: whether the session waits for a command, since when.
  bool awaiting_command_ = false;
  std::chrono::steady_clock::time_point last_request_ = std::chrono::steady_clock::now();
  UserConnections::Slot user_slot_;

  std::string user_;
  std::string password_;
  std::string password_sha1_;
  std::string database_;  // as given at login (the cluster's name)
  std::string schema_;
  std::string program_name_;  // connection attribute program_name, shown as application
  const config::Cluster* cluster_ = nullptr;
  const config::User* config_user_ = nullptr;
  std::uint32_t capabilities_ = 0;
  std::uint8_t collation_ = kCollationUtf8mb4GeneralCi;
  std::uint16_t status_flags_ = status::kAutocommit;
  std::optional<ClientRegistry::Key> registry_key_;
  std::uint32_t connection_id_ = 0;

  // Guards what cancel() and describe() read from other threads: the server thread, the
  // cancel action, the backend and pin shown, and user_, database_, program_name_ and cluster_.
  mutable SpinLock cancel_lock_;
  std::optional<ServerThread> server_thread_;
  std::function<void()> cancel_action_;
  const config::Backend* attached_backend_ = nullptr;
  std::string shown_pin_;
};

// Accepts on `acceptor` until it is closed, running a Session for each client.
awaitable<void> accept_clients(tcp::acceptor& acceptor, SessionEnvironment& environment);

// Serves a client handed over in a binary upgrade (`state`: its HandedSession, encoded) on
// the worker `socket` belongs to.
void resume_client(tcp::socket socket, SessionEnvironment& environment, std::string_view state);

// The ways a logged-in client is served (each returns when the session is over).
awaitable<void> run_relay(Session& session);
// The relay, going on from the state a client was handed over with.
awaitable<void> resume_relay(Session& session, const HandedSession& state);
awaitable<void> run_sqlite_front(Session& session);

}  // namespace plexi::mysql
