// The admin console front: a client of database "plexiproxy" whose simple queries are
// admin commands, answered as result sets of text columns (psql prints them as tables).
#include <spdlog/spdlog.h>

#include "daemon/admin_console.h"
#include "protocol/pg/decoder.h"
#include "protocol/pg/encoder.h"
#include "protocol/pg/session.h"

namespace plexi::pg {
namespace {

void encode_reply(ByteVector& out, const admin::Reply& reply) {
  for (const auto& notice : reply.notices) {
    ErrorFields fields;
    fields.severity = "NOTICE";
    fields.code = "00000";
    fields.message = notice;
    encode_notice_response(out, fields);
  }
  if (!reply.sqlstate.empty()) {
    encode_error(out, "ERROR", reply.sqlstate, reply.message);
    return;
  }
  if (reply.table) {
    std::vector<FieldDescription> fields(reply.table->columns.size());
    for (std::size_t i = 0; i < fields.size(); ++i) fields[i].name = reply.table->columns[i];
    encode_row_description(out, fields);
    std::vector<std::optional<Bytes>> values;
    for (const auto& row : reply.table->rows) {
      values.clear();
      for (const auto& cell : row) {
        values.push_back(cell ? std::optional<Bytes>(as_bytes(*cell)) : std::nullopt);
      }
      encode_data_row(out, values);
    }
    encode_command_complete(out, reply.tag + " " + std::to_string(reply.table->rows.size()));
    return;
  }
  encode_command_complete(out, reply.tag);
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

  while (true) {
    Frame frame;
    bool got = co_await s.read_message(frame);
    if (!got) co_return;
    const std::size_t size = frame.size;
    if (frame.type == frontend::kTerminate) co_return;
    if (frame.type != frontend::kQuery) {
      s.input_.consume(size);
      co_await s.fatal("0A000", "the admin console takes simple queries only");
      co_return;
    }
    auto sql = parse_query(frame.body);
    if (!sql) {
      s.input_.consume(size);
      co_await s.fatal("08P01", "invalid Query message");
      co_return;
    }
    std::string error;
    auto command = admin::parse_command(*sql, error);
    s.input_.consume(size);
    s.phase_ = Phase::kActive;
    if (!command) {
      encode_error(s.output_, "ERROR", "42601", error);
    } else if (command->kind == admin::Command::Kind::kEmpty) {
      encode_empty_query_response(s.output_);
    } else if (command->kind == admin::Command::Kind::kSet) {
      encode_command_complete(s.output_, "SET");
    } else if (!s.env_.admin) {
      encode_error(s.output_, "ERROR", "0A000", "the admin console is not available");
    } else {
      s.env_.log->info("admin {}: {}", s.user_, *sql);
      admin::Reply reply = co_await s.env_.admin->execute(*command);
      encode_reply(s.output_, reply);
    }
    encode_ready_for_query(s.output_, TxStatus::kIdle);
    s.phase_ = Phase::kIdle;
    bool flushed = co_await s.flush();
    if (!flushed) co_return;
  }
}

}  // namespace plexi::pg
