// What a statement does to the session around it, found by a single pass over its tokens:
// settings it changes, and state that would tie the client to one server connection.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace plexi::pg {

// Why a client must keep its server connection (transaction pooling cannot move it).
enum class PinReason {
  kNone,
  kListen,
  kAdvisoryLock,
  kTemporaryTable,
  kHoldCursor,
  kSqlPrepare,
  kRoleChange,
  kLoad,
};

std::string_view to_string(PinReason reason);

struct SettingChange {
  enum class Kind { kSet, kReset, kResetAll };
  Kind kind = Kind::kSet;
  std::string name;   // lower-cased unless quoted
  std::string value;  // kSet: the value text as written, ready to put after "SET name TO "
};

struct StatementEffects {
  std::vector<SettingChange> settings;  // session-level SET / RESET, in order
  PinReason pin = PinReason::kNone;
  bool discards_prepared = false;  // DISCARD ALL, DEALLOCATE ALL
  bool discard_all = false;        // DISCARD ALL also resets every setting
};

// Effects of every statement in `sql` (a simple Query may hold several). Cheap: statements
// whose first keyword cannot have effects are skipped after that keyword, except for a
// scan for session-level advisory lock calls.
StatementEffects analyze_statements(std::string_view sql);

// Quotes a setting value for replay when the client's text cannot be reused as is.
std::string quote_identifier(std::string_view name);

}  // namespace plexi::pg
