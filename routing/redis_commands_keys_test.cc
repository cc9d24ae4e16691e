// Tests for key_positions over the built-in table: every kind of key spec (index, keyword
// searched forwards and backwards, ranges to the end and by half, key counts), the
// commands whose specs need help (SORT, MIGRATE), and hostile arguments.
#include <gtest/gtest.h>

#include <string_view>
#include <vector>

#include "routing/redis_commands.h"

namespace plexi::routing {
namespace {

using Positions = std::vector<std::size_t>;

struct Scan {
  KeyScan result;
  Positions keys;
};

Scan scan(std::initializer_list<std::string_view> list) {
  const std::vector<std::string_view> args(list);
  const CommandInfo* command = CommandTable::builtin().find(args);
  if (command == nullptr) {
    ADD_FAILURE() << "unknown command " << args[0];
    return {KeyScan::kMalformed, {}};
  }
  Scan found;
  found.result = key_positions(*command, args, found.keys);
  return found;
}

Positions keys(std::initializer_list<std::string_view> args) {
  const Scan found = scan(args);
  EXPECT_EQ(found.result, KeyScan::kOk) << *args.begin();
  return found.keys;
}

bool malformed(std::initializer_list<std::string_view> args) {
  const Scan found = scan(args);
  EXPECT_TRUE(found.keys.empty());
  return found.result == KeyScan::kMalformed;
}

TEST(RedisKeyPositions, SingleKeyAndRanges) {
  EXPECT_EQ(keys({"GET", "k"}), (Positions{1}));
  EXPECT_EQ(keys({"SET", "k", "v", "GET"}), (Positions{1}));
  EXPECT_EQ(keys({"RENAME", "a", "b"}), (Positions{1, 2}));
  EXPECT_EQ(keys({"DEL", "a", "b", "c"}), (Positions{1, 2, 3}));
  EXPECT_EQ(keys({"UNLINK", "a"}), (Positions{1}));
  EXPECT_EQ(keys({"EXISTS", "a", "b"}), (Positions{1, 2}));
  EXPECT_EQ(keys({"TOUCH", "a", "b"}), (Positions{1, 2}));
  EXPECT_EQ(keys({"MGET", "a", "b", "c"}), (Positions{1, 2, 3}));
  EXPECT_EQ(keys({"MSET", "a", "1", "b", "2", "c", "3"}), (Positions{1, 3, 5}));
  EXPECT_EQ(keys({"MSETNX", "a", "1", "b", "2"}), (Positions{1, 3}));
  // BLPOP k1 k2 timeout: up to the argument before the last.
  EXPECT_EQ(keys({"BLPOP", "a", "b", "0"}), (Positions{1, 2}));
  EXPECT_EQ(keys({"SINTERSTORE", "dest", "a", "b"}), (Positions{1, 2, 3}));
  EXPECT_EQ(keys({"LMOVE", "src", "dst", "LEFT", "RIGHT"}), (Positions{1, 2}));
  EXPECT_EQ(keys({"PFMERGE", "dest", "a", "b"}), (Positions{1, 2, 3}));
  EXPECT_EQ(keys({"BITOP", "AND", "dest", "a", "b"}), (Positions{2, 3, 4}));
  EXPECT_EQ(keys({"PING"}), (Positions{}));
  EXPECT_EQ(keys({"KEYS", "*"}), (Positions{}));
}

TEST(RedisKeyPositions, KeyCounts) {
  EXPECT_EQ(keys({"EVAL", "return 1", "2", "k1", "k2", "arg"}), (Positions{3, 4}));
  EXPECT_EQ(keys({"EVALSHA", "abc", "1", "k1", "arg"}), (Positions{3}));
  EXPECT_EQ(keys({"EVAL_RO", "s", "1", "k"}), (Positions{3}));
  EXPECT_EQ(keys({"FCALL", "f", "2", "k1", "k2"}), (Positions{3, 4}));
  EXPECT_EQ(keys({"FCALL_RO", "f", "1", "k1", "a", "b"}), (Positions{3}));
  EXPECT_EQ(keys({"EVAL", "return 1", "0"}), (Positions{}));  // keyless, and valid
  EXPECT_EQ(keys({"ZUNIONSTORE", "dest", "2", "a", "b", "WEIGHTS", "1", "2"}),
            (Positions{1, 3, 4}));
  EXPECT_EQ(keys({"ZINTERSTORE", "dest", "1", "a"}), (Positions{1, 3}));
  EXPECT_EQ(keys({"ZDIFFSTORE", "dest", "2", "a", "b"}), (Positions{1, 3, 4}));
  EXPECT_EQ(keys({"ZUNION", "2", "a", "b", "WITHSCORES"}), (Positions{2, 3}));
  EXPECT_EQ(keys({"ZINTERCARD", "2", "a", "b", "LIMIT", "5"}), (Positions{2, 3}));
  EXPECT_EQ(keys({"SINTERCARD", "3", "a", "b", "c"}), (Positions{2, 3, 4}));
  EXPECT_EQ(keys({"LMPOP", "2", "a", "b", "LEFT", "COUNT", "3"}), (Positions{2, 3}));
  EXPECT_EQ(keys({"BLMPOP", "1.5", "2", "a", "b", "RIGHT"}), (Positions{3, 4}));
  EXPECT_EQ(keys({"ZMPOP", "1", "z", "MIN"}), (Positions{2}));
  EXPECT_EQ(keys({"BZMPOP", "0", "2", "z1", "z2", "MAX"}), (Positions{3, 4}));
}

TEST(RedisKeyPositions, Keywords) {
  // XREAD: the streams after STREAMS, the first half of what follows (IDs after them).
  EXPECT_EQ(keys({"XREAD", "STREAMS", "s1", "s2", "0", "0"}), (Positions{2, 3}));
  EXPECT_EQ(keys({"XREAD", "COUNT", "2", "BLOCK", "0", "streams", "s", "$"}), (Positions{6}));
  EXPECT_EQ(keys({"XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "a", "b", ">", ">"}),
            (Positions{7, 8}));
  // XREAD without STREAMS finds nothing; the server reports the error.
  EXPECT_EQ(keys({"XREAD", "COUNT", "2"}), (Positions{}));
  // GEORADIUS: the key, and STORE's or STOREDIST's destination when given.
  EXPECT_EQ(keys({"GEORADIUS", "geo", "15", "37", "200", "km"}), (Positions{1}));
  EXPECT_EQ(keys({"GEORADIUS", "geo", "15", "37", "200", "km", "ASC", "STORE", "out"}),
            (Positions{1, 8}));
  EXPECT_EQ(keys({"GEORADIUSBYMEMBER", "geo", "m", "5", "km", "STOREDIST", "out"}),
            (Positions{1, 6}));
  EXPECT_EQ(keys({"GEOSEARCHSTORE", "dst", "src", "FROMMEMBER", "m", "BYRADIUS", "1", "km"}),
            (Positions{1, 2}));
}

TEST(RedisKeyPositions, Subcommands) {
  EXPECT_EQ(keys({"OBJECT", "ENCODING", "k"}), (Positions{2}));
  EXPECT_EQ(keys({"OBJECT", "FREQ", "k"}), (Positions{2}));
  EXPECT_EQ(keys({"MEMORY", "USAGE", "k", "SAMPLES", "5"}), (Positions{2}));
  EXPECT_EQ(keys({"XINFO", "STREAM", "s", "FULL"}), (Positions{2}));
  EXPECT_EQ(keys({"XINFO", "GROUPS", "s"}), (Positions{2}));
  EXPECT_EQ(keys({"CONFIG", "GET", "maxmemory"}), (Positions{}));
  EXPECT_EQ(keys({"CLIENT", "SETNAME", "app"}), (Positions{}));
}

TEST(RedisKeyPositions, SortStore) {
  EXPECT_EQ(keys({"SORT", "list"}), (Positions{1}));
  EXPECT_EQ(keys({"SORT", "list", "ALPHA", "STORE", "out"}), (Positions{1, 4}));
  EXPECT_EQ(keys({"sort", "list", "BY", "w_*", "LIMIT", "0", "10", "GET", "store", "store", "dst"}),
            (Positions{1, 10}));
  // A pattern named "store" is skipped with its option; the last STORE counts.
  EXPECT_EQ(keys({"SORT", "l", "GET", "store", "STORE", "a", "STORE", "b"}), (Positions{1, 7}));
  EXPECT_EQ(keys({"SORT_RO", "list", "STORE", "x"}), (Positions{1}));
  EXPECT_TRUE(CommandTable::builtin().find("sort")->is(relay::kKeysIncomplete));
}

TEST(RedisKeyPositions, Migrate) {
  EXPECT_EQ(keys({"MIGRATE", "127.0.0.1", "6380", "k", "0", "5000"}), (Positions{3}));
  EXPECT_EQ(keys({"MIGRATE", "127.0.0.1", "6380", "", "0", "5000", "COPY", "KEYS", "a", "b"}),
            (Positions{8, 9}));
  EXPECT_EQ(keys({"MIGRATE", "h", "1", "", "0", "5000", "AUTH2", "keys", "pw", "REPLACE", "KEYS",
                  "keys"}),
            (Positions{11}));
  EXPECT_TRUE(malformed({"MIGRATE", "h", "1", "k", "0", "5000", "KEYS", "a"}));
  EXPECT_TRUE(malformed({"MIGRATE", "h", "1", "k"}));
  EXPECT_FALSE(CommandTable::builtin().find("migrate")->is(relay::kKeysIncomplete));
}

TEST(RedisKeyPositions, HostileKeyCountsAreMalformed) {
  EXPECT_TRUE(malformed({"EVAL", "s", "3", "k1", "k2"}));    // more keys than args
  EXPECT_TRUE(malformed({"EVAL", "s", "-1", "k1"}));         // negative
  EXPECT_TRUE(malformed({"EVAL", "s", "two", "k1", "k2"}));  // not a number
  EXPECT_TRUE(malformed({"EVAL", "s", "+1", "k1"}));         // Redis refuses a sign
  EXPECT_TRUE(malformed({"EVAL", "s", "01", "k1"}));         // and leading zeros
  EXPECT_TRUE(malformed({"EVAL", "s", "", "k1"}));
  EXPECT_TRUE(malformed({"EVAL", "s", "99999999999999999999999", "k"}));
  EXPECT_TRUE(malformed({"EVAL", "s"}));                               // no count at all
  EXPECT_TRUE(malformed({"ZUNIONSTORE", "dest", "4294967297", "a"}));  // 2^32 + 1
  EXPECT_TRUE(malformed({"ZUNIONSTORE", "dest", "2", "a"}));
  EXPECT_TRUE(malformed({"SINTERCARD", "9223372036854775807", "a"}));
  EXPECT_TRUE(malformed({"BLMPOP", "0", "5", "a", "LEFT"}));
}

TEST(RedisKeyPositions, MissingKeysAreMalformed) {
  EXPECT_TRUE(malformed({"GET"}));
  EXPECT_TRUE(malformed({"DEL"}));
  EXPECT_TRUE(malformed({"MGET"}));
  EXPECT_TRUE(malformed({"RENAME", "a"}));
  EXPECT_TRUE(malformed({"OBJECT", "ENCODING"}));
  EXPECT_TRUE(malformed({"XREAD", "STREAMS", "s"}));  // a stream without its ID
}

// Whatever a client sends, every position is an argument after the command's name (and a
// subcommand's), and a malformed request has none.
TEST(RedisKeyPositions, EveryPositionIsInsideTheArguments) {
  constexpr std::string_view kWords[] = {"0",         "1",  "2",       "3",     "-1",    "99999",
                                         "abc",       "",   "STREAMS", "KEYS",  "STORE", "BLOCK",
                                         "GET",       "BY", "LIMIT",   "AUTH2", "COUNT", "GROUP",
                                         "STOREDIST", "$",  ">"};
  std::uint32_t state = 7;
  auto next = [&] {
    state = state * 1664525u + 1013904223u;
    return state >> 8;
  };
  std::vector<std::size_t> out;
  std::vector<std::string_view> args;
  auto check = [&](const CommandInfo& command, std::string_view name, std::string_view sub) {
    for (int trial = 0; trial < 200; ++trial) {
      args.assign({name});
      if (!sub.empty()) args.push_back(sub);
      const std::size_t extra = next() % 14;
      for (std::size_t i = 0; i < extra; ++i) args.push_back(kWords[next() % std::size(kWords)]);
      const KeyScan scan = key_positions(command, args, out);
      if (scan == KeyScan::kMalformed) {
        EXPECT_TRUE(out.empty()) << command.name;
      }
      for (std::size_t position : out) {
        ASSERT_GE(position, sub.empty() ? 1u : 2u) << command.name;
        ASSERT_LT(position, args.size()) << command.name;
      }
    }
  };
  for (const CommandInfo& command : CommandTable::builtin().commands()) {
    check(command, command.name, "");
    for (const CommandInfo& sub : command.subcommands) {
      check(sub, command.name, std::string_view(sub.name).substr(command.name.size() + 1));
    }
  }
}

TEST(RedisKeyPositions, ReusesTheOutputVector) {
  const CommandInfo* mget = CommandTable::builtin().find("mget");
  std::vector<std::size_t> out;
  const std::vector<std::string_view> three = {"mget", "a", "b", "c"};
  ASSERT_EQ(key_positions(*mget, three, out), KeyScan::kOk);
  const auto* storage = out.data();
  const std::vector<std::string_view> one = {"mget", "a"};
  ASSERT_EQ(key_positions(*mget, one, out), KeyScan::kOk);
  EXPECT_EQ(out, (Positions{1}));
  EXPECT_EQ(out.data(), storage);
}

}  // namespace
}  // namespace plexi::routing
