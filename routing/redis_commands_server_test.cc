// Holds the command table against the installed redis-server (7.0): the built-in table must
// be what the server's own COMMAND reply reads as, and key_positions must find the keys the
// server's COMMAND GETKEYS names, for a wide sample of requests.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "routing/redis_commands.h"
#include "routing/redis_commands_test_servers.h"

namespace plexi::routing {
namespace {

using testing::RedisServer;
using testing::RespClient;
using testing::TempDir;

class RedisCommandServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TempDir>();
    server_ = std::make_unique<RedisServer>(dir_->path());
  }
  static void TearDownTestSuite() {
    server_.reset();  // stopped by its PID
    dir_.reset();
  }
  static RespClient client() { return RespClient(server_->port()); }

  static std::unique_ptr<TempDir> dir_;
  static std::unique_ptr<RedisServer> server_;
};

std::unique_ptr<TempDir> RedisCommandServer::dir_;
std::unique_ptr<RedisServer> RedisCommandServer::server_;

void expect_same_spec(const KeySpec& ours, const KeySpec& theirs, const std::string& where) {
  EXPECT_EQ(ours.flags, theirs.flags) << where;
  EXPECT_EQ(ours.begin, theirs.begin) << where;
  EXPECT_EQ(ours.index, theirs.index) << where;
  EXPECT_EQ(ours.keyword, theirs.keyword) << where;
  EXPECT_EQ(ours.startfrom, theirs.startfrom) << where;
  EXPECT_EQ(ours.find, theirs.find) << where;
  EXPECT_EQ(ours.lastkey, theirs.lastkey) << where;
  EXPECT_EQ(ours.limit, theirs.limit) << where;
  EXPECT_EQ(ours.keynumidx, theirs.keynumidx) << where;
  EXPECT_EQ(ours.firstkey, theirs.firstkey) << where;
  EXPECT_EQ(ours.keystep, theirs.keystep) << where;
}

void expect_same_command(const CommandInfo& ours, const CommandInfo& theirs) {
  const std::string& where = theirs.name;
  EXPECT_EQ(ours.name, theirs.name);
  EXPECT_EQ(ours.arity, theirs.arity) << where;
  EXPECT_EQ(ours.flags, theirs.flags) << where;
  EXPECT_EQ(ours.acl_categories, theirs.acl_categories) << where;
  EXPECT_EQ(ours.first_key, theirs.first_key) << where;
  EXPECT_EQ(ours.last_key, theirs.last_key) << where;
  EXPECT_EQ(ours.step, theirs.step) << where;
  EXPECT_EQ(ours.request_policy, theirs.request_policy) << where;
  EXPECT_EQ(ours.response_policy, theirs.response_policy) << where;
  EXPECT_EQ(ours.traits, theirs.traits) << where;
  EXPECT_EQ(ours.dispatch, theirs.dispatch) << where;
  ASSERT_EQ(ours.key_specs.size(), theirs.key_specs.size()) << where;
  for (std::size_t i = 0; i < ours.key_specs.size(); ++i) {
    expect_same_spec(ours.key_specs[i], theirs.key_specs[i], where + " spec " + std::to_string(i));
  }
  ASSERT_EQ(ours.subcommands.size(), theirs.subcommands.size()) << where;
  for (const CommandInfo& sub : theirs.subcommands) {
    const CommandInfo* mine = CommandTable::builtin().find(std::string_view(sub.name));
    ASSERT_NE(mine, nullptr) << sub.name;
    expect_same_command(*mine, sub);
  }
}

TEST_F(RedisCommandServer, BuiltinTableIsTheServersCommandReply) {
  RespClient redis = client();
  const resp::Value count = redis.command({"COMMAND", "COUNT"});
  ASSERT_EQ(count.type, resp::Type::kInteger);
  EXPECT_EQ(CommandTable::builtin().size(), static_cast<std::size_t>(count.integer));

  const CommandTable live = CommandTable::from_command_reply(redis.command({"COMMAND"}));
  ASSERT_EQ(live.size(), CommandTable::builtin().size());
  for (const CommandInfo& command : live.commands()) {
    const CommandInfo* mine = CommandTable::builtin().find(std::string_view(command.name));
    ASSERT_NE(mine, nullptr) << command.name;
    expect_same_command(*mine, command);
  }
}

// Requests over every kind of key spec, and some the server refuses.
const std::vector<std::vector<std::string>> kRequests = {
    {"GET", "k"},
    {"SET", "k", "v", "GET"},
    {"RENAME", "a", "b"},
    {"DEL", "a", "b", "c"},
    {"UNLINK", "a"},
    {"EXISTS", "a", "b"},
    {"TOUCH", "a", "b"},
    {"MGET", "a", "b", "c"},
    {"MSET", "a", "1", "b", "2", "c", "3"},
    {"MSETNX", "a", "1", "b", "2"},
    {"BLPOP", "a", "b", "0"},
    {"BRPOPLPUSH", "a", "b", "0"},
    {"SINTERSTORE", "dest", "a", "b"},
    {"LMOVE", "src", "dst", "LEFT", "RIGHT"},
    {"PFMERGE", "dest", "a", "b"},
    {"BITOP", "AND", "dest", "a", "b"},
    {"BITFIELD", "k", "GET", "u8", "0"},
    {"EVAL", "return 1", "2", "k1", "k2", "arg"},
    {"EVALSHA", "abc", "1", "k1", "arg"},
    {"EVAL_RO", "s", "1", "k"},
    {"FCALL", "f", "2", "k1", "k2"},
    {"FCALL_RO", "f", "1", "k1", "a", "b"},
    {"EVAL", "return 1", "0"},
    {"ZUNIONSTORE", "dest", "2", "a", "b", "WEIGHTS", "1", "2"},
    {"ZINTERSTORE", "dest", "1", "a"},
    {"ZDIFFSTORE", "dest", "2", "a", "b"},
    {"ZUNION", "2", "a", "b", "WITHSCORES"},
    {"ZINTERCARD", "2", "a", "b", "LIMIT", "5"},
    {"SINTERCARD", "3", "a", "b", "c"},
    {"LMPOP", "2", "a", "b", "LEFT", "COUNT", "3"},
    {"BLMPOP", "1.5", "2", "a", "b", "RIGHT"},
    {"ZMPOP", "1", "z", "MIN"},
    {"BZMPOP", "0", "2", "z1", "z2", "MAX"},
    {"XREAD", "STREAMS", "s1", "s2", "0", "0"},
    {"XREAD", "COUNT", "2", "BLOCK", "0", "streams", "s", "$"},
    {"XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "a", "b", ">", ">"},
    {"XADD", "s", "*", "f", "v"},
    {"GEORADIUS", "geo", "15", "37", "200", "km"},
    {"GEORADIUS", "geo", "15", "37", "200", "km", "ASC", "STORE", "out"},
    {"GEORADIUSBYMEMBER", "geo", "m", "5", "km", "STOREDIST", "out"},
    {"GEOSEARCHSTORE", "dst", "src", "FROMMEMBER", "m", "BYRADIUS", "1", "km"},
    {"OBJECT", "ENCODING", "k"},
    {"OBJECT", "FREQ", "k"},
    {"MEMORY", "USAGE", "k", "SAMPLES", "5"},
    {"XINFO", "STREAM", "s", "FULL"},
    {"XINFO", "GROUPS", "s"},
    {"SORT", "list"},
    {"SORT", "list", "ALPHA", "STORE", "out"},
    {"sort", "list", "BY", "w_*", "LIMIT", "0", "10", "GET", "store", "store", "dst"},
    {"SORT", "l", "GET", "store", "STORE", "a", "STORE", "b"},
    {"SORT_RO", "list", "BY", "x"},
    {"MIGRATE", "127.0.0.1", "6380", "k", "0", "5000"},
    {"MIGRATE", "127.0.0.1", "6380", "", "0", "5000", "COPY", "KEYS", "a", "b"},
    {"MIGRATE", "h", "1", "", "0", "5000", "AUTH2", "keys", "pw", "REPLACE", "KEYS", "keys"},
    {"LCS", "a", "b"},
    {"COPY", "a", "b", "DB", "1"},
    {"SMOVE", "a", "b", "m"},
    {"GETEX", "k", "PERSIST"},
    {"WATCH", "a", "b"},
    {"PING"},
    {"KEYS", "*"},
    {"CONFIG", "GET", "maxmemory"},
    {"CLIENT", "SETNAME", "app"},
    // Refused by the server; no keys here either.
    {"EVAL", "s", "3", "k1", "k2"},
    {"EVAL", "s", "-1", "k1"},
    {"EVAL", "s", "two", "k1", "k2"},
    {"ZUNIONSTORE", "dest", "2", "a"},
    {"MIGRATE", "h", "1", "k", "0", "5000", "KEYS", "a"},
    {"XREAD", "STREAMS", "s"},
    {"GET"},
    {"OBJECT", "ENCODING"},
};

TEST_F(RedisCommandServer, KeyPositionsAreTheKeysCommandGetkeysNames) {
  RespClient redis = client();
  for (const std::vector<std::string>& request : kRequests) {
    const std::vector<std::string_view> args(request.begin(), request.end());
    std::string shown;
    for (std::string_view arg : args) shown += " " + std::string(arg);

    const CommandInfo* command = CommandTable::builtin().find(args);
    ASSERT_NE(command, nullptr) << shown;
    std::vector<std::size_t> positions;
    const KeyScan scan = key_positions(*command, args, positions);
    std::vector<std::string> ours;
    for (std::size_t position : positions) ours.emplace_back(args.at(position));

    std::vector<std::string_view> getkeys = {"COMMAND", "GETKEYS"};
    getkeys.insert(getkeys.end(), args.begin(), args.end());
    const resp::Value reply = redis.command(std::span<const std::string_view>(getkeys));
    std::vector<std::string> theirs;
    for (const resp::Value& key : reply.elements) theirs.push_back(key.text);

    EXPECT_EQ(ours, theirs) << shown << " (server: " << reply.text << ")";
    // GETKEYS answers some requests the command itself refuses with an empty list: what
    // key_positions calls malformed, the server must refuse when it runs it.
    if (scan == KeyScan::kMalformed) {
      EXPECT_TRUE(redis.command(std::span<const std::string_view>(args)).is_error()) << shown;
    }
  }
}

}  // namespace
}  // namespace plexi::routing
