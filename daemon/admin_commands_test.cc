#include <gtest/gtest.h>

#include "daemon/admin_console.h"

namespace plexi::admin {
namespace {

Command parsed(std::string_view text) {
  std::string error;
  auto command = parse_command(text, error);
  EXPECT_TRUE(command) << text << ": " << error;
  return command.value_or(Command{});
}

std::string refused(std::string_view text) {
  std::string error;
  auto command = parse_command(text, error);
  EXPECT_FALSE(command) << text;
  return error;
}

TEST(AdminCommands, ShowSubjectsInAnyCase) {
  auto show = parsed("show pools;");
  EXPECT_EQ(show.kind, Command::Kind::kShow);
  EXPECT_EQ(show.argument, "POOLS");
  EXPECT_EQ(parsed("  SHOW   Queries  ;; ").argument, "QUERIES");
  EXPECT_NE(refused("SHOW TABLES").find("unknown SHOW subject \"TABLES\""), std::string::npos);
  EXPECT_NE(refused("SHOW").find("SHOW needs a subject"), std::string::npos);
  EXPECT_NE(refused("SHOW POOLS now").find("too many words"), std::string::npos);
}

TEST(AdminCommands, PauseAndResumeTakeAnOptionalCluster) {
  EXPECT_EQ(parsed("PAUSE").kind, Command::Kind::kPause);
  EXPECT_EQ(parsed("PAUSE").argument, "");
  EXPECT_EQ(parsed("pause appdb").argument, "appdb");
  EXPECT_EQ(parsed("RESUME \"App DB\"").argument, "App DB");
  EXPECT_EQ(parsed("resume").kind, Command::Kind::kResume);
}

TEST(AdminCommands, BackendsKillAndTheRest) {
  auto disable = parsed("DISABLE BACKEND appdb.pg2");
  EXPECT_EQ(disable.kind, Command::Kind::kDisable);
  EXPECT_EQ(disable.argument, "appdb.pg2");
  EXPECT_EQ(parsed("enable backend pg2").kind, Command::Kind::kEnable);
  EXPECT_NE(refused("DISABLE pg2").find("BACKEND"), std::string::npos);
  auto kill = parsed("KILL 12345");
  EXPECT_EQ(kill.kind, Command::Kind::kKill);
  EXPECT_EQ(kill.argument, "12345");
  EXPECT_NE(refused("KILL me").find("client id"), std::string::npos);
  EXPECT_EQ(parsed("RELOAD").kind, Command::Kind::kReload);
  EXPECT_EQ(parsed("shutdown;").kind, Command::Kind::kShutdown);
  EXPECT_EQ(parsed("SET application_name = 'psql'").kind, Command::Kind::kSet);
  EXPECT_EQ(parsed(" ; ").kind, Command::Kind::kEmpty);
  EXPECT_NE(refused("SELECT 1").find("unknown command \"SELECT\""), std::string::npos);
  EXPECT_NE(refused("PAUSE \"open").find("unterminated"), std::string::npos);
}

TEST(AdminCommands, InvalidateCacheTakesAClusterAndTables) {
  auto whole = parsed("invalidate cache appdb;");
  EXPECT_EQ(whole.kind, Command::Kind::kInvalidateCache);
  EXPECT_EQ(whole.argument, "appdb");
  EXPECT_TRUE(whole.tables.empty());
  auto some = parsed("INVALIDATE CACHE appdb items \"Order Lines\" public.users");
  EXPECT_EQ(some.argument, "appdb");
  EXPECT_EQ(some.tables, (std::vector<std::string>{"items", "Order Lines", "public.users"}));
  EXPECT_NE(refused("INVALIDATE CACHE").find("a cluster"), std::string::npos);
  EXPECT_NE(refused("INVALIDATE appdb items").find("CACHE"), std::string::npos);
}

}  // namespace
}  // namespace plexi::admin
