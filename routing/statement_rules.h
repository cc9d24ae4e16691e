// The read/write rules applied to PostgreSQL's parse tree of a statement string (as
// libpg_query's JSON), and what they find: reads, transaction control, proxy settings and
// the tables read and written.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "routing/json_tree.h"
#include "routing/volatile_functions.h"

namespace plexi::routing {

enum class TransactionControl {
  kNone,
  kBegin,     // BEGIN, START TRANSACTION
  kCommit,    // COMMIT, END, PREPARE TRANSACTION (the session's transaction is over)
  kRollback,  // ROLLBACK, ABORT
};

std::string_view to_string(TransactionControl value);

// Tables as written in the statement, "schema.table" when the schema is given; sorted,
// without repeats. Common table expressions are not tables.
struct TableAccess {
  std::vector<std::string> read;
  std::vector<std::string> written;  // also created, altered, dropped, truncated
};

// One shared empty TableAccess, so that an Analysis costs no allocation until it has tables.
std::shared_ptr<const TableAccess> no_tables();

// The classifier's findings for one statement string. Statements with the same shape have
// the same analysis, except where `cacheable` is false.
struct Analysis {
  // False: libpg_query could not parse it (or it was not tried); it is then a write.
  bool parsed = false;
  // True when every statement is a read: SELECT (also set operations, VALUES, TABLE)
  // without locking clauses, SELECT INTO, data-modifying WITH or calls of volatile
  // functions; SHOW; EXPLAIN without ANALYZE, or with ANALYZE of a read; a BEGIN or START
  // TRANSACTION that is READ ONLY and what follows it in the same string up to its end;
  // SET/RESET plexiproxy.role. True for an empty string.
  bool read = false;
  // A read whose answer changes between calls with nothing written: it calls the clock
  // (now(), CURRENT_TIMESTAMP, ...), random(), gen_random_uuid(), or reads what names the
  // connection or the server's statistics. Such reads may go to replicas but are never
  // answered from the result cache.
  bool varies = false;
  // A statement that can change which tables a view reads, or which views there are (see
  // routing/view_catalog.h): CREATE [OR REPLACE] VIEW, DROP of anything, a rename, a rule.
  bool changes_views = false;
  // The last transaction control statement of the string.
  TransactionControl transaction = TransactionControl::kNone;
  bool read_only = false;  // kBegin: READ ONLY was asked for
  // SET plexiproxy.role = 'primary' | 'replica' | 'analytics' (the last such statement);
  // reset_role for RESET plexiproxy.role, SET plexiproxy.role TO DEFAULT, RESET ALL and
  // DISCARD ALL. The relay keeps these settings itself.
  std::optional<config::Role> set_role;
  bool reset_role = false;
  std::string setting_error;  // SET plexiproxy.role to anything else: why it is refused
  std::string parse_error;    // !parsed: the parser's message
  std::shared_ptr<const TableAccess> tables = no_tables();  // never null
  // False when the verdict depends on literals the shape hides (SET plexiproxy.role = '...')
  // or on the text's length: the classifier then does not cache it.
  bool cacheable = true;
};

// Applies the rules to libpg_query's JSON parse tree (pg_query_parse's parse_tree).
Analysis analyze_parse_tree(const JsonTree& tree, const VolatileFunctions& functions);

// The analysis of a statement that was not parsed.
Analysis unparsed(std::string reason, bool cacheable = true);

}  // namespace plexi::routing
