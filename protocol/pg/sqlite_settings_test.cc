// Tests of the embedded front's session parameters: defaults, startup values, SET checks,
// RESET, ParameterStatus reports and transactional undo.
#include "protocol/pg/sqlite_settings.h"

#include <gtest/gtest.h>

#include <map>

#include "protocol/pg/decoder.h"

namespace plexi::pg {
namespace {

std::map<std::string, std::string> reports(SessionSettings& settings) {
  ByteVector out;
  settings.report_changes(out);
  std::map<std::string, std::string> seen;
  Bytes rest(out);
  while (!rest.empty()) {
    auto frame = decode_frame(rest);
    EXPECT_TRUE(frame.ok());
    if (!frame.ok()) break;
    EXPECT_EQ(frame.message.type, 'S');
    auto status = parse_parameter_status(frame.message.body);
    EXPECT_TRUE(status);
    if (status) seen[std::string(status->first)] = std::string(status->second);
    rest = rest.subspan(frame.consumed);
  }
  return seen;
}

TEST(SqliteSettings, ReportsWhatClientsParseAtStartup) {
  SessionSettings settings("alice", {{"application_name", "psql"}});
  auto seen = reports(settings);
  EXPECT_EQ(seen["server_version"], "15.0");
  EXPECT_EQ(seen["server_encoding"], "UTF8");
  EXPECT_EQ(seen["client_encoding"], "UTF8");
  EXPECT_EQ(seen["DateStyle"], "ISO, MDY");
  EXPECT_EQ(seen["IntervalStyle"], "postgres");
  EXPECT_EQ(seen["TimeZone"], "UTC");
  EXPECT_EQ(seen["integer_datetimes"], "on");
  EXPECT_EQ(seen["standard_conforming_strings"], "on");
  EXPECT_EQ(seen["is_superuser"], "off");
  EXPECT_EQ(seen["session_authorization"], "alice");
  EXPECT_EQ(seen["application_name"], "psql");
  // Only changes are reported afterwards.
  EXPECT_TRUE(reports(settings).empty());
  ASSERT_FALSE(settings.set("application_name", "other"));
  seen = reports(settings);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen["application_name"], "other");
}

TEST(SqliteSettings, StartupValuesThatCannotBeHonouredAreIgnored) {
  SessionSettings settings("bob", {{"client_encoding", "LATIN1"}, {"datestyle", "iso, dmy"}});
  EXPECT_EQ(*settings.find("client_encoding"), "UTF8");
  EXPECT_EQ(*settings.find("DateStyle"), "ISO, DMY");
}

TEST(SqliteSettings, SetChecks) {
  SessionSettings settings("bob", {});
  auto failure = settings.set("server_version", "9.6");
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->sqlstate, "55P02");
  failure = settings.set("client_encoding", "LATIN1");
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->sqlstate, "0A000");
  EXPECT_FALSE(settings.set("client_encoding", "utf-8"));
  EXPECT_EQ(*settings.find("client_encoding"), "UTF8");
  failure = settings.set("DateStyle", "nonsense");
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->sqlstate, "22023");
  EXPECT_TRUE(settings.set("standard_conforming_strings", "off"));
  EXPECT_FALSE(settings.set("my.custom", "1"));
  EXPECT_EQ(*settings.find("MY.CUSTOM"), "1");
  EXPECT_EQ(settings.find("nosuch"), nullptr);
}

TEST(SqliteSettings, ResetReturnsToStartupValues) {
  SessionSettings settings("bob", {{"application_name", "app"}});
  ASSERT_FALSE(settings.set("application_name", "changed"));
  ASSERT_FALSE(settings.set("my.custom", "1"));
  settings.reset("application_name");
  EXPECT_EQ(*settings.find("application_name"), "app");
  settings.reset("my.custom");
  EXPECT_EQ(settings.find("my.custom"), nullptr);
  ASSERT_FALSE(settings.set("TimeZone", "Europe/Paris"));
  settings.reset_all();
  EXPECT_EQ(*settings.find("timezone"), "UTC");
}

TEST(SqliteSettings, RolledBackSetIsUndone) {
  SessionSettings settings("bob", {});
  (void)reports(settings);
  settings.begin_transaction();
  ASSERT_FALSE(settings.set("application_name", "inside"));
  EXPECT_EQ(reports(settings)["application_name"], "inside");
  settings.rollback_transaction();
  EXPECT_EQ(*settings.find("application_name"), "");
  EXPECT_EQ(reports(settings)["application_name"], "");  // reported back

  settings.begin_transaction();
  ASSERT_FALSE(settings.set("application_name", "kept"));
  settings.commit_transaction();
  settings.rollback_transaction();  // nothing open: no effect
  EXPECT_EQ(*settings.find("application_name"), "kept");
}

TEST(SqliteSettings, DisplayNames) {
  SessionSettings settings("bob", {});
  EXPECT_EQ(settings.display_name("datestyle"), "DateStyle");
  EXPECT_EQ(settings.display_name("TIMEZONE"), "TimeZone");
  EXPECT_EQ(settings.display_name("search_path"), "search_path");
  bool found = false;
  for (const auto& [name, value] : settings.all()) {
    if (name == "DateStyle") found = value == "ISO, MDY";
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace plexi::pg
