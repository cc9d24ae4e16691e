// Tests of the PostgreSQL check's pure parts: LSN text, reading the health query's answer,
// and which credentials a check logs in with.
#include "routing/pg_check.h"

#include <gtest/gtest.h>

namespace plexi::routing {
namespace {

TEST(PgCheck, ParsesLsns) {
  EXPECT_EQ(parse_lsn("0/0"), Lsn{0});
  EXPECT_EQ(parse_lsn("0/16B3748"), Lsn{0x16B3748});
  EXPECT_EQ(parse_lsn("16/B374D848"), Lsn{0x16B374D848});
  EXPECT_EQ(parse_lsn("FFFFFFFF/FFFFFFFF"), ~Lsn{0});
  for (const char* bad :
       {"", "/", "0/", "/0", "1", "1/2/3", "G/0", "0/123456789", "-1/0", "0/ 1", "0x1/0"}) {
    EXPECT_FALSE(parse_lsn(bad)) << bad;
  }
}

// An answer as libpq would build it from the server's DataRow (NULL: nullptr).
struct Answer {
  explicit Answer(std::initializer_list<const char*> row, ExecStatusType status = PGRES_TUPLES_OK)
      : result(PQmakeEmptyPGresult(nullptr, status)) {
    std::vector<PGresAttDesc> columns(row.size());
    std::vector<std::string> names;
    for (std::size_t i = 0; i < row.size(); ++i) names.push_back("c" + std::to_string(i));
    for (std::size_t i = 0; i < row.size(); ++i) {
      columns[i] = PGresAttDesc{};
      columns[i].name = names[i].data();
      columns[i].typid = 25;
      columns[i].typlen = -1;
    }
    if (status == PGRES_TUPLES_OK) {
      PQsetResultAttrs(result, static_cast<int>(row.size()), columns.data());
      int column = 0;
      for (const char* value : row) {
        // A length of -1 stores NULL.
        PQsetvalue(result, 0, column++, const_cast<char*>(value),
                   value ? static_cast<int>(std::strlen(value)) : -1);
      }
    }
  }
  ~Answer() { PQclear(result); }
  PGresult* result;
};

TEST(PgCheck, ReadsAPrimarysAnswer) {
  Answer answer({"f", "0/3000148", nullptr, nullptr});
  CheckResult r;
  read_health_row(answer.result, r);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_FALSE(r.in_recovery);
  EXPECT_EQ(r.wal_lsn, 0x3000148u);
  EXPECT_FALSE(r.receive_lsn);
  EXPECT_FALSE(r.replay_age_seconds);
}

TEST(PgCheck, ReadsAReplicasAnswer) {
  Answer answer({"t", "0/3000060", "0/3000148", "12.345678"});
  CheckResult r;
  read_health_row(answer.result, r);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.in_recovery);
  EXPECT_EQ(r.wal_lsn, 0x3000060u);
  EXPECT_EQ(r.receive_lsn, Lsn{0x3000148});
  ASSERT_TRUE(r.replay_age_seconds);
  EXPECT_DOUBLE_EQ(*r.replay_age_seconds, 12.345678);
}

TEST(PgCheck, RefusesAnswersItCannotRead) {
  CheckResult r;
  read_health_row(Answer({"t", "0/1"}).result, r);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "the health query returned an unexpected shape");
  read_health_row(Answer({"x", "0/1", nullptr, "0"}).result, r);
  EXPECT_FALSE(r.ok);
  read_health_row(Answer({"f", "zz", nullptr, "0"}).result, r);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "unreadable WAL position 'zz'");
  read_health_row(Answer({}, PGRES_FATAL_ERROR).result, r);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.error.empty());
}

TEST(PgCheck, LogsInWithTheBackendsUserElseTheHealthUser) {
  config::Cluster cluster;
  cluster.name = "appdb";
  cluster.health.timeout = config::Duration(250);
  cluster.health.user = "monitor";
  cluster.health.password = "monitor-secret";
  config::Backend backend;
  backend.host = "10.0.0.5";
  backend.port = 5433;
  backend.database = "appdb";
  backend.tls = config::ServerTls::kRequire;

  auto s = pg_check_settings(cluster, backend);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->host, "10.0.0.5");
  EXPECT_EQ(s->port, 5433);
  EXPECT_EQ(s->user, "monitor");
  EXPECT_EQ(s->password, "monitor-secret");
  EXPECT_EQ(s->database, "appdb");
  EXPECT_EQ(s->sslmode, "require");
  EXPECT_EQ(s->timeout, std::chrono::milliseconds(250));

  backend.username = "app";
  backend.password = "app-secret";
  cluster.health.database = "postgres";
  s = pg_check_settings(cluster, backend);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->user, "app");
  EXPECT_EQ(s->password, "app-secret");  // never the health password with another user
  EXPECT_EQ(s->database, "postgres");

  backend.username.clear();
  cluster.health.user.clear();
  EXPECT_FALSE(pg_check_settings(cluster, backend));  // nobody to log in as: unchecked
}

}  // namespace
}  // namespace plexi::routing
