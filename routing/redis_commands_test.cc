// Tests for the Redis command table: lookup (any case, subcommands), the flags and relay
// classes of a sample of commands, and reading Redis 7 and Redis 6 COMMAND replies.
#include "routing/redis_commands.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace plexi::routing {
namespace {

using resp::Type;
using resp::Value;

const CommandInfo* lookup(std::initializer_list<std::string_view> args,
                          const CommandTable& table = CommandTable::builtin()) {
  return table.find(std::span<const std::string_view>(args.begin(), args.size()));
}

std::string name_of(std::initializer_list<std::string_view> args) {
  const CommandInfo* found = lookup(args);
  return found == nullptr ? "(none)" : found->name;
}

TEST(RedisCommandTable, FindsCommandsInAnyCase) {
  EXPECT_EQ(name_of({"GET", "k"}), "get");
  EXPECT_EQ(name_of({"get", "k"}), "get");
  EXPECT_EQ(name_of({"gEt", "k"}), "get");
  EXPECT_EQ(name_of({"ZUNIONSTORE"}), "zunionstore");
  EXPECT_EQ(name_of({"georadius_ro"}), "georadius_ro");
  EXPECT_EQ(name_of({"GETS"}), "(none)");
  EXPECT_EQ(name_of({"GE"}), "(none)");
  EXPECT_EQ(name_of({""}), "(none)");
  EXPECT_EQ(name_of({"get|x"}), "(none)");
  EXPECT_EQ(CommandTable::builtin().find(std::span<const std::string_view>()), nullptr);
}

TEST(RedisCommandTable, ResolvesContainersToTheirSubcommands) {
  EXPECT_EQ(name_of({"CLIENT", "SETNAME", "app"}), "client|setname");
  EXPECT_EQ(name_of({"client", "getname"}), "client|getname");
  EXPECT_EQ(name_of({"Object", "Encoding", "k"}), "object|encoding");
  EXPECT_EQ(name_of({"XINFO", "STREAM", "s"}), "xinfo|stream");
  EXPECT_EQ(name_of({"MEMORY", "usage", "k"}), "memory|usage");
  EXPECT_EQ(name_of({"config", "GET", "maxmemory"}), "config|get");
  EXPECT_EQ(name_of({"CLUSTER", "COUNT-FAILURE-REPORTS", "id"}), "cluster|count-failure-reports");
  // An unknown subcommand, or none, leaves the container: the server answers for it.
  EXPECT_EQ(name_of({"CLIENT", "FLY"}), "client");
  EXPECT_EQ(name_of({"CLIENT"}), "client");
  // A command without subcommands ignores its arguments.
  EXPECT_EQ(name_of({"GET", "setname"}), "get");

  const CommandTable& table = CommandTable::builtin();
  ASSERT_NE(table.find("client|kill"), nullptr);
  EXPECT_EQ(table.find("client|kill")->name, "client|kill");
  EXPECT_EQ(table.find("client|fly"), nullptr);
  EXPECT_EQ(table.find("CLIENT"), lookup({"client"}));
}

TEST(RedisCommandTable, BuiltinHasEveryRedis70Command) {
  const CommandTable& table = CommandTable::builtin();
  // Redis 7.0.15 counts 240 commands (COMMAND COUNT); redis_commands_server_test checks the
  // table against the installed server itself.
  EXPECT_GE(table.size(), 230u);
  std::size_t subcommands = 0;
  for (const CommandInfo& command : table.commands()) {
    EXPECT_EQ(lookup({command.name}), &command) << command.name;
    for (const CommandInfo& sub : command.subcommands) {
      const std::string_view word = std::string_view(sub.name).substr(command.name.size() + 1);
      EXPECT_EQ(lookup({command.name, word}), &sub) << sub.name;
      ++subcommands;
    }
  }
  EXPECT_GE(subcommands, 100u);
}

TEST(RedisCommandTable, CommandFlagsAsRedisReportsThem) {
  const CommandInfo* get = lookup({"get"});
  ASSERT_NE(get, nullptr);
  EXPECT_EQ(get->arity, 2);
  EXPECT_EQ(get->flags, command_flag::kReadonly | command_flag::kFast);
  EXPECT_TRUE(get->acl_categories & acl_category::kString);
  EXPECT_EQ(get->first_key, 1);
  EXPECT_EQ(get->last_key, 1);
  EXPECT_EQ(get->step, 1);
  ASSERT_EQ(get->key_specs.size(), 1u);
  EXPECT_EQ(get->key_specs[0].flags, key_flag::kRO | key_flag::kAccess);
  EXPECT_TRUE(get->is_read());

  const CommandInfo* set = lookup({"set"});
  EXPECT_TRUE(set->is_write());
  EXPECT_FALSE(set->is_read());
  EXPECT_TRUE(set->has(command_flag::kDenyOom));
  EXPECT_TRUE(set->key_specs[0].flags & key_flag::kVariableFlags);

  EXPECT_EQ(lookup({"mset"})->arity, -3);
  EXPECT_TRUE(lookup({"flushall"})->acl_categories & acl_category::kDangerous);
  EXPECT_TRUE(lookup({"shutdown"})->has(command_flag::kAdmin | command_flag::kNoScript));
  EXPECT_TRUE(lookup({"multi"})->has(command_flag::kNoScript));
  EXPECT_TRUE(lookup({"auth"})->has(command_flag::kNoAuth));
  EXPECT_TRUE(lookup({"eval"})->has(command_flag::kMovableKeys));
  EXPECT_TRUE(lookup({"script", "kill"})->has(command_flag::kAllowBusy));
  EXPECT_TRUE(lookup({"info"})->has(command_flag::kLoading | command_flag::kStale));
  EXPECT_TRUE(lookup({"watch"})->has(command_flag::kNoScript));
  EXPECT_TRUE(lookup({"blpop"})->has(command_flag::kBlocking));
  // Neither readonly nor write: not a read, though it may only read.
  EXPECT_FALSE(lookup({"eval"})->is_read());
  EXPECT_TRUE(lookup({"object", "encoding"})->is_read());
  EXPECT_TRUE(lookup({"memory", "usage"})->is_read());
}

TEST(RedisCommandTable, TipsGiveRequestAndResponsePolicies) {
  EXPECT_EQ(lookup({"dbsize"})->request_policy, RequestPolicy::kAllShards);
  EXPECT_EQ(lookup({"dbsize"})->response_policy, ResponsePolicy::kAggSum);
  EXPECT_EQ(lookup({"del"})->request_policy, RequestPolicy::kMultiShard);
  EXPECT_EQ(lookup({"del"})->response_policy, ResponsePolicy::kAggSum);
  EXPECT_EQ(lookup({"mset"})->response_policy, ResponsePolicy::kAllSucceeded);
  EXPECT_EQ(lookup({"mget"})->response_policy, ResponsePolicy::kDefault);
  EXPECT_EQ(lookup({"config", "set"})->request_policy, RequestPolicy::kAllNodes);
  EXPECT_EQ(lookup({"get"})->request_policy, RequestPolicy::kDefault);
}

std::vector<std::string> names_with(std::uint32_t trait) {
  std::vector<std::string> names;
  for (const CommandInfo& command : CommandTable::builtin().commands()) {
    if (command.is(trait)) names.push_back(command.name);
  }
  return names;
}

using Names = std::vector<std::string>;

TEST(RedisCommandTable, FanOutAndSplittableCommandsComeFromRedisTips) {
  EXPECT_EQ(names_with(relay::kFanOut),
            (Names{"dbsize", "flushall", "flushdb", "keys", "randomkey", "scan"}));
  EXPECT_EQ(names_with(relay::kSplittable),
            (Names{"del", "exists", "mget", "mset", "touch", "unlink"}));
  EXPECT_EQ(lookup({"keys"})->dispatch, Dispatch::kFanOut);
  EXPECT_EQ(lookup({"MGET"})->dispatch, Dispatch::kSplit);
  EXPECT_EQ(lookup({"msetnx"})->dispatch, Dispatch::kKeyed);
  EXPECT_EQ(lookup({"get"})->dispatch, Dispatch::kKeyed);
  EXPECT_EQ(lookup({"ping"})->dispatch, Dispatch::kKeyed);
}

TEST(RedisCommandTable, ConnectionStateAndPubSub) {
  for (std::string_view name :
       {"select",     "auth",        "hello",        "multi",        "exec",
        "discard",    "watch",       "unwatch",      "reset",        "quit",
        "readonly",   "readwrite",   "monitor",      "subscribe",    "psubscribe",
        "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe", "asking"}) {
    const CommandInfo* command = lookup({name});
    ASSERT_NE(command, nullptr) << name;
    EXPECT_TRUE(command->is(relay::kConnectionState)) << name;
    EXPECT_EQ(command->dispatch, Dispatch::kConnection) << name;
  }
  for (std::string_view sub : {"setname", "getname", "id", "info", "kill", "reply", "tracking"}) {
    EXPECT_EQ(lookup({"client", sub})->dispatch, Dispatch::kConnection) << sub;
  }
  EXPECT_EQ(names_with(relay::kTransaction),
            (Names{"discard", "exec", "multi", "unwatch", "watch"}));
  EXPECT_FALSE(lookup({"echo"})->is(relay::kConnectionState));
  EXPECT_FALSE(lookup({"ping"})->is(relay::kConnectionState));
  EXPECT_FALSE(lookup({"get"})->is(relay::kConnectionState));

  EXPECT_EQ(lookup({"publish"})->dispatch, Dispatch::kPubSub);
  EXPECT_EQ(lookup({"pubsub", "channels"})->dispatch, Dispatch::kPubSub);
  EXPECT_TRUE(lookup({"subscribe"})->is(relay::kPubSub));

  EXPECT_EQ(names_with(relay::kSubscriberContext),
            (Names{"ping", "psubscribe", "punsubscribe", "quit", "reset", "ssubscribe", "subscribe",
                   "sunsubscribe", "unsubscribe"}));
}

std::vector<std::string_view> words(std::initializer_list<std::string_view> args) { return args; }

TEST(RedisCommandTable, BlockingCommands) {
  auto blocks = [](std::initializer_list<std::string_view> args) {
    const CommandInfo* command = lookup(args);
    return command != nullptr && command->blocks(words(args));
  };
  EXPECT_TRUE(blocks({"BLPOP", "q", "0"}));
  EXPECT_TRUE(blocks({"brpoplpush", "a", "b", "1"}));
  EXPECT_TRUE(blocks({"BLMPOP", "0", "1", "q", "LEFT"}));
  EXPECT_TRUE(blocks({"bzpopmin", "z", "0"}));
  EXPECT_TRUE(blocks({"WAIT", "1", "0"}));
  EXPECT_FALSE(blocks({"LPOP", "q"}));
  EXPECT_FALSE(blocks({"GET", "k"}));

  EXPECT_FALSE(blocks({"XREAD", "STREAMS", "s", "0"}));
  EXPECT_FALSE(blocks({"XREAD", "COUNT", "5", "STREAMS", "block", "0"}));
  EXPECT_TRUE(blocks({"XREAD", "COUNT", "5", "BLOCK", "100", "STREAMS", "s", "$"}));
  EXPECT_TRUE(blocks({"xread", "block", "0", "streams", "s", "$"}));
  EXPECT_FALSE(blocks({"XREADGROUP", "GROUP", "block", "c", "STREAMS", "s", ">"}));
  EXPECT_TRUE(
      blocks({"XREADGROUP", "GROUP", "g", "c", "NOACK", "BLOCK", "0", "STREAMS", "s", ">"}));
}

// --- COMMAND replies ------------------------------------------------------------------

Value bulk(std::string text) {
  Value value;
  value.type = Type::kBulkString;
  value.text = std::move(text);
  return value;
}

Value status(std::string text) {
  Value value;
  value.type = Type::kSimpleString;
  value.text = std::move(text);
  return value;
}

Value integer(std::int64_t number) {
  Value value;
  value.type = Type::kInteger;
  value.integer = number;
  return value;
}

Value array(std::vector<Value> elements, Type type = Type::kArray) {
  Value value;
  value.type = type;
  value.elements = std::move(elements);
  return value;
}

Value statuses(std::initializer_list<const char*> texts, Type type = Type::kArray) {
  std::vector<Value> elements;
  for (const char* text : texts) elements.push_back(status(text));
  return array(std::move(elements), type);
}

// A Redis 7 key spec, as RESP2 sends it (alternating names and values).
Value keyword_spec(const char* keyword, int startfrom, int lastkey, int keystep, int limit) {
  return array(
      {bulk("flags"), statuses({"RO", "access"}), bulk("begin_search"),
       array({bulk("type"), bulk("keyword"), bulk("spec"),
              array({bulk("keyword"), bulk(keyword), bulk("startfrom"), integer(startfrom)})}),
       bulk("find_keys"),
       array({bulk("type"), bulk("range"), bulk("spec"),
              array({bulk("lastkey"), integer(lastkey), bulk("keystep"), integer(keystep),
                     bulk("limit"), integer(limit)})})});
}

Value keynum_spec(int index, int keynumidx, int firstkey) {
  return array(
      {bulk("flags"), statuses({"RW", "update"}), bulk("begin_search"),
       array({bulk("type"), bulk("index"), bulk("spec"), array({bulk("index"), integer(index)})}),
       bulk("find_keys"),
       array({bulk("type"), bulk("keynum"), bulk("spec"),
              array({bulk("keynumidx"), integer(keynumidx), bulk("firstkey"), integer(firstkey),
                     bulk("keystep"), integer(1)})})});
}

// A command a future Redis might add: a keyword spec, a keynum spec, tips, a subcommand.
Value redis7_entry() {
  Value sub =
      array({bulk("frob|now"), integer(-3), statuses({"write"}), integer(2), integer(2), integer(1),
             statuses({"@write"}), statuses({}), array({keynum_spec(2, 0, 1)}), array({})});
  return array({bulk("frob"), integer(-2), statuses({"readonly", "fast", "brand_new_flag"}),
                integer(0), integer(0), integer(0), statuses({"@read", "@fast", "@newcat"}),
                statuses({"request_policy:multi_shard", "response_policy:agg_sum"}),
                array({keyword_spec("IN", 1, -1, 1, 2)}), array({sub})});
}

TEST(RedisCommandReply, ReadsARedis7Entry) {
  const CommandTable table = CommandTable::from_command_reply(array({redis7_entry()}));
  ASSERT_EQ(table.size(), 1u);
  const CommandInfo* frob = lookup({"FROB"}, table);
  ASSERT_NE(frob, nullptr);
  EXPECT_EQ(frob->arity, -2);
  EXPECT_EQ(frob->flags, command_flag::kReadonly | command_flag::kFast);
  EXPECT_EQ(frob->acl_categories, acl_category::kRead | acl_category::kFast);
  EXPECT_EQ(frob->request_policy, RequestPolicy::kMultiShard);
  EXPECT_EQ(frob->response_policy, ResponsePolicy::kAggSum);
  EXPECT_TRUE(frob->is(relay::kSplittable));
  ASSERT_EQ(frob->key_specs.size(), 1u);
  const KeySpec& spec = frob->key_specs[0];
  EXPECT_EQ(spec.begin, KeySpec::Begin::kKeyword);
  EXPECT_EQ(spec.keyword, "IN");
  EXPECT_EQ(spec.startfrom, 1);
  EXPECT_EQ(spec.find, KeySpec::Find::kRange);
  EXPECT_EQ(spec.lastkey, -1);
  EXPECT_EQ(spec.limit, 2);
  EXPECT_EQ(spec.flags, key_flag::kRO | key_flag::kAccess);

  std::vector<std::size_t> keys;
  const std::vector<std::string_view> args = {"frob", "x", "in", "k1", "k2", "v1", "v2"};
  EXPECT_EQ(key_positions(*frob, args, keys), KeyScan::kOk);
  EXPECT_EQ(keys, (std::vector<std::size_t>{3, 4}));

  const CommandInfo* now = lookup({"frob", "NOW", "2", "a", "b"}, table);
  ASSERT_NE(now, nullptr);
  EXPECT_EQ(now->name, "frob|now");
  EXPECT_TRUE(now->is_write());
  const std::vector<std::string_view> sub_args = {"frob", "now", "2", "a", "b"};
  EXPECT_EQ(key_positions(*now, sub_args, keys), KeyScan::kOk);
  EXPECT_EQ(keys, (std::vector<std::size_t>{3, 4}));
}

TEST(RedisCommandReply, ReadsRedis3MapsAndSets) {
  Value entry = redis7_entry();
  entry.elements[2].type = Type::kSet;  // flags
  Value& spec = entry.elements[8].elements[0];
  spec.type = Type::kMap;
  spec.elements[5].elements[3].type = Type::kMap;  // find_keys' spec
  const CommandTable table = CommandTable::from_command_reply(array({entry}));
  const CommandInfo* frob = lookup({"frob"}, table);
  ASSERT_NE(frob, nullptr);
  EXPECT_TRUE(frob->has(command_flag::kFast));
  ASSERT_EQ(frob->key_specs.size(), 1u);
  EXPECT_EQ(frob->key_specs[0].limit, 2);
}

TEST(RedisCommandReply, Redis6EntriesUseTheLegacyTriple) {
  // Redis 6.2: [name, arity, flags, first, last, step, ACL categories].
  Value mget6 = array({bulk("mget"), integer(-2), statuses({"readonly", "fast"}), integer(1),
                       integer(-1), integer(1), statuses({"@read", "@string", "@fast"})});
  // A command the built-in table does not know, Redis 6.0 shape (six elements).
  Value pair6 = array(
      {bulk("pairset"), integer(-3), statuses({"write"}), integer(1), integer(-1), integer(2)});
  Value eval6 = array({bulk("eval"), integer(-3), statuses({"noscript", "movablekeys"}), integer(0),
                       integer(0), integer(0)});
  const CommandTable table = CommandTable::from_command_reply(array({mget6, pair6, eval6}));
  ASSERT_EQ(table.size(), 3u);

  std::vector<std::size_t> keys;
  const CommandInfo* pair = lookup({"PAIRSET"}, table);
  ASSERT_NE(pair, nullptr);
  EXPECT_TRUE(pair->key_specs.empty());
  const std::vector<std::string_view> pairs = {"pairset", "a", "1", "b", "2", "c", "3"};
  EXPECT_EQ(key_positions(*pair, pairs, keys), KeyScan::kOk);
  EXPECT_EQ(keys, (std::vector<std::size_t>{1, 3, 5}));
  EXPECT_EQ(key_positions(*pair, words({"pairset"}), keys), KeyScan::kMalformed);

  // What Redis 6 leaves out, the built-in table knows: MGET's tips, EVAL's keys.
  const CommandInfo* mget = lookup({"mget"}, table);
  EXPECT_EQ(mget->request_policy, RequestPolicy::kMultiShard);
  EXPECT_TRUE(mget->is(relay::kSplittable));
  EXPECT_EQ(key_positions(*mget, words({"mget", "a", "b"}), keys), KeyScan::kOk);
  EXPECT_EQ(keys, (std::vector<std::size_t>{1, 2}));
  const CommandInfo* eval = lookup({"eval"}, table);
  EXPECT_EQ(key_positions(*eval, words({"eval", "s", "2", "k1", "k2", "arg"}), keys), KeyScan::kOk);
  EXPECT_EQ(keys, (std::vector<std::size_t>{3, 4}));
  EXPECT_FALSE(eval->is(relay::kKeysIncomplete));
}

TEST(RedisCommandReply, SkipsMalformedEntries) {
  std::vector<Value> entries;
  entries.push_back(bulk("get"));                         // not an array
  entries.push_back(array({bulk("short"), integer(2)}));  // too short
  entries.push_back(array({integer(1), integer(2), statuses({}), integer(1), integer(1),
                           integer(1)}));  // name not a string
  entries.push_back(array({bulk("big"), integer(1ll << 40), statuses({}), integer(1), integer(1),
                           integer(1)}));  // arity out of range
  entries.push_back(array({bulk("noflags"), integer(2), integer(3), integer(1), integer(1),
                           integer(1)}));  // flags not a list
  entries.push_back(array(
      {bulk(""), integer(2), statuses({}), integer(1), integer(1), integer(1)}));  // empty name
  Value bad_specs = redis7_entry();
  bad_specs.elements[0] = bulk("badspecs");
  bad_specs.elements[8] = array(
      {integer(7), array({bulk("flags")}), keynum_spec(0, 0, 1)});  // specs that cannot be followed
  bad_specs.elements[9] = array({integer(1), bulk("x")});  // subcommands that are not entries
  entries.push_back(bad_specs);
  entries.push_back(redis7_entry());

  const CommandTable table = CommandTable::from_command_reply(array(std::move(entries)));
  EXPECT_EQ(table.size(), 2u);
  EXPECT_NE(lookup({"frob"}, table), nullptr);
  const CommandInfo* bad = lookup({"badspecs"}, table);
  ASSERT_NE(bad, nullptr);
  EXPECT_TRUE(bad->subcommands.empty());
  ASSERT_EQ(bad->key_specs.size(), 3u);
  for (const KeySpec& spec : bad->key_specs) EXPECT_EQ(spec.begin, KeySpec::Begin::kUnknown);
  EXPECT_TRUE(bad->is(relay::kKeysIncomplete));
  std::vector<std::size_t> keys;
  EXPECT_EQ(key_positions(*bad, words({"badspecs", "a", "b"}), keys), KeyScan::kOk);
  EXPECT_TRUE(keys.empty());

  EXPECT_EQ(CommandTable::from_command_reply(bulk("not a list")).size(), 0u);
  EXPECT_EQ(CommandTable::from_command_reply(Value{}).size(), 0u);
  EXPECT_EQ(lookup({"get"}, CommandTable::from_command_reply(Value{})), nullptr);
}

}  // namespace
}  // namespace plexi::routing
