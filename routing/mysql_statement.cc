// Reads a MySQL statement string in one pass of the tokenizer: each statement's first words
// say what it is (and SET's assignments what it changes), and every token is watched for
// what pins a client or keeps a SELECT off the replicas.
#include "routing/mysql_statement.h"

#include <algorithm>
#include <array>

#include "routing/mysql_lexer.h"

namespace plexi::routing {
namespace {

using Kind = MysqlToken::Kind;

char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool ends_statement(const MysqlToken& token) {
  return token.kind == Kind::kEnd || is_symbol(token, ";");
}

// A word in upper case, for comparing one token with several names (empty for other tokens
// and for words longer than any name compared).
class Upper {
 public:
  explicit Upper(const MysqlToken& token) {
    if (token.kind != Kind::kWord || token.text.size() > sizeof(buffer_)) return;
    for (char c : token.text) buffer_[size_++] = upper(c);
  }
  std::string_view view() const { return {buffer_, size_}; }
  bool operator==(std::string_view other) const { return view() == other; }

 private:
  char buffer_[40];
  std::size_t size_ = 0;
};

// Functions whose calls keep a statement on the primary: they take or inspect the server's
// user locks, read per-connection results of earlier statements, move sequences, or wait for
// the server's own replication position. SLEEP() and UUID_SHORT() are not among them: they
// read nothing a replica lacks.
struct Function {
  std::string_view name;
  MysqlPin pin = MysqlPin::kNone;
  bool releases = false;  // gives up every pin-worthy lock
};
constexpr Function kPrimaryFunctions[] = {
    {"GET_LOCK", MysqlPin::kUserLock},
    {"IS_USED_LOCK", MysqlPin::kUserLock},
    {"IS_FREE_LOCK"},
    {"RELEASE_LOCK"},
    {"RELEASE_ALL_LOCKS", MysqlPin::kNone, true},
    {"LAST_INSERT_ID", MysqlPin::kLastInsertId},
    {"FOUND_ROWS", MysqlPin::kFoundRows},
    {"ROW_COUNT"},
    {"NEXTVAL"},
    {"SETVAL"},
    {"LASTVAL"},
    {"MASTER_POS_WAIT"},
    {"SOURCE_POS_WAIT"},
    {"MASTER_GTID_WAIT"},
    {"WAIT_FOR_EXECUTED_GTID_SET"},
    {"WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS"},
};

// Session variables replayed on another server, and the key each is tracked under.
struct TrackedVariable {
  std::string_view name;
  std::string_view key;
};
constexpr TrackedVariable kTrackedVariables[] = {
    {"autocommit", "autocommit"},
    {"character_set_client", "character_set_client"},
    {"character_set_connection", "character_set_connection"},
    {"character_set_results", "character_set_results"},
    {"collation_connection", "collation_connection"},
    {"div_precision_increment", "div_precision_increment"},
    {"foreign_key_checks", "foreign_key_checks"},
    {"group_concat_max_len", "group_concat_max_len"},
    {"innodb_lock_wait_timeout", "innodb_lock_wait_timeout"},
    {"interactive_timeout", "interactive_timeout"},
    {"lc_messages", "lc_messages"},
    {"lc_time_names", "lc_time_names"},
    {"lock_wait_timeout", "lock_wait_timeout"},
    {"max_execution_time", "max_execution_time"},
    {"max_statement_time", "max_statement_time"},
    {"net_read_timeout", "net_read_timeout"},
    {"net_write_timeout", "net_write_timeout"},
    {"sql_auto_is_null", "sql_auto_is_null"},
    {"sql_big_selects", "sql_big_selects"},
    {"sql_mode", "sql_mode"},
    {"sql_notes", "sql_notes"},
    {"sql_safe_updates", "sql_safe_updates"},
    {"sql_select_limit", "sql_select_limit"},
    {"time_zone", "time_zone"},
    {"transaction_isolation", "transaction_isolation"},
    {"transaction_read_only", "transaction_read_only"},
    {"tx_isolation", "transaction_isolation"},
    {"tx_read_only", "transaction_read_only"},
    {"unique_checks", "unique_checks"},
    {"wait_timeout", "wait_timeout"},
};

bool equal_ignoring_case(std::string_view text, std::string_view lower_text) {
  if (text.size() != lower_text.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (lower(text[i]) != lower_text[i]) return false;
  }
  return true;
}

// The tracking key of a variable name (any case); empty when it is not tracked.
std::string_view tracked_key(std::string_view name) {
  for (const TrackedVariable& variable : kTrackedVariables) {
    if (equal_ignoring_case(name, variable.name)) return variable.key;
  }
  return {};
}

bool starts_ignoring_case(std::string_view text, std::string_view lower_prefix) {
  return text.size() >= lower_prefix.size() &&
         equal_ignoring_case(text.substr(0, lower_prefix.size()), lower_prefix);
}

// The name a `name` or backquoted token stands for.
std::string name_of(const MysqlToken& token) {
  if (token.kind != Kind::kQuoted) return std::string(token.text);
  std::string name;
  const std::string_view inner = token.text.substr(1, token.text.size() - 2);
  for (std::size_t i = 0; i < inner.size(); ++i) {
    name += inner[i];
    if (inner[i] == '`') ++i;  // `` stands for `
  }
  return name;
}

std::optional<std::uint64_t> parse_id(std::string_view digits) {
  if (digits.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

class Analyzer {
 public:
  explicit Analyzer(std::string_view sql, MysqlStatement& out) : lexer_(sql), out_(out) {}

  void run() {
    out_.read = true;                    // until a statement says otherwise; also for empty text
    bool read_only_transaction = false;  // opened by an earlier statement of this string
    int statements = 0;
    while (true) {
      last_ = before_last_ = MysqlToken{};
      facts_ = Facts{};
      observing_ = true;
      const MysqlToken first = take();
      if (first.kind == Kind::kEnd) break;
      if (is_symbol(first, ";")) continue;
      ++statements;
      statement(first);
      if (pending_insert_) facts_.blocked = true;
      pending_insert_ = false;
      bool read = facts_.read && !facts_.blocked;
      if (facts_.transaction == TransactionControl::kBegin) {
        read_only_transaction = facts_.read_only;
      } else if (read_only_transaction && facts_.implicit_commit) {
        read_only_transaction = false;  // it commits first, then runs as a write
      } else if (read_only_transaction) {
        read = true;  // the server refuses writes in it, wherever it runs
        if (facts_.transaction != TransactionControl::kNone) read_only_transaction = false;
      }
      // What pins runs on the primary, so that the connection a client keeps can write.
      if (facts_.pinned) read = false;
      out_.read = out_.read && read;
      if (facts_.transaction != TransactionControl::kNone) {
        out_.transaction = facts_.transaction;
        out_.read_only = facts_.read_only;
      }
      if (facts_.implicit_commit) out_.implicit_commit = true;
    }
    out_.multiple = statements > 1;
  }

 private:
  struct Facts {
    bool read = false;     // a read by what it is...
    bool blocked = false;  // ...unless it locks rows, writes somewhere or calls kPrimaryFunctions
    bool pinned = false;
    bool implicit_commit = false;
    TransactionControl transaction = TransactionControl::kNone;
    bool read_only = false;
  };
  enum class Scope { kDefault, kSession, kGlobal };

  // The next token, after watching it.
  MysqlToken take() {
    const MysqlToken token = lexer_.next();
    if (observing_) observe(token);
    before_last_ = last_;
    last_ = token;
    return token;
  }

  void skip_rest(MysqlToken token) {
    while (!ends_statement(token)) token = take();
  }

  void pin(MysqlPin reason) {
    if (out_.pin == MysqlPin::kNone) out_.pin = reason;
    facts_.pinned = true;
  }

  // What any token of any statement may add: pins, and what keeps a SELECT off replicas.
  void observe(const MysqlToken& token) {
    if (pending_insert_ && !is_symbol(token, "(")) facts_.blocked = true;  // not INSERT(s, ...)
    pending_insert_ = false;
    if (is_symbol(last_, ".")) return;  // t.update is a column
    switch (token.kind) {
      case Kind::kUserVariable:
        return pin(MysqlPin::kUserVariable);
      case Kind::kSystemVariable:
        return system_variable(token.text.substr(2));
      case Kind::kSymbol:
        if (is_symbol(token, "(") && last_.kind == Kind::kWord && !is_symbol(before_last_, ".")) {
          function(Upper(last_));
        }
        return;
      case Kind::kWord:
        return key_word(Upper(token));
      default:
        return;
    }
  }

  void system_variable(std::string_view name) {
    if (starts_ignoring_case(name, "session.")) name.remove_prefix(8);
    if (equal_ignoring_case(name, "identity") || equal_ignoring_case(name, "last_insert_id")) {
      facts_.blocked = true;
      pin(MysqlPin::kLastInsertId);
    }
  }

  void function(const Upper& name) {
    for (const Function& function : kPrimaryFunctions) {
      if (name == function.name) {
        facts_.blocked = true;
        if (function.pin != MysqlPin::kNone) pin(function.pin);
        if (function.releases) out_.pin_released = true;
        return;
      }
    }
  }

  void key_word(const Upper& word) {
    if (word == "UPDATE" || word == "DELETE" || word == "INTO") {
      facts_.blocked = true;  // FOR UPDATE, WITH ... UPDATE / DELETE, SELECT ... INTO
    } else if (word == "SHARE") {
      if (is_word(last_, "FOR") || is_word(last_, "IN")) facts_.blocked = true;
    } else if (word == "INSERT" || word == "REPLACE") {
      pending_insert_ = true;  // a statement, unless the string function of that name
    } else if (word == "SQL_CALC_FOUND_ROWS") {
      pin(MysqlPin::kFoundRows);
    } else if (word == "FOR" && is_word(last_, "VALUE") &&
               (is_word(before_last_, "NEXT") || is_word(before_last_, "PREVIOUS"))) {
      facts_.blocked = true;  // NEXT VALUE FOR seq moves it; PREVIOUS VALUE FOR is LASTVAL
    }
  }

  // One statement, from its first token to its ';' (or the end). A statement that holds
  // another (EXPLAIN ANALYZE, SET STATEMENT ... FOR) loops to read that one.
  void statement(MysqlToken first) {
    while (!ends_statement(first)) {  // (EXPLAIN ANALYZE; has none)
      if (is_symbol(first, "(")) {
        facts_.read = true;  // (SELECT ...) UNION (SELECT ...)
        return skip_rest(first);
      }
      const Upper word(first);
      if (word == "SELECT" || word == "WITH" || word == "TABLE" || word == "VALUES" ||
          word == "SHOW" || word == "HELP" || word == "DO") {
        facts_.read = true;
        return skip_rest(first);
      }
      if (word == "EXPLAIN" || word == "DESCRIBE" || word == "DESC") {
        observing_ = false;  // the statement explained does not run...
        const MysqlToken next = take();
        if (!is_word(next, "ANALYZE")) {
          facts_.read = true;
          return skip_rest(next);
        }
        observing_ = true;  // ...unless EXPLAIN ANALYZE runs it
        first = after_format(take());
        continue;
      }
      if (word == "ANALYZE") {
        const MysqlToken next = take();
        if (is_word(next, "TABLE") || is_word(next, "NO_WRITE_TO_BINLOG") ||
            is_word(next, "LOCAL")) {
          facts_.implicit_commit = true;
          return skip_rest(next);
        }
        first = after_format(next);  // MariaDB: ANALYZE runs the statement
        continue;
      }
      if (word == "SET") {
        const MysqlToken inner = set_statement();
        if (ends_statement(inner)) return;
        first = inner;
        continue;
      }
      return other_statement(word);
    }
  }

  // Skips FORMAT = JSON / TREE before an analysed statement.
  MysqlToken after_format(MysqlToken token) {
    if (!is_word(token, "FORMAT")) return token;
    token = take();
    if (is_symbol(token, "=")) token = take();
    return ends_statement(token) ? token : take();
  }

  void other_statement(const Upper& word) {
    if (word == "USE") return use_statement();
    if (word == "BEGIN") {
      const MysqlToken next = take();
      if (is_word(next, "NOT")) return skip_to_end();  // BEGIN NOT ATOMIC ... END: a program
      facts_.transaction = TransactionControl::kBegin;
      return skip_rest(next);
    }
    if (word == "START") {
      const MysqlToken next = take();
      if (!is_word(next, "TRANSACTION")) {
        facts_.implicit_commit = true;  // START SLAVE / REPLICA / GROUP_REPLICATION
        return skip_rest(next);
      }
      return start_transaction();
    }
    if (word == "COMMIT") {
      facts_.transaction = TransactionControl::kCommit;
      return skip_rest(take());
    }
    if (word == "ROLLBACK") {
      MysqlToken next = take();
      if (is_word(next, "WORK")) next = take();
      if (!is_word(next, "TO")) facts_.transaction = TransactionControl::kRollback;
      return skip_rest(next);
    }
    if (word == "XA") {
      const MysqlToken next = take();
      if (is_word(next, "START") || is_word(next, "BEGIN")) {
        facts_.transaction = TransactionControl::kBegin;
      } else if (is_word(next, "COMMIT")) {
        facts_.transaction = TransactionControl::kCommit;
      } else if (is_word(next, "ROLLBACK")) {
        facts_.transaction = TransactionControl::kRollback;
      }
      return skip_rest(next);
    }
    if (word == "LOCK") {
      const MysqlToken next = take();
      if (is_word(next, "TABLE") || is_word(next, "TABLES")) {
        pin(MysqlPin::kLockTables);
        facts_.implicit_commit = true;
        lock_tables_ = true;
      } else if (is_word(next, "INSTANCE")) {
        pin(MysqlPin::kLockTables);  // LOCK INSTANCE FOR BACKUP
      }
      return skip_rest(next);
    }
    if (word == "UNLOCK") {
      const MysqlToken next = take();
      if (is_word(next, "TABLE") || is_word(next, "TABLES")) {
        out_.pin_released = true;
        // It commits only a transaction that LOCK TABLES began: known here only when that
        // was earlier in the same string.
        if (lock_tables_) facts_.implicit_commit = true;
        lock_tables_ = false;
      } else if (is_word(next, "INSTANCE")) {
        out_.pin_released = true;
      }
      return skip_rest(next);
    }
    if (word == "FLUSH") return flush_statement();
    if (word == "CREATE") return create_statement();
    if (word == "DROP") {
      const MysqlToken next = take();
      if (is_word(next, "PREPARE")) {
        deallocate();
      } else if (!is_word(next, "TEMPORARY")) {
        facts_.implicit_commit = true;
      }
      return skip_rest(next);
    }
    if (word == "ALTER" || word == "RENAME" || word == "TRUNCATE" || word == "GRANT" ||
        word == "REVOKE" || word == "INSTALL" || word == "UNINSTALL" || word == "OPTIMIZE" ||
        word == "REPAIR" || word == "CHECK" || word == "CACHE" || word == "RESET" ||
        word == "CHANGE" || word == "STOP") {
      facts_.implicit_commit = true;
      return skip_rest(take());
    }
    if (word == "LOAD") return load_statement();
    if (word == "KILL") return kill_statement();
    if (word == "PREPARE" || word == "EXECUTE") {
      pin(MysqlPin::kSqlPrepare);
      return skip_rest(take());
    }
    if (word == "DEALLOCATE") {
      deallocate();
      return skip_rest(take());
    }
    if (word == "HANDLER") return handler_statement();
    skip_rest(take());  // INSERT, UPDATE, DELETE, REPLACE, CALL, ...: writes
  }

  void deallocate() {
    pin(MysqlPin::kSqlPrepare);
    out_.pin_released = true;
  }

  // A stored program's body holds ';' of its own: the rest of the text is one statement.
  void skip_to_end() {
    while (take().kind != Kind::kEnd) {
    }
  }

  void use_statement() {
    facts_.read = true;
    const MysqlToken name = take();
    const MysqlToken next = take();
    if ((name.kind == Kind::kWord || name.kind == Kind::kQuoted) && ends_statement(next)) {
      out_.use_database = name_of(name);
    }
    skip_rest(next);
  }

  // START TRANSACTION [READ ONLY | READ WRITE | WITH CONSISTENT SNAPSHOT, ...]
  void start_transaction() {
    facts_.transaction = TransactionControl::kBegin;
    MysqlToken token = take();
    while (!ends_statement(token)) {
      if (is_word(token, "READ")) {
        token = take();
        if (is_word(token, "ONLY")) facts_.read_only = true;
        if (is_word(token, "WRITE")) facts_.read_only = false;
        continue;
      }
      token = take();
    }
    facts_.read = facts_.read_only;
  }

  void flush_statement() {
    facts_.implicit_commit = true;
    MysqlToken token = take();
    while (!ends_statement(token)) {
      const MysqlToken previous = token;
      token = take();
      // FLUSH TABLES ... WITH READ LOCK, FLUSH TABLES t FOR EXPORT: locks held by the session.
      if ((is_word(previous, "READ") && is_word(token, "LOCK")) ||
          (is_word(previous, "FOR") && is_word(token, "EXPORT"))) {
        pin(MysqlPin::kLockTables);
      }
    }
  }

  void create_statement() {
    MysqlToken token = take();
    if (is_word(token, "OR")) {
      token = take();  // REPLACE
      if (!ends_statement(token)) token = take();
    }
    if (is_word(token, "TEMPORARY")) {
      pin(MysqlPin::kTemporaryTable);  // and no commit
    } else {
      facts_.implicit_commit = true;
    }
    bool program = false;  // a procedure, function, trigger or event
    while (!ends_statement(token)) {
      if (!program && !is_symbol(before_last_, ".") &&
          (is_word(token, "PROCEDURE") || is_word(token, "FUNCTION") || is_word(token, "TRIGGER") ||
           is_word(token, "EVENT"))) {
        program = true;
        observing_ = false;  // its body runs later, when called
      }
      if (program && is_word(token, "BEGIN") && !is_symbol(before_last_, ".")) {
        return skip_to_end();
      }
      token = take();
    }
  }

  // LOAD DATA | XML [LOW_PRIORITY | CONCURRENT] [LOCAL] INFILE ...; LOAD INDEX INTO CACHE.
  void load_statement() {
    MysqlToken token = take();
    if (is_word(token, "INDEX")) facts_.implicit_commit = true;
    const bool data = is_word(token, "DATA") || is_word(token, "XML");
    while (data && !ends_statement(token) && !is_word(token, "INFILE")) {
      if (is_word(token, "LOCAL")) out_.load_data_local = true;
      token = take();
    }
    skip_rest(token);
  }

  // KILL [HARD | SOFT] [CONNECTION | QUERY] <id>. MariaDB's KILL QUERY ID <query id> and
  // KILL USER <name> name no connection: kill_id stays empty.
  void kill_statement() {
    MysqlToken token = take();
    if (is_word(token, "HARD") || is_word(token, "SOFT")) token = take();
    bool query = false;
    if (is_word(token, "QUERY")) {
      query = true;
      token = take();
    } else if (is_word(token, "CONNECTION")) {
      token = take();
    }
    out_.kill_query = query;
    out_.kill_id.reset();
    if (token.kind == Kind::kNumber) {
      const std::optional<std::uint64_t> id = parse_id(token.text);
      token = take();
      if (ends_statement(token)) out_.kill_id = id;
    }
    skip_rest(token);
  }

  // HANDLER t OPEN [AS a] pins; HANDLER t READ ... needs what OPEN left on the server.
  void handler_statement() {
    MysqlToken token = take();
    while (token.kind == Kind::kWord || token.kind == Kind::kQuoted || is_symbol(token, ".")) {
      if (is_word(token, "OPEN") && !is_symbol(before_last_, ".")) pin(MysqlPin::kHandler);
      if (is_word(token, "CLOSE") && !is_symbol(before_last_, ".")) out_.pin_released = true;
      if (is_word(token, "OPEN") || is_word(token, "CLOSE") || is_word(token, "READ")) break;
      token = take();
    }
    skip_rest(token);
  }

  // SET: returns the first token of the statement that SET STATEMENT ... FOR runs, or the
  // token that ended this one.
  MysqlToken set_statement() {
    MysqlToken token = take();
    if (is_word(token, "STATEMENT")) {
      // MariaDB: the settings last for one statement; that statement decides.
      int depth = 0;
      while (!ends_statement(token)) {
        token = take();
        if (is_symbol(token, "(")) ++depth;
        if (is_symbol(token, ")")) --depth;
        if (depth == 0 && is_word(token, "FOR") && !is_symbol(before_last_, ".")) return take();
      }
      return token;
    }
    if (is_word(token, "PASSWORD")) {
      facts_.implicit_commit = true;
      skip_rest(token);
      return token;
    }
    if (is_word(token, "ROLE") || is_word(token, "RESOURCE")) {
      pin(MysqlPin::kUnknownSetting);  // the session's roles or resource group
    }
    if (is_word(token, "ROLE") || is_word(token, "RESOURCE") || is_word(token, "DEFAULT")) {
      skip_rest(token);
      return token;
    }
    bool tracked = true;  // every assignment is tracked
    for (bool first = true;; first = false) {
      Scope scope = Scope::kDefault;
      if (is_word(token, "GLOBAL") || is_word(token, "PERSIST") || is_word(token, "PERSIST_ONLY")) {
        scope = Scope::kGlobal;
        token = take();
      } else if (is_word(token, "SESSION") || is_word(token, "LOCAL")) {
        scope = Scope::kSession;
        token = take();
      }
      if (first && is_word(token, "TRANSACTION")) {
        token = set_transaction(scope, tracked);
        break;
      }
      token = assignment(token, scope, tracked);
      if (!is_symbol(token, ",")) break;
      token = take();
    }
    skip_rest(token);
    facts_.read = tracked;
    return token;
  }

  // One assignment of a SET, from its first token; returns the token after its value.
  MysqlToken assignment(MysqlToken token, Scope scope, bool& tracked) {
    MysqlSetting setting;
    if (is_word(token, "NAMES") || is_word(token, "CHARSET") || is_word(token, "CHARACTER")) {
      setting.sql = is_word(token, "NAMES") ? "NAMES " : "CHARACTER SET ";
      if (is_word(token, "CHARACTER") && !is_word(take(), "SET")) {
        tracked = false;
        return last_;
      }
      setting.key = "names";
      return track(std::move(setting), scope, tracked);
    }
    std::string_view name = token.text;
    if (token.kind == Kind::kSystemVariable) {
      name.remove_prefix(2);
      for (std::string_view prefix : {"session.", "local."}) {
        if (starts_ignoring_case(name, prefix)) name.remove_prefix(prefix.size());
      }
      for (std::string_view prefix : {"global.", "persist.", "persist_only."}) {
        if (starts_ignoring_case(name, prefix)) {
          name.remove_prefix(prefix.size());
          scope = Scope::kGlobal;
        }
      }
    } else if (token.kind == Kind::kQuoted) {
      name = name.substr(1, name.size() - 2);
    } else if (token.kind != Kind::kWord && token.kind != Kind::kUserVariable) {
      pin(MysqlPin::kUnknownSetting);
      tracked = false;
      return token;
    }
    const MysqlToken op = take();
    if (!is_symbol(op, "=") && !is_symbol(op, ":=")) {
      if (token.kind != Kind::kUserVariable) pin(MysqlPin::kUnknownSetting);
      tracked = false;
      return op;
    }
    if (token.kind == Kind::kUserVariable || scope == Scope::kGlobal) {
      tracked = false;  // pinned (by observe) or a write
      return skip_value();
    }
    const std::string_view key = tracked_key(name);
    if (key.empty()) {
      // sql_log_bin, session_track_*, timestamp, ...: replaying them elsewhere is not safe.
      pin(MysqlPin::kUnknownSetting);
      tracked = false;
      return skip_value();
    }
    setting.key = std::string(key);
    for (char c : name) setting.sql += lower(c);
    setting.sql += " = ";
    return track(std::move(setting), scope, tracked);
  }

  // Reads the value after `setting.sql` and keeps the setting when it can be replayed.
  MysqlToken track(MysqlSetting setting, Scope scope, bool& tracked) {
    const std::size_t before = setting.sql.size();
    bool user_variable = false;
    const MysqlToken end = value(&setting.sql, user_variable);
    if (scope == Scope::kGlobal || user_variable || setting.sql.size() == before) {
      tracked = false;  // a write, pinned by its user variable, or no value at all
    } else {
      out_.settings.push_back(std::move(setting));
    }
    return end;
  }

  MysqlToken skip_value() {
    bool user_variable = false;
    return value(nullptr, user_variable);
  }

  // Reads a value up to the ',' or end that follows it (which it returns), appending its
  // tokens to `text` (when given) as written, with one space where the text had space or
  // comments.
  MysqlToken value(std::string* text, bool& user_variable) {
    int depth = 0;
    std::size_t last_end = 0;
    const std::size_t start = text ? text->size() : 0;
    MysqlToken token = take();
    while (!ends_statement(token) && !(depth == 0 && is_symbol(token, ","))) {
      if (is_symbol(token, "(")) ++depth;
      if (is_symbol(token, ")") && depth > 0) --depth;
      if (token.kind == Kind::kUserVariable) user_variable = true;
      if (text) {
        if (text->size() > start && token.begin != last_end) *text += ' ';
        text->append(token.text);
      }
      last_end = token.end;
      token = take();
    }
    return token;
  }

  // SET [GLOBAL | SESSION] TRANSACTION ISOLATION LEVEL ... | READ ONLY | READ WRITE, ...
  MysqlToken set_transaction(Scope scope, bool& tracked) {
    const std::size_t before = out_.settings.size();
    bool understood = true;
    MysqlToken token = take();
    while (true) {
      if (is_word(token, "ISOLATION")) {
        const std::string_view level = isolation_level();
        understood = !level.empty();
        if (understood) {
          out_.settings.push_back({"transaction_isolation",
                                   "SESSION TRANSACTION ISOLATION LEVEL " + std::string(level)});
        }
      } else if (is_word(token, "READ")) {
        const MysqlToken mode = take();
        understood = is_word(mode, "ONLY") || is_word(mode, "WRITE");
        if (understood) {
          out_.settings.push_back(
              {"transaction_read_only", is_word(mode, "ONLY") ? "SESSION TRANSACTION READ ONLY"
                                                              : "SESSION TRANSACTION READ WRITE"});
        }
      } else {
        understood = false;
      }
      token = take();
      if (!understood || !is_symbol(token, ",")) break;
      token = take();
    }
    understood = understood && ends_statement(token);
    if (scope != Scope::kSession || !understood) {
      out_.settings.resize(before);
      tracked = false;  // GLOBAL: a write
      // Without SESSION it sets the next transaction only: replaying it later would be wrong.
      if (scope != Scope::kGlobal) pin(MysqlPin::kUnknownSetting);
    }
    return token;
  }

  // After ISOLATION: LEVEL and the level, in canonical words; empty when it is not one.
  std::string_view isolation_level() {
    if (!is_word(take(), "LEVEL")) return {};
    const MysqlToken first = take();
    if (is_word(first, "SERIALIZABLE")) return "SERIALIZABLE";
    if (is_word(first, "REPEATABLE")) return is_word(take(), "READ") ? "REPEATABLE READ" : "";
    if (!is_word(first, "READ")) return {};
    const MysqlToken second = take();
    if (is_word(second, "COMMITTED")) return "READ COMMITTED";
    if (is_word(second, "UNCOMMITTED")) return "READ UNCOMMITTED";
    return {};
  }

  MysqlLexer lexer_;
  MysqlStatement& out_;
  Facts facts_;
  MysqlToken last_;              // the token taken last, and the one before
  MysqlToken before_last_;       // (both reset at each statement)
  bool observing_ = true;        // false in what EXPLAIN explains
  bool pending_insert_ = false;  // INSERT or REPLACE just seen: a function if '(' follows
  bool lock_tables_ = false;     // LOCK TABLES earlier in this string
};

// ---------------------------------------------------------------- tables, for the cache

// Calls whose answer differs between two runs on unchanged tables, or depends on the
// connection or the server rather than on the data: their statements are never cached.
constexpr std::string_view kVolatileFunctions[] = {
    "BENCHMARK",
    "BINLOG_GTID_POS",
    "CONNECTION_ID",
    "CURDATE",
    "CURRENT_DATE",
    "CURRENT_ROLE",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "CURRENT_USER",
    "CURTIME",
    "DATABASE",
    "ENCRYPT",
    "FOUND_ROWS",
    "GET_LOCK",
    "IS_FREE_LOCK",
    "IS_USED_LOCK",
    "LASTVAL",
    "LAST_INSERT_ID",
    "LOAD_FILE",
    "LOCALTIME",
    "LOCALTIMESTAMP",
    "MASTER_GTID_WAIT",
    "MASTER_POS_WAIT",
    "NEXTVAL",
    "NOW",
    "PS_CURRENT_THREAD_ID",
    "PS_THREAD_ID",
    "RAND",
    "RANDOM_BYTES",
    "RELEASE_ALL_LOCKS",
    "RELEASE_LOCK",
    "ROW_COUNT",
    "SCHEMA",
    "SESSION_USER",
    "SETVAL",
    "SLEEP",
    "SOURCE_POS_WAIT",
    "SYSDATE",
    "SYSTEM_USER",
    "SYS_GUID",
    "UNIX_TIMESTAMP",
    "USER",
    "UTC_DATE",
    "UTC_TIME",
    "UTC_TIMESTAMP",
    "UUID",
    "UUID_SHORT",
    "UUID_V4",
    "UUID_V7",
    "WAIT_FOR_EXECUTED_GTID_SET",
    "WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS",
};
// Those of them also written without parentheses.
constexpr std::string_view kVolatileWords[] = {
    "CURRENT_DATE", "CURRENT_ROLE",   "CURRENT_TIME", "CURRENT_TIMESTAMP", "CURRENT_USER",
    "LOCALTIME",    "LOCALTIMESTAMP", "UTC_DATE",     "UTC_TIME",          "UTC_TIMESTAMP",
};

template <std::size_t N>
bool among(const Upper& word, const std::string_view (&names)[N]) {
  for (std::string_view name : names) {
    if (word == name) return true;
  }
  return false;
}

// One pass over the tokens, statement by statement. Every FROM, JOIN, INTO, TABLE, USING, ...
// opens a list of table references at the current parenthesis depth: its names are taken
// until something other than a name, ',' or JOIN follows. Names in a list the statement
// writes (its targets) are written, others read.
class TableScanner {
 public:
  TableScanner(std::string_view sql, MysqlTables& out) : lexer_(sql), out_(out) {}

  void run() {
    while (!stopped_) {
      const MysqlToken token = lexer_.next();
      if (token.kind == Kind::kEnd) break;
      feed(token);
      before_last_ = last_;
      last_ = token;
    }
    end_statement();
    out_.only_queries = statements_ > 0 && only_queries_;
    for (auto* names : {&out_.read, &out_.written}) {
      std::sort(names->begin(), names->end());
      names->erase(std::unique(names->begin(), names->end()), names->end());
    }
  }

 private:
  enum class Slot : std::uint8_t { kNone, kExpect, kAfter };
  enum class Statement : std::uint8_t { kNone, kQuery, kWith, kChange, kDdl, kOther };
  static constexpr int kMaxDepth = 32;

  void feed(const MysqlToken& token) {
    if (is_symbol(token, ";")) return end_statement();
    if (format_skip_ > 0) {  // EXPLAIN FORMAT = JSON ...
      if (!is_symbol(token, "=")) --format_skip_;
      if (format_skip_ == 0) start_ = true;
      return;
    }
    watch_volatile(token);
    if (naming_ && name_part(token)) return;
    if (start_) {
      start_ = false;
      if (start_statement(token)) return;
    }
    if (is_symbol(token, "(")) return open();
    if (is_symbol(token, ")")) return close();
    Slot& slot = slots_[depth_];
    if (is_symbol(token, ",")) {
      if (slot == Slot::kAfter) slot = Slot::kExpect;
      return;
    }
    if (slot == Slot::kExpect) {
      if (token.kind == Kind::kQuoted) return begin_name(token);
      if (token.kind != Kind::kWord) {
        slot = Slot::kAfter;
        return;
      }
      const Upper word(token);
      if (word == "SELECT" || word == "WITH" || word == "VALUES") {
        slot = Slot::kNone;  // (SELECT ...): a subquery, whose own FROM follows
      } else if (word == "TABLE" || word == "LATERAL" ||
                 (writes_[depth_] && skipped_before_target(word))) {
        return;
      } else if (word == "DUAL") {
        slot = Slot::kAfter;
        return;
      } else {
        return begin_name(token);
      }
    }
    if (token.kind == Kind::kWord) key_word(Upper(token));
  }

  // Words between a write's key word and its table: INSERT LOW_PRIORITY IGNORE INTO t,
  // DELETE QUICK FROM t, DROP TABLE IF EXISTS t, ALTER TABLE t RENAME TO u, ...
  static bool skipped_before_target(const Upper& word) {
    return word == "LOW_PRIORITY" || word == "DELAYED" || word == "HIGH_PRIORITY" ||
           word == "IGNORE" || word == "QUICK" || word == "INTO" || word == "FROM" ||
           word == "IF" || word == "NOT" || word == "EXISTS" || word == "TEMPORARY" ||
           word == "AS" || word == "TO" || word == "OUTFILE" || word == "DUMPFILE" ||
           word == "TABLES" || word == "ONLINE";
  }

  // The first token of a statement; true when it was taken whole.
  bool start_statement(const MysqlToken& token) {
    ++statements_;
    if (is_symbol(token, "(")) {
      statement_ = Statement::kQuery;
      return false;
    }
    const Upper word(token);
    if (word == "SELECT" || word == "VALUES") {
      statement_ = Statement::kQuery;
    } else if (word == "TABLE") {
      statement_ = Statement::kQuery;
      expect(false);
    } else if (word == "WITH") {
      statement_ = Statement::kWith;
    } else if (word == "EXPLAIN" || word == "DESCRIBE" || word == "DESC" || word == "ANALYZE") {
      // What follows is explained (its writes count, which costs hits only) or run.
      explained_ = true;
      start_ = true;
      --statements_;
    } else if (word == "FORMAT") {
      format_skip_ = 1;
      --statements_;
    } else if (word == "INSERT" || word == "REPLACE" || word == "UPDATE" || word == "DELETE" ||
               word == "TRUNCATE") {
      change(word == "DELETE");
    } else if (word == "LOAD") {
      statement_ = Statement::kChange;  // its INTO names the table
    } else if (word == "ALTER" || word == "CREATE" || word == "DROP") {
      statement_ = Statement::kDdl;
      ddl_object_pending_ = true;
    } else if (word == "RENAME" || word == "LOCK") {
      statement_ = Statement::kDdl;
    } else if (word == "CALL" || word == "EXECUTE") {
      statement_ = Statement::kOther;
      out_.writes_unknown = true;  // a procedure's or prepared statement's tables are unknown
    } else if (word == "SET") {
      statement_ = Statement::kOther;
      set_ = true;  // SET STATEMENT ... FOR <statement>, or a SET
    } else {
      statement_ = Statement::kOther;
    }
    return true;
  }

  void change(bool deletes) {
    statement_ = Statement::kChange;
    deletes_ = deletes;
    expect(true);
  }

  void key_word(const Upper& word) {
    Slot& slot = slots_[depth_];
    if (set_) {
      set_ = false;
      set_statement_ = word == "STATEMENT";
      return;
    }
    if (set_statement_) {
      if (word == "FOR" && depth_ == 0) {
        start_ = true;  // SET STATEMENT x = 1 FOR <the statement that runs>
        set_statement_ = false;
        --statements_;
      }
      return;
    }
    if (ddl_object_pending_) return ddl_object(word);
    if (statement_ == Statement::kWith && depth_ == 0) {
      if (word == "SELECT" || word == "VALUES" || word == "TABLE") {
        statement_ = Statement::kQuery;
        if (word == "TABLE") expect(false);
        return;
      }
      if (word == "INSERT" || word == "REPLACE" || word == "UPDATE" || word == "DELETE") {
        return change(word == "DELETE");
      }
    }
    const bool listing = slot != Slot::kNone;
    if (word == "FROM") {
      expect(deletes_);
    } else if (word == "JOIN" || word == "STRAIGHT_JOIN") {
      expect(listing ? writes_[depth_] : deletes_);
    } else if (word == "INTO") {
      expect(true);
    } else if (word == "TABLE") {
      expect(statement_ == Statement::kDdl);
    } else if (word == "USING" && listing) {
      expect(writes_[depth_]);
    } else if (statement_ == Statement::kDdl &&
               (word == "TABLES" || word == "TO" || word == "RENAME" || word == "LIKE" ||
                (word == "ON" && index_))) {
      expect(true);
    } else if (statement_ == Statement::kDdl && (word == "INDEX" || word == "KEY")) {
      index_ = true;
    } else if (listing &&
               (word == "WHERE" || word == "GROUP" || word == "HAVING" || word == "ORDER" ||
                word == "LIMIT" || word == "WINDOW" || word == "UNION" || word == "EXCEPT" ||
                word == "INTERSECT" || word == "SET" || word == "VALUES" || word == "VALUE" ||
                word == "SELECT" || word == "RETURNING" || word == "DUPLICATE")) {
      slot = Slot::kNone;
    }
  }

  // After ALTER, CREATE or DROP: the kind of object, past OR REPLACE, DEFINER = ..., ...
  void ddl_object(const Upper& word) {
    if (word == "TABLE" || word == "TABLES" || word == "VIEW" || word == "SEQUENCE") {
      ddl_object_pending_ = false;
      expect(true);
    } else if (word == "INDEX" || word == "KEY") {
      ddl_object_pending_ = false;
      index_ = true;
    } else if (word == "USER" || word == "ROLE" || word == "SERVER" || word == "TABLESPACE" ||
               word == "LOGFILE" || word == "RESOURCE" || word == "INSTANCE" || word == "PREPARE") {
      ddl_object_pending_ = false;  // no data a statement reads
    } else if (word == "DATABASE" || word == "SCHEMA" || word == "FUNCTION" ||
               word == "PROCEDURE" || word == "TRIGGER" || word == "EVENT" || word == "PACKAGE") {
      // A schema's tables, or code that statements run: what changes is not named here. A
      // program's body holds ';' of its own: nothing after it is read.
      ddl_object_pending_ = false;
      out_.writes_unknown = true;
      if (word != "DATABASE" && word != "SCHEMA") stopped_ = true;
    }
  }

  void expect(bool writes) {
    slots_[depth_] = Slot::kExpect;
    writes_[depth_] = writes;
  }

  void open() {
    if (depth_ + 1 >= kMaxDepth) {
      // Deeper than followed: what it reads or writes may be missed.
      out_.incomplete = true;
      out_.writes_unknown = true;
      stopped_ = true;
      return;
    }
    const bool nested_list = slots_[depth_] == Slot::kExpect;  // FROM (t1 JOIN t2), FROM (SELECT
    const bool writes = writes_[depth_];
    if (nested_list) slots_[depth_] = Slot::kAfter;
    ++depth_;
    slots_[depth_] = nested_list ? Slot::kExpect : Slot::kNone;
    writes_[depth_] = writes;
  }

  void close() {
    if (depth_ == 0) return;
    slots_[depth_] = Slot::kNone;
    --depth_;
  }

  void begin_name(const MysqlToken& token) {
    slots_[depth_] = Slot::kAfter;
    naming_ = true;
    qualified_ = false;
    after_dot_ = false;
    name_writes_ = writes_[depth_];
    name_ = part_of(token);
  }

  // The token after a name's part: true when it continues the name (db . t).
  bool name_part(const MysqlToken& token) {
    if (after_dot_) {
      after_dot_ = false;
      if (token.kind == Kind::kWord || token.kind == Kind::kQuoted) {
        name_ += '.';
        name_ += part_of(token);
        return true;
      }
    } else if (is_symbol(token, ".") && !qualified_) {
      qualified_ = after_dot_ = true;
      schema_ = name_;
      return true;
    } else if (is_symbol(token, "(") && !name_writes_) {
      naming_ = false;  // FROM JSON_TABLE(...): a function, not a table
      return false;
    }
    naming_ = false;
    if (qualified_ && mysql_system_schema(schema_)) out_.volatile_answer = true;
    (name_writes_ ? out_.written : out_.read).push_back(std::move(name_));
    if (name_writes_) ++written_here_;
    return false;
  }

  static std::string part_of(const MysqlToken& token) {
    if (token.kind == Kind::kQuoted) return name_of(token);
    std::string part(token.text);
    for (char& c : part) c = lower(c);
    return part;
  }

  void watch_volatile(const MysqlToken& token) {
    if (token.kind == Kind::kSystemVariable || token.kind == Kind::kUserVariable) {
      out_.volatile_answer = true;
      return;
    }
    if (token.kind == Kind::kWord) {
      const Upper word(token);
      if (!is_symbol(last_, ".") && among(word, kVolatileWords)) out_.volatile_answer = true;
      // NEXT VALUE FOR s moves the sequence; PREVIOUS VALUE FOR s is the session's LASTVAL.
      if (word == "FOR" && is_word(last_, "VALUE") &&
          (is_word(before_last_, "NEXT") || is_word(before_last_, "PREVIOUS"))) {
        out_.volatile_answer = true;
      }
      return;
    }
    if (!is_symbol(token, "(")) return;
    if (is_symbol(before_last_, ".") &&
        (last_.kind == Kind::kWord || last_.kind == Kind::kQuoted)) {
      out_.volatile_answer = true;  // schema.f(): a stored function, which may do anything
    } else if (last_.kind == Kind::kWord && among(Upper(last_), kVolatileFunctions)) {
      out_.volatile_answer = true;
    }
  }

  void end_statement() {
    if (naming_) name_part(MysqlToken{});
    if (statement_ == Statement::kChange && written_here_ == 0) out_.writes_unknown = true;
    if (ddl_object_pending_) out_.writes_unknown = true;
    if (statement_ != Statement::kNone &&
        (explained_ || (statement_ != Statement::kQuery && statement_ != Statement::kWith))) {
      only_queries_ = false;
    }
    statement_ = Statement::kNone;
    start_ = true;
    explained_ = deletes_ = index_ = ddl_object_pending_ = set_ = set_statement_ = false;
    format_skip_ = 0;
    written_here_ = 0;
    depth_ = 0;
    slots_.fill(Slot::kNone);
    last_ = before_last_ = MysqlToken{};
  }

  MysqlLexer lexer_;
  MysqlTables& out_;
  MysqlToken last_, before_last_;
  bool stopped_ = false;
  int statements_ = 0;
  bool only_queries_ = true;
  // The statement being read.
  Statement statement_ = Statement::kNone;
  bool start_ = true;  // the next token starts it
  bool explained_ = false;
  int format_skip_ = 0;
  bool deletes_ = false;  // DELETE: every table it names counts as written
  bool index_ = false;    // CREATE / DROP INDEX: ON names the table
  bool ddl_object_pending_ = false;
  bool set_ = false;            // SET was the first word
  bool set_statement_ = false;  // SET STATEMENT: FOR starts the statement that runs
  int written_here_ = 0;
  int depth_ = 0;
  std::array<Slot, kMaxDepth> slots_{};
  std::array<bool, kMaxDepth> writes_{};
  // A table name being read: its first part, or both.
  bool naming_ = false;
  bool qualified_ = false;
  bool after_dot_ = false;
  bool name_writes_ = false;
  std::string name_;
  std::string schema_;
};
}  // namespace

std::string_view to_string(MysqlPin pin) {
  switch (pin) {
    case MysqlPin::kNone:
      return "none";
    case MysqlPin::kUserVariable:
      return "user_variable";
    case MysqlPin::kTemporaryTable:
      return "temporary_table";
    case MysqlPin::kUserLock:
      return "user_lock";
    case MysqlPin::kLockTables:
      return "lock_tables";
    case MysqlPin::kFoundRows:
      return "found_rows";
    case MysqlPin::kLastInsertId:
      return "last_insert_id";
    case MysqlPin::kSqlPrepare:
      return "sql_prepare";
    case MysqlPin::kUnknownSetting:
      return "unknown_setting";
    case MysqlPin::kHandler:
      return "handler";
  }
  return "unknown";
}

MysqlStatement analyze_mysql(std::string_view sql) {
  MysqlStatement statement;
  Analyzer(sql, statement).run();
  statement.hint = read_hint(sql);
  return statement;
}

MysqlTables mysql_tables(std::string_view sql) {
  MysqlTables tables;
  TableScanner(sql, tables).run();
  return tables;
}

bool mysql_system_schema(std::string_view schema) {
  return equal_ignoring_case(schema, "information_schema") ||
         equal_ignoring_case(schema, "performance_schema") ||
         equal_ignoring_case(schema, "mysql") || equal_ignoring_case(schema, "sys");
}

}  // namespace plexi::routing
