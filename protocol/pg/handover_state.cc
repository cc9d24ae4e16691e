#include "protocol/pg/handover_state.h"

#include "common/client_handover.h"

namespace plexi::pg {
namespace {

// Raised when the layout changes: a new process refuses a state it cannot read.
constexpr std::uint32_t kVersion = 1;

}  // namespace

std::string encode_handed_session(const HandedSession& session) {
  StateWriter out;
  out.u32(kVersion);
  out.text(session.user).text(session.database).text(session.cluster);
  out.text(session.client_password);
  out.flag(session.scram_keys.has_value());
  if (session.scram_keys) {
    const auto& keys = *session.scram_keys;
    out.text({reinterpret_cast<const char*>(keys.client_key.data()), keys.client_key.size()});
    out.text({reinterpret_cast<const char*>(keys.server_key.data()), keys.server_key.size()});
  }
  out.pairs(session.startup_settings);
  out.u32(static_cast<std::uint32_t>(session.cancel_pid));
  out.u32(static_cast<std::uint32_t>(session.cancel_secret));
  out.u64(static_cast<std::uint64_t>(session.connected_at_us));
  out.pairs(session.settings);
  out.u32(static_cast<std::uint32_t>(session.role_override + 1));
  out.u64(session.written_lsn);
  out.u32(static_cast<std::uint32_t>(session.statements.size()));
  for (const auto& statement : session.statements) {
    out.text(statement.name).text(statement.proxy_name).text(statement.query);
    out.u32(static_cast<std::uint32_t>(statement.types.size()));
    for (auto type : statement.types) out.u32(type);
    out.u32(static_cast<std::uint32_t>(statement.settings.size()));
    for (const auto& change : statement.settings) {
      out.u32(static_cast<std::uint32_t>(change.kind)).text(change.name).text(change.value);
    }
  }
  out.text(session.unread);
  return out.take();
}

std::optional<HandedSession> decode_handed_session(std::string_view state) {
  StateReader in(state);
  if (in.u32() != kVersion) return std::nullopt;
  HandedSession session;
  session.user = in.text();
  session.database = in.text();
  session.cluster = in.text();
  session.client_password = in.text();
  if (in.flag()) {
    ScramKeys keys;
    std::string client_key = in.text();
    std::string server_key = in.text();
    if (client_key.size() != keys.client_key.size() ||
        server_key.size() != keys.server_key.size()) {
      return std::nullopt;
    }
    for (std::size_t i = 0; i < client_key.size(); ++i) {
      keys.client_key[i] = static_cast<std::uint8_t>(client_key[i]);
      keys.server_key[i] = static_cast<std::uint8_t>(server_key[i]);
    }
    session.scram_keys = keys;
  }
  session.startup_settings = in.pairs();
  session.cancel_pid = static_cast<std::int32_t>(in.u32());
  session.cancel_secret = static_cast<std::int32_t>(in.u32());
  session.connected_at_us = static_cast<std::int64_t>(in.u64());
  session.settings = in.pairs();
  std::uint32_t role = in.u32();
  if (role > 4) return std::nullopt;  // none, or one of config::Role's four
  session.role_override = static_cast<int>(role) - 1;
  session.written_lsn = in.u64();
  std::uint32_t statements = in.count(20);
  for (std::uint32_t i = 0; i < statements && in.ok(); ++i) {
    HandedSession::Statement statement;
    statement.name = in.text();
    statement.proxy_name = in.text();
    statement.query = in.text();
    std::uint32_t types = in.count(4);
    for (std::uint32_t t = 0; t < types && in.ok(); ++t) statement.types.push_back(in.u32());
    std::uint32_t changes = in.count(12);
    for (std::uint32_t c = 0; c < changes && in.ok(); ++c) {
      SettingChange change;
      std::uint32_t kind = in.u32();
      if (kind > static_cast<std::uint32_t>(SettingChange::Kind::kResetAll)) return std::nullopt;
      change.kind = static_cast<SettingChange::Kind>(kind);
      change.name = in.text();
      change.value = in.text();
      statement.settings.push_back(std::move(change));
    }
    session.statements.push_back(std::move(statement));
  }
  session.unread = in.text();
  if (!in.done()) return std::nullopt;
  return session;
}

}  // namespace plexi::pg
