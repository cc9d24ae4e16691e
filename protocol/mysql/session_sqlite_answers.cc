// What the embedded SQLite front answers itself: SET (system and user variables), the
// SELECTs of @@variables and session functions that drivers send on connect, SHOW
// VARIABLES / DATABASES / WARNINGS, COM_FIELD_LIST, and the SQL behind SHOW TABLES,
// SHOW COLUMNS and SHOW CREATE TABLE (which SQLite answers from its schema).
#include <algorithm>
#include <charconv>
#include <variant>

#include "pools/sqlite/statement_text.h"
#include "protocol/mysql/session_sqlite.h"

namespace plexi::mysql {
namespace {

using embedded::Assignment;
using embedded::ColumnClass;
using embedded::FrontKind;
using embedded::quoted;
using embedded::SelectItem;

constexpr std::uint16_t kUnknownSystemVariable = 1193;

std::optional<std::int64_t> integer_of(std::string_view text) {
  std::int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// A literal SET @name = value: numbers as numbers, the rest as text.
sqlite::Value literal_value(const Assignment& assignment) {
  if (!assignment.quoted) {
    if (auto integer = integer_of(assignment.value)) return sqlite::Value::of_integer(*integer);
    double real = 0;
    const std::string& text = assignment.value;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), real);
    if (error == std::errc() && end == text.data() + text.size() && !text.empty()) {
      return sqlite::Value::of_real(real);
    }
  }
  return sqlite::Value::of_text(assignment.value);
}

// The host part of "ip:port", for USER().
std::string host_of(const std::string& address) {
  std::size_t colon = address.rfind(':');
  std::string host = colon == std::string::npos ? address : address.substr(0, colon);
  return host.empty() ? "localhost" : host;
}

}  // namespace

std::string SqliteFront::database_name() const {
  return s_.schema().empty() ? s_.cluster().name : s_.schema();
}

void SqliteFront::no_such_table(std::string_view table) {
  constexpr std::uint16_t kNoSuchTable = 1146;
  error(kNoSuchTable, "42S02",
        "Table '" + database_name() + "." + std::string(table) + "' doesn't exist");
}

awaitable<bool> SqliteFront::set(const FrontStatement& command, bool more) {
  for (const Assignment& assignment : command.assignments) {
    if (assignment.scope == Assignment::Scope::kUser) {
      sqlite::Value value;
      if (assignment.kind == Assignment::Value::kLiteral) {
        value = literal_value(assignment);
      } else if (assignment.kind == Assignment::Value::kOther) {
        // An expression: SQLite works it out (a failure is the client's error).
        auto rows = co_await query_rows("SELECT " + assignment.value, {});
        if (!rows) co_return false;
        if (!rows->empty() && !rows->front().empty()) value = std::move(rows->front().front());
      }
      user_variables_[assignment.name] = std::move(value);
      continue;
    }
    // GLOBAL assignments change what this session sees only: the embedded database has no
    // settings shared between clients. NULL and expressions leave a value as it was.
    if (assignment.kind == Assignment::Value::kDefault) {
      variables_.reset(assignment.name);
    } else if (assignment.kind == Assignment::Value::kLiteral) {
      if (auto failure = variables_.set(assignment.name, assignment.value)) {
        error(failure->code, failure->sqlstate, failure->message);
        co_return false;
      }
    }
    if (assignment.name == "autocommit" && autocommit() && connection_->in_transaction()) {
      // Turning autocommit on commits the open transaction, as in MySQL.
      bool committed = co_await run_internal("COMMIT");
      if (!committed) co_return false;
    } else if (assignment.name == "foreign_key_checks") {
      // What dump files turn off while they load tables in any order. SQLite ignores the
      // pragma inside a transaction, as it would any change there.
      auto checks = variables_.find(assignment.name);
      bool on = !checks || checks->text != "0";
      bool applied =
          co_await run_internal(on ? "PRAGMA foreign_keys = ON" : "PRAGMA foreign_keys = OFF");
      if (!applied) co_return false;
    }
  }
  ok(0, 0, more);
  co_return true;
}

std::optional<embedded::Answer> SqliteFront::answer(const FrontStatement& command) {
  Answer out;
  switch (command.kind) {
    case FrontKind::kSelectValues:
      return select_values(command);
    case FrontKind::kShowVariables:
      return show_variables(command);
    case FrontKind::kShowWarnings:
      // Nothing here raises warnings.
      out.columns = {{"Level", ColumnClass::kText},
                     {"Code", ColumnClass::kInteger},
                     {"Message", ColumnClass::kText}};
      return out;
    case FrontKind::kShowStatus:
      out.columns = {{"Variable_name", ColumnClass::kText}, {"Value", ColumnClass::kText}};
      return out;
    case FrontKind::kShowDatabases: {
      // The embedded default serves every database name from one file: the one in use.
      out.columns = {{"Database", ColumnClass::kText}};
      std::string name = database_name();
      if (!command.like || embedded::like_match(name, *command.like)) {
        out.rows.push_back({sqlite::Value::of_text(std::move(name))});
      }
      return out;
    }
    default:
      return std::nullopt;
  }
}

std::optional<embedded::Answer> SqliteFront::select_values(const FrontStatement& command) {
  Answer out;
  std::vector<sqlite::Value> row;
  for (const SelectItem& item : command.items) {
    sqlite::Value value;
    switch (item.kind) {
      case SelectItem::Kind::kSystemVariable: {
        if (item.name == "last_insert_id" || item.name == "identity") {
          value = sqlite::Value::of_integer(last_insert_id_);
          break;
        }
        auto variable = variables_.find(item.name);
        if (!variable) {
          error(kUnknownSystemVariable, "HY000", "Unknown system variable '" + item.name + "'");
          return std::nullopt;
        }
        auto integer = variable->kind == embedded::SystemVariables::Kind::kText
                           ? std::nullopt
                           : integer_of(variable->text);
        value =
            integer ? sqlite::Value::of_integer(*integer) : sqlite::Value::of_text(variable->text);
        break;
      }
      case SelectItem::Kind::kUserVariable: {
        auto found = user_variables_.find(item.name);
        if (found != user_variables_.end()) value = found->second;
        break;
      }
      case SelectItem::Kind::kFunction:
        if (item.name == "DATABASE") {
          if (!s_.schema().empty()) value = sqlite::Value::of_text(s_.schema());
        } else if (item.name == "VERSION") {
          value = sqlite::Value::of_text(variables_.find("version")->text);
        } else if (item.name == "CURRENT_USER") {
          value = sqlite::Value::of_text(s_.user() + "@%");
        } else if (item.name == "CONNECTION_ID") {
          value = sqlite::Value::of_integer(s_.connection_id());
        } else if (item.name == "LAST_INSERT_ID") {
          value = sqlite::Value::of_integer(last_insert_id_);
        } else if (item.name == "ROW_COUNT") {
          value = sqlite::Value::of_integer(row_count_);
        } else {  // USER, SESSION_USER, SYSTEM_USER
          value = sqlite::Value::of_text(s_.user() + "@" + host_of(s_.describe().address));
        }
        break;
    }
    out.columns.emplace_back(item.label, embedded::class_of(embedded::storage(value.kind)));
    row.push_back(std::move(value));
  }
  if (!command.limit || *command.limit > 0) out.rows.push_back(std::move(row));
  return out;
}

embedded::Answer SqliteFront::show_variables(const FrontStatement& command) const {
  Answer out;
  out.columns = {{"Variable_name", ColumnClass::kText}, {"Value", ColumnClass::kText}};
  for (auto& [name, value] : variables_.all()) {
    if (command.like && !embedded::like_match(name, *command.like)) continue;
    if (!command.where_names.empty() &&
        std::find(command.where_names.begin(), command.where_names.end(), name) ==
            command.where_names.end()) {
      continue;
    }
    out.rows.push_back({sqlite::Value::of_text(name), sqlite::Value::of_text(value)});
  }
  return out;
}

bool SqliteFront::kill(std::uint64_t id, bool query_only) {
  std::uint16_t code = 0;
  std::string message;
  bool killed = s_.kill_client(id, query_only, code, message);
  if (!killed) error(code, "HY000", message);
  return killed;
}

// COM_FIELD_LIST: the table's columns as column definitions, each followed by its default
// value as MySQL sends them for this command.
awaitable<void> SqliteFront::field_list(Bytes body) {
  Reader reader(body);
  std::string table(reader.null_terminated());
  std::string wildcard(reader.rest());
  // Built before the co_await: GCC 12 miscompiles an initializer list inside one.
  std::vector<sqlite::Value> parameters;
  parameters.push_back(sqlite::Value::of_text(table));
  auto rows = co_await query_rows("SELECT name, type, dflt_value FROM pragma_table_info(?)",
                                  std::move(parameters));
  if (!rows) co_return;
  if (rows->empty()) {
    no_such_table(table);
    co_return;
  }
  for (const auto& row : *rows) {
    if (row.size() < 3) continue;
    const std::string& name = row[0].bytes;
    if (!wildcard.empty() && !embedded::like_match(name, wildcard)) continue;
    auto type = embedded::declared_class(sqlite::declared_type(row[1].bytes.c_str()));
    ColumnDefinition definition =
        embedded::column_definition(name, type.value_or(ColumnClass::kText), false);
    definition.schema = database_name();
    definition.table = definition.org_table = table;
    ByteVector payload = encode_column_definition_payload(definition);
    if (row[2].kind == sqlite::ValueKind::kNull) {
      append_u8(payload, 0xfb);
    } else {
      // SQLite keeps a default as its SQL text; MySQL sends a string default's value.
      const std::string& text = row[2].bytes;
      std::string value;
      bool literal = !text.empty() && text.front() == '\'' &&
                     embedded::quoted_end(text, 0, value) == text.size();
      append_lenenc_string(payload, literal ? value : text);
    }
    s_.send_packet(payload);
  }
  update_status(false);
  s_.send_eof(true);
}

std::string SqliteFront::show_sql(const FrontStatement& command) const {
  constexpr std::string_view kEscape = " ESCAPE '\\'";
  switch (command.kind) {
    case FrontKind::kShowTables: {
      std::string sql = "SELECT name AS " + quoted("Tables_in_" + database_name(), '"');
      if (command.full) {
        sql += ", CASE type WHEN 'view' THEN 'VIEW' ELSE 'BASE TABLE' END AS Table_type";
      }
      sql += " FROM sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%'";
      sql += kEscape;
      if (command.like) sql += " AND name LIKE " + quoted(*command.like) + std::string(kEscape);
      return sql + " ORDER BY name";
    }
    case FrontKind::kShowColumns: {
      std::string sql = "SELECT name AS Field, lower(type) AS Type";
      if (command.full) sql += ", NULL AS Collation";
      sql +=
          ", CASE WHEN \"notnull\" OR pk > 0 THEN 'NO' ELSE 'YES' END AS \"Null\""
          ", CASE WHEN pk > 0 THEN 'PRI' ELSE '' END AS \"Key\""
          ", dflt_value AS \"Default\", '' AS Extra";
      if (command.full) sql += ", 'select,insert,update,references' AS Privileges, '' AS Comment";
      sql += " FROM pragma_table_info(" + quoted(command.name) + ")";
      if (command.like) sql += " WHERE name LIKE " + quoted(*command.like) + std::string(kEscape);
      return sql + " ORDER BY cid";
    }
    case FrontKind::kShowCreateTable:
      return "SELECT name AS \"Table\", sql AS \"Create Table\" FROM sqlite_schema"
             " WHERE type IN ('table', 'view') AND name = " +
             quoted(command.name) + " COLLATE NOCASE";
    default:
      return {};
  }
}

}  // namespace plexi::mysql
