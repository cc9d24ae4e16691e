// Tests of the MySQL check: GTID positions, reading the state query's and the replication
// status's answers, which credentials a check logs in with, and a connect cut short.
#include "routing/mysql_check.h"

#include <gtest/gtest.h>

#include "routing/health_test_util.h"

namespace plexi::routing {
namespace {

using Value = std::optional<std::string>;

TEST(MysqlCheck, ReadsTheSequenceNumberOfAGtidPosition) {
  EXPECT_EQ(gtid_sequence(""), Lsn{0});  // a server nothing was written to
  EXPECT_EQ(gtid_sequence("0-1-42"), Lsn{42});
  EXPECT_EQ(gtid_sequence("0-2-18446744073709551615"), ~Lsn{0});
  // Domain 0 decides when it is there, wherever it stands...
  EXPECT_EQ(gtid_sequence("1-2-900,0-1-42"), Lsn{42});
  EXPECT_EQ(gtid_sequence("0-1-42, 1-2-900"), Lsn{42});
  // ...else the highest number of any domain.
  EXPECT_EQ(gtid_sequence("1-2-7,3-1-12,2-1-9"), Lsn{12});
  for (const char* bad : {"0", "0-1", "0-1-", "-1-2", "a-1-2", "0-1-2-3", "0-1-2,", "0-1-x",
                          "0-1-2,,1-1-3", "3E11A7F8-1234:1-5"}) {
    EXPECT_FALSE(gtid_sequence(bad)) << bad;
  }
}

MysqlRows state_answer(Value read_only, Value innodb_read_only, Value gtid) {
  MysqlRows rows;
  rows.columns = {"@@read_only", "@@innodb_read_only", "@@gtid_current_pos"};
  rows.rows.push_back({std::move(read_only), std::move(innodb_read_only), std::move(gtid)});
  return rows;
}

TEST(MysqlCheck, AWritableServerIsAPrimary) {
  CheckResult r;
  read_server_state(state_answer("0", "0", "0-1-42"), r);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_FALSE(r.in_recovery);
  EXPECT_EQ(r.wal_lsn, 42u);
  EXPECT_FALSE(r.receive_lsn);
  EXPECT_FALSE(r.replay_age_seconds);
}

TEST(MysqlCheck, AReadOnlyServerIsAReplica) {
  CheckResult r;
  read_server_state(state_answer("1", "0", "0-1-40"), r);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.in_recovery);
  EXPECT_EQ(r.wal_lsn, 40u);
  // InnoDB read-only takes no writes either.
  read_server_state(state_answer("0", "1", "0-1-40"), r);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.in_recovery);
  // MySQL's form of the query has no position: 0.
  read_server_state(state_answer("1", "0", std::nullopt), r);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.wal_lsn, 0u);
}

TEST(MysqlCheck, RefusesStateAnswersItCannotRead) {
  CheckResult r;
  MysqlRows two_rows = state_answer("0", "0", "0-1-1");
  two_rows.rows.push_back(two_rows.rows.front());
  read_server_state(two_rows, r);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "the health query returned an unexpected shape");
  read_server_state(MysqlRows{}, r);
  EXPECT_FALSE(r.ok);
  read_server_state(state_answer("ON", "0", "0-1-1"), r);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "the health query returned no read-only state");
  read_server_state(state_answer(std::nullopt, "0", "0-1-1"), r);
  EXPECT_FALSE(r.ok);
  read_server_state(state_answer("0", "0", "zz"), r);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "unreadable GTID position 'zz'");
}

// SHOW SLAVE STATUS as MariaDB answers it, with the columns the check reads among others.
MysqlRows slave_status(Value io_running, Value behind, Value io_position) {
  MysqlRows rows;
  rows.columns = {"Slave_IO_State",    "Master_Host",           "Slave_IO_Running",
                  "Slave_SQL_Running", "Seconds_Behind_Master", "Gtid_IO_Pos"};
  rows.rows.push_back({"Waiting for master to send event", "127.0.0.1", std::move(io_running),
                       "Yes", std::move(behind), std::move(io_position)});
  return rows;
}

CheckResult replica_at(Lsn position) {
  CheckResult r;
  read_server_state(state_answer("1", "0", "0-1-" + std::to_string(position)), r);
  return r;
}

TEST(MysqlCheck, AReplicasLagIsSecondsBehindMaster) {
  CheckResult r = replica_at(40);
  read_replica_status(slave_status("Yes", "7", "0-1-45"), r);
  EXPECT_EQ(r.receive_lsn, Lsn{45});
  ASSERT_TRUE(r.replay_age_seconds);
  EXPECT_DOUBLE_EQ(*r.replay_age_seconds, 7.0);
  EXPECT_EQ(r.wal_lsn, 40u);  // untouched: the state query's
}

TEST(MysqlCheck, StoppedReplicationHasNoKnownLag) {
  // STOP SLAVE: both threads stopped, Seconds_Behind_Master NULL.
  CheckResult r = replica_at(40);
  read_replica_status(slave_status("No", std::nullopt, "0-1-40"), r);
  EXPECT_FALSE(r.replay_age_seconds);
  EXPECT_FALSE(r.receive_lsn);
  // A lost connection to the primary: the I/O thread reconnects, the SQL thread has caught
  // up with what it had. What it received is old news: no receive position.
  r = replica_at(40);
  read_replica_status(slave_status("Connecting", std::nullopt, "0-1-40"), r);
  EXPECT_FALSE(r.receive_lsn);
  EXPECT_FALSE(r.replay_age_seconds);
  // STOP SLAVE SQL_THREAD: events still arrive, nothing is applied. The receive position
  // tells whether anything waits (the monitor's rule: nothing waits, no lag).
  r = replica_at(40);
  read_replica_status(slave_status("Yes", std::nullopt, "0-1-44"), r);
  EXPECT_EQ(r.receive_lsn, Lsn{44});
  EXPECT_FALSE(r.replay_age_seconds);
}

TEST(MysqlCheck, AReadOnlyServerReplicatingFromNobodyHasNoKnownLag) {
  CheckResult r = replica_at(40);
  MysqlRows none;
  none.columns = slave_status("Yes", "0", "0-1-40").columns;
  read_replica_status(none, r);
  EXPECT_TRUE(r.ok);
  EXPECT_FALSE(r.replay_age_seconds);
  EXPECT_FALSE(r.receive_lsn);
}

TEST(MysqlCheck, SeveralChannelsReportTheWorst) {
  // MySQL's SHOW REPLICA STATUS with two channels: Source names and no Gtid_IO_Pos.
  MysqlRows rows;
  rows.columns = {"Replica_IO_Running", "Seconds_Behind_Source", "Channel_Name"};
  rows.rows.push_back({"Yes", "3", "a"});
  rows.rows.push_back({"Yes", "11", "b"});
  CheckResult r = replica_at(0);
  read_replica_status(rows, r);
  ASSERT_TRUE(r.replay_age_seconds);
  EXPECT_DOUBLE_EQ(*r.replay_age_seconds, 11.0);
  EXPECT_FALSE(r.receive_lsn);
  // One channel that does not replicate makes the lag unknown.
  rows.rows[0][1] = std::nullopt;
  read_replica_status(rows, r);
  EXPECT_FALSE(r.replay_age_seconds);
}

TEST(MysqlCheck, FindsColumnsByTheirFirstPresentName) {
  const MysqlRows rows = slave_status("Yes", "0", "0-1-1");
  const auto* found = rows.find(0, {"Seconds_Behind_Source", "Seconds_Behind_Master"});
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(*found, "0");
  EXPECT_EQ(rows.find(0, {"Nonexistent"}), nullptr);
  EXPECT_EQ(rows.find(1, {"Seconds_Behind_Master"}), nullptr);
}

// The rule of who logs in is check_login()'s, shared with PostgreSQL (see pg_check_test.cc);
// a MySQL check takes it whole, tls included.
TEST(MysqlCheck, LogsInAsCheckLoginSays) {
  config::Cluster cluster;
  cluster.health.timeout = config::Duration(300);
  cluster.health.user = "monitor";
  cluster.health.password = "monitor-secret";
  config::Backend backend;
  backend.type = config::BackendType::kMysql;
  backend.host = "10.0.0.7";
  backend.port = 3307;
  backend.database = "shop";
  backend.tls = config::ServerTls::kRequire;

  const auto s = mysql_check_settings(cluster, backend);
  ASSERT_TRUE(s);
  EXPECT_EQ(static_cast<const CheckLogin&>(*s), *check_login(cluster, backend));
  EXPECT_EQ(s->port, 3307);
  EXPECT_EQ(s->user, "monitor");
  EXPECT_EQ(s->tls, config::ServerTls::kRequire);

  cluster.health.user.clear();
  EXPECT_FALSE(mysql_check_settings(cluster, backend));  // nobody to log in as: unchecked
}

TEST(MysqlCheck, AConnectCutShortLeavesNoDescriptorBehind) {
  MysqlCheckSettings settings;
  settings.user = "monitor";
  testing::expect_connects_cut_short<MysqlCheck>(settings);
}

}  // namespace
}  // namespace plexi::routing
