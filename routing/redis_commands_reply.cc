// Reads a server's COMMAND reply (RESP2 or RESP3, Redis 6 or 7) into a command table,
// skipping whatever does not have the shape Redis gives it.
#include <climits>
#include <optional>
#include <utility>

#include "routing/redis_commands.h"
#include "routing/redis_commands_names.h"

namespace plexi::routing {
namespace {

using resp::Type;
using resp::Value;

// A key spec's fields and a map's keys, as they come in either protocol: a RESP3 map, or a
// RESP2 array of alternating names and values.
const Value* field(const Value& map, std::string_view name) {
  if (map.type != Type::kMap && map.type != Type::kArray) return nullptr;
  for (std::size_t i = 0; i + 1 < map.elements.size(); i += 2) {
    if (map.elements[i].is_string() && map.elements[i].text == name) {
      return &map.elements[i + 1];
    }
  }
  return nullptr;
}

std::optional<int> small_integer(const Value* value) {
  if (value == nullptr || value->type != Type::kInteger) return std::nullopt;
  if (value->integer < INT_MIN || value->integer > INT_MAX) return std::nullopt;
  return static_cast<int>(value->integer);
}

// Calls `apply` with each string of an array or set; false when it is neither.
template <typename Apply>
bool each_string(const Value& list, Apply apply) {
  if (list.type != Type::kArray && list.type != Type::kSet) return false;
  for (const Value& item : list.elements) {
    if (item.is_string()) apply(item.text);
  }
  return true;
}

std::optional<std::string_view> type_of(const Value* search) {
  const Value* type = search == nullptr ? nullptr : field(*search, "type");
  if (type == nullptr || !type->is_string()) return std::nullopt;
  return type->text;
}

// A spec this code cannot follow stays in the list as an unknown one, so the command is
// known to have keys it cannot find.
KeySpec read_spec(const Value& map) {
  KeySpec spec;
  if (const Value* flags = field(map, "flags")) {
    each_string(*flags, [&](std::string_view flag) { spec.flags |= redis_names::key_flag(flag); });
  }
  const Value* begin = field(map, "begin_search");
  const Value* find = field(map, "find_keys");
  const auto begin_type = type_of(begin);
  const auto find_type = type_of(find);
  if (!begin_type || !find_type) return spec;
  const Value* begin_spec = field(*begin, "spec");
  const Value* find_spec = field(*find, "spec");
  if (begin_spec == nullptr || find_spec == nullptr) return spec;

  KeySpec read = spec;
  read.begin = redis_names::begin_search(*begin_type);
  if (read.begin == KeySpec::Begin::kIndex) {
    const auto index = small_integer(field(*begin_spec, "index"));
    if (!index || *index < 1) return spec;  // position 0 is the command's name
    read.index = *index;
  } else if (read.begin == KeySpec::Begin::kKeyword) {
    const Value* keyword = field(*begin_spec, "keyword");
    const auto startfrom = small_integer(field(*begin_spec, "startfrom"));
    if (keyword == nullptr || !keyword->is_string() || !startfrom) return spec;
    read.keyword = keyword->text;
    read.startfrom = *startfrom;
  }
  read.find = redis_names::find_keys(*find_type);
  if (read.find == KeySpec::Find::kRange) {
    const auto lastkey = small_integer(field(*find_spec, "lastkey"));
    const auto keystep = small_integer(field(*find_spec, "keystep"));
    const auto limit = small_integer(field(*find_spec, "limit"));
    if (!lastkey || !keystep || !limit || *keystep < 1 || *limit < 0) return spec;
    read.lastkey = *lastkey;
    read.keystep = *keystep;
    read.limit = *limit;
  } else if (read.find == KeySpec::Find::kKeynum) {
    const auto keynumidx = small_integer(field(*find_spec, "keynumidx"));
    const auto firstkey = small_integer(field(*find_spec, "firstkey"));
    const auto keystep = small_integer(field(*find_spec, "keystep"));
    if (!keynumidx || !firstkey || !keystep || *keystep < 1 || *keynumidx < 0 || *firstkey < 0) {
      return spec;
    }
    read.keynumidx = *keynumidx;
    read.firstkey = *firstkey;
    read.keystep = *keystep;
  }
  return read;
}

// Redis 6 says nothing of key specs, tips or subcommands: the built-in table's stand in.
void borrow_from_builtin(CommandInfo& command, std::size_t fields) {
  const CommandInfo* known = CommandTable::builtin().find(std::string_view(command.name));
  if (known == nullptr) return;
  command.key_specs = known->key_specs;
  if (fields < 8) {
    command.request_policy = known->request_policy;
    command.response_policy = known->response_policy;
  }
  if (command.subcommands.empty()) command.subcommands = known->subcommands;
}

std::optional<CommandInfo> read_entry(const Value& entry, bool top_level) {
  if (entry.type != Type::kArray || entry.elements.size() < 6) return std::nullopt;
  const auto& fields = entry.elements;
  const auto arity = small_integer(&fields[1]);
  const auto first_key = small_integer(&fields[3]);
  const auto last_key = small_integer(&fields[4]);
  const auto step = small_integer(&fields[5]);
  if (!fields[0].is_string() || fields[0].text.empty() || !arity || !first_key || !last_key ||
      !step || *first_key < 0 || *step < 0) {
    return std::nullopt;
  }
  CommandInfo command;
  command.name = fields[0].text;
  command.arity = *arity;
  command.first_key = *first_key;
  command.last_key = *last_key;
  command.step = *step;
  if (!each_string(fields[2], [&](std::string_view flag) {
        command.flags |= redis_names::command_flag(flag);
      })) {
    return std::nullopt;
  }
  if (fields.size() > 6) {
    each_string(fields[6], [&](std::string_view category) {
      command.acl_categories |= redis_names::acl_category(category);
    });
  }
  if (fields.size() > 7) {
    each_string(fields[7], [&](std::string_view tip) { redis_names::apply_tip(tip, command); });
  }
  if (fields.size() > 8 && fields[8].type == Type::kArray) {
    for (const Value& spec : fields[8].elements) command.key_specs.push_back(read_spec(spec));
  }
  if (top_level && fields.size() > 9 && fields[9].type == Type::kArray) {
    for (const Value& sub : fields[9].elements) {
      if (auto read = read_entry(sub, false)) command.subcommands.push_back(std::move(*read));
    }
  }
  if (fields.size() < 9 && top_level) borrow_from_builtin(command, fields.size());
  return command;
}

}  // namespace

CommandTable CommandTable::from_command_reply(const resp::Value& reply) {
  std::vector<CommandInfo> commands;
  if (reply.type == Type::kArray || reply.type == Type::kSet) {
    commands.reserve(reply.elements.size());
    for (const Value& entry : reply.elements) {
      if (auto command = read_entry(entry, true)) commands.push_back(std::move(*command));
    }
  }
  return CommandTable(std::move(commands));
}

}  // namespace plexi::routing
