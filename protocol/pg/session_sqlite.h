// The PostgreSQL front of the embedded SQLite database, shared by its two files: the
// session loop and protocol messages (session_sqlite.cc) and the running of statements
// (session_sqlite_statements.cc). Private to them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pools/sqlite/executor.h"
#include "protocol/pg/messages.h"
#include "protocol/pg/session.h"
#include "protocol/pg/sqlite_commands.h"
#include "protocol/pg/sqlite_encoding.h"
#include "protocol/pg/sqlite_settings.h"

namespace plexi::pg {
namespace embedded {

// Rows read per trip to the database's thread pool, so large results stream in pieces.
inline constexpr std::size_t kBatchRows = 1000;
// Output goes out when the client has nothing more queued, or sooner past this size.
inline constexpr std::size_t kFlushBytes = 64 * 1024;
// An input buffer larger than this is given back once a request is done, so idle clients
// stay small.
inline constexpr std::size_t kIdleBuffer = 16 * 1024;
// The cursor and statement name of the front's own statements; client names never start
// with a control character.
inline constexpr std::string_view kInternalName = "\x01internal";

inline constexpr std::string_view kAborted =
    "current transaction is aborted, commands ignored until end of transaction block";

// PostgreSQL's transaction block states, which ReadyForQuery reports as I, T and E.
enum class Block { kNone, kOpen, kFailed };

StorageKind storage(sqlite::ValueKind kind);
DeclaredKind declared(sqlite::DeclaredType type);
CellView cell(const sqlite::Value& value);
sqlite::Value to_value(ParameterValue&& parameter);
// Statements SQLite runs (transaction control included); the rest the front answers.
bool runs_in_sqlite(FrontKind kind);
// What PostgreSQL still accepts in a failed transaction block.
bool ends_failed_block(FrontKind kind);

// A statement as the client prepared it.
struct Prepared {
  FrontStatement command;
  std::string tag;                             // kSql: the command words of its CommandComplete tag
  std::vector<std::uint32_t> parameter_types;  // as the client sees them; 0: unspecified
  std::size_t sqlite_parameters = 0;           // how many SQLite binds (a prefix of them)
  std::vector<sqlite::Column> columns;         // as declared, for statements SQLite runs

  // Its own name in the executor, unique per client, so a portal keeps running what it
  // was bound to even after the client reuses the statement's name.
  std::string executor_name;
  std::weak_ptr<sqlite::Connection> connection;

  Prepared() = default;
  Prepared(const Prepared&) = delete;
  Prepared& operator=(const Prepared&) = delete;
  ~Prepared() {
    if (executor_name.empty()) return;
    if (auto c = connection.lock()) c->close_statement(executor_name);
  }

  std::size_t column_count() const {
    switch (command.kind) {
      case FrontKind::kShow:
        return 1;
      case FrontKind::kShowAll:
        return 3;
      default:
        return columns.size();
    }
  }
};

// A bound statement, and how far its execution has gone.
struct Portal {
  std::shared_ptr<const Prepared> statement;
  std::vector<sqlite::Value> parameters;
  std::vector<std::int16_t> result_formats;  // none (text), one for all, or one per column
  bool simple = false;  // a simple Query's: RowDescription before the rows, text only

  bool started = false;                 // SQLite has run it (its cursor may still have rows)
  bool complete = false;                // every row has been read from SQLite
  std::vector<sqlite::Column> columns;  // from the first batch, with first-row kinds
  bool typed = false;                   // names, types and formats below are settled
  std::vector<std::string> names;
  std::vector<WireType> types;
  std::vector<std::int16_t> formats;
  std::vector<std::vector<sqlite::Value>> rows;  // read from SQLite, not yet sent
  std::size_t next_row = 0;
  std::int64_t changes = 0;

  std::int16_t format_of(std::size_t column) const {
    if (result_formats.size() == 1) return result_formats[0];
    // Past the bound formats only when the schema changed between Bind and the first step.
    return column < result_formats.size() ? result_formats[column] : 0;
  }
};

}  // namespace embedded

// One client of the embedded database, from ReadyForQuery after login to its last message.
// Session names this class its friend.
class SqliteFront {
  using Block = embedded::Block;
  using Portal = embedded::Portal;
  using Prepared = embedded::Prepared;

 public:
  explicit SqliteFront(Session& session)
      : s_(session), settings_(session.user_, session.startup_settings_) {}
  SqliteFront(const SqliteFront&) = delete;
  SqliteFront& operator=(const SqliteFront&) = delete;
  ~SqliteFront();

  awaitable<void> run();

 private:
  // --- the session ---
  awaitable<bool> connect();
  void release_connection();
  awaitable<bool> handle(const Frame& frame);
  bool message_waiting() const;
  awaitable<bool> write_now();
  awaitable<bool> ready_for_query();
  TxStatus tx_status() const;
  awaitable<bool> protocol_violation(std::string_view message);

  // --- requests ---
  awaitable<bool> simple_query(std::string_view sql);
  awaitable<bool> parse(const ParseMessage& message);
  awaitable<bool> bind(const BindMessage& message);
  awaitable<bool> describe(const TargetMessage& message);
  awaitable<bool> execute(const ExecuteMessage& message);
  void close(const TargetMessage& message);
  awaitable<bool> sync();

  // --- statements ---
  awaitable<bool> prepare_sql(Prepared& prepared, std::string_view sql);
  awaitable<bool> run_portal(Portal& portal, const std::string& cursor, std::size_t max_rows);
  awaitable<bool> start(Portal& portal, const std::string& cursor);
  awaitable<bool> send_rows(Portal& portal, const std::string& cursor, std::size_t max_rows,
                            std::int64_t& sent);
  bool run_front_command(Portal& portal);
  awaitable<void> after_failure(FrontKind kind, const std::string& cursor);
  void after_success(FrontKind kind);
  awaitable<void> abort_block(const std::string* keep);
  awaitable<bool> run_internal(const std::string& sql);
  void settle_types(Portal& portal, bool from_first_rows);
  static StorageKind batch_kind(const Portal& portal, std::size_t column);
  void describe_rows(const Portal& portal);
  void send_text_row(const Portal& portal, std::span<const std::string_view> values);
  void close_portals(const std::string* keep);
  void close_portal(const std::string& name);
  const std::shared_ptr<Prepared>* find_statement(const std::string& name);

  // --- answers ---
  void error(std::string_view sqlstate, std::string_view message);
  void error(const sqlite::Error& failure);
  void notice(std::string_view sqlstate, std::string_view message);

  Session& s_;
  SessionSettings settings_;
  sqlite::Database* database_ = nullptr;
  std::shared_ptr<sqlite::Connection> connection_;
  Block block_ = Block::kNone;
  bool skipping_ = false;  // an extended-protocol message failed: ignore all until Sync
  bool in_batch_ = false;  // extended-protocol messages arrived since the last Sync
  bool closed_ = false;    // writing to the client failed
  std::uint64_t statement_counter_ = 0;
  std::map<std::string, std::shared_ptr<Prepared>> statements_;
  std::map<std::string, std::shared_ptr<Portal>> portals_;
  const metrics::StatementSeries* series_ = nullptr;
};

}  // namespace plexi::pg
