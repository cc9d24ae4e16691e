// A relay connection to a MySQL or MariaDB server: the client side of the handshake and
// authentication (mysql_native_password, caching_sha2_password with its RSA exchange, auth
// switch) done natively, then a socket and what pooling must remember about the server's
// session: its schema, the settings applied to it and the statements prepared on it.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/asio.h"
#include "common/bytes.h"
#include "pools/pool.h"
#include "pools/server_socket.h"
#include "pools/server_tls.h"
#include "protocol/mysql/packets.h"

namespace plexi::mysql {

struct ServerAddress {
  std::string host;  // a host name or address, or the path of a Unix socket file
  std::uint16_t port = 3306;
  std::string database;  // the schema to log in to; empty: none
  std::string user;
  std::string password;
  // SHA1(password), when the proxy holds only the user's mysql_native_password hash (see
  // recover_native_stage1()): `password` is then unused, and only a server that takes
  // mysql_native_password can be logged in to.
  std::string password_sha1;
  std::uint32_t capabilities = 0;  // what the proxy asks for, before the server's own mask
  std::uint8_t collation = kCollationUtf8mb4GeneralCi;
  std::chrono::milliseconds connect_timeout{5000};
  // TLS when the server offers it (CLIENT_SSL) unless disabled; a server that does not is
  // refused from require up.
  pools::TlsTarget tls;
};

// Begins the error of a login the proxy gave up because the server wants another plugin
// than mysql_native_password from a user whose password_sha1 is all the proxy has; the
// relay tells the client with ER_ACCESS_DENIED_ERROR.
inline constexpr std::string_view kHashOnlyLogin =
    "plexiproxy holds only a mysql_native_password hash of this user's password";

// A statement prepared on one server connection.
struct ServerStatement {
  std::uint32_t id = 0;
  std::uint16_t parameters = 0;
  std::uint16_t columns = 0;
  bool types_sent = false;  // an execution bound parameter types on this server
};

// Tracked session settings in the order they were applied, each key once.
class SessionSettings {
 public:
  // Replaces the key's earlier value and moves it last.
  void set(const std::string& key, std::string sql) {
    std::erase_if(items_, [&](const auto& item) { return item.first == key; });
    items_.emplace_back(key, std::move(sql));
  }
  bool contains(std::string_view key) const {
    return std::any_of(items_.begin(), items_.end(),
                       [&](const auto& item) { return item.first == key; });
  }
  void clear() { items_.clear(); }
  bool empty() const { return items_.empty(); }
  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }
  bool operator==(const SessionSettings&) const = default;

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

// One row of an internal query's answer; nullopt for NULL.
using TextRow = std::vector<std::optional<std::string>>;

class ServerConnection {
 public:
  // Connects, starts TLS as address.tls says, and authenticates. On failure returns null with
  // `error` set; the server's own ERR is kept in `server_error` so a client can be told exactly.
  static awaitable<std::unique_ptr<ServerConnection>> connect(const ServerAddress& address,
                                                              std::string& error,
                                                              Err* server_error = nullptr);
  ~ServerConnection();

  // Reads and writes go through TLS when the connection started it.
  pools::ServerStream& socket() { return stream_; }
  bool tls() const { return stream_.is_tls(); }
  asio::any_io_executor executor() { return stream_.get_executor(); }
  void move_to(const asio::any_io_executor& executor);
  ReadBuffer& input() { return input_; }
  const pools::ServerEndpoint& endpoint() const { return endpoint_; }
  std::uint32_t thread_id() const { return thread_id_; }
  std::uint32_t capabilities() const { return capabilities_; }
  const std::string& server_version() const { return server_version_; }
  bool mariadb() const { return server_version_.find("MariaDB") != std::string::npos; }

  // The session state pooling replays: the current schema, tracked settings (key and the SQL
  // after SET, in the order they were applied: a later SET NAMES changes what an earlier
  // character_set_results set) and the multi-statement option.
  std::string& schema() { return schema_; }
  SessionSettings& settings() { return settings_; }
  // The SQL after SET that returns the character set to what this connection logged in with.
  const std::string& default_names() const { return default_names_; }
  bool& multi_statements() { return multi_statements_; }

  // Statements prepared here, by their text. At most kMaxStatements are kept: the least
  // recently used is closed when another is prepared.
  static constexpr std::size_t kMaxStatements = 256;
  ServerStatement* statement(const std::string& sql);
  // Records a statement prepared here; returns the id of one to close (the one it replaces,
  // or the least recently used when there are too many), or 0.
  std::uint32_t remember_statement(const std::string& sql, ServerStatement statement);
  void forget_statements() {
    statements_.clear();
    statement_order_.clear();
  }

  std::uint16_t status() const { return status_; }
  void set_status(std::uint16_t status) { status_ = status; }
  void set_busy(bool busy) { busy_ = busy; }
  void mark_broken() { broken_ = true; }
  bool broken() const { return broken_; }

  // Runs one statement for the proxy's own needs (settings, a GTID position) and reads its
  // whole answer; the rows of its first result when `rows` is given. False with `error` set
  // when the server refused it or the connection failed (then it is marked broken).
  awaitable<bool> run(std::string_view sql, std::string& error,
                      std::vector<TextRow>* rows = nullptr);
  // Sends one command packet (sequence 0) and reads its one-packet answer.
  awaitable<bool> run_command(Command command, std::string_view argument, std::string& error);

  // Pool requirements.
  bool alive();
  bool reusable() const { return !broken_ && !busy_ && !(status_ & status::kInTrans); }
  pools::Clock::time_point created_at() const { return created_at_; }
  pools::Clock::time_point last_used_at() const { return last_used_at_; }
  void touch() { last_used_at_ = pools::Clock::now(); }
  void close();

 private:
  explicit ServerConnection(const asio::any_io_executor& executor)
      : stream_(pools::ServerSocket(executor)) {}
  awaitable<bool> log_in(const ServerAddress& address, std::string& error, Err* server_error);
  // The next packet from the server, its payload copied into `payload`.
  awaitable<bool> read_packet(ByteVector& payload, std::uint8_t& sequence, std::string& error);
  awaitable<bool> write_packet(Bytes payload, std::uint8_t& sequence, std::string& error);

  pools::ServerStream stream_;
  pools::ServerEndpoint endpoint_;
  ReadBuffer input_;
  std::uint32_t thread_id_ = 0;
  std::uint32_t capabilities_ = 0;
  std::string server_version_;
  std::string schema_;
  SessionSettings settings_;
  std::string default_names_;
  bool multi_statements_ = true;
  std::unordered_map<std::string, std::pair<ServerStatement, std::list<std::string>::iterator>>
      statements_;
  std::list<std::string> statement_order_;  // most recently used first
  std::uint16_t status_ = status::kAutocommit;
  bool busy_ = false;
  bool broken_ = false;
  pools::Clock::time_point created_at_ = pools::Clock::now();
  pools::Clock::time_point last_used_at_ = created_at_;
};

// Stops the statement a server thread is running: KILL QUERY over a new connection, as
// the protocol requires.
awaitable<void> kill_query(ServerAddress address, std::uint32_t thread_id);

}  // namespace plexi::mysql
