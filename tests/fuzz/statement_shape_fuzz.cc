// libFuzzer target for statement shapes: shapes arbitrary text and checks that the digest is
// the shape's, that shaping a shape gives it back, and that the hint reads without fault.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "routing/statement_shape.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace plexi::routing;
  using plexi::fuzz::check;
  const std::string_view sql(reinterpret_cast<const char*>(data), size);
  const StatementShape shape = shape_statement(sql);
  check(shape.digest == shape_digest(shape.text), "digest is the shape's");
  check(shape.text.size() <= 2 * size + 1, "shape at most twice the text");
  check(shape_statement(shape.text).text == shape.text, "shaping a shape gives it back");
  check(parse_digest(format_digest(shape.digest)) == shape.digest, "digest text round trip");
  if (shape.hint.role) check(shape.hint.present(), "a role comes with a hint");
  if (shape.hint.present()) {
    check(sql.find(shape.hint.pairs) != std::string_view::npos, "hint points into the text");
    (void)shape.hint.value("role");
    (void)shape.hint.value("cache_ttl");
  }
  return 0;
}
