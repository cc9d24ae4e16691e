#include "protocol/resp/handover_state.h"

#include <gtest/gtest.h>

namespace plexi::resp {
namespace {

TEST(RedisHandedSession, RoundTrip) {
  HandedSession session;
  session.cluster = "cache";
  session.user = "app";
  session.authenticated = true;
  session.access_method = 1;
  session.protocol = 3;
  session.database = 7;
  session.client_name = "worker-1";
  session.connected_at_us = 1796000000000001;
  session.unread = "*1\r\n$4\r\nPI";
  auto decoded = decode_handed_session(encode_handed_session(session));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->cluster, "cache");
  EXPECT_EQ(decoded->user, "app");
  EXPECT_TRUE(decoded->authenticated);
  EXPECT_EQ(decoded->access_method, 1);
  EXPECT_EQ(decoded->protocol, 3);
  EXPECT_EQ(decoded->database, 7);
  EXPECT_EQ(decoded->client_name, "worker-1");
  EXPECT_EQ(decoded->connected_at_us, 1796000000000001);
  EXPECT_EQ(decoded->unread, "*1\r\n$4\r\nPI");
}

TEST(RedisHandedSession, ImpossibleValuesAndTruncationsAreRefused) {
  HandedSession session;
  session.cluster = "cache";
  std::string encoded = encode_handed_session(session);
  for (std::size_t size = 0; size < encoded.size(); ++size) {
    EXPECT_FALSE(decode_handed_session(std::string_view(encoded).substr(0, size))) << size;
  }
  session.protocol = 4;
  EXPECT_FALSE(decode_handed_session(encode_handed_session(session)));
  session.protocol = 2;
  session.access_method = 40;
  EXPECT_FALSE(decode_handed_session(encode_handed_session(session)));
}

}  // namespace
}  // namespace plexi::resp
