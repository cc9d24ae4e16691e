// libFuzzer target for what the result cache reads back from Redis, which anyone with access
// to that Redis can write: an entry is decoded against generations taken from the input
// itself, and one that decodes must encode back to the same bytes. The statement text the
// cache keys on is cut from the input; cutting it again must change nothing.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "routing/cache_entry.h"
#include "tests/fuzz/fuzz_check.h"

using plexi::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  // The generations an entry would be looked up under: read from the input at the offset
  // where an entry keeps them, so well-formed entries decode.
  std::vector<std::int64_t> generations;
  if (size >= 6) {
    std::size_t count = static_cast<std::size_t>(data[4] << 8 | data[5]);
    for (std::size_t i = 0; i < count && 6 + (i + 1) * 8 <= size; ++i) {
      std::uint64_t value = 0;
      for (std::size_t b = 0; b < 8; ++b) value = value << 8 | data[6 + i * 8 + b];
      generations.push_back(static_cast<std::int64_t>(value));
    }
  }
  if (auto answer = plexi::routing::entry_answer(input, generations)) {
    check(plexi::routing::encode_entry(generations, *answer) == input,
          "an entry re-encodes the same");
  }

  std::string_view text = plexi::routing::cache_text(input);
  check(plexi::routing::cache_text(text) == text, "the keyed text is cut once for all");
  check(text.empty() || input.find(text) != std::string_view::npos, "the keyed text is a part");

  std::string key = plexi::routing::CacheKey("c", "u", "d").add(input).finish();
  check(key.size() == std::string_view("plexiproxy:result:").size() + 32, "keys have one size");
  return 0;
}
