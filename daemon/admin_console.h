// The admin console's commands (SHOW POOLS, PAUSE, RELOAD, ...): what an operator types,
// parsed without regard to case or a trailing semicolon, and the tables the daemon answers
// with. The PostgreSQL front shows them as ordinary result sets, so psql prints them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/asio.h"

namespace plexi::admin {

struct Command {
  enum class Kind {
    kShow,      // argument: what (POOLS, SERVERS, CLIENTS, STATS, BACKENDS, QUERIES, ...)
    kReload,
    kPause,     // argument: a cluster, or empty for all
    kResume,    // argument: a cluster, or empty for all
    kDisable,   // argument: a backend, as cluster.backend or a backend name
    kEnable,
    kKill,      // argument: a client id (SHOW CLIENTS)
    kInvalidateCache,  // argument: a cluster; tables: those whose cached results go (none: all)
    kShutdown,
    kSet,       // SET ...: drivers send some; accepted and ignored
    kEmpty,     // nothing but white space and semicolons
  };
  Kind kind = Kind::kEmpty;
  std::string argument;  // SHOW's subject upper-cased; names as written
  std::vector<std::string> tables;
};

// The command in `text`, or nullopt with `error` saying what is wrong.
std::optional<Command> parse_command(std::string_view text, std::string& error);

// What SHOW can show, for HELP and the error on an unknown subject.
const std::vector<std::string_view>& show_subjects();

struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;  // nullopt: SQL NULL
};

struct Reply {
  std::optional<Table> table;
  std::string tag;       // CommandComplete: "SHOW", "PAUSE", "RELOAD", ...
  std::string sqlstate;  // set: the command failed with `message`
  std::string message;
  std::vector<std::string> notices;  // NOTICE messages sent before the result
};

// Executes commands against the running process; implemented by the daemon.
class Console {
 public:
  virtual ~Console() = default;
  // Runs on the calling session's executor; PAUSE waits there for transactions to finish.
  virtual awaitable<Reply> execute(const Command& command) = 0;
};

}  // namespace plexi::admin
