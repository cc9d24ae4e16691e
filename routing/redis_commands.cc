// The Redis command table: the built-in table read from its generated rows, what a relay
// must know of each command, and lookup by name without allocating.
#include "routing/redis_commands.h"

#include <algorithm>
#include <array>
#include <bit>
#include <utility>

#include "routing/redis_commands_data.h"
#include "routing/redis_commands_names.h"

namespace plexi::routing {
namespace {

using redis_names::equals_folded;
using redis_names::fold;

// Commands whose effect stays with the client's connection, which no COMMAND field tells
// apart (the @connection category also holds ECHO, PING and COMMAND). The @transaction
// commands join them through their category. Every CLIENT subcommand counts: even the
// read-only ones (ID, GETNAME, INFO) describe the server connection, not the client's.
constexpr auto kConnectionCommands =
    std::to_array<std::string_view>({"auth", "hello", "select", "reset", "quit", "client", "asking",
                                     "readonly", "readwrite", "monitor", "subscribe", "psubscribe",
                                     "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe"});

// What Redis accepts from a RESP2 connection in subscribed mode.
constexpr auto kSubscriberCommands =
    std::to_array<std::string_view>({"subscribe", "psubscribe", "ssubscribe", "unsubscribe",
                                     "punsubscribe", "sunsubscribe", "ping", "quit", "reset"});

// Blocking without Redis' blocking flag: WAIT (and WAITAOF, from Redis 7.2) wait for
// replicas to acknowledge.
constexpr auto kWaitCommands = std::to_array<std::string_view>({"wait", "waitaof"});

// Flagged blocking, but block only when given BLOCK.
constexpr auto kBlockOptionCommands = std::to_array<std::string_view>({"xread", "xreadgroup"});

// Tipped multi_shard, but all or nothing: per-server parts could not agree on the answer.
constexpr std::string_view kAllOrNothingMultiKey = "msetnx";

// Commands whose incomplete key specs key_positions completes (see redis_commands_keys.cc).
constexpr std::string_view kMigrate = "migrate";

template <std::size_t N>
bool listed(const std::array<std::string_view, N>& list, std::string_view name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

bool specs_incomplete(const CommandInfo& command) {
  if (command.key_specs.empty()) return command.has(command_flag::kMovableKeys);
  if (command.name == kMigrate) return false;
  return std::any_of(command.key_specs.begin(), command.key_specs.end(), [](const KeySpec& s) {
    return s.begin == KeySpec::Begin::kUnknown || s.find == KeySpec::Find::kUnknown ||
           (s.flags & key_flag::kIncomplete) != 0;
  });
}

// `family`: the name the lists above know the command by (a subcommand's container).
void classify(CommandInfo& command, std::string_view family) {
  std::uint32_t traits = 0;
  if (listed(kConnectionCommands, family)) traits |= relay::kConnectionState;
  if (command.acl_categories & acl_category::kTransaction) {
    traits |= relay::kTransaction | relay::kConnectionState;
  }
  if (command.has(command_flag::kPubSub)) traits |= relay::kPubSub;
  if (listed(kSubscriberCommands, family)) traits |= relay::kSubscriberContext;
  if (command.has(command_flag::kBlocking) || listed(kWaitCommands, family)) {
    traits |= relay::kBlocking;
  }
  if (listed(kBlockOptionCommands, family)) traits |= relay::kBlockingOption;
  const bool keyless = command.key_specs.empty() && command.first_key == 0;
  if (keyless && (command.acl_categories & acl_category::kKeyspace) &&
      (command.request_policy == RequestPolicy::kAllShards ||
       command.request_policy == RequestPolicy::kSpecial)) {
    traits |= relay::kFanOut;
  }
  if (command.request_policy == RequestPolicy::kMultiShard &&
      command.name != kAllOrNothingMultiKey) {
    traits |= relay::kSplittable;
  }
  if (specs_incomplete(command)) traits |= relay::kKeysIncomplete;
  command.traits = traits;

  if (traits & relay::kConnectionState) {
    command.dispatch = Dispatch::kConnection;
  } else if (traits & relay::kPubSub) {
    command.dispatch = Dispatch::kPubSub;
  } else if (traits & relay::kFanOut) {
    command.dispatch = Dispatch::kFanOut;
  } else if (traits & relay::kSplittable) {
    command.dispatch = Dispatch::kSplit;
  } else {
    command.dispatch = Dispatch::kKeyed;
  }
  for (CommandInfo& sub : command.subcommands) classify(sub, family);
}

void lower_case(std::string& name) {
  for (char& c : name) c = fold(c);
}

constexpr std::uint64_t kSeed = 0xcbf29ce484222325ull;  // FNV-1a's, over folded bytes
constexpr std::uint64_t kPrime = 0x100000001b3ull;

std::uint64_t folded_hash(std::string_view word, std::uint64_t seed) {
  std::uint64_t hash = seed;
  for (char c : word) {
    hash ^= static_cast<unsigned char>(fold(c));
    hash *= kPrime;
  }
  return hash;
}

// The part of a subcommand's name after its container's: "setname" of "client|setname".
std::string_view own_word(const CommandInfo& command) {
  std::string_view name = command.name;
  const std::size_t bar = name.find('|');
  return bar == std::string_view::npos ? name : name.substr(bar + 1);
}

// --- the built-in table ---------------------------------------------------------------

template <typename Apply>
void each_word(std::string_view words, Apply apply) {
  while (!words.empty()) {
    const std::size_t space = words.find(' ');
    const std::string_view word = words.substr(0, space);
    if (!word.empty()) apply(word);
    words = space == std::string_view::npos ? std::string_view() : words.substr(space + 1);
  }
}

KeySpec spec_from_row(const builtin_commands::SpecRow& row) {
  KeySpec spec;
  each_word(row.flags, [&](std::string_view flag) { spec.flags |= redis_names::key_flag(flag); });
  spec.begin = redis_names::begin_search(row.begin);
  if (spec.begin == KeySpec::Begin::kIndex) {
    spec.index = row.begin_value;
  } else if (spec.begin == KeySpec::Begin::kKeyword) {
    spec.startfrom = row.begin_value;
    spec.keyword = row.keyword;
  }
  spec.find = redis_names::find_keys(row.find);
  if (spec.find == KeySpec::Find::kRange) {
    spec.lastkey = row.find_values[0];
    spec.keystep = row.find_values[1];
    spec.limit = row.find_values[2];
  } else if (spec.find == KeySpec::Find::kKeynum) {
    spec.keynumidx = row.find_values[0];
    spec.firstkey = row.find_values[1];
    spec.keystep = row.find_values[2];
  }
  return spec;
}

CommandInfo command_from_row(const builtin_commands::CommandRow& row) {
  CommandInfo command;
  command.name = row.name;
  command.arity = row.arity;
  each_word(row.flags,
            [&](std::string_view flag) { command.flags |= redis_names::command_flag(flag); });
  command.first_key = row.first_key;
  command.last_key = row.last_key;
  command.step = row.step;
  each_word(row.acl_categories, [&](std::string_view category) {
    command.acl_categories |= redis_names::acl_category(category);
  });
  each_word(row.tips, [&](std::string_view tip) { redis_names::apply_tip(tip, command); });
  for (const auto& spec : builtin_commands::kSpecs.subspan(row.spec_begin, row.spec_count)) {
    command.key_specs.push_back(spec_from_row(spec));
  }
  return command;
}

CommandTable make_builtin() {
  std::vector<CommandInfo> commands;
  const auto rows = builtin_commands::kCommands;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    CommandInfo command = command_from_row(rows[i]);
    const std::size_t subcommands = rows[i].subcommands;
    for (std::size_t sub = 0; sub < subcommands && i + 1 < rows.size(); ++sub) {
      command.subcommands.push_back(command_from_row(rows[++i]));
    }
    commands.push_back(std::move(command));
  }
  return CommandTable(std::move(commands));
}

}  // namespace

const CommandTable& CommandTable::builtin() {
  static const CommandTable table = make_builtin();
  return table;
}

CommandTable::CommandTable(std::vector<CommandInfo> commands) : commands_(std::move(commands)) {
  std::size_t entries = 0;
  for (CommandInfo& command : commands_) {
    lower_case(command.name);
    for (CommandInfo& sub : command.subcommands) lower_case(sub.name);
    classify(command, command.name);
    entries += 1 + command.subcommands.size();
  }
  slots_.resize(std::max<std::size_t>(16, std::bit_ceil(entries * 2)));
  for (const CommandInfo& command : commands_) {
    index(nullptr, command, kSeed);
    const std::uint64_t container = folded_hash(command.name, kSeed);
    for (const CommandInfo& sub : command.subcommands) index(&command, sub, container);
  }
}

void CommandTable::index(const CommandInfo* parent, const CommandInfo& info, std::uint64_t seed) {
  const std::string_view word = parent == nullptr ? std::string_view(info.name) : own_word(info);
  const std::uint64_t hash = folded_hash(word, seed);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    Slot& slot = slots_[i];
    if (slot.info == nullptr) {
      slot = Slot{hash, parent, &info, word};
      return;
    }
    // A name a reply lists twice keeps its first entry.
    if (slot.hash == hash && slot.parent == parent && slot.word == word) return;
  }
}

const CommandInfo* CommandTable::probe(std::string_view word, const CommandInfo* parent,
                                       std::uint64_t seed) const {
  const std::uint64_t hash = folded_hash(word, seed);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.info == nullptr) return nullptr;
    if (slot.hash == hash && slot.parent == parent && equals_folded(word, slot.word)) {
      return slot.info;
    }
  }
}

const CommandInfo* CommandTable::find(std::span<const std::string_view> args) const {
  if (args.empty()) return nullptr;
  const CommandInfo* command = probe(args[0], nullptr, kSeed);
  if (command == nullptr || command->subcommands.empty() || args.size() < 2) return command;
  const CommandInfo* sub = probe(args[1], command, folded_hash(args[0], kSeed));
  return sub != nullptr ? sub : command;
}

const CommandInfo* CommandTable::find(std::string_view name) const {
  const std::size_t bar = name.find('|');
  if (bar == std::string_view::npos) return probe(name, nullptr, kSeed);
  const std::string_view family = name.substr(0, bar);
  const CommandInfo* container = probe(family, nullptr, kSeed);
  if (container == nullptr) return nullptr;
  return probe(name.substr(bar + 1), container, folded_hash(family, kSeed));
}

bool CommandInfo::blocks(std::span<const std::string_view> args) const {
  if (!is(relay::kBlocking)) return false;
  if (!is(relay::kBlockingOption)) return true;
  // XREAD [COUNT n] [BLOCK ms] STREAMS ...; XREADGROUP GROUP g c [COUNT n] [BLOCK ms]
  // [NOACK] STREAMS ...: options are read in turn, so that a group named "block" is not
  // taken for the option.
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (equals_folded(args[i], "block")) return true;
    if (equals_folded(args[i], "count")) {
      ++i;
    } else if (equals_folded(args[i], "group")) {
      i += 2;
    } else if (!equals_folded(args[i], "noack")) {
      return false;  // STREAMS, or an error the server will report
    }
  }
  return false;
}

}  // namespace plexi::routing
