// What a PostgreSQL client served by the relay carries to the process that takes over from
// this one in a binary upgrade (common/client_handover.h): enough to go on between two
// transactions as if nothing happened — its login, its settings, its named statements and
// its cancel key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "protocol/pg/auth.h"
#include "protocol/pg/statement.h"

namespace plexi::pg {

struct HandedSession {
  std::string user;
  std::string database;
  std::string cluster;
  // What logs in to servers for the client (see Session): a plain password, or SCRAM keys
  // from the client's own proof.
  std::string client_password;
  std::optional<ScramKeys> scram_keys;
  std::vector<std::pair<std::string, std::string>> startup_settings;
  std::int32_t cancel_pid = 0;
  std::int32_t cancel_secret = 0;
  std::int64_t connected_at_us = 0;  // since the epoch

  // The relay's: settings as the SQL that replays them, SET plexiproxy.role, the last
  // commit's WAL position (read-your-writes), and the named prepared statements.
  std::vector<std::pair<std::string, std::string>> settings;
  int role_override = -1;  // a config::Role, or -1
  std::uint64_t written_lsn = 0;
  struct Statement {
    std::string name;        // the client's
    std::string proxy_name;  // the servers'
    std::string query;
    std::vector<std::uint32_t> types;
    std::vector<SettingChange> settings;
  };
  std::vector<Statement> statements;

  // Bytes the client sent that the session had read but not handled.
  std::string unread;
};

std::string encode_handed_session(const HandedSession& session);
// Nullopt when `state` is not a whole, well-formed encoding.
std::optional<HandedSession> decode_handed_session(std::string_view state);

}  // namespace plexi::pg
