// Walks libpg_query's JSON parse tree statement by statement. Subtrees are ranges of the
// node array, so "anywhere below" is a loop over a range, never a recursion.
#include "routing/statement_rules.h"

#include <algorithm>
#include <cctype>

namespace plexi::routing {
namespace {

using Kind = JsonTree::Kind;

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string decoded(std::string_view raw) {
  return raw.find('\\') == std::string_view::npos ? std::string(raw) : json_unescape(raw);
}

bool is_one_of(std::string_view key, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), key) != names.end();
}

// What one statement is; the string's Analysis is made of these.
struct Facts {
  bool read = false;
  TransactionControl transaction = TransactionControl::kNone;
  bool read_only = false;
  bool role_setting = false;      // SET/RESET plexiproxy.role
  bool reset_role = false;        // ... or RESET ALL, DISCARD ALL
  bool sets_transaction = false;  // SET TRANSACTION (may undo READ ONLY)
  bool varies = false;            // a read whose answer changes between calls
  bool changes_views = false;
  std::optional<config::Role> role;
  std::string error;
};

class StatementReader {
 public:
  StatementReader(const JsonTree& tree, const VolatileFunctions& functions)
      : tree_(tree), functions_(functions) {}

  // `node` is the statement's object, under its type's name ({"SelectStmt": {...}}).
  Facts read(std::size_t node) {
    const std::string_view type = tree_[node].key;
    Facts facts;
    facts.changes_views = is_one_of(type, {"ViewStmt", "DropStmt", "RenameStmt", "RuleStmt"});
    if (type == "SelectStmt") {
      const bool effects = has_side_effects(node);
      facts.read = !effects;
      facts.varies = varies(node);
      collect_tables(node, effects);
    } else if (type == "VariableShowStmt") {
      facts.read = true;
    } else if (type == "ExplainStmt") {
      const std::size_t inner = tree_.first_child(tree_.member(node, "query"));
      if (inner == JsonTree::npos) return facts;
      if (explain_analyzes(node)) {
        facts.read = read(inner).read;  // the statement runs
      } else {
        facts.read = true;
        collect_tables(inner, false);
      }
    } else if (type == "TransactionStmt") {
      transaction(node, facts);
    } else if (type == "VariableSetStmt") {
      setting(node, facts);
    } else if (type == "DiscardStmt") {
      facts.reset_role = text(tree_.member(node, "target")) == "DISCARD_ALL";
    } else if (type == "DropStmt") {
      dropped_tables(node);
    } else {
      collect_tables(node, true);
    }
    return facts;
  }

  TableAccess take_tables() {
    for (auto* list : {&tables_.read, &tables_.written}) {
      std::sort(list->begin(), list->end());
      list->erase(std::unique(list->begin(), list->end()), list->end());
    }
    return std::move(tables_);
  }

 private:
  std::string_view text(std::size_t index) const {
    return index != JsonTree::npos && tree_[index].kind == Kind::kString ? tree_[index].text
                                                                         : std::string_view();
  }

  // Locking clauses, SELECT INTO, data-modifying statements in WITH, volatile calls.
  bool has_side_effects(std::size_t node) const {
    for (std::size_t i = node; i < tree_[node].end; ++i) {
      const std::string_view key = tree_[i].key;
      if (is_one_of(key, {"lockingClause", "intoClause", "InsertStmt", "UpdateStmt", "DeleteStmt",
                          "MergeStmt"})) {
        return true;
      }
      if (key == "FuncCall" && volatile_call(i)) return true;
    }
    return false;
  }

  // Calls of the clock, of random numbers, of what names this connection or the server's
  // statistics, and CURRENT_DATE/TIME/TIMESTAMP, LOCALTIME/LOCALTIMESTAMP: a read making them
  // answers differently each time with nothing written, so its answer is never cached.
  bool varies(std::size_t node) const {
    static const VolatileFunctions varying({"now",
                                            "clock_timestamp",
                                            "statement_timestamp",
                                            "transaction_timestamp",
                                            "timeofday",
                                            "random",
                                            "random_normal",
                                            "setseed",
                                            "gen_random_uuid",
                                            "uuid_generate_*",
                                            "age",
                                            "pg_backend_pid",
                                            "inet_client_addr",
                                            "inet_client_port",
                                            "inet_server_addr",
                                            "inet_server_port",
                                            "pg_postmaster_start_time",
                                            "pg_conf_load_time",
                                            "txid_current*",
                                            "pg_current_xact_id*",
                                            "pg_stat_*",
                                            "pg_last_*",
                                            "pg_is_in_recovery"});
    for (std::size_t i = node; i < tree_[node].end; ++i) {
      const std::string_view key = tree_[i].key;
      if (key == "FuncCall" && called(i, varying)) return true;
      if (key == "SQLValueFunction") {
        const std::string_view op = text(tree_.member(i, "op"));
        if (op.starts_with("SVFOP_CURRENT_DATE") || op.starts_with("SVFOP_CURRENT_TIME") ||
            op.starts_with("SVFOP_LOCALTIME")) {
          return true;
        }
      }
    }
    return false;
  }

  bool volatile_call(std::size_t call) const { return called(call, functions_); }

  bool called(std::size_t call, const VolatileFunctions& functions) const {
    const std::size_t names = tree_.member(call, "funcname");
    if (names == JsonTree::npos) return false;
    std::string_view schema, name;
    for (std::size_t i = names; i < tree_[names].end; ++i) {
      if (tree_[i].key == "sval" && tree_[i].kind == Kind::kString) {
        schema = name;
        name = tree_[i].text;
      }
    }
    if (name.find('\\') != std::string_view::npos || schema.find('\\') != std::string_view::npos) {
      return functions.matches(decoded(schema), decoded(name));
    }
    return functions.matches(schema, name);
  }

  bool explain_analyzes(std::size_t node) const {
    const std::size_t options = tree_.member(node, "options");
    if (options == JsonTree::npos) return false;
    for (std::size_t i = options; i < tree_[options].end; ++i) {
      // ANALYZE with any argument counts: `ANALYZE 'off'` and `ANALYZE 'on'` share a shape.
      if (tree_[i].key == "defname" && equal_ignoring_case(text(i), "analyze")) return true;
    }
    return false;
  }

  void transaction(std::size_t node, Facts& facts) const {
    const std::string_view kind = text(tree_.member(node, "kind"));
    if (kind == "TRANS_STMT_BEGIN" || kind == "TRANS_STMT_START") {
      facts.transaction = TransactionControl::kBegin;
      facts.read_only = read_only_option(node);
      facts.read = facts.read_only;
    } else if (kind == "TRANS_STMT_COMMIT" || kind == "TRANS_STMT_PREPARE") {
      facts.transaction = TransactionControl::kCommit;
    } else if (kind == "TRANS_STMT_ROLLBACK") {
      facts.transaction = TransactionControl::kRollback;
    }
  }

  // READ ONLY arrives as transaction_read_only with the integer 1 (READ WRITE: 0, omitted).
  bool read_only_option(std::size_t node) const {
    bool read_only = false;
    const std::size_t options = tree_.member(node, "options");
    for (std::size_t option = tree_.first_child(options); option != JsonTree::npos;
         option = tree_.next_sibling(option)) {
      const std::size_t def = tree_.member(option, "DefElem");
      if (text(tree_.member(def, "defname")) != "transaction_read_only") continue;
      read_only = false;
      for (std::size_t i = def; i < tree_[def].end; ++i) {
        if (tree_[i].key == "ival" && tree_[i].kind == Kind::kNumber)
          read_only = tree_[i].text != "0";
      }
    }
    return read_only;
  }

  void setting(std::size_t node, Facts& facts) const {
    const std::string_view kind = text(tree_.member(node, "kind"));
    const std::string_view name = text(tree_.member(node, "name"));
    if (kind == "VAR_RESET_ALL") {
      facts.reset_role = true;
      return;
    }
    facts.sets_transaction = equal_ignoring_case(name, "transaction");
    if (name != "plexiproxy.role") return;
    facts.role_setting = true;
    facts.read = true;  // answered by the proxy; harmless on any server
    if (kind == "VAR_SET_DEFAULT" || kind == "VAR_RESET") {
      facts.reset_role = true;
      return;
    }
    std::string_view value;
    if (kind == "VAR_SET_VALUE") {
      const std::size_t args = tree_.member(node, "args");
      for (std::size_t i = args; args != JsonTree::npos && i < tree_[args].end; ++i) {
        if (tree_[i].key == "sval" && tree_[i].kind == Kind::kString) {
          value = tree_[i].text;
          break;
        }
      }
    }
    if (equal_ignoring_case(value, "primary")) {
      facts.role = config::Role::kPrimary;
    } else if (equal_ignoring_case(value, "replica")) {
      facts.role = config::Role::kReplica;
    } else if (equal_ignoring_case(value, "analytics")) {
      facts.role = config::Role::kAnalytics;
    } else {
      facts.error = "plexiproxy.role must be primary, replica or analytics";
      if (!value.empty()) facts.error += ", not '" + decoded(value) + "'";
    }
  }

  // RangeVars (objects with a relname) below `node`. In a write, the target of a statement
  // (relation, rel, view, sequence, TRUNCATE's list) is written; COPY ... TO reads it.
  void collect_tables(std::size_t node, bool write) {
    std::vector<std::string_view> ctes;
    for (std::size_t i = node; i < tree_[node].end; ++i) {
      if (tree_[i].key == "ctename" && tree_[i].kind == Kind::kString)
        ctes.push_back(tree_[i].text);
    }
    for (std::size_t i = node; i < tree_[node].end; ++i) {
      if (tree_[i].kind != Kind::kObject) continue;
      const std::string_view relname = text(tree_.member(i, "relname"));
      if (relname.empty()) continue;
      const std::string_view schema = text(tree_.member(i, "schemaname"));
      if (schema.empty() && std::find(ctes.begin(), ctes.end(), relname) != ctes.end()) continue;
      std::string name =
          schema.empty() ? decoded(relname) : decoded(schema) + "." + decoded(relname);
      (write && target(i) ? tables_.written : tables_.read).push_back(std::move(name));
    }
  }

  bool target(std::size_t range_var) const {
    const JsonTree::Node& node = tree_[range_var];
    const JsonTree::Node& parent = tree_[node.parent];
    if (is_one_of(node.key, {"relation", "rel", "view", "sequence", "typevar"})) {
      if (parent.key == "CopyStmt") {
        const std::size_t from = tree_.member(node.parent, "is_from");
        return from != JsonTree::npos && tree_[from].text == "true";
      }
      return parent.key != "VacuumRelation";
    }
    // TRUNCATE's list: {"relations": [{"RangeVar": {...}}]}.
    const JsonTree::Node& list = tree_[parent.parent];
    return node.key == "RangeVar" && list.key == "relations" &&
           tree_[list.parent].key == "TruncateStmt";
  }

  void dropped_tables(std::size_t node) {
    const std::string_view type = text(tree_.member(node, "removeType"));
    if (!is_one_of(type, {"OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW", "OBJECT_FOREIGN_TABLE",
                          "OBJECT_SEQUENCE"})) {
      return;
    }
    const std::size_t objects = tree_.member(node, "objects");
    for (std::size_t object = tree_.first_child(objects); object != JsonTree::npos;
         object = tree_.next_sibling(object)) {
      std::string_view parts[2];  // [catalog.]schema.table: the last two
      for (std::size_t i = object; i < tree_[object].end; ++i) {
        if (tree_[i].key == "sval" && tree_[i].kind == Kind::kString) {
          parts[0] = parts[1];
          parts[1] = tree_[i].text;
        }
      }
      if (parts[1].empty()) continue;
      tables_.written.push_back(parts[0].empty() ? decoded(parts[1])
                                                 : decoded(parts[0]) + "." + decoded(parts[1]));
    }
  }

  const JsonTree& tree_;
  const VolatileFunctions& functions_;
  TableAccess tables_;
};

}  // namespace

std::string_view to_string(TransactionControl value) {
  switch (value) {
    case TransactionControl::kNone:
      return "none";
    case TransactionControl::kBegin:
      return "begin";
    case TransactionControl::kCommit:
      return "commit";
    case TransactionControl::kRollback:
      return "rollback";
  }
  return "unknown";
}

std::shared_ptr<const TableAccess> no_tables() {
  static const auto empty = std::make_shared<const TableAccess>();
  return empty;
}

Analysis unparsed(std::string reason, bool cacheable) {
  Analysis analysis;
  analysis.parse_error = std::move(reason);
  analysis.cacheable = cacheable;
  return analysis;
}

Analysis analyze_parse_tree(const JsonTree& tree, const VolatileFunctions& functions) {
  if (tree.size() == 0) return unparsed("the parser's output is not JSON");
  Analysis analysis;
  analysis.parsed = true;
  analysis.read = true;
  StatementReader reader(tree, functions);
  bool read_only_transaction = false;  // opened by an earlier statement of this string
  const std::size_t statements = tree.member(0, "stmts");
  for (std::size_t raw = tree.first_child(statements); raw != JsonTree::npos;
       raw = tree.next_sibling(raw)) {
    const std::size_t statement = tree.first_child(tree.member(raw, "stmt"));
    if (statement == JsonTree::npos) continue;
    Facts facts = reader.read(statement);
    bool read = facts.read;
    if (facts.transaction == TransactionControl::kBegin) {
      read_only_transaction = facts.read_only;
    } else if (read_only_transaction && facts.sets_transaction) {
      read_only_transaction = false;  // SET TRANSACTION READ WRITE before the first query
      analysis.read_only = false;
    } else if (read_only_transaction) {
      read = true;  // the server refuses writes in it, wherever it runs
      if (facts.transaction != TransactionControl::kNone) read_only_transaction = false;
    }
    analysis.read = analysis.read && read;
    analysis.varies = analysis.varies || facts.varies;
    analysis.changes_views = analysis.changes_views || facts.changes_views;
    if (facts.transaction != TransactionControl::kNone) {
      analysis.transaction = facts.transaction;
      analysis.read_only = facts.read_only;
    }
    if (facts.role_setting) analysis.cacheable = false;
    if (facts.role) {
      analysis.set_role = facts.role;
      analysis.reset_role = false;
    } else if (facts.reset_role) {
      analysis.set_role.reset();
      analysis.reset_role = true;
    }
    if (!facts.error.empty()) analysis.setting_error = std::move(facts.error);
  }
  TableAccess tables = reader.take_tables();
  if (!tables.read.empty() || !tables.written.empty()) {
    analysis.tables = std::make_shared<const TableAccess>(std::move(tables));
  }
  return analysis;
}

}  // namespace plexi::routing
