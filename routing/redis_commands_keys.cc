// Finds the keys of a Redis request by its command's key specs, the way Redis 7 itself
// does (getKeysUsingKeySpecs), with every position checked against the arguments at hand.
#include <cstdint>
#include <optional>

#include "routing/redis_commands.h"
#include "routing/redis_commands_names.h"

namespace plexi::routing {
namespace {

using redis_names::equals_folded;

// Positions are signed here: specs count from the end with negative numbers, and a hostile
// key count must not wrap around.
using Position = std::int64_t;

// A key count as Redis reads one (string2ll): an optional minus and decimal digits, no
// sign, space or leading zero otherwise. Counts beyond the arguments need not be exact.
std::optional<Position> parse_count(std::string_view text) {
  constexpr Position kLarge = Position{1} << 40;
  bool negative = false;
  if (!text.empty() && text.front() == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  if (text.empty() || (text.front() == '0' && text.size() > 1)) return std::nullopt;
  Position value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    if (value < kLarge) value = value * 10 + (c - '0');
  }
  return negative ? -value : value;
}

// Where the keyword search of a spec finds its keyword, plus one: Redis searches forward from
// `startfrom` up to the argument before the last, or from argc + startfrom back to the
// second argument. 0 when it is not there (the option was not given).
Position after_keyword(const KeySpec& spec, std::span<const std::string_view> args) {
  const auto argc = static_cast<Position>(args.size());
  if (spec.startfrom > 0) {
    for (Position i = spec.startfrom; i < argc - 1; ++i) {
      if (equals_folded(args[i], spec.keyword)) return i + 1;
    }
  } else {
    for (Position i = argc + spec.startfrom; i > 1 && i < argc; --i) {
      if (equals_folded(args[i], spec.keyword)) return i + 1;
    }
  }
  return 0;
}

enum class Found { kKeys, kNone, kMalformed };

// The keys one spec finds, appended to `out`.
Found scan_spec(const KeySpec& spec, std::span<const std::string_view> args,
                std::vector<std::size_t>& out) {
  const auto argc = static_cast<Position>(args.size());
  if (spec.flags & key_flag::kNotKey) return Found::kNone;
  Position first = 0;
  if (spec.begin == KeySpec::Begin::kIndex) {
    first = spec.index;
  } else if (spec.begin == KeySpec::Begin::kKeyword) {
    first = after_keyword(spec, args);
  }
  if (first < 1) return Found::kNone;  // an unknown spec, or an option not given

  Position last = 0;
  Position step = spec.keystep;
  if (spec.find == KeySpec::Find::kRange) {
    if (spec.lastkey >= 0) {
      last = first + spec.lastkey;
    } else if (spec.limit <= 1) {
      last = argc + spec.lastkey;
    } else {
      // Only the first 1/limit of what follows: XREAD's streams, before their IDs.
      last = first + (argc - first) / spec.limit + spec.lastkey;
    }
  } else if (spec.find == KeySpec::Find::kKeynum) {
    const Position count_at = first + spec.keynumidx;
    if (count_at >= argc) return Found::kMalformed;
    const auto count = parse_count(args[count_at]);
    if (!count || *count < 0 || *count > argc) return Found::kMalformed;
    if (*count == 0) return Found::kNone;  // EVAL script 0: valid, and keyless
    first += spec.firstkey;
    last = first + (*count - 1) * step;
  } else {
    return Found::kNone;
  }
  if (step < 1 || first >= argc || last >= argc || last < first) return Found::kMalformed;
  for (Position i = first; i <= last; i += step) out.push_back(static_cast<std::size_t>(i));
  return Found::kKeys;
}

// No key specs (a Redis 6 table): first key, last key (negative: from the end), step.
KeyScan scan_legacy(const CommandInfo& command, std::span<const std::string_view> args,
                    std::vector<std::size_t>& out) {
  const auto argc = static_cast<Position>(args.size());
  const Position first = command.first_key;
  if (first < 1) return KeyScan::kOk;
  const Position last = command.last_key >= 0 ? command.last_key : argc + command.last_key;
  const Position step = command.step < 1 ? 1 : command.step;
  if (first >= argc || last >= argc || last < first) return KeyScan::kMalformed;
  for (Position i = first; i <= last; i += step) out.push_back(static_cast<std::size_t>(i));
  return KeyScan::kOk;
}

// MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw] [AUTH2 user pw] [KEYS k...]:
// the key, or with an empty key the keys after KEYS. Its second spec searches KEYS from the
// end, which a key named "keys" would fool; the options are read in turn instead, as Redis
// does.
KeyScan scan_migrate(std::span<const std::string_view> args, std::vector<std::size_t>& out) {
  if (args.size() < 6) return KeyScan::kMalformed;
  for (std::size_t i = 6; i < args.size(); ++i) {
    if (equals_folded(args[i], "keys")) {
      if (!args[3].empty()) return KeyScan::kMalformed;  // a key and KEYS: a syntax error
      for (std::size_t key = i + 1; key < args.size(); ++key) out.push_back(key);
      return KeyScan::kOk;
    }
    if (equals_folded(args[i], "auth")) {
      i += 1;
    } else if (equals_folded(args[i], "auth2")) {
      i += 2;
    }
  }
  out.push_back(3);
  return KeyScan::kOk;
}

// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
// [STORE destination]: its spec for STORE is "unknown", since the word may stand anywhere.
// Options are skipped with their arguments; the last STORE counts, as in SORT itself.
void add_sort_store(std::span<const std::string_view> args, std::vector<std::size_t>& out) {
  std::size_t store = 0;
  for (std::size_t i = 2; i < args.size(); ++i) {
    if (equals_folded(args[i], "limit")) {
      i += 2;
    } else if (equals_folded(args[i], "by") || equals_folded(args[i], "get")) {
      i += 1;
    } else if (equals_folded(args[i], "store") && i + 1 < args.size()) {
      store = i + 1;
    }
  }
  if (store != 0) out.push_back(store);
}

}  // namespace

KeyScan key_positions(const CommandInfo& command, std::span<const std::string_view> args,
                      std::vector<std::size_t>& out) {
  out.clear();
  if (command.name == "migrate") {
    const KeyScan scan = scan_migrate(args, out);
    if (scan == KeyScan::kMalformed) out.clear();
    return scan;
  }
  if (command.key_specs.empty()) {
    const KeyScan scan = scan_legacy(command, args, out);
    if (scan == KeyScan::kMalformed) out.clear();
    return scan;
  }
  for (const KeySpec& spec : command.key_specs) {
    if (scan_spec(spec, args, out) == Found::kMalformed) {
      out.clear();
      return KeyScan::kMalformed;
    }
  }
  if (command.name == "sort") add_sort_store(args, out);
  return KeyScan::kOk;
}

}  // namespace plexi::routing
