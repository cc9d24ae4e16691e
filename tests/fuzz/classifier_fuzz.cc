// libFuzzer target for the classifier: classifies arbitrary text with PostgreSQL's parser
// and the statement rules, and checks that a verdict from the cache (which may have been
// parsed from an earlier input of the same shape) agrees with one parsed afresh: the cache
// is sound only if statements of one shape have one verdict.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "routing/classifier.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace plexi::routing;
  using plexi::fuzz::check;
  static Classifier classifier({"app.audit", "queue_*"}, 4096, 64 * 1024);
  static Classifier uncached({"app.audit", "queue_*"}, 0, 64 * 1024);
  const std::string_view sql(reinterpret_cast<const char*>(data), size);
  const Verdict first = uncached.classify(sql);
  const Verdict second = classifier.classify(sql);
  check(first.digest == shape_digest(first.shape), "digest is the shape's");
  check(first.parsed || (!first.read && !first.parse_error.empty()), "unparsed is a write");
  check(first.shape == second.shape, "one text, one shape");
  check(first.tables != nullptr && second.tables != nullptr, "tables are never null");
  // Literals decide whether some statements parse at all (B'102' against B'101'); those
  // share a shape with a valid statement, and the cache may answer for either.
  if (!first.parsed || !second.parsed) return 0;
  check(first.read == second.read && first.parsed == second.parsed &&
            first.transaction == second.transaction && first.read_only == second.read_only &&
            first.set_role == second.set_role && first.reset_role == second.reset_role,
        "one verdict for one shape");
  check(
      first.tables->read == second.tables->read && first.tables->written == second.tables->written,
      "one table list for one shape");
  return 0;
}
