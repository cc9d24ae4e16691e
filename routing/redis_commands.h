// The Redis command table: each command's arity, flags and key specifications as Redis 7
// reports them in COMMAND, how a relay must treat it, and where its keys are in a request.
// Pure: no I/O; the table of a live server is read from its COMMAND reply by the caller.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/resp/value.h"

namespace plexi::routing {

// COMMAND's command flags, one bit each (Redis 7 names in the comments).
namespace command_flag {
inline constexpr std::uint32_t kWrite = 1u << 0;             // write
inline constexpr std::uint32_t kReadonly = 1u << 1;          // readonly
inline constexpr std::uint32_t kDenyOom = 1u << 2;           // denyoom
inline constexpr std::uint32_t kModule = 1u << 3;            // module
inline constexpr std::uint32_t kAdmin = 1u << 4;             // admin
inline constexpr std::uint32_t kPubSub = 1u << 5;            // pubsub
inline constexpr std::uint32_t kNoScript = 1u << 6;          // noscript
inline constexpr std::uint32_t kBlocking = 1u << 7;          // blocking
inline constexpr std::uint32_t kLoading = 1u << 8;           // loading
inline constexpr std::uint32_t kStale = 1u << 9;             // stale
inline constexpr std::uint32_t kSkipMonitor = 1u << 10;      // skip_monitor
inline constexpr std::uint32_t kSkipSlowlog = 1u << 11;      // skip_slowlog
inline constexpr std::uint32_t kAsking = 1u << 12;           // asking
inline constexpr std::uint32_t kFast = 1u << 13;             // fast
inline constexpr std::uint32_t kNoAuth = 1u << 14;           // no_auth
inline constexpr std::uint32_t kMayReplicate = 1u << 15;     // may_replicate
inline constexpr std::uint32_t kNoMandatoryKeys = 1u << 16;  // no_mandatory_keys
inline constexpr std::uint32_t kNoAsyncLoading = 1u << 17;   // no_async_loading
inline constexpr std::uint32_t kNoMulti = 1u << 18;          // no_multi
inline constexpr std::uint32_t kMovableKeys = 1u << 19;      // movablekeys
inline constexpr std::uint32_t kAllowBusy = 1u << 20;        // allow_busy
inline constexpr std::uint32_t kModuleNoCluster = 1u << 21;  // module_no_cluster
}  // namespace command_flag

// A key spec's flags: how the command uses the keys it finds.
namespace key_flag {
inline constexpr std::uint32_t kRO = 1u << 0;              // reads the value
inline constexpr std::uint32_t kRW = 1u << 1;              // reads and writes it
inline constexpr std::uint32_t kOW = 1u << 2;              // overwrites it
inline constexpr std::uint32_t kRM = 1u << 3;              // deletes the key
inline constexpr std::uint32_t kAccess = 1u << 4;          // returns or derives from the data
inline constexpr std::uint32_t kUpdate = 1u << 5;          // changes the data
inline constexpr std::uint32_t kInsert = 1u << 6;          // only adds data
inline constexpr std::uint32_t kDelete = 1u << 7;          // only removes data
inline constexpr std::uint32_t kNotKey = 1u << 8;          // a name that is not a key
inline constexpr std::uint32_t kIncomplete = 1u << 9;      // the spec may miss keys
inline constexpr std::uint32_t kVariableFlags = 1u << 10;  // the flags depend on arguments
}  // namespace key_flag

// ACL categories (the "@read" of COMMAND's seventh element).
namespace acl_category {
inline constexpr std::uint32_t kKeyspace = 1u << 0;
inline constexpr std::uint32_t kRead = 1u << 1;
inline constexpr std::uint32_t kWrite = 1u << 2;
inline constexpr std::uint32_t kSet = 1u << 3;
inline constexpr std::uint32_t kSortedSet = 1u << 4;
inline constexpr std::uint32_t kList = 1u << 5;
inline constexpr std::uint32_t kHash = 1u << 6;
inline constexpr std::uint32_t kString = 1u << 7;
inline constexpr std::uint32_t kBitmap = 1u << 8;
inline constexpr std::uint32_t kHyperLogLog = 1u << 9;
inline constexpr std::uint32_t kGeo = 1u << 10;
inline constexpr std::uint32_t kStream = 1u << 11;
inline constexpr std::uint32_t kPubSub = 1u << 12;
inline constexpr std::uint32_t kAdmin = 1u << 13;
inline constexpr std::uint32_t kFast = 1u << 14;
inline constexpr std::uint32_t kSlow = 1u << 15;
inline constexpr std::uint32_t kBlocking = 1u << 16;
inline constexpr std::uint32_t kDangerous = 1u << 17;
inline constexpr std::uint32_t kConnection = 1u << 18;
inline constexpr std::uint32_t kTransaction = 1u << 19;
inline constexpr std::uint32_t kScripting = 1u << 20;
}  // namespace acl_category

// What a relay must know of a command beyond its keys. Derived when a table is built: from
// Redis' own flags, ACL categories and tips where they say it, from lists here where Redis
// has no data for it (connection state, XREAD's BLOCK option).
namespace relay {
// Answers or changes the state of the client's connection (AUTH, SELECT, HELLO, CLIENT ...,
// MULTI, WATCH, SUBSCRIBE, MONITOR, READONLY, RESET, QUIT): the proxy handles it itself or
// pins the client to one server connection.
inline constexpr std::uint32_t kConnectionState = 1u << 0;
inline constexpr std::uint32_t kTransaction = 1u << 1;  // the @transaction category
inline constexpr std::uint32_t kPubSub = 1u << 2;       // the pubsub flag
// Allowed while a RESP2 connection is subscribed: the (un)subscribe family, PING, QUIT,
// RESET. PING must be answered in the push format then.
inline constexpr std::uint32_t kSubscriberContext = 1u << 3;
// Keyless commands over the whole keyspace that a sharded pool sends to every server and
// whose replies it merges: @keyspace commands without keys that Redis tips as all_shards
// or special (KEYS, SCAN, DBSIZE, FLUSHDB, FLUSHALL, RANDOMKEY).
inline constexpr std::uint32_t kFanOut = 1u << 4;
// Multi-key commands a sharded pool may split into one request per server: Redis tips
// them multi_shard (MGET, MSET, DEL, EXISTS, UNLINK, TOUCH); not MSETNX, whose
// all-or-nothing answer a split cannot keep.
inline constexpr std::uint32_t kSplittable = 1u << 5;
// May hold the server connection until data arrives (the blocking flag, and WAIT).
inline constexpr std::uint32_t kBlocking = 1u << 6;
// Blocks only when given the BLOCK option (XREAD, XREADGROUP); see CommandInfo::blocks.
inline constexpr std::uint32_t kBlockingOption = 1u << 7;
// The keys key_positions finds may not be all the command touches (SORT's BY and GET
// patterns, a movablekeys command without key specs).
inline constexpr std::uint32_t kKeysIncomplete = 1u << 8;
}  // namespace relay

// What the relay does with a command, for a switch: the first that applies, in this order.
enum class Dispatch : std::uint8_t {
  kConnection,  // relay::kConnectionState
  kPubSub,      // PUBLISH, SPUBLISH, PUBSUB ...
  kFanOut,      // relay::kFanOut
  kSplit,       // relay::kSplittable
  kKeyed,       // sent where its keys hash to; any server when it has none
};

// The request_policy and response_policy tips of Redis 7 (how a cluster client spreads a
// command over shards and merges the replies); kDefault when the command has none.
enum class RequestPolicy : std::uint8_t { kDefault, kAllNodes, kAllShards, kMultiShard, kSpecial };
enum class ResponsePolicy : std::uint8_t {
  kDefault,
  kOneSucceeded,
  kAllSucceeded,
  kAggLogicalAnd,
  kAggLogicalOr,
  kAggMin,
  kAggMax,
  kAggSum,
  kSpecial,
};

// Redis 7's key specification: where a group of keys starts (begin search), then which
// arguments from there are keys (find keys). Positions count the command name as 0; a
// subcommand's count from its container's name.
struct KeySpec {
  enum class Begin : std::uint8_t { kUnknown, kIndex, kKeyword };
  enum class Find : std::uint8_t { kUnknown, kRange, kKeynum };

  std::uint32_t flags = 0;  // key_flag bits
  Begin begin = Begin::kUnknown;
  int index = 0;  // kIndex: the position the keys start at
  // kKeyword: the keys start after this argument (compared case-insensitively), searched
  // from `startfrom` towards the end, or when negative from argc + startfrom backwards.
  std::string keyword;
  int startfrom = 0;
  Find find = Find::kUnknown;
  // kRange: the last key, relative to the start; negative counts from the last argument
  // (-1: the last), and with `limit` > 1 only the first 1/limit of the rest are keys
  // (XREAD's streams before their IDs).
  int lastkey = 0;
  int limit = 0;
  // kKeynum: the argument at start + keynumidx counts the keys, the first at start +
  // firstkey (EVAL script numkeys key...).
  int keynumidx = 0;
  int firstkey = 0;
  int keystep = 1;  // both: the distance between keys (MSET: 2)
};

struct CommandInfo {
  std::string name;         // lower case; a subcommand as Redis names it: "client|setname"
  int arity = 0;            // argument count with the name; negative: at least -arity
  std::uint32_t flags = 0;  // command_flag bits
  std::uint32_t acl_categories = 0;
  // The legacy key triple, for servers without key specs (Redis 6): first and last key
  // position (last negative: from the end) and the step between keys; 0 0 0 when keyless.
  int first_key = 0;
  int last_key = 0;
  int step = 0;
  std::vector<KeySpec> key_specs;
  std::vector<CommandInfo> subcommands;
  RequestPolicy request_policy = RequestPolicy::kDefault;
  ResponsePolicy response_policy = ResponsePolicy::kDefault;
  std::uint32_t traits = 0;              // relay bits; set by CommandTable
  Dispatch dispatch = Dispatch::kKeyed;  // set by CommandTable

  bool has(std::uint32_t command_flags) const { return (flags & command_flags) != 0; }
  bool is(std::uint32_t relay_traits) const { return (traits & relay_traits) != 0; }
  // Reads only: readonly and not write. (EVAL, with neither, is not a read.)
  bool is_read() const { return has(command_flag::kReadonly) && !has(command_flag::kWrite); }
  bool is_write() const { return has(command_flag::kWrite); }
  // Whether this request may block its server connection: always for BLPOP and the like and
  // WAIT; XREAD and XREADGROUP only when BLOCK comes before STREAMS.
  bool blocks(std::span<const std::string_view> args) const;
};

class CommandTable {
 public:
  // Every command of the Redis release scripts/redis_command_table.py last read (7.0):
  // the fallback when a server's own table is not known.
  static const CommandTable& builtin();

  // The table a server describes in its COMMAND reply. Redis 7 entries are [name, arity,
  // flags, first key, last key, step, ACL categories, tips, key specs, subcommands]; Redis
  // 6 sends only the first 6 or 7, and for the commands the built-in table knows, its key
  // specs, tips and subcommands stand in for the missing ones. Entries that are not of
  // this shape are skipped; nothing in the reply can make this throw, except running out
  // of memory.
  static CommandTable from_command_reply(const resp::Value& reply);

  // Classifies every command (traits, dispatch) and indexes it by name.
  explicit CommandTable(std::vector<CommandInfo> commands);
  CommandTable(CommandTable&&) noexcept = default;
  CommandTable& operator=(CommandTable&&) noexcept = default;
  CommandTable(const CommandTable&) = delete;  // the index points into `commands_`
  CommandTable& operator=(const CommandTable&) = delete;

  // The command a request names (args[0], any case), or the container's subcommand named by
  // args[1] when there is one ("CLIENT SETNAME" → client|setname; "CLIENT FOO" → client).
  // nullptr for an unknown command. Allocates nothing.
  const CommandInfo* find(std::span<const std::string_view> args) const;
  // By the name Redis gives it: "get", or a subcommand's "client|setname" (any case).
  const CommandInfo* find(std::string_view name) const;

  std::size_t size() const { return commands_.size(); }  // like COMMAND COUNT
  std::span<const CommandInfo> commands() const { return commands_; }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    const CommandInfo* parent = nullptr;  // a subcommand's container
    const CommandInfo* info = nullptr;    // nullptr: empty slot
    std::string_view word;                // the name (a subcommand's part after '|'), lower case
  };

  void index(const CommandInfo* parent, const CommandInfo& info, std::uint64_t seed);
  const CommandInfo* probe(std::string_view word, const CommandInfo* parent,
                           std::uint64_t seed) const;

  std::vector<CommandInfo> commands_;
  std::vector<Slot> slots_;  // open addressing, a power of two at most half full
};

enum class KeyScan : std::uint8_t {
  kOk,
  // The arguments do not fit the command's key specs (a key count larger than the
  // arguments, negative, not a number; a key position past the end): `out` is empty and
  // the relay should let a server answer with its own error.
  kMalformed,
};

// The positions in `args` (args[0] the command name) of every key of the request, in the
// order of the command's key specs: EVAL s 2 k1 k2 → 3 4; MSET k1 v1 k2 v2 → 1 3; XREAD
// ... STREAMS k1 k2 id1 id2 → the two streams. Follows the key specs, or the legacy triple
// when there are none; SORT's STORE and MIGRATE's KEYS, which their specs cannot describe,
// are read the way Redis reads them. Bounds-checked against any arguments. Clears `out`
// first; allocates only when `out` must grow.
[[nodiscard]] KeyScan key_positions(const CommandInfo& command,
                                    std::span<const std::string_view> args,
                                    std::vector<std::size_t>& out);

}  // namespace plexi::routing
