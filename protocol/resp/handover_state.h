// What a Redis client between commands carries to the process that takes over from this
// one in a binary upgrade (common/client_handover.h): who it logged in as and the state the
// proxy keeps for it (protocol version, database, name).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace plexi::resp {

struct HandedSession {
  std::string cluster;  // the listener's
  std::string user;
  bool authenticated = false;
  int access_method = -1;  // a config::AccessMethod the rules gave at connection, or -1
  int protocol = 2;        // RESP2 or RESP3 (HELLO)
  int database = 0;        // SELECT
  std::string client_name;
  std::int64_t connected_at_us = 0;
  std::string unread;  // bytes read but not handled: part of the next request
};

std::string encode_handed_session(const HandedSession& session);
std::optional<HandedSession> decode_handed_session(std::string_view state);

}  // namespace plexi::resp
