#include "protocol/resp/handover_state.h"

#include "common/client_handover.h"

namespace plexi::resp {
namespace {

constexpr std::uint32_t kVersion = 1;
constexpr int kLastAccessMethod = 5;  // config::AccessMethod has six

}  // namespace

std::string encode_handed_session(const HandedSession& session) {
  StateWriter out;
  out.u32(kVersion).text(session.cluster).text(session.user).flag(session.authenticated);
  out.u32(static_cast<std::uint32_t>(session.access_method + 1));
  out.u32(static_cast<std::uint32_t>(session.protocol));
  out.u32(static_cast<std::uint32_t>(session.database));
  out.text(session.client_name);
  out.u64(static_cast<std::uint64_t>(session.connected_at_us));
  out.text(session.unread);
  return out.take();
}

std::optional<HandedSession> decode_handed_session(std::string_view state) {
  StateReader in(state);
  if (in.u32() != kVersion) return std::nullopt;
  HandedSession session;
  session.cluster = in.text();
  session.user = in.text();
  session.authenticated = in.flag();
  session.access_method = static_cast<int>(in.u32()) - 1;
  std::uint32_t protocol = in.u32();
  std::uint32_t database = in.u32();
  session.client_name = in.text();
  session.connected_at_us = static_cast<std::int64_t>(in.u64());
  session.unread = in.text();
  if (!in.done() || (protocol != 2 && protocol != 3) || database > 1u << 20 ||
      session.access_method < -1 || session.access_method > kLastAccessMethod) {
    return std::nullopt;
  }
  session.protocol = static_cast<int>(protocol);
  session.database = static_cast<int>(database);
  return session;
}

}  // namespace plexi::resp
