#include "protocol/mysql/handover_state.h"

#include <gtest/gtest.h>

namespace plexi::mysql {
namespace {

HandedSession sample() {
  HandedSession session;
  session.user = "app";
  session.password = "pw";
  session.password_sha1 = std::string(20, '\x01');
  session.database = "shop";
  session.cluster = "shop";
  session.schema = "shop_eu";
  session.program_name = "mysql";
  session.capabilities = 0x81aaa205;
  session.collation = 45;
  session.status_flags = 0x0002;
  session.registry_pid = 77;
  session.registry_secret = -5;
  session.connected_at_us = 1796000000000002;
  session.settings = {{"sql_mode", "sql_mode = 'ANSI'"}, {"names", "NAMES utf8mb4"}};
  session.multi_statements = false;
  session.written_gtid = 1234;
  session.statements = {{1, "SELECT ?", 1, 1, std::string("\x08\x00", 2)}, {3, "DO 1", 0, 0, ""}};
  session.next_statement_id = 4;
  session.unread = std::string("\x05\x00\x00\x00\x03", 5);
  return session;
}

TEST(MysqlHandedSession, RoundTrip) {
  auto original = sample();
  auto decoded = decode_handed_session(encode_handed_session(original));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->user, original.user);
  EXPECT_EQ(decoded->password, original.password);
  EXPECT_EQ(decoded->password_sha1, original.password_sha1);
  EXPECT_EQ(decoded->database, original.database);
  EXPECT_EQ(decoded->cluster, original.cluster);
  EXPECT_EQ(decoded->schema, original.schema);
  EXPECT_EQ(decoded->program_name, original.program_name);
  EXPECT_EQ(decoded->capabilities, original.capabilities);
  EXPECT_EQ(decoded->collation, original.collation);
  EXPECT_EQ(decoded->status_flags, original.status_flags);
  EXPECT_EQ(decoded->registry_pid, original.registry_pid);
  EXPECT_EQ(decoded->registry_secret, original.registry_secret);
  EXPECT_EQ(decoded->connected_at_us, original.connected_at_us);
  EXPECT_EQ(decoded->settings, original.settings);
  EXPECT_EQ(decoded->multi_statements, original.multi_statements);
  EXPECT_EQ(decoded->written_gtid, original.written_gtid);
  ASSERT_EQ(decoded->statements.size(), 2u);
  EXPECT_EQ(decoded->statements[0].id, 1u);
  EXPECT_EQ(decoded->statements[0].sql, "SELECT ?");
  EXPECT_EQ(decoded->statements[0].parameters, 1);
  EXPECT_EQ(decoded->statements[0].columns, 1);
  EXPECT_EQ(decoded->statements[0].types, std::string("\x08\x00", 2));
  EXPECT_EQ(decoded->statements[1].id, 3u);
  EXPECT_EQ(decoded->next_statement_id, 4u);
  EXPECT_EQ(decoded->unread, original.unread);
}

TEST(MysqlHandedSession, TruncationsAndImpossibleValuesAreRefused) {
  std::string encoded = encode_handed_session(sample());
  for (std::size_t size = 0; size < encoded.size(); ++size) {
    EXPECT_FALSE(decode_handed_session(std::string_view(encoded).substr(0, size))) << size;
  }
  EXPECT_FALSE(decode_handed_session(encoded + "x"));
}

}  // namespace
}  // namespace plexi::mysql
