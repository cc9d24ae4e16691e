// Running statements for the embedded SQLite front: SQLite's rows encoded as PostgreSQL
// results in batches, the commands the front answers itself (SET, SHOW, DISCARD, ...), and
// PostgreSQL's transaction block rules kept around SQLite's own transactions.
#include <spdlog/spdlog.h>

#include <array>
#include <mutex>
#include <variant>

#include "protocol/pg/encoder.h"
#include "protocol/pg/session_sqlite.h"

namespace plexi::pg {
namespace embedded {

StorageKind storage(sqlite::ValueKind kind) {
  switch (kind) {
    case sqlite::ValueKind::kNull:
      return StorageKind::kNull;
    case sqlite::ValueKind::kInteger:
      return StorageKind::kInteger;
    case sqlite::ValueKind::kReal:
      return StorageKind::kReal;
    case sqlite::ValueKind::kText:
      return StorageKind::kText;
    case sqlite::ValueKind::kBlob:
      return StorageKind::kBlob;
  }
  return StorageKind::kNull;
}

DeclaredKind declared(sqlite::DeclaredType type) {
  switch (type) {
    case sqlite::DeclaredType::kNone:
      return DeclaredKind::kNone;
    case sqlite::DeclaredType::kInteger:
      return DeclaredKind::kInteger;
    case sqlite::DeclaredType::kReal:
      return DeclaredKind::kReal;
    case sqlite::DeclaredType::kText:
      return DeclaredKind::kText;
    case sqlite::DeclaredType::kBlob:
      return DeclaredKind::kBlob;
    case sqlite::DeclaredType::kBoolean:
      return DeclaredKind::kBoolean;
    case sqlite::DeclaredType::kNumeric:
      return DeclaredKind::kNumeric;
  }
  return DeclaredKind::kNone;
}

CellView cell(const sqlite::Value& value) {
  return {storage(value.kind), value.integer, value.real, value.bytes};
}

sqlite::Value to_value(ParameterValue&& p) {
  switch (p.kind) {
    case StorageKind::kNull:
      return sqlite::Value::null();
    case StorageKind::kInteger:
      return sqlite::Value::of_integer(p.integer);
    case StorageKind::kReal:
      return sqlite::Value::of_real(p.real);
    case StorageKind::kText:
      return sqlite::Value::of_text(std::move(p.bytes));
    case StorageKind::kBlob:
      return sqlite::Value::of_blob(std::move(p.bytes));
  }
  return sqlite::Value::null();
}

bool runs_in_sqlite(FrontKind kind) {
  switch (kind) {
    case FrontKind::kSql:
    case FrontKind::kBegin:
    case FrontKind::kCommit:
    case FrontKind::kRollback:
    case FrontKind::kRollbackTo:
    case FrontKind::kSavepoint:
    case FrontKind::kRelease:
      return true;
    default:
      return false;
  }
}

bool ends_failed_block(FrontKind kind) {
  return kind == FrontKind::kCommit || kind == FrontKind::kRollback ||
         kind == FrontKind::kRollbackTo;
}

}  // namespace embedded

using embedded::cell;
using embedded::declared;
using embedded::ends_failed_block;
using embedded::kAborted;
using embedded::kBatchRows;
using embedded::kFlushBytes;
using embedded::kInternalName;
using embedded::storage;

// --- running statements -------------------------------------------------------------------

awaitable<bool> SqliteFront::run_portal(Portal& portal, const std::string& cursor,
                                        std::size_t max_rows) {
  const Prepared& prepared = *portal.statement;
  const FrontStatement& command = prepared.command;
  FrontKind kind = command.kind;
  if (block_ == Block::kFailed && !ends_failed_block(kind)) {
    error("25P02", kAborted);
    co_return false;
  }
  switch (kind) {
    case FrontKind::kEmpty:
      encode_empty_query_response(s_.output_);
      co_return true;
    case FrontKind::kCopy:
      error("0A000", "COPY is not supported by the embedded SQLite database");
      co_return false;
    case FrontKind::kBegin:
      if (block_ != Block::kNone) {
        notice("25001", "there is already a transaction in progress");
        encode_command_complete(s_.output_, command.tag);
        co_return true;
      }
      break;
    case FrontKind::kCommit:
    case FrontKind::kRollback:
      if (block_ == Block::kNone) {
        notice("25P01", "there is no transaction in progress");
        encode_command_complete(s_.output_, command.tag);
        co_return true;
      }
      if (block_ == Block::kFailed) {
        // COMMIT of a failed transaction rolls it back and says so.
        co_await abort_block(&cursor);
        encode_command_complete(s_.output_, "ROLLBACK");
        co_return true;
      }
      // SQLite's ROLLBACK would abort the other portals' cursors under them.
      close_portals(&cursor);
      break;
    case FrontKind::kSavepoint:
    case FrontKind::kRelease:
    case FrontKind::kRollbackTo:
      if (block_ == Block::kNone) {
        std::string what = kind == FrontKind::kSavepoint ? "SAVEPOINT"
                           : kind == FrontKind::kRelease ? "RELEASE SAVEPOINT"
                                                         : "ROLLBACK TO SAVEPOINT";
        error("25P01", what + " can only be used in transaction blocks");
        co_return false;
      }
      if (block_ == Block::kFailed && !connection_->in_transaction()) {
        // SQLite already rolled the whole transaction back: no savepoint is left.
        error("25P02", kAborted);
        co_return false;
      }
      break;
    case FrontKind::kSql:
      break;
    default:
      co_return run_front_command(portal);
  }

  std::int64_t sent = 0;
  bool ok = true;
  if (!portal.started) ok = co_await start(portal, cursor);
  if (ok) {
    settle_types(portal, portal.simple);
    if (portal.simple && !portal.types.empty()) describe_rows(portal);
    ok = co_await send_rows(portal, cursor, max_rows, sent);
  }
  if (!ok) {
    // Whatever rows are left will not be sent: let SQLite finish the statement now.
    connection_->close_cursor(cursor);
    portal.complete = true;
    portal.rows.clear();
    portal.next_row = 0;
    co_await after_failure(kind, cursor);
    co_return false;
  }
  if (portal.complete && portal.next_row == portal.rows.size()) {
    connection_->close_cursor(cursor);
    std::string tag =
        kind == FrontKind::kSql ? complete_tag(prepared.tag, sent, portal.changes) : command.tag;
    encode_command_complete(s_.output_, tag);
  } else {
    encode_portal_suspended(s_.output_);
  }
  after_success(kind);
  co_return true;
}

awaitable<bool> SqliteFront::start(Portal& portal, const std::string& cursor) {
  const Prepared& prepared = *portal.statement;
  auto result = co_await connection_->execute(cursor, prepared.executor_name,
                                              std::move(portal.parameters), kBatchRows);
  portal.started = true;
  if (auto* e = std::get_if<sqlite::Error>(&result)) {
    portal.complete = true;
    error(*e);
    co_return false;
  }
  auto& rows = std::get<sqlite::Rows>(result);
  portal.columns = std::move(rows.columns);
  portal.rows = std::move(rows.rows);
  portal.next_row = 0;
  portal.complete = rows.complete;
  portal.changes = rows.changes;
  co_return true;
}

awaitable<bool> SqliteFront::send_rows(Portal& portal, const std::string& cursor,
                                       std::size_t max_rows, std::int64_t& sent) {
  std::vector<CellView> cells;
  std::string failure;
  while (max_rows == 0 || static_cast<std::size_t>(sent) < max_rows) {
    if (portal.next_row == portal.rows.size()) {
      portal.rows.clear();
      portal.next_row = 0;
      if (portal.complete) break;
      auto result = co_await connection_->fetch(cursor, kBatchRows);
      if (auto* e = std::get_if<sqlite::Error>(&result)) {
        portal.complete = true;
        error(*e);
        co_return false;
      }
      auto& rows = std::get<sqlite::Rows>(result);
      portal.rows = std::move(rows.rows);
      portal.complete = rows.complete;
      if (rows.complete) portal.changes = rows.changes;
      continue;
    }
    const auto& row = portal.rows[portal.next_row++];
    cells.clear();
    for (const auto& value : row) cells.push_back(cell(value));
    if (!encode_cells_row(s_.output_, cells, portal.types, portal.formats, failure)) {
      error("22P02", failure);
      co_return false;
    }
    ++sent;
    if (s_.output_.size() >= kFlushBytes) {
      bool written = co_await write_now();
      if (!written) co_return false;
      // flush() gives the buffer back; the next chunk gets one allocation, not a doubling series.
      s_.output_.reserve(kFlushBytes + kFlushBytes / 4);
    }
  }
  co_return true;
}

// Fixes how a portal's columns are described and encoded: from its first rows when they
// have been read and the client will see this description, else from the declared types
// (what Describe of the statement reported).
void SqliteFront::settle_types(Portal& portal, bool from_first_rows) {
  if (portal.typed) return;
  portal.typed = true;
  const Prepared& prepared = *portal.statement;
  auto add = [&](std::string name, WireType type) {
    portal.formats.push_back(portal.simple ? 0 : portal.format_of(portal.names.size()));
    portal.names.push_back(std::move(name));
    portal.types.push_back(type);
  };
  switch (prepared.command.kind) {
    case FrontKind::kShow:
      add(settings_.display_name(prepared.command.name), {oid::kText, -1});
      return;
    case FrontKind::kShowAll:
      add("name", {oid::kText, -1});
      add("setting", {oid::kText, -1});
      add("description", {oid::kText, -1});
      return;
    default:
      break;
  }
  bool use_rows = from_first_rows && portal.started && !portal.columns.empty();
  const auto& columns = use_rows ? portal.columns : prepared.columns;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    StorageKind kind = use_rows ? batch_kind(portal, i) : StorageKind::kNull;
    add(columns[i].name, wire_type(declared(columns[i].declared), kind));
  }
}

// The storage kind a column without a declared type is reported as: that of the rows read
// so far when they agree (integers and reals together read as reals), else text, which
// every value can be sent as.
StorageKind SqliteFront::batch_kind(const Portal& portal, std::size_t column) {
  StorageKind kind = storage(portal.columns[column].first_value);
  for (std::size_t r = portal.next_row; r < portal.rows.size(); ++r) {
    if (column >= portal.rows[r].size()) break;
    StorageKind value = storage(portal.rows[r][column].kind);
    if (value == StorageKind::kNull || value == kind) continue;
    if (kind == StorageKind::kNull) {
      kind = value;
    } else if ((kind == StorageKind::kInteger || kind == StorageKind::kReal) &&
               (value == StorageKind::kInteger || value == StorageKind::kReal)) {
      kind = StorageKind::kReal;
    } else {
      return StorageKind::kText;
    }
  }
  return kind;
}

void SqliteFront::describe_rows(const Portal& portal) {
  std::vector<FieldDescription> fields(portal.names.size());
  for (std::size_t i = 0; i < fields.size(); ++i) {
    fields[i].name = portal.names[i];
    fields[i].type_oid = portal.types[i].oid;
    fields[i].type_size = portal.types[i].size;
    fields[i].format = portal.formats[i];
  }
  encode_row_description(s_.output_, fields);
}

void SqliteFront::send_text_row(const Portal& portal, std::span<const std::string_view> values) {
  std::vector<CellView> cells;
  for (auto value : values) cells.push_back({StorageKind::kText, 0, 0, value});
  std::string unused;
  // Text columns encode in either format without failing.
  (void)encode_cells_row(s_.output_, cells, portal.types, portal.formats, unused);
}

// SET, SHOW, RESET, DISCARD and DEALLOCATE: PostgreSQL commands SQLite has no notion of.
bool SqliteFront::run_front_command(Portal& portal) {
  const FrontStatement& command = portal.statement->command;
  switch (command.kind) {
    case FrontKind::kSet:
      if (auto failure = settings_.set(command.name, command.value)) {
        error(failure->sqlstate, failure->message);
        return false;
      }
      break;
    case FrontKind::kSetDefault:
    case FrontKind::kReset:
      settings_.reset(command.name);
      break;
    case FrontKind::kResetAll:
      settings_.reset_all();
      break;
    case FrontKind::kSetAccepted:
    case FrontKind::kDiscardOther:
      break;
    case FrontKind::kShow: {
      const std::string* value = settings_.find(command.name);
      if (value == nullptr) {
        error("42704", "unrecognized configuration parameter \"" + command.name + "\"");
        return false;
      }
      settle_types(portal, false);
      if (portal.simple) describe_rows(portal);
      std::array<std::string_view, 1> row{*value};
      send_text_row(portal, row);
      break;
    }
    case FrontKind::kShowAll: {
      settle_types(portal, false);
      if (portal.simple) describe_rows(portal);
      for (const auto& [name, value] : settings_.all()) {
        std::array<std::string_view, 3> row{name, value, ""};
        send_text_row(portal, row);
      }
      break;
    }
    case FrontKind::kDiscardAll:
      if (block_ != Block::kNone) {
        error("25001", "DISCARD ALL cannot run inside a transaction block");
        return false;
      }
      settings_.reset_all();
      close_portals(nullptr);
      statements_.clear();
      break;
    case FrontKind::kDeallocate:
      if (statements_.erase(command.name) == 0) {
        error("26000", "prepared statement \"" + command.name + "\" does not exist");
        return false;
      }
      break;
    case FrontKind::kDeallocateAll:
      statements_.clear();
      break;
    default:
      error("XX000", "statement cannot be answered by the front");
      return false;
  }
  encode_command_complete(s_.output_, command.tag);
  return true;
}

void SqliteFront::after_success(FrontKind kind) {
  switch (kind) {
    case FrontKind::kBegin:
      block_ = Block::kOpen;
      settings_.begin_transaction();
      break;
    case FrontKind::kCommit:
      block_ = Block::kNone;
      settings_.commit_transaction();
      break;
    case FrontKind::kRollback:
      block_ = Block::kNone;
      settings_.rollback_transaction();
      break;
    case FrontKind::kRollbackTo:
      block_ = Block::kOpen;
      break;
    default:
      // SQLite ends a transaction on its own after some errors it reports on a later step.
      if (block_ == Block::kOpen && !connection_->in_transaction()) {
        block_ = Block::kFailed;
      }
      break;
  }
}

// error() has already marked an open block failed; a failed COMMIT ends the transaction
// (PostgreSQL rolls it back), and a failed statement outside a block leaves none open.
awaitable<void> SqliteFront::after_failure(FrontKind kind, const std::string& cursor) {
  if (kind == FrontKind::kCommit) {
    co_await abort_block(&cursor);
  } else if (block_ == Block::kNone && connection_->in_transaction()) {
    co_await run_internal("ROLLBACK");
  }
}

awaitable<void> SqliteFront::abort_block(const std::string* keep) {
  close_portals(keep);
  if (connection_->in_transaction()) co_await run_internal("ROLLBACK");
  block_ = Block::kNone;
  settings_.rollback_transaction();
}

awaitable<bool> SqliteFront::run_internal(const std::string& sql) {
  const std::string name(kInternalName);
  auto prepared = co_await connection_->prepare(name, sql);
  bool ok = std::holds_alternative<sqlite::StatementInfo>(prepared);
  if (ok) {
    auto result = co_await connection_->execute(name, name, {}, 0);
    ok = std::holds_alternative<sqlite::Rows>(result);
    if (!ok) {
      s_.env_.log->warn("embedded database: \"{}\" failed: {}", sql,
                        std::get<sqlite::Error>(result).message);
    }
  }
  connection_->close_cursor(name);
  connection_->close_statement(name);
  co_return ok;
}

void SqliteFront::close_portal(const std::string& name) {
  auto it = portals_.find(name);
  if (it == portals_.end()) return;
  connection_->close_cursor(name);
  portals_.erase(it);
}

void SqliteFront::close_portals(const std::string* keep) {
  for (auto it = portals_.begin(); it != portals_.end();) {
    if (keep != nullptr && it->first == *keep) {
      ++it;
      continue;
    }
    connection_->close_cursor(it->first);
    it = portals_.erase(it);
  }
}

void SqliteFront::error(std::string_view sqlstate, std::string_view message) {
  encode_error(s_.output_, "ERROR", sqlstate, message);
  // Any error inside a transaction block aborts it, as in PostgreSQL.
  if (block_ == Block::kOpen) block_ = Block::kFailed;
}

void SqliteFront::error(const sqlite::Error& failure) {
  std::string_view sqlstate = failure.sqlstate;
  if (sqlstate.empty()) sqlstate = "XX000";
  if (sqlstate == "57014") {
    error(sqlstate, "canceling statement due to user request");
  } else {
    error(sqlstate, failure.message);
  }
}

void SqliteFront::notice(std::string_view sqlstate, std::string_view message) {
  ErrorFields fields;
  fields.severity = "WARNING";
  fields.code = std::string(sqlstate);
  fields.message = std::string(message);
  encode_notice_response(s_.output_, fields);
}

}  // namespace plexi::pg
