// MySQL's DDL as the embedded SQLite database takes it: which statements commit implicitly,
// and the CREATE TABLE spellings SQLite lacks (AUTO_INCREMENT, table options, inline
// KEY/INDEX definitions) put in its terms. Pure text work.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace plexi::mysql::embedded {

// Statements after which MySQL commits implicitly, and before which it commits an open
// transaction: CREATE, ALTER, DROP, RENAME, TRUNCATE (not CREATE TEMPORARY TABLE).
bool commits_implicitly(std::string_view sql);

// The first statement of `sql` (up to its ';') when it is a CREATE TABLE that needs
// rewriting for SQLite, rewritten; nullopt when SQLite takes it as it is.
//  - a column with AUTO_INCREMENT gets the type INTEGER, the keyword goes: an INTEGER
//    PRIMARY KEY column takes the next rowid when none is given, as AUTO_INCREMENT does;
//  - table options after the column list (ENGINE=, [DEFAULT] CHARSET=, COLLATE=,
//    AUTO_INCREMENT=, COMMENT=, ROW_FORMAT=, ...) go;
//  - column COMMENT '...', CHARACTER SET x, COLLATE x (other than SQLite's BINARY, NOCASE,
//    RTRIM) and ON UPDATE CURRENT_TIMESTAMP go;
//  - inline KEY / INDEX / FULLTEXT definitions go (indexes only speed queries up), and
//    UNIQUE KEY name (...) becomes UNIQUE (...).
std::optional<std::string> rewrite_create_table(std::string_view sql);

}  // namespace plexi::mysql::embedded
