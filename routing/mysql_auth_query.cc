// auth_query lookups through libmariadb on a connection kept as auth_user.
#include "routing/mysql_auth_query.h"

namespace plexi::routing {
namespace {

MysqlCheckSettings check_settings(const CheckLogin& login) {
  MysqlCheckSettings settings;
  static_cast<CheckLogin&>(settings) = login;
  return settings;
}

}  // namespace

std::string bind_parameter(std::string_view query, std::string_view literal) {
  std::string out;
  char quote = 0;  // the quote character of the literal or name being read, or 0
  for (std::size_t i = 0; i < query.size(); ++i) {
    const char c = query[i];
    if (quote) {
      out.push_back(c);
      if (c == '\\' && quote != '`' && i + 1 < query.size()) {
        out.push_back(query[++i]);  // an escaped character, quotes included
      } else if (c == quote) {
        quote = 0;  // a doubled quote closes and reopens: the same text
      }
      continue;
    }
    if (c == '\'' || c == '"' || c == '`') {
      quote = c;
      out.push_back(c);
    } else if (c == '?') {
      out.append(literal);
    } else if (c == '#' || (c == '-' && query.substr(i, 3) == "-- ")) {
      // A comment to the end of the line, copied as it is.
      const auto end = query.find('\n', i);
      const auto stop = end == std::string_view::npos ? query.size() : end;
      out.append(query.substr(i, stop - i));
      i = stop - 1;
    } else if (c == '/' && query.substr(i, 2) == "/*") {
      const auto end = query.find("*/", i + 2);
      const auto stop = end == std::string_view::npos ? query.size() : end + 2;
      out.append(query.substr(i, stop - i));
      i = stop - 1;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

MysqlAuthQuery::MysqlAuthQuery(asio::any_io_executor strand, AuthQuerySettings settings)
    : CheckedAuthLookup(strand, settings, check_settings(settings.login),
                        "plexiproxy auth_query") {}

awaitable<bool> MysqlAuthQuery::attempt(CheckResult& result) {
  if (!connected()) {
    bool opened = co_await connect(result.error);
    if (!opened) co_return false;
  }
  // Escaped for the connection's character set and its NO_BACKSLASH_ESCAPES setting.
  std::string escaped(user_.size() * 2 + 1, '\0');
  escaped.resize(
      mysql_real_escape_string(connection(), escaped.data(), user_.data(), user_.size()));
  const std::string sql = bind_parameter(settings().query, "'" + escaped + "'");
  MysqlRows rows;
  unsigned code = 0;
  bool answered = co_await query(sql.c_str(), rows, code, result.error);
  if (!answered) {
    // The statement itself is in the message: it holds the user's name, never a secret.
    co_return false;
  }
  if (rows.columns.size() != 2) {
    result.error = "auth_query must return two columns (name, secret), returned " +
                   std::to_string(rows.columns.size());
    co_return false;
  }
  result.ok = true;
  answer_.found = !rows.rows.empty();
  if (answer_.found && rows.rows[0][1]) answer_.secret = *rows.rows[0][1];
  co_return true;
}

}  // namespace plexi::routing
