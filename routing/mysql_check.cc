// The libmariadb side of a MySQL health check: non-blocking connect and statements, every
// wait on the socket done by Asio, and the answers read into a CheckResult.
#include "routing/mysql_check.h"

#include <errmsg.h>
#include <mysqld_error.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <mutex>

namespace plexi::routing {
namespace {

const char* const kShowSlaveStatus = "SHOW SLAVE STATUS";
const char* const kShowReplicaStatus = "SHOW REPLICA STATUS";

template <class Number>
std::optional<Number> parse_number(std::string_view text) {
  Number value{};
  if (text.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

// libmariadb's message, never empty.
std::string message_of(MYSQL* conn) {
  const char* text = mysql_error(conn);
  return text && *text ? std::string(text) : "unknown libmariadb error";
}

MysqlRows rows_of(MYSQL_RES* result) {
  MysqlRows out;
  const unsigned columns = mysql_num_fields(result);
  const MYSQL_FIELD* fields = mysql_fetch_fields(result);
  for (unsigned i = 0; i < columns; ++i) out.columns.emplace_back(fields[i].name);
  // A stored result is in memory: fetching its rows does no I/O.
  while (MYSQL_ROW row = mysql_fetch_row(result)) {
    const unsigned long* lengths = mysql_fetch_lengths(result);
    auto& values = out.rows.emplace_back();
    for (unsigned i = 0; i < columns; ++i) {
      if (row[i] == nullptr) {
        values.emplace_back();
      } else {
        values.emplace_back(std::string(row[i], lengths[i]));
      }
    }
  }
  return out;
}

struct ResultFree {
  void operator()(MYSQL_RES* result) const { mysql_free_result(result); }
};

// mysql_init() initialises the library on first use, which is not thread-safe.
void init_library_once() {
  static std::once_flag once;
  std::call_once(once, [] { mysql_library_init(0, nullptr, nullptr); });
}

}  // namespace

const char* const kMariadbStateQuery = "SELECT @@read_only, @@innodb_read_only, @@gtid_current_pos";
const char* const kMysqlStateQuery = "SELECT @@read_only, @@innodb_read_only, NULL";

std::optional<MysqlCheckSettings> mysql_check_settings(const config::Cluster& cluster,
                                                       const config::Backend& backend) {
  auto login = check_login(cluster, backend);
  if (!login) return std::nullopt;
  MysqlCheckSettings settings;
  static_cast<CheckLogin&>(settings) = *login;
  return settings;
}

std::optional<Lsn> gtid_sequence(std::string_view position) {
  position = trim(position);
  if (position.empty()) return Lsn{0};
  std::optional<Lsn> domain_zero;
  Lsn highest = 0;
  while (true) {
    const auto comma = position.find(',');
    const std::string_view gtid = trim(position.substr(0, comma));
    const auto first = gtid.find('-');
    const auto second = first == std::string_view::npos ? first : gtid.find('-', first + 1);
    if (second == std::string_view::npos) return std::nullopt;
    const auto domain = parse_number<std::uint32_t>(gtid.substr(0, first));
    const auto server = parse_number<std::uint32_t>(gtid.substr(first + 1, second - first - 1));
    const auto sequence = parse_number<Lsn>(gtid.substr(second + 1));
    if (!domain || !server || !sequence) return std::nullopt;
    if (*domain == 0) domain_zero = *sequence;
    highest = std::max(highest, *sequence);
    if (comma == std::string_view::npos) break;
    position.remove_prefix(comma + 1);
  }
  return domain_zero ? *domain_zero : highest;
}

const std::optional<std::string>* MysqlRows::find(
    std::size_t row, std::initializer_list<std::string_view> names) const {
  if (row >= rows.size()) return nullptr;
  for (const auto name : names) {
    for (std::size_t i = 0; i < columns.size() && i < rows[row].size(); ++i) {
      if (columns[i] == name) return &rows[row][i];
    }
  }
  return nullptr;
}

void read_server_state(const MysqlRows& answer, CheckResult& result) {
  result.ok = false;
  if (answer.rows.size() != 1 || answer.rows[0].size() != 3) {
    result.error = "the health query returned an unexpected shape";
    return;
  }
  const auto& row = answer.rows[0];
  auto flag = [](const std::optional<std::string>& value) -> std::optional<bool> {
    if (value == "0") return false;
    if (value == "1") return true;
    return std::nullopt;
  };
  const auto read_only = flag(row[0]);
  const auto innodb_read_only = flag(row[1]);
  if (!read_only || !innodb_read_only) {
    result.error = "the health query returned no read-only state";
    return;
  }
  result.in_recovery = *read_only || *innodb_read_only;
  result.wal_lsn = 0;
  if (row[2]) {
    const auto sequence = gtid_sequence(*row[2]);
    if (!sequence) {
      result.error = "unreadable GTID position '" + *row[2] + "'";
      return;
    }
    result.wal_lsn = *sequence;
  }
  result.receive_lsn.reset();
  result.replay_age_seconds.reset();
  result.error.clear();
  result.ok = true;
}

void read_replica_status(const MysqlRows& answer, CheckResult& result) {
  result.receive_lsn.reset();
  result.replay_age_seconds.reset();
  std::optional<double> worst;
  bool lag_known = !answer.rows.empty();
  for (std::size_t row = 0; row < answer.rows.size(); ++row) {
    const auto* behind = answer.find(row, {"Seconds_Behind_Master", "Seconds_Behind_Source"});
    const auto seconds = behind && *behind ? parse_number<std::uint64_t>(**behind) : std::nullopt;
    if (seconds) {
      worst = std::max(worst.value_or(0), static_cast<double>(*seconds));
    } else {
      lag_known = false;  // a channel that does not replicate
    }
    const auto* io = answer.find(row, {"Slave_IO_Running", "Replica_IO_Running"});
    const auto* position = answer.find(row, {"Gtid_IO_Pos"});
    if (io && *io == "Yes" && position && *position) {
      if (const auto sequence = gtid_sequence(**position)) {
        result.receive_lsn = std::max(result.receive_lsn.value_or(0), *sequence);
      }
    }
  }
  if (lag_known) result.replay_age_seconds = worst;
}

MysqlCheck::MysqlCheck(asio::any_io_executor executor, MysqlCheckSettings settings)
    : MysqlCheck(std::move(executor), std::move(settings), "plexiproxy health check") {}

MysqlCheck::MysqlCheck(asio::any_io_executor executor, MysqlCheckSettings settings,
                       const char* program_name)
    : BackendCheck(executor, settings.timeout, "libmariadb"),
      settings_(std::move(settings)),
      program_name_(program_name) {
  init_library_once();
}

MysqlCheck::~MysqlCheck() {
  forget();  // our dup first; mysql_close then closes libmariadb's descriptor
}

void MysqlCheck::reset() {
  forget();
  conn_.reset();
}

awaitable<bool> MysqlCheck::attempt(CheckResult& result) {
  if (!conn_) {
    bool connected = co_await connect(result.error);
    if (!connected) co_return false;
  }
  MysqlRows state;
  unsigned code = 0;
  bool answered =
      co_await query(mariadb_ ? kMariadbStateQuery : kMysqlStateQuery, state, code, result.error);
  if (!answered) co_return false;
  read_server_state(state, result);
  if (!result.ok || !result.in_recovery) co_return result.ok;

  MysqlRows status;
  answered = co_await query(replica_status_, status, code, result.error);
  if (!answered && code == ER_PARSE_ERROR) {
    // MySQL before 8.0.22 knows only SHOW SLAVE STATUS, MySQL 8.4 only SHOW REPLICA STATUS.
    replica_status_ = replica_status_ == kShowSlaveStatus ? kShowReplicaStatus : kShowSlaveStatus;
    result.error.clear();
    answered = co_await query(replica_status_, status, code, result.error);
  }
  if (!answered) {
    result.ok = false;
    co_return false;
  }
  read_replica_status(status, result);
  co_return true;
}

awaitable<bool> MysqlCheck::connect(std::string& error) {
  std::string address;
  bool resolved = co_await resolve(settings_.host, settings_.port, address, error);
  if (!resolved) co_return false;

  conn_.reset(mysql_init(nullptr));
  if (!conn_) {
    error = "libmariadb could not allocate a connection";
    co_return false;
  }
  MYSQL* conn = conn_.get();
  mysql_options(conn, MYSQL_OPT_NONBLOCK, nullptr);  // the default stack for suspended calls
  mysql_options4(conn, MYSQL_OPT_CONNECT_ATTR_ADD, "program_name", program_name_);
  if (settings_.tls >= config::ServerTls::kRequire) {
    const my_bool on = 1;
    const my_bool check_name = settings_.tls == config::ServerTls::kVerifyFull ? 1 : 0;
    mysql_options(conn, MYSQL_OPT_SSL_ENFORCE, &on);
    // With a CA file libmariadb checks the chain; the name check is the separate option.
    if (settings_.tls >= config::ServerTls::kVerifyCa) {
      mysql_options(conn, MYSQL_OPT_SSL_CA, settings_.tls_ca_file.c_str());
    }
    mysql_options(conn, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &check_name);
  }
  // An empty address is a Unix socket path, which libmariadb takes as host "localhost".
  const bool unix_socket = address.empty();
  MYSQL* connected = nullptr;
  const int status = mysql_real_connect_start(
      &connected, conn, unix_socket ? "localhost" : address.c_str(), settings_.user.c_str(),
      settings_.password.c_str(), settings_.database.empty() ? nullptr : settings_.database.c_str(),
      unix_socket ? 0 : settings_.port, unix_socket ? settings_.host.c_str() : nullptr, 0);
  auto resume = [&connected, conn](int ready) {
    return mysql_real_connect_cont(&connected, conn, ready);
  };
  bool finished = co_await finish(status, resume, true, "connecting", error);
  if (!finished) co_return false;
  if (connected == nullptr) {
    error = message_of(conn);
    co_return false;
  }
  const char* version = mysql_get_server_info(conn);
  mariadb_ = version != nullptr && std::strstr(version, "MariaDB") != nullptr;
  replica_status_ = mariadb_ ? kShowSlaveStatus : kShowReplicaStatus;
  co_return true;
}

awaitable<bool> MysqlCheck::query(const char* statement, MysqlRows& rows, unsigned& code,
                                  std::string& error) {
  MYSQL* conn = conn_.get();
  code = 0;
  int failed = 0;
  int status = mysql_real_query_start(&failed, conn, statement, std::strlen(statement));
  auto send = [&failed, conn](int ready) { return mysql_real_query_cont(&failed, conn, ready); };
  bool finished = co_await finish(status, send, false, "waiting for the answer", error);
  if (!finished) co_return false;
  MYSQL_RES* stored = nullptr;
  if (failed == 0) {
    status = mysql_store_result_start(&stored, conn);
    auto store = [&stored, conn](int ready) {
      return mysql_store_result_cont(&stored, conn, ready);
    };
    finished = co_await finish(status, store, false, "reading the answer", error);
    if (!finished) co_return false;
  }
  std::unique_ptr<MYSQL_RES, ResultFree> result(stored);
  if (!result) {
    const unsigned number = mysql_errno(conn);
    // Client errors (lost connection and the like) are no answer from the server.
    code = number < CR_MIN_ERROR ? number : 0;
    error = number != 0 ? std::string(statement) + ": " + message_of(conn)
                        : std::string(statement) + " returned no rows";
    co_return false;
  }
  rows = rows_of(result.get());
  co_return true;
}

awaitable<bool> MysqlCheck::finish(int status, std::function<int(int)> resume, bool connecting,
                                   std::string_view doing, std::string& error) {
  while (status != 0) {
    // libmariadb waits for one direction at a time; its own timeouts are left to ours.
    if ((status & (MYSQL_WAIT_READ | MYSQL_WAIT_WRITE)) == 0) {
      error = "libmariadb asked to wait for neither reading nor writing";
      co_return false;
    }
    const bool for_write = (status & MYSQL_WAIT_READ) == 0;
    bool ready = co_await wait(mysql_get_socket(conn_.get()), for_write, connecting, error);
    if (!ready) {
      if (error.empty()) error = failure(doing);
      co_return false;
    }
    status = resume(for_write ? MYSQL_WAIT_WRITE : MYSQL_WAIT_READ);
  }
  co_return true;
}

}  // namespace plexi::routing
