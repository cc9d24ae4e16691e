// The result cache's keys and entries.
#include "routing/cache_entry.h"

#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace plexi::routing {
namespace {

constexpr std::string_view kEntryMagic = "PXC1";

bool starts_with_ci(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  }
  return true;
}

void append_field(std::string& out, std::string_view field) {
  const auto size = static_cast<std::uint64_t>(field.size());
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(size >> shift));
  out.append(field);
}

}  // namespace

std::optional<config::Duration> hinted_cache_ttl(const Hint& hint) {
  auto value = hint.value("cache_ttl");
  if (!value) return std::nullopt;
  if (starts_with_ci(*value, "off") && value->size() == 3) return config::Duration{0};
  return config::parse_duration(*value);
}

std::vector<std::string> hinted_invalidations(std::string_view cluster, const Hint& hint) {
  std::vector<std::string> keys;
  auto value = hint.value("invalidate");
  if (!value) return keys;
  std::string_view rest = *value;
  while (!rest.empty()) {
    std::size_t bar = rest.find('|');
    std::string_view table = rest.substr(0, bar);
    rest = bar == std::string_view::npos ? std::string_view() : rest.substr(bar + 1);
    if (table.empty()) continue;
    keys.push_back(table == "*" ? cluster_generation_key(cluster) : generation_key(cluster, table));
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

bool cacheable(const Analysis& analysis) {
  return analysis.parsed && analysis.read && !analysis.varies &&
         analysis.transaction == TransactionControl::kNone && !analysis.set_role &&
         !analysis.reset_role && analysis.tables->written.empty();
}

std::string_view cache_text(std::string_view sql) {
  // Leading space and comments: the hint lives there.
  while (true) {
    std::size_t start = sql.find_first_not_of(" \t\r\n\f\v");
    if (start == std::string_view::npos) return {};
    sql.remove_prefix(start);
    if (sql.starts_with("/*")) {
      std::size_t end = sql.find("*/", 2);
      if (end == std::string_view::npos) break;  // unterminated: the text is what it is
      sql.remove_prefix(end + 2);
    } else if (sql.starts_with("--")) {
      std::size_t end = sql.find('\n');
      if (end == std::string_view::npos) return {};
      sql.remove_prefix(end + 1);
    } else {
      break;
    }
  }
  std::size_t end = sql.find_last_not_of(" \t\r\n\f\v;");
  return end == std::string_view::npos ? std::string_view{} : sql.substr(0, end + 1);
}

bool setting_changes_results(std::string_view name) {
  static constexpr std::string_view kInert[] = {
      "application_name",     "statement_timeout",
      "lock_timeout",         "idle_in_transaction_session_timeout",
      "idle_session_timeout", "transaction_timeout",
      "client_min_messages",  "log_min_duration_statement",
      "log_statement",        "log_min_messages",
      "tcp_keepalives_idle",  "tcp_keepalives_interval",
      "tcp_keepalives_count", "tcp_user_timeout",
      "wait_timeout",         "net_read_timeout",
      "net_write_timeout",    "interactive_timeout",
  };
  for (std::string_view inert : kInert) {
    if (name.size() == inert.size() && starts_with_ci(name, inert)) return false;
  }
  return !starts_with_ci(name, "plexiproxy.");
}

CacheKey::CacheKey(std::string_view cluster, std::string_view user, std::string_view database) {
  add(cluster).add(user).add(database);
}

CacheKey& CacheKey::add(std::string_view field) {
  append_field(fields_, field);
  return *this;
}

CacheKey& CacheKey::add(Bytes field) {
  return add(std::string_view(reinterpret_cast<const char*>(field.data()), field.size()));
}

std::string CacheKey::finish() const {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(fields_.data()), fields_.size(), digest.data());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string key = "plexiproxy:result:";
  for (std::size_t i = 0; i < 16; ++i) {
    key.push_back(kHex[digest[i] >> 4]);
    key.push_back(kHex[digest[i] & 15]);
  }
  return key;
}

std::string generation_key(std::string_view cluster, std::string_view table) {
  if (auto dot = table.rfind('.'); dot != std::string_view::npos) table.remove_prefix(dot + 1);
  std::string key = "plexiproxy:gen:";
  key.append(cluster).push_back(':');
  for (char c : table) {
    if (c == '"' || c == '`') continue;
    key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return key;
}

std::string cluster_generation_key(std::string_view cluster) {
  std::string key = "plexiproxy:gen:";
  key.append(cluster);
  return key;
}

std::vector<std::string> generation_keys(std::string_view cluster,
                                         const std::vector<std::string>& tables) {
  std::vector<std::string> keys;
  keys.reserve(tables.size());
  for (const auto& table : tables) keys.push_back(generation_key(cluster, table));
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

std::string encode_entry(std::span<const std::int64_t> generations, Bytes answer) {
  std::string entry(kEntryMagic);
  const auto count = static_cast<std::uint16_t>(generations.size());
  entry.push_back(static_cast<char>(count >> 8));
  entry.push_back(static_cast<char>(count & 0xff));
  for (std::int64_t generation : generations) {
    const auto value = static_cast<std::uint64_t>(generation);
    for (int shift = 56; shift >= 0; shift -= 8) entry.push_back(static_cast<char>(value >> shift));
  }
  entry.append(reinterpret_cast<const char*>(answer.data()), answer.size());
  return entry;
}

std::optional<Bytes> entry_answer(std::string_view entry, std::span<const std::int64_t> current) {
  if (!entry.starts_with(kEntryMagic) || entry.size() < kEntryMagic.size() + 2) return std::nullopt;
  const auto* bytes = reinterpret_cast<const unsigned char*>(entry.data());
  std::size_t at = kEntryMagic.size();
  const std::size_t count = static_cast<std::size_t>(bytes[at] << 8 | bytes[at + 1]);
  at += 2;
  if (count != current.size() || entry.size() - at < count * 8) return std::nullopt;
  for (std::size_t i = 0; i < count; ++i) {
    std::uint64_t value = 0;
    for (int b = 0; b < 8; ++b) value = value << 8 | bytes[at + b];
    at += 8;
    if (static_cast<std::int64_t>(value) != current[i]) return std::nullopt;
  }
  return Bytes(reinterpret_cast<const std::byte*>(entry.data() + at), entry.size() - at);
}

}  // namespace plexi::routing
