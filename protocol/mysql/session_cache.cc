// The MySQL relay's side of the result cache: what is looked up and under which key, the
// cached answer sent as the server sent it, the miss's answer captured and stored, and the
// generations that writes raise.
#include "protocol/mysql/session_cache.h"

#include <spdlog/spdlog.h>

#include <map>
#include <vector>

#include "protocol/mysql/packets.h"
#include "protocol/mysql/session.h"
#include "routing/cache_admission.h"

namespace plexi::mysql {
namespace {

using Result = metrics::CacheResult;

// A cached answer checked before it reaches the client: whole packets, numbered from 1 as
// the answer to a command is, making up complete results. Its rows and the client's next
// sequence id come with it.
struct CheckedAnswer {
  std::uint64_t rows = 0;
  std::uint8_t next_sequence = 0;
};

std::optional<CheckedAnswer> check_answer(Bytes answer, std::uint32_t capabilities) {
  ResponseTracker tracker(ResponseTracker::Shape::kResultSets, capabilities);
  std::uint8_t sequence = 1;
  while (!answer.empty()) {
    auto packet = next_packet(answer);
    if (!packet || packet->sequence != sequence || tracker.done()) return std::nullopt;
    tracker.feed(packet->payload);
    ++sequence;
    answer = answer.subspan(packet->size());
  }
  if (!tracker.done() || tracker.failed()) return std::nullopt;
  return CheckedAnswer{tracker.rows(), sequence};
}

}  // namespace

bool cacheable_query(const routing::MysqlStatement& analysis, const routing::MysqlTables& tables,
                     std::string_view schema) {
  return analysis.read && analysis.pin == routing::MysqlPin::kNone &&
         analysis.transaction == routing::TransactionControl::kNone && !analysis.implicit_commit &&
         analysis.settings.empty() && !analysis.use_database && !analysis.kill_id &&
         !analysis.load_data_local && tables.only_queries && !tables.volatile_answer &&
         !tables.incomplete && !tables.writes_unknown && tables.written.empty() &&
         !analysis.hint.value("invalidate") && !routing::mysql_system_schema(schema);
}

std::string query_cache_key(const CacheKeyParts& parts, std::string_view sql,
                            const std::string* execution) {
  std::string_view text = routing::cache_text(sql);
  // MySQL runs what executable comments hold (/*! ... */, /*M! ... */): those before the
  // statement are part of it, and the text stays whole.
  if (text.empty()) {
    text = sql;
  } else {
    std::string_view before = sql.substr(0, static_cast<std::size_t>(text.data() - sql.data()));
    if (before.find("/*!") != std::string_view::npos ||
        before.find("/*M!") != std::string_view::npos) {
      text = sql;
    }
  }
  routing::CacheKey key(parts.cluster, parts.user, parts.schema);
  // The text protocol's answer and the binary one differ: each kind has its own entries.
  key.add(execution ? "mysql:execute" : "mysql:query").add(text);
  if (execution) key.add(*execution);
  std::string shape;
  for (int shift = 0; shift < 32; shift += 8) {
    shape.push_back(static_cast<char>(parts.capabilities >> shift));
  }
  shape.push_back(static_cast<char>(parts.collation));
  shape.push_back(parts.multi_statements ? 'm' : 's');
  key.add(shape);
  if (parts.settings) {
    for (const auto& [name, assignment] : parts.settings->items()) {
      if (routing::setting_changes_results(name)) key.add(name).add(assignment);
    }
  }
  return key.finish();
}

bool execution_parameters(Bytes payload, std::uint16_t parameters, std::string_view known_types,
                          std::string& out) {
  // command, statement id (4), flags, iteration count (4); then, with parameters, the NULL
  // bitmap, the new-types flag, the types when it is set, and the values.
  constexpr std::size_t kFixed = 10;
  out.clear();
  if (payload.size() < kFixed) return false;
  if (parameters == 0) return payload.size() == kFixed;
  const std::size_t bitmap = (parameters + 7u) / 8u;
  const std::size_t flag_at = kFixed + bitmap;
  const std::size_t types_size = 2u * parameters;
  if (payload.size() <= flag_at) return false;
  auto chars = [&](std::size_t at, std::size_t n) {
    return std::string_view(reinterpret_cast<const char*>(payload.data()) + at, n);
  };
  out.append(chars(kFixed, bitmap));
  std::size_t values_at = flag_at + 1;
  if (payload[flag_at] != std::byte{0}) {
    if (payload.size() < values_at + types_size) return false;
    out.append(chars(values_at, types_size));
    values_at += types_size;
  } else if (known_types.size() == types_size) {
    out.append(known_types);
  } else {
    return false;
  }
  out.append(chars(values_at, payload.size() - values_at));
  return true;
}

void RelayCache::set_cluster(const config::Cluster& cluster) {
  cache_ = s_.env().cache;
  backend_ = routing::cache_backend(cluster);
  cluster_ = cluster.name;
  // Asked for again on first use: the same one when the backend did not change.
  connection_.reset();
}

routing::CacheConnection& RelayCache::connection() {
  if (!connection_) connection_ = cache_->connection(s_.socket().get_executor(), *backend_);
  return *connection_;
}

awaitable<bool> RelayCache::serve(std::string_view sql, const routing::MysqlStatement& analysis,
                                  std::uint64_t digest, config::Duration ttl, bool session_allows,
                                  const CacheKeyParts& parts, const std::string* execution) {
  drop_capture();
  if (!enabled()) co_return false;
  started_ = std::chrono::steady_clock::now();
  auto& metrics = s_.env().metrics;
  const routing::MysqlTables tables = routing::mysql_tables(sql);
  if (!session_allows || !cacheable_query(analysis, tables, parts.schema)) {
    outcome_ = Outcome::kBypass;
    metrics.cache_request(Result::kBypass);
    co_return false;
  }
  // Shapes whose entries are not read again rest (routing/cache_admission.h).
  const std::uint64_t admitted_shape = routing::admission_shape(cluster_, digest);
  auto& admission = routing::worker_cache_admission(s_.config().cache);
  if (!admission.admits(admitted_shape, std::chrono::steady_clock::now())) {
    outcome_ = Outcome::kBypass;
    metrics.cache_request(Result::kBypass);
    co_return false;
  }
  std::string key = query_cache_key(parts, sql, execution);
  std::vector<std::string> generation_keys = routing::generation_keys(cluster_, tables.read);
  generation_keys.push_back(routing::cluster_generation_key(cluster_));
  // Kept while this waits, whatever a reload does to connection_.
  std::shared_ptr<routing::CacheConnection> keep = connection_;
  if (!keep) {
    connection();
    keep = connection_;
  }
  const config::Cache& settings = s_.config().cache;
  // Invalidations that could not reach Redis before go ahead of the lookup (CacheConnection).
  routing::CacheLookup found =
      co_await keep->lookup(key, generation_keys, settings.timeout, settings.retry_interval);
  using Status = routing::CacheLookup::Status;
  switch (found.status) {
    case Status::kUnavailable:
      outcome_ = Outcome::kBypass;
      metrics.cache_request(Result::kBypass);
      co_return false;
    case Status::kFailed:
      outcome_ = Outcome::kError;
      metrics.cache_request(Result::kError);
      co_return false;
    case Status::kHit:
    case Status::kMiss:
      break;
  }
  if (found.status == Status::kHit) {
    if (auto answer = routing::entry_answer(found.entry, found.generations)) {
      // Checked with the capabilities the answer was made under (the key holds them); a
      // server without CLIENT_DEPRECATE_EOF answered with EOF packets anyway.
      auto checked = check_answer(*answer, parts.capabilities);
      if (!checked) checked = check_answer(*answer, parts.capabilities & ~cap::kDeprecateEof);
      if (checked) {
        admission.record(admitted_shape, true, std::chrono::steady_clock::now());
        ByteVector& out = s_.output();
        out.insert(out.end(), answer->begin(), answer->end());
        s_.sequence() = checked->next_sequence;
        served_rows_ = checked->rows;
        outcome_ = Outcome::kHit;
        metrics.cache_request(Result::kHit);
        metrics.cache_bytes(metrics::CacheBytes::kServed, answer->size());
        co_return true;
      }
    }
    // Stored before a write to one of its tables (or not an answer): replaced below.
  }
  admission.record(admitted_shape, false, std::chrono::steady_clock::now());
  outcome_ = Outcome::kMiss;
  metrics.cache_request(Result::kMiss);
  capturing_ = true;
  key_ = std::move(key);
  generations_ = std::move(found.generations);
  ttl_ = ttl;
  co_return false;
}

void RelayCache::capture(Bytes bytes) {
  if (!capturing_) return;
  if (answer_.size() + bytes.size() > s_.config().cache.max_result_bytes) {
    capturing_ = false;
    ByteVector().swap(answer_);
    return;
  }
  answer_.insert(answer_.end(), bytes.begin(), bytes.end());
}

void RelayCache::finish(const ResponseTracker& tracker) {
  if (!capturing_) return;
  capturing_ = false;
  constexpr std::uint16_t kUnrepeatable =
      status::kMoreResultsExist | status::kSessionStateChanged | status::kInTrans;
  if (tracker.done() && !tracker.failed() && !(tracker.status() & kUnrepeatable) &&
      !answer_.empty() && connection_) {
    connection_->store(key_, routing::encode_entry(generations_, answer_), ttl_);
    s_.env().metrics.cache_bytes(metrics::CacheBytes::kStored, answer_.size());
  }
  answer_.clear();
  // A large answer's buffer does not stay with the session.
  if (answer_.capacity() > 64 * 1024) ByteVector().swap(answer_);
}

void RelayCache::drop_capture() {
  outcome_ = Outcome::kNone;
  if (!capturing_) return;
  capturing_ = false;
  answer_.clear();
  if (answer_.capacity() > 64 * 1024) ByteVector().swap(answer_);
}

void RelayCache::wrote(std::string_view sql) {
  if (!enabled()) return;
  for (auto& key : routing::hinted_invalidations(cluster_, routing::read_hint(sql))) {
    written_.insert(std::move(key));
  }
  const routing::MysqlTables tables = routing::mysql_tables(sql);
  for (const auto& table : tables.written) {
    written_.insert(routing::generation_key(cluster_, table));
  }
  if (tables.writes_unknown) written_.insert(routing::cluster_generation_key(cluster_));
}

awaitable<void> RelayCache::transaction_ended() {
  if (written_.empty() || !enabled()) co_return;
  std::vector<std::string> keys(written_.begin(), written_.end());
  written_.clear();
  connection();
  std::shared_ptr<routing::CacheConnection> keep = connection_;  // whatever a reload does
  const config::Cache& settings = s_.config().cache;
  // When Redis cannot take them now, the connection keeps them for later: the client goes on.
  co_await keep->invalidate_now(keys, settings.timeout, settings.retry_interval);
}

}  // namespace plexi::mysql
