// One MySQL or MariaDB backend's health check through libmariadb's non-blocking API, its
// socket waited on with Asio: a connection kept between checks, the server's read-only state
// and GTID position, its replication status when it is read-only, and what they say as a
// CheckResult, all within the check's timeout.
#pragma once

#include <mysql.h>

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/asio.h"
#include "config/config.h"
#include "routing/backend_check.h"
#include "routing/backend_health.h"

namespace plexi::routing {

// Where and as whom a MySQL check logs in (check_login()'s rules). tls require, verify-ca and
// verify-full make the check use TLS (verify-ca: libmariadb checks the chain against
// tls_ca_file; verify-full also the name, against the address the check connects to);
// disable and prefer connect in plain text. Two equal settings describe the same check.
struct MysqlCheckSettings : CheckLogin {
  bool operator==(const MysqlCheckSettings&) const = default;
};

// None when there is no user to log in as: the backend then goes unchecked.
std::optional<MysqlCheckSettings> mysql_check_settings(const config::Cluster& cluster,
                                                       const config::Backend& backend);

// The sequence number of a MariaDB GTID position: one GTID per replication domain,
// "domain-server-sequence", separated by commas ("0-1-42,1-2-7"). The number is domain 0's
// when the position has domain 0 (the default domain, the only one of most setups), else the
// highest sequence number of any domain, so that it still grows with every write. 0 for an
// empty position (nothing written or replicated yet); none when the text is no GTID list.
//
// A check reports it as wal_lsn: read-your-writes by GTID compares the sequence number of a
// client's write (its @@last_gtid, read the same way) with it, and a backend whose number is
// at least the write's has replayed the write. It compares numbers of one domain, so
// writes in several domains are only ordered by it when domain 0 is one of them.
std::optional<Lsn> gtid_sequence(std::string_view position);

// A result set as text; a NULL is none.
struct MysqlRows {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;

  // Row `row`'s value in the first of `names` that is a column; null when none is.
  const std::optional<std::string>* find(std::size_t row,
                                         std::initializer_list<std::string_view> names) const;
};

// The statement a check runs first: read-only state and, on MariaDB, the GTID position.
// MySQL has no single-number GTID position: its wal_lsn stays 0.
extern const char* const kMariadbStateQuery;  // @@read_only, @@innodb_read_only, @@gtid_current_pos
extern const char* const kMysqlStateQuery;    // @@read_only, @@innodb_read_only, NULL

// Reads the state query's answer into `result`: in_recovery (read_only or innodb_read_only:
// the server takes no writes, as a replica), wal_lsn, and ok (or the reason it is unusable).
void read_server_state(const MysqlRows& answer, CheckResult& result);

// Reads SHOW SLAVE STATUS (or SHOW REPLICA STATUS) into `result`, which read_server_state()
// found read-only. replay_age_seconds is Seconds_Behind_Master (Seconds_Behind_Source),
// the worst of several rows (replication channels); none when one is NULL (replication not
// running) or there is no row (the server replicates from nobody): a lag nobody knows.
// receive_lsn is the sequence number of Gtid_IO_Pos while the I/O thread runs (MariaDB
// only), so that a replica that has applied all it received counts as not lagging.
void read_replica_status(const MysqlRows& answer, CheckResult& result);

// The check user needs SLAVE MONITOR (MariaDB) or REPLICATION CLIENT (MySQL) on replicas,
// for their replication status; without it a replica's checks fail with the server's
// message. A writable server is not asked.
class MysqlCheck : public BackendCheck {
 public:
  // `executor`: as for BackendCheck, a strand or the like.
  MysqlCheck(asio::any_io_executor executor, MysqlCheckSettings settings);
  ~MysqlCheck() override;

 protected:
  // What subclasses that run other statements (auth_query) build on. `program_name` is the
  // connection attribute the server shows.
  MysqlCheck(asio::any_io_executor executor, MysqlCheckSettings settings,
             const char* program_name);
  MYSQL* connection() const { return conn_.get(); }
  bool connected() const override { return conn_ != nullptr; }
  awaitable<bool> connect(std::string& error);
  // Runs one statement and reads its whole answer into `rows`. On failure `error` says why
  // and `code` is the server's error number (0 when the server did not answer).
  awaitable<bool> query(const char* statement, MysqlRows& rows, unsigned& code, std::string& error);

 private:
  struct ConnCloser {
    void operator()(MYSQL* conn) const { mysql_close(conn); }
  };

  awaitable<bool> attempt(CheckResult& result) override;
  void reset() override;
  // Carries a non-blocking call to its end: `status` is what its _start returned, `resume`
  // calls its _cont with the events that happened and returns the next status.
  awaitable<bool> finish(int status, std::function<int(int)> resume, bool connecting,
                         std::string_view doing, std::string& error);

  MysqlCheckSettings settings_;
  const char* program_name_;
  std::unique_ptr<MYSQL, ConnCloser> conn_;
  bool mariadb_ = true;                   // the server says so in its version
  const char* replica_status_ = nullptr;  // the statement for it that this server accepts
};

}  // namespace plexi::routing
