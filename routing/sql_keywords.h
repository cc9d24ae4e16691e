// The SQL key words a statement shape writes in upper case (every other unquoted word is
// written in lower case, as PostgreSQL folds it), for PostgreSQL and for MySQL.
#pragma once

#include <string_view>

namespace plexi::routing {

// True when `word` (any case) is one of PostgreSQL's reserved words or a word that opens or
// structures common statements (BEGIN, ISOLATION, CONFLICT, ...). The list only decides how
// a shape looks; any fixed list gives stable shapes.
bool is_key_word(std::string_view word);
// The same for MySQL shapes: MySQL's reserved words and the words that open or structure
// common MySQL statements (NAMES, TABLES, XA, ...).
bool is_mysql_key_word(std::string_view word);

// True for the key words that end an operand (NULL, TRUE, END, ...): a `-` after them is a
// binary minus, not the sign of a number.
bool ends_operand(std::string_view upper_key_word);

}  // namespace plexi::routing
