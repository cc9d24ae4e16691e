// The admin console front: a client of database "plexiproxy" whose simple queries are
// admin commands, answered as result sets of text columns (psql prints them as tables).
#include <spdlog/spdlog.h>

#include "daemon/admin_console.h"
#include "protocol/pg/decoder.h"
#include "protocol/pg/encoder.h"
#include "protocol/pg/session.h"

namespace plexi::pg {
namespace {

void encode_notices(ByteVector& out, const admin::Reply& reply) {
  for (const auto& notice : reply.notices) {
    ErrorFields fields;
    fields.severity = "NOTICE";
    fields.code = "00000";
    fields.message = notice;
    encode_notice_response(out, fields);
  }
}

void encode_description(ByteVector& out, const admin::Reply& reply) {
  if (!reply.table) {
    encode_no_data(out);
    return;
  }
  std::vector<FieldDescription> fields(reply.table->columns.size());
  for (std::size_t i = 0; i < fields.size(); ++i) fields[i].name = reply.table->columns[i];
  encode_row_description(out, fields);
}

// The rows and the command tag (or the error) of a reply.
void encode_result(ByteVector& out, const admin::Reply& reply) {
  if (!reply.sqlstate.empty()) {
    encode_error(out, "ERROR", reply.sqlstate, reply.message);
    return;
  }
  if (!reply.table) {
    encode_command_complete(out, reply.tag);
    return;
  }
  std::vector<std::optional<Bytes>> values;
  for (const auto& row : reply.table->rows) {
    values.clear();
    for (const auto& cell : row) {
      values.push_back(cell ? std::optional<Bytes>(as_bytes(*cell)) : std::nullopt);
    }
    encode_data_row(out, values);
  }
  encode_command_complete(out, reply.tag + " " + std::to_string(reply.table->rows.size()));
}

awaitable<admin::Reply> run_command(SessionEnvironment& env, const std::string& user,
                                    std::string_view sql) {
  admin::Reply reply;
  std::string error;
  auto command = admin::parse_command(sql, error);
  if (!command) {
    reply.sqlstate = "42601";
    reply.message = error;
  } else if (command->kind == admin::Command::Kind::kEmpty ||
             command->kind == admin::Command::Kind::kSet) {
    reply.tag = command->kind == admin::Command::Kind::kSet ? "SET" : "";
  } else if (!env.admin) {
    reply.sqlstate = "0A000";
    reply.message = "the admin console is not available";
  } else {
    env.log->info("admin {}: {}", user, sql);
    reply = co_await env.admin->execute(*command);
  }
  co_return reply;
}

}  // namespace

awaitable<void> run_admin_console(Session& s) {
  // What psql and drivers look at after logging in.
  const std::pair<std::string_view, std::string_view> parameters[] = {
      {"server_version", "15.0 (plexiproxy " PLEXI_VERSION ")"},
      {"server_encoding", "UTF8"},
      {"client_encoding", "UTF8"},
      {"DateStyle", "ISO, MDY"},
      {"integer_datetimes", "on"},
      {"standard_conforming_strings", "on"},
      {"application_name", ""},
  };
  for (const auto& [name, value] : parameters) encode_parameter_status(s.output_, name, value);
  encode_backend_key_data(s.output_, 0, 0);
  encode_ready_for_query(s.output_, TxStatus::kIdle);
  s.phase_ = Phase::kIdle;
  bool sent = co_await s.flush();
  if (!sent) co_return;

  // The extended protocol as drivers use it for one statement at a time: the command runs
  // when the portal is first described or executed, and its reply is kept until Execute.
  std::string prepared;
  std::optional<admin::Reply> portal;
  bool skipping = false;  // after an error, up to Sync
  while (true) {
    Frame frame;
    bool got = co_await s.read_message(frame);
    if (!got) co_return;
    const char type = frame.type;
    ByteVector& out = s.output_;
    s.phase_ = Phase::kActive;
    bool wait_for_more = false;
    if (type == frontend::kTerminate) co_return;
    if (type == frontend::kQuery) {
      auto sql = parse_query(frame.body);
      if (!sql) {
        s.input_.consume(frame.size);
        co_await s.fatal("08P01", "invalid Query message");
        co_return;
      }
      std::string text(*sql);
      s.input_.consume(frame.size);
      admin::Reply reply = co_await run_command(s.env_, s.user_, text);
      encode_notices(out, reply);
      if (reply.sqlstate.empty() && reply.tag.empty() && !reply.table) {
        encode_empty_query_response(out);
      } else {
        if (reply.sqlstate.empty() && reply.table) encode_description(out, reply);
        encode_result(out, reply);
      }
      encode_ready_for_query(out, TxStatus::kIdle);
    } else if (type == frontend::kSync) {
      s.input_.consume(frame.size);
      skipping = false;
      portal.reset();
      encode_ready_for_query(out, TxStatus::kIdle);
    } else if (skipping) {
      s.input_.consume(frame.size);
      wait_for_more = true;
    } else if (type == frontend::kParse) {
      auto parse = parse_parse(frame.body);
      if (parse) prepared = std::string(parse->query);
      s.input_.consume(frame.size);
      if (!parse) {
        co_await s.fatal("08P01", "invalid Parse message");
        co_return;
      }
      portal.reset();
      encode_parse_complete(out);
      wait_for_more = true;
    } else if (type == frontend::kBind) {
      s.input_.consume(frame.size);
      portal.reset();
      encode_bind_complete(out);
      wait_for_more = true;
    } else if (type == frontend::kDescribe || type == frontend::kExecute) {
      auto describe = type == frontend::kDescribe ? parse_describe(frame.body) : std::nullopt;
      s.input_.consume(frame.size);
      if (describe && describe->kind == 'S') encode_parameter_description(out, {});
      if (!portal) portal = co_await run_command(s.env_, s.user_, prepared);
      encode_notices(out, *portal);
      portal->notices.clear();
      if (!portal->sqlstate.empty()) {
        encode_error(out, "ERROR", portal->sqlstate, portal->message);
        skipping = true;
      } else if (type == frontend::kDescribe) {
        encode_description(out, *portal);
      } else {
        encode_result(out, *portal);
        portal->table.reset();  // executed: a second Execute returns no rows
      }
      wait_for_more = true;
    } else if (type == frontend::kClose) {
      s.input_.consume(frame.size);
      encode_close_complete(out);
      wait_for_more = true;
    } else if (type == frontend::kFlush) {
      s.input_.consume(frame.size);
    } else {
      s.input_.consume(frame.size);
      co_await s.fatal("0A000", "the admin console does not take this message");
      co_return;
    }
    if (wait_for_more && !s.input_.readable().empty()) continue;  // answer the batch at once
    s.phase_ = Phase::kIdle;
    bool flushed = co_await s.flush();
    if (!flushed) co_return;
  }
}

}  // namespace plexi::pg
