// Opens and authenticates relay connections to MySQL and MariaDB servers.
#include "pools/mysql/server_connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common/socket_io.h"
#include "protocol/mysql/auth.h"
#include "protocol/mysql/response.h"

namespace plexi::mysql {
namespace {

// What the proxy always asks of a server; the rest follows the client (see ServerAddress).
constexpr std::uint32_t kBaseCapabilities = cap::kLongPassword | cap::kLongFlag | cap::kProtocol41 |
                                            cap::kTransactions | cap::kSecureConnection |
                                            cap::kPluginAuth | cap::kPluginAuthLenencData;

// The answer for `plugin` to `scramble`; none for a plugin the proxy cannot answer with
// what it holds (only mysql_native_password from a password_sha1).
std::optional<std::string> auth_response(std::string_view plugin, const ServerAddress& address,
                                         std::string_view scramble) {
  if (plugin == kNativePassword || plugin.empty()) {
    if (!address.password_sha1.empty()) {
      return native_response_from_stage1(address.password_sha1, scramble);
    }
    return native_password_response(address.password, scramble);
  }
  if (!address.password_sha1.empty()) return std::nullopt;
  if (plugin == kCachingSha2Password) return caching_sha2_response(address.password, scramble);
  if (plugin == kClearPassword) return address.password + '\0';
  return std::nullopt;
}

TextRow decode_text_row(Bytes payload, std::uint64_t columns) {
  Reader reader(payload);
  TextRow row;
  for (std::uint64_t i = 0; i < columns && !reader.failed(); ++i) {
    if (reader.remaining() > 0 &&
        std::to_integer<std::uint8_t>(payload[reader.position()]) == 0xfb) {
      reader.u8();
      row.emplace_back(std::nullopt);
    } else {
      row.emplace_back(std::string(reader.lenenc_string()));
    }
  }
  return row;
}

std::string describe(const Err& err) {
  return "ERROR " + std::to_string(err.code) + " (" + err.sqlstate + "): " + err.message;
}

}  // namespace

ServerConnection::~ServerConnection() { close(); }

void ServerConnection::move_to(const asio::any_io_executor& executor) {
  if (!move_socket(stream_.socket(), executor)) broken_ = true;
}

awaitable<std::unique_ptr<ServerConnection>> ServerConnection::connect(const ServerAddress& address,
                                                                       std::string& error,
                                                                       Err* server_error) {
  auto executor = co_await asio::this_coro::executor;
  std::unique_ptr<ServerConnection> connection(new ServerConnection(executor));
  Deadline deadline(executor, address.connect_timeout, connection->stream_.socket());

  bool connected = co_await pools::connect_server(connection->stream_.socket(), address.host,
                                                  address.port, error);
  if (!connected) {
    if (deadline.expired()) error = "connect timeout";
    co_return nullptr;
  }
  error_code ec;
  connection->endpoint_ = connection->stream_.socket().remote_endpoint(ec);
  bool logged_in = co_await connection->log_in(address, error, server_error);
  if (!logged_in) {
    connection->mark_broken();  // never logged in: no COM_QUIT, least of all in plain text
    if (deadline.expired()) error = "connect timeout";
    co_return nullptr;
  }
  co_return connection;
}

awaitable<bool> ServerConnection::read_packet(ByteVector& payload, std::uint8_t& sequence,
                                              std::string& error) {
  while (true) {
    if (auto packet = next_packet(input_.readable())) {
      payload.assign(packet->payload.begin(), packet->payload.end());
      sequence = static_cast<std::uint8_t>(packet->sequence + 1);
      input_.consume(packet->size());
      co_return true;
    }
    error_code ec;
    std::size_t received = co_await read_some(stream_, input_, ec, 4096);
    if (received == 0) {
      error = ec ? ec.message() : "the server closed the connection";
      broken_ = true;
      co_return false;
    }
  }
}

awaitable<bool> ServerConnection::write_packet(Bytes payload, std::uint8_t& sequence,
                                               std::string& error) {
  ByteVector out;
  append_packet(out, sequence, payload);
  error_code ec;
  bool written = co_await write_all(stream_, out, ec);
  if (!written) {
    error = ec.message();
    broken_ = true;
  }
  co_return written;
}

// GCC 12 reports Asio's coroutine frame deallocation in this function as mismatched with its
// allocation (a false positive: both are Asio's frame allocator's).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
awaitable<bool> ServerConnection::log_in(const ServerAddress& address, std::string& error,
                                         Err* server_error) {
  ByteVector payload;
  std::uint8_t sequence = 0;
  bool got_handshake = co_await read_packet(payload, sequence, error);
  if (!got_handshake) co_return false;
  if (is_err(payload)) {
    auto err = decode_err(payload);
    error = err ? describe(*err) : "the server refused the connection";
    if (err && server_error) *server_error = *err;
    co_return false;
  }
  auto handshake = decode_handshake(payload);
  if (!handshake || !(handshake->capabilities & cap::kProtocol41)) {
    error = "unsupported server handshake";
    co_return false;
  }
  server_version_ = handshake->server_version;
  thread_id_ = handshake->connection_id;

  HandshakeResponse response;
  std::uint32_t wanted = kBaseCapabilities | address.capabilities;
  if (!address.database.empty()) wanted |= cap::kConnectWithDb;
  response.capabilities = wanted & handshake->capabilities;
  response.max_packet = 1 << 30;
  response.collation = address.collation;
  const bool offers_tls = (handshake->capabilities & cap::kSsl) != 0;
  if (address.tls.wanted() && !config::is_socket_path(address.host)) {
    if (offers_tls) {
      // The SSLRequest is the response's first 32 bytes; the whole response follows over TLS
      // with the next sequence id.
      response.capabilities |= cap::kSsl;
      response.ssl_request = true;
      bool asked =
          co_await write_packet(encode_handshake_response_payload(response), sequence, error);
      if (!asked) co_return false;
      response.ssl_request = false;
      if (!input_.empty()) {
        error = "server sent unencrypted data before the TLS handshake";
        co_return false;
      }
      bool started = co_await pools::start_server_tls(stream_, address.tls, address.host, error);
      if (!started) co_return false;
    } else if (address.tls.required()) {
      error = "server does not support TLS (backend tls: " +
              std::string(config::to_string(address.tls.mode)) + ")";
      co_return false;
    }
  }
  response.user = address.user;
  response.database = address.database;
  std::string plugin =
      handshake->auth_plugin.empty() ? std::string(kNativePassword) : handshake->auth_plugin;
  std::string scramble = handshake->auth_data;
  auto first_answer = auth_response(plugin, address, scramble);
  if (!first_answer || plugin == kClearPassword) {
    // A plugin the proxy cannot answer with what it holds (or should not answer first: the
    // clear password): answer as mysql_native_password and let the server switch if the
    // account wants another.
    plugin = std::string(kNativePassword);
    first_answer = auth_response(plugin, address, scramble);
  }
  response.auth_plugin = plugin;
  response.auth_response = *first_answer;
  capabilities_ = response.capabilities;
  bool sent = co_await write_packet(encode_handshake_response_payload(response), sequence, error);
  if (!sent) co_return false;

  for (int round = 0; round < 8; ++round) {
    bool got = co_await read_packet(payload, sequence, error);
    if (!got) co_return false;
    if (is_ok(payload)) {
      if (auto ok = decode_ok(payload, capabilities_)) status_ = ok->status;
      schema_ = address.database;
      break;
    }
    if (is_err(payload)) {
      auto err = decode_err(payload);
      error = err ? describe(*err) : "authentication failed";
      if (err && server_error) *server_error = *err;
      co_return false;
    }
    auto header = std::to_integer<std::uint8_t>(payload[0]);
    std::optional<std::string> answer;
    if (header == 0xfe) {
      auto change = decode_auth_switch(payload);
      if (!change) {
        error = "malformed authentication switch request";
        co_return false;
      }
      plugin = change->plugin;
      scramble = change->data;
      answer = auth_response(plugin, address, scramble);
      if (!answer && !address.password_sha1.empty()) {
        error = std::string(kHashOnlyLogin) + ", and the server asks for " + plugin +
                " (user " + address.user + "): give the user's plain password in the config, " +
                "or switch the account to mysql_native_password";
        co_return false;
      }
      if (!answer) {
        error = "the server asks for authentication plugin " + plugin +
                ", which plexiproxy does not support";
        co_return false;
      }
    } else if (header == 0x01 && plugin == kCachingSha2Password && payload.size() >= 2) {
      auto data = as_chars(Bytes(payload).subspan(1));
      if (data[0] == kFastAuthSuccess) continue;  // the OK follows
      if (data[0] == kPerformFullAuthentication) {
        // Over TLS the password itself goes, as over any secure transport; in plain text
        // only encrypted with the server's RSA key.
        answer = stream_.is_tls() ? address.password + '\0' : std::string(1, kRequestPublicKey);
      } else {
        // The public key the proxy asked for.
        answer = encrypt_password(address.password, scramble, data);
        if (!answer) {
          error = "the server's RSA public key is unusable";
          co_return false;
        }
      }
    } else {
      error = "unexpected packet during authentication";
      co_return false;
    }
    bool replied = co_await write_packet(as_bytes(*answer), sequence, error);
    if (!replied) co_return false;
  }
  if (!(capabilities_ & cap::kProtocol41) || thread_id_ == 0) {
    error = "authentication did not complete";
    co_return false;
  }
  multi_statements_ = (capabilities_ & cap::kMultiStatements) != 0;
  std::vector<TextRow> rows;
  bool asked = co_await run("SELECT @@character_set_client, @@collation_connection", error, &rows);
  if (!asked) co_return false;
  if (!rows.empty() && rows[0].size() == 2 && rows[0][0] && rows[0][1]) {
    default_names_ = "NAMES " + *rows[0][0] + " COLLATE " + *rows[0][1];
  }
  co_return true;
}
#pragma GCC diagnostic pop

awaitable<bool> ServerConnection::run(std::string_view sql, std::string& error,
                                      std::vector<TextRow>* rows) {
  ByteVector command;
  command.push_back(std::byte(static_cast<std::uint8_t>(Command::kQuery)));
  append_text(command, sql);
  std::uint8_t sequence = 0;
  bool sent = co_await write_packet(command, sequence, error);
  if (!sent) co_return false;
  ResponseTracker tracker(ResponseTracker::Shape::kResultSets, capabilities_);
  ByteVector payload;
  std::string failure;
  // Where the first result stands, for collecting its rows.
  enum class Part { kCount, kDefinitions, kDefinitionsEnd, kRows, kPast } part = Part::kCount;
  std::uint64_t columns = 0;
  std::uint64_t definitions = 0;
  while (!tracker.done()) {
    bool got = co_await read_packet(payload, sequence, error);
    if (!got) co_return false;
    if (is_err(payload)) {
      auto err = decode_err(payload);
      failure = err ? describe(*err) : "the server refused the statement";
    }
    if (rows) {
      switch (part) {
        case Part::kCount: {
          Reader reader(payload);
          auto count = reader.lenenc();
          bool result_set = !is_ok(payload) && !is_err(payload) && count && *count > 0;
          columns = result_set ? *count : 0;
          part = result_set ? Part::kDefinitions : Part::kPast;
          break;
        }
        case Part::kDefinitions:
          if (++definitions == columns) {
            part = (capabilities_ & cap::kDeprecateEof) ? Part::kRows : Part::kDefinitionsEnd;
          }
          break;
        case Part::kDefinitionsEnd:
          part = Part::kRows;
          break;
        case Part::kRows:
          if (is_result_end(payload, capabilities_) || is_err(payload)) {
            part = Part::kPast;
            break;
          }
          rows->push_back(decode_text_row(payload, columns));
          break;
        case Part::kPast:
          break;
      }
    }
    tracker.feed(payload);
    if (tracker.wants_local_file()) {
      error = "the server asked for a local file";
      broken_ = true;
      co_return false;
    }
  }
  status_ = tracker.status();
  if (!failure.empty()) {
    error = failure;
    co_return false;
  }
  co_return true;
}

awaitable<bool> ServerConnection::run_command(Command command, std::string_view argument,
                                              std::string& error) {
  ByteVector packet;
  packet.push_back(std::byte(static_cast<std::uint8_t>(command)));
  append_text(packet, argument);
  std::uint8_t sequence = 0;
  bool sent = co_await write_packet(packet, sequence, error);
  if (!sent) co_return false;
  ByteVector payload;
  bool got = co_await read_packet(payload, sequence, error);
  if (!got) co_return false;
  if (is_err(payload)) {
    auto err = decode_err(payload);
    error = err ? describe(*err) : "the server refused the command";
    co_return false;
  }
  if (auto status = status_of(payload, capabilities_)) status_ = *status;
  co_return true;
}

ServerStatement* ServerConnection::statement(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) return nullptr;
  statement_order_.splice(statement_order_.begin(), statement_order_, it->second.second);
  return &it->second.first;
}

std::uint32_t ServerConnection::remember_statement(const std::string& sql,
                                                   ServerStatement statement) {
  auto known = statements_.find(sql);
  if (known != statements_.end()) {
    // Prepared again (a client's own COM_STMT_PREPARE of a text this connection knows): the
    // new id replaces the old one, which is closed.
    std::uint32_t replaced = known->second.first.id;
    known->second.first = statement;
    statement_order_.splice(statement_order_.begin(), statement_order_, known->second.second);
    return replaced != statement.id ? replaced : 0;
  }
  std::uint32_t evicted = 0;
  if (statements_.size() >= kMaxStatements && !statement_order_.empty()) {
    auto oldest = statements_.find(statement_order_.back());
    evicted = oldest->second.first.id;
    statements_.erase(oldest);
    statement_order_.pop_back();
  }
  statement_order_.push_front(sql);
  statements_[sql] = {statement, statement_order_.begin()};
  return evicted;
}

bool ServerConnection::alive() {
  if (broken_ || !stream_.is_open()) return false;
  std::byte probe;
  ssize_t n = ::recv(stream_.socket().native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
  // An idle server sends nothing; EOF or unsolicited bytes (an ERR announcing it closed the
  // connection, after wait_timeout) mean it is gone.
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void ServerConnection::close() {
  if (stream_.is_open()) {
    if (!broken_ && !busy_) {
      ByteVector out;
      std::uint8_t sequence = 0;
      std::byte quit{static_cast<std::uint8_t>(Command::kQuit)};
      append_packet(out, sequence, Bytes(&quit, 1));
      error_code ignored;
      asio::write(stream_, asio::buffer(out.data(), out.size()), ignored);
    }
    error_code ignored;
    stream_.close(ignored);
  }
  broken_ = true;
}

awaitable<void> kill_query(ServerAddress address, std::uint32_t thread_id) {
  std::string error;
  address.capabilities = 0;
  auto connection = co_await ServerConnection::connect(address, error);
  if (!connection) co_return;
  co_await connection->run("KILL QUERY " + std::to_string(thread_id), error);
}

}  // namespace plexi::mysql
