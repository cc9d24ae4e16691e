// libFuzzer target for the MySQL statement analysis and shapes: analyses and shapes arbitrary
// text and checks what must hold whatever the text: a pinned statement is no read, settings
// have a key and a value, the digest is the shape's, and shaping a shape gives it back.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "routing/mysql_statement.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace plexi::routing;
  using plexi::fuzz::check;
  const std::string_view sql(reinterpret_cast<const char*>(data), size);

  const MysqlStatement statement = analyze_mysql(sql);
  if (statement.pin != MysqlPin::kNone) check(!statement.read, "what pins is no read");
  if (statement.read_only) {
    check(statement.transaction == TransactionControl::kBegin, "READ ONLY comes with a begin");
  }
  for (const MysqlSetting& setting : statement.settings) {
    check(!setting.key.empty() && !setting.sql.empty(), "a setting has a key and its SQL");
  }
  check(!to_string(statement.pin).empty(), "every pin has a name");
  if (statement.hint.present()) {
    check(sql.find(statement.hint.pairs) != std::string_view::npos, "hint points into the text");
  }

  const StatementShape shape = shape_mysql_statement(sql);
  check(shape.digest == shape_digest(shape.text), "digest is the shape's");
  check(shape.text.size() <= 2 * size + 1, "shape at most twice the text");
  check(shape_mysql_statement(shape.text).text == shape.text, "shaping a shape gives it back");
  return 0;
}
