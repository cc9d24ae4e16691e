#include "protocol/mysql/handover_state.h"

#include "common/client_handover.h"

namespace plexi::mysql {
namespace {

constexpr std::uint32_t kVersion = 1;

}  // namespace

std::string encode_handed_session(const HandedSession& session) {
  StateWriter out;
  out.u32(kVersion);
  out.text(session.user).text(session.password).text(session.password_sha1);
  out.text(session.database).text(session.cluster).text(session.schema).text(session.program_name);
  out.u32(session.capabilities).u32(session.collation).u32(session.status_flags);
  out.u32(static_cast<std::uint32_t>(session.registry_pid));
  out.u32(static_cast<std::uint32_t>(session.registry_secret));
  out.u64(static_cast<std::uint64_t>(session.connected_at_us));
  out.pairs(session.settings);
  out.flag(session.multi_statements).u64(session.written_gtid);
  out.u32(static_cast<std::uint32_t>(session.statements.size()));
  for (const auto& statement : session.statements) {
    out.u32(statement.id).text(statement.sql).u32(statement.parameters).u32(statement.columns);
    out.text(statement.types);
  }
  out.u32(session.next_statement_id);
  out.text(session.unread);
  return out.take();
}

std::optional<HandedSession> decode_handed_session(std::string_view state) {
  StateReader in(state);
  if (in.u32() != kVersion) return std::nullopt;
  HandedSession session;
  session.user = in.text();
  session.password = in.text();
  session.password_sha1 = in.text();
  session.database = in.text();
  session.cluster = in.text();
  session.schema = in.text();
  session.program_name = in.text();
  session.capabilities = in.u32();
  std::uint32_t collation = in.u32();
  std::uint32_t status_flags = in.u32();
  if (collation > 0xff || status_flags > 0xffff) return std::nullopt;
  session.collation = static_cast<std::uint8_t>(collation);
  session.status_flags = static_cast<std::uint16_t>(status_flags);
  session.registry_pid = static_cast<std::int32_t>(in.u32());
  session.registry_secret = static_cast<std::int32_t>(in.u32());
  session.connected_at_us = static_cast<std::int64_t>(in.u64());
  session.settings = in.pairs();
  session.multi_statements = in.flag();
  session.written_gtid = in.u64();
  std::uint32_t statements = in.count(20);
  for (std::uint32_t i = 0; i < statements && in.ok(); ++i) {
    HandedSession::Statement statement;
    statement.id = in.u32();
    statement.sql = in.text();
    std::uint32_t parameters = in.u32();
    std::uint32_t columns = in.u32();
    if (parameters > 0xffff || columns > 0xffff) return std::nullopt;
    statement.parameters = static_cast<std::uint16_t>(parameters);
    statement.columns = static_cast<std::uint16_t>(columns);
    statement.types = in.text();
    session.statements.push_back(std::move(statement));
  }
  session.next_statement_id = in.u32();
  session.unread = in.text();
  if (!in.done()) return std::nullopt;
  return session;
}

}  // namespace plexi::mysql
