// auth_query's lookups on MySQL and MariaDB servers (see auth_query.h): the query run through
// libmariadb with the client's user name, escaped and quoted, in place of each `?`. Its
// default is config::AuthQuery::kMysqlQuery.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "routing/auth_query.h"
#include "routing/mysql_check.h"

namespace plexi::routing {

// `query` with `literal` in place of every `?` that stands outside quotes ('...', "...",
// `...`) and comments. The literal must already be quoted and escaped.
std::string bind_parameter(std::string_view query, std::string_view literal);

class MysqlAuthQuery : public CheckedAuthLookup<MysqlCheck> {
 public:
  MysqlAuthQuery(asio::any_io_executor strand, AuthQuerySettings settings);

 private:
  awaitable<bool> attempt(CheckResult& result) override;
};

}  // namespace plexi::routing
