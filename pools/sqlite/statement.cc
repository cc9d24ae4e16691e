// Moves values between SQLite statements and the executor's protocol-neutral rows.
#include "pools/sqlite/statement.h"

#include <algorithm>
#include <string>

#include "pools/sqlite/statement_text.h"

namespace plexi::sqlite {
namespace {

// n for a parameter named "$n", else 0.
int dollar_number(const char* name) {
  if (name == nullptr || name[0] != '$' || name[1] == '\0') return 0;
  int number = 0;
  for (const char* c = name + 1; *c != '\0'; ++c) {
    if (*c < '0' || *c > '9') return 0;
    number = number * 10 + (*c - '0');
    if (number > 65535) return 0;  // PostgreSQL's own limit on parameters
  }
  return number;
}

int bind_value(sqlite3_stmt* statement, int index, const Value& value) {
  switch (value.kind) {
    case ValueKind::kNull:
      return sqlite3_bind_null(statement, index);
    case ValueKind::kInteger:
      return sqlite3_bind_int64(statement, index, value.integer);
    case ValueKind::kReal:
      return sqlite3_bind_double(statement, index, value.real);
    case ValueKind::kText:
      return sqlite3_bind_text64(statement, index, value.bytes.data(), value.bytes.size(),
                                 SQLITE_TRANSIENT, SQLITE_UTF8);
    case ValueKind::kBlob:
      return sqlite3_bind_blob64(statement, index, value.bytes.data(), value.bytes.size(),
                                 SQLITE_TRANSIENT);
  }
  return SQLITE_MISUSE;
}

Value column_value(sqlite3_stmt* statement, int column) {
  switch (sqlite3_column_type(statement, column)) {
    case SQLITE_INTEGER:
      return Value::of_integer(sqlite3_column_int64(statement, column));
    case SQLITE_FLOAT:
      return Value::of_real(sqlite3_column_double(statement, column));
    case SQLITE_TEXT: {
      // Text first, then its size: that order is the one SQLite documents as stable.
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement, column));
      auto size = static_cast<std::size_t>(sqlite3_column_bytes(statement, column));
      return Value::of_text(text ? std::string(text, size) : std::string());
    }
    case SQLITE_BLOB: {
      const auto* blob = static_cast<const char*>(sqlite3_column_blob(statement, column));
      auto size = static_cast<std::size_t>(sqlite3_column_bytes(statement, column));
      return Value::of_blob(blob ? std::string(blob, size) : std::string());
    }
    default:
      return Value::null();
  }
}

}  // namespace

int parameter_count(sqlite3_stmt* statement) {
  int count = sqlite3_bind_parameter_count(statement);
  int highest = 0;
  for (int i = 1; i <= count; ++i) {
    int number = dollar_number(sqlite3_bind_parameter_name(statement, i));
    highest = std::max(highest, number > 0 ? number : i);
  }
  return highest;
}

int bind_parameters(sqlite3_stmt* statement, const std::vector<Value>& parameters) {
  int count = sqlite3_bind_parameter_count(statement);
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    std::string name = "$" + std::to_string(i + 1);
    int index = sqlite3_bind_parameter_index(statement, name.c_str());
    if (index == 0) {
      int position = static_cast<int>(i) + 1;
      // A $n the text never mentions (PostgreSQL allows gaps) has nothing to bind to.
      if (position > count || dollar_number(sqlite3_bind_parameter_name(statement, position))) {
        continue;
      }
      index = position;
    }
    if (int rc = bind_value(statement, index, parameters[i]); rc != SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}

std::vector<Column> describe_columns(sqlite3_stmt* statement) {
  std::vector<Column> columns(static_cast<std::size_t>(sqlite3_column_count(statement)));
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const char* name = sqlite3_column_name(statement, static_cast<int>(i));
    columns[i].name = name ? name : "?column?";
    columns[i].declared = declared_type(sqlite3_column_decltype(statement, static_cast<int>(i)));
  }
  return columns;
}

void note_first_values(std::vector<Column>& columns, const std::vector<std::vector<Value>>& rows) {
  if (rows.empty()) return;
  for (std::size_t i = 0; i < columns.size() && i < rows.front().size(); ++i) {
    if (columns[i].declared == DeclaredType::kNone) columns[i].first_value = rows.front()[i].kind;
  }
}

int step_rows(sqlite3_stmt* statement, std::size_t max_rows,
              std::vector<std::vector<Value>>& rows) {
  for (std::size_t read = 0; max_rows == 0 || read < max_rows; ++read) {
    int rc = sqlite3_step(statement);
    if (rc != SQLITE_ROW) return rc;
    int count = sqlite3_data_count(statement);
    std::vector<Value> row;
    row.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) row.push_back(column_value(statement, i));
    rows.push_back(std::move(row));
  }
  return SQLITE_ROW;
}

}  // namespace plexi::sqlite
