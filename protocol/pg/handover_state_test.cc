#include "protocol/pg/handover_state.h"

#include <gtest/gtest.h>

namespace plexi::pg {
namespace {

HandedSession sample() {
  HandedSession session;
  session.user = "app";
  session.database = "shop";
  session.cluster = "shop";
  session.client_password = "s3cret";
  ScramKeys keys;
  for (std::size_t i = 0; i < keys.client_key.size(); ++i) {
    keys.client_key[i] = static_cast<std::uint8_t>(i);
    keys.server_key[i] = static_cast<std::uint8_t>(255 - i);
  }
  session.scram_keys = keys;
  session.startup_settings = {{"application_name", "billing"}, {"TimeZone", "UTC"}};
  session.cancel_pid = 123456;
  session.cancel_secret = -987654;
  session.connected_at_us = 1796000000123456;
  session.settings = {{"search_path", "SET search_path TO app, public"}};
  session.role_override = 1;
  session.written_lsn = 0x16B3748;
  session.statements = {{"P_0",
                         "plexi_00000000000000ab",
                         "SELECT $1::int",
                         {23},
                         {{SettingChange::Kind::kSet, "work_mem", "'64MB'"},
                          {SettingChange::Kind::kResetAll, "", ""}}},
                        {"s2", "plexi_00000000000000cd", "UPDATE t SET n = n + 1", {}, {}}};
  session.unread = std::string("Q\0\0\0\x0dSELECT 1\0", 14);
  return session;
}

void expect_same(const HandedSession& a, const HandedSession& b) {
  EXPECT_EQ(a.user, b.user);
  EXPECT_EQ(a.database, b.database);
  EXPECT_EQ(a.cluster, b.cluster);
  EXPECT_EQ(a.client_password, b.client_password);
  EXPECT_EQ(a.scram_keys, b.scram_keys);
  EXPECT_EQ(a.startup_settings, b.startup_settings);
  EXPECT_EQ(a.cancel_pid, b.cancel_pid);
  EXPECT_EQ(a.cancel_secret, b.cancel_secret);
  EXPECT_EQ(a.connected_at_us, b.connected_at_us);
  EXPECT_EQ(a.settings, b.settings);
  EXPECT_EQ(a.role_override, b.role_override);
  EXPECT_EQ(a.written_lsn, b.written_lsn);
  ASSERT_EQ(a.statements.size(), b.statements.size());
  for (std::size_t i = 0; i < a.statements.size(); ++i) {
    EXPECT_EQ(a.statements[i].name, b.statements[i].name);
    EXPECT_EQ(a.statements[i].proxy_name, b.statements[i].proxy_name);
    EXPECT_EQ(a.statements[i].query, b.statements[i].query);
    EXPECT_EQ(a.statements[i].types, b.statements[i].types);
    ASSERT_EQ(a.statements[i].settings.size(), b.statements[i].settings.size());
    for (std::size_t c = 0; c < a.statements[i].settings.size(); ++c) {
      EXPECT_EQ(a.statements[i].settings[c].kind, b.statements[i].settings[c].kind);
      EXPECT_EQ(a.statements[i].settings[c].name, b.statements[i].settings[c].name);
      EXPECT_EQ(a.statements[i].settings[c].value, b.statements[i].settings[c].value);
    }
  }
  EXPECT_EQ(a.unread, b.unread);
}

TEST(PgHandedSession, RoundTrip) {
  auto original = sample();
  auto decoded = decode_handed_session(encode_handed_session(original));
  ASSERT_TRUE(decoded);
  expect_same(*decoded, original);
}

TEST(PgHandedSession, AMinimalSessionRoundTrips) {
  HandedSession plain;
  plain.user = "u";
  auto decoded = decode_handed_session(encode_handed_session(plain));
  ASSERT_TRUE(decoded);
  expect_same(*decoded, plain);
  EXPECT_FALSE(decoded->scram_keys);
  EXPECT_EQ(decoded->role_override, -1);
}

TEST(PgHandedSession, EveryTruncationIsRefused) {
  std::string encoded = encode_handed_session(sample());
  for (std::size_t size = 0; size < encoded.size(); ++size) {
    EXPECT_FALSE(decode_handed_session(std::string_view(encoded).substr(0, size))) << size;
  }
  EXPECT_FALSE(decode_handed_session(encoded + '\0'));
}

TEST(PgHandedSession, AnotherVersionIsRefused) {
  std::string encoded = encode_handed_session(sample());
  encoded[3] = 9;
  EXPECT_FALSE(decode_handed_session(encoded));
}

}  // namespace
}  // namespace plexi::pg
