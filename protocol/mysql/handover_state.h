// What a MySQL client served by the relay carries to the process that takes over from this
// one in a binary upgrade (common/client_handover.h): its login, what the handshake settled
// (capabilities, collation), its schema, settings and prepared statements, so that it goes
// on between two commands as if nothing happened.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plexi::mysql {

struct HandedSession {
  std::string user;
  std::string password;       // plain, when the proxy knows it
  std::string password_sha1;  // else SHA1(password), when recovered at login
  std::string database;       // as given at login: the cluster's name
  std::string cluster;
  std::string schema;
  std::string program_name;
  std::uint32_t capabilities = 0;
  std::uint8_t collation = 0;
  std::uint16_t status_flags = 0;
  std::int32_t registry_pid = 0;  // the connection id the client was given
  std::int32_t registry_secret = 0;
  std::int64_t connected_at_us = 0;

  // The relay's: settings (key, SQL after SET) in the order applied, the multi-statement
  // option, the last write's GTID sequence, and the client's prepared statements.
  std::vector<std::pair<std::string, std::string>> settings;
  bool multi_statements = true;
  std::uint64_t written_gtid = 0;
  struct Statement {
    std::uint32_t id = 0;
    std::string sql;
    std::uint16_t parameters = 0;
    std::uint16_t columns = 0;
    std::string types;  // of the last execution that sent them
  };
  std::vector<Statement> statements;
  std::uint32_t next_statement_id = 1;

  std::string unread;  // bytes of the next command already read
};

std::string encode_handed_session(const HandedSession& session);
std::optional<HandedSession> decode_handed_session(std::string_view state);

}  // namespace plexi::mysql
