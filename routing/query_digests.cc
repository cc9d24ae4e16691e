// The query digest table: a hash index and an LRU list per shard, each under its own lock;
// libpg_query runs only when entries are read, never while recording.
#include "routing/query_digests.h"

#include <pg_query.h>

#include <algorithm>
#include <functional>
#include <tuple>
#include <utility>

#include "routing/statement_shape.h"

namespace plexi::routing {
namespace {

// `text` cut to at most QueryDigests::kMaxTextSize bytes, at the start of a UTF-8 character so
// that clients which check the encoding accept it.
std::string_view cut(std::string_view text) {
  if (text.size() <= QueryDigests::kMaxTextSize) return text;
  std::size_t end = QueryDigests::kMaxTextSize;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

// libpg_query's normalised text (constants as $1, $2, ...), or empty when it cannot parse
// the statement.
std::string normalise(const std::string& statement) {
  const PgQueryNormalizeResult result = pg_query_normalize(statement.c_str());
  std::string text;
  if (!result.error && result.normalized_query) text = cut(result.normalized_query);
  pg_query_free_normalize_result(result);
  return text;
}

double seconds(std::int64_t nanoseconds) { return static_cast<double>(nanoseconds) / 1e9; }

// Each shard's part of `max_entries`: together exactly `max_entries` when it is at least
// kShards, and at least one each otherwise, so that every digest can be counted.
std::size_t share(std::size_t max_entries, std::size_t shard) {
  if (max_entries == 0) return 0;
  const std::size_t part =
      max_entries / QueryDigests::kShards + (shard < max_entries % QueryDigests::kShards ? 1 : 0);
  return std::max<std::size_t>(part, 1);
}

}  // namespace

std::size_t QueryDigests::KeyHash::operator()(const Key& key) const {
  // The digest is already a well mixed hash; the names separate the entries that share it.
  std::size_t hash = key.digest;
  for (const std::string_view name : {key.cluster, key.user}) {
    hash ^= std::hash<std::string_view>{}(name) + 0x9e3779b97f4a7c15ULL + (hash << 6) + (hash >> 2);
  }
  return hash;
}

void QueryDigests::Shard::evict_past_capacity() {
  while (lru.size() > capacity) {
    index.erase(lru.back().key());
    lru.pop_back();
    ++evictions;
  }
}

QueryDigests::QueryDigests(std::size_t max_entries) { set_max_entries(max_entries); }

void QueryDigests::record(const DigestSample& sample) {
  const auto now = std::chrono::system_clock::now();
  const std::int64_t elapsed = sample.elapsed.count();
  const Key key{sample.digest, sample.cluster, sample.user};
  Shard& shard = shards_[shard_of(sample.digest)];

  std::lock_guard lock(shard.mutex);
  if (shard.capacity == 0) return;
  Entry* entry = nullptr;
  if (const auto found = shard.index.find(key); found != shard.index.end()) {
    shard.lru.splice(shard.lru.begin(), shard.lru, found->second);
    entry = &*found->second;
  } else {
    entry = &shard.lru.emplace_front();
    entry->digest = sample.digest;
    entry->cluster = sample.cluster;
    entry->user = sample.user;
    entry->text = cut(sample.shape);
    // A statement too long to keep whole, or one the parser cannot be handed as a C string,
    // is shown by its shape.
    if (sample.statement.size() <= kMaxTextSize &&
        sample.statement.find('\0') == std::string_view::npos) {
      entry->statement = sample.statement;
    }
    entry->min_ns = elapsed;
    entry->max_ns = elapsed;
    entry->first_seen = now;
    shard.index.emplace(entry->key(), shard.lru.begin());
    shard.evict_past_capacity();
  }

  ++entry->calls;
  if (sample.error) ++entry->errors;
  entry->total_ns += elapsed;
  entry->min_ns = std::min(entry->min_ns, elapsed);
  entry->max_ns = std::max(entry->max_ns, elapsed);
  if (sample.rows >= 0) entry->rows += sample.rows;
  if (sample.cache_hit) ++entry->cache_hits;
  if (sample.cache_miss) ++entry->cache_misses;
  // assign() reuses the string's capacity: it allocates only for a longer name than before.
  if (entry->last_backend != sample.backend) entry->last_backend.assign(sample.backend);
  entry->last_seen = now;
}

void QueryDigests::set_max_entries(std::size_t max_entries) {
  for (std::size_t i = 0; i < kShards; ++i) {
    std::lock_guard lock(shards_[i].mutex);
    shards_[i].capacity = share(max_entries, i);
    shards_[i].evict_past_capacity();
  }
}

void QueryDigests::clear() {
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    shard.index.clear();
    shard.lru.clear();
  }
}

std::size_t QueryDigests::normalise_pending() const {
  struct Pending {
    std::uint64_t digest;
    std::string cluster;
    std::string user;
    std::string statement;
    std::string text;
  };
  std::size_t normalised = 0;
  for (Shard& shard : shards_) {
    std::vector<Pending> pending;
    {
      std::lock_guard lock(shard.mutex);
      for (const Entry& entry : shard.lru) {
        if (entry.statement.empty()) continue;
        pending.push_back({entry.digest, entry.cluster, entry.user, entry.statement, {}});
      }
    }
    if (pending.empty()) continue;
    // The parser takes microseconds per statement: never under the lock that record() takes.
    for (Pending& item : pending) item.text = normalise(item.statement);

    std::lock_guard lock(shard.mutex);
    for (Pending& item : pending) {
      const auto found = shard.index.find(Key{item.digest, item.cluster, item.user});
      // Evicted meanwhile, or normalised by a concurrent call.
      if (found == shard.index.end() || found->second->statement.empty()) continue;
      Entry& entry = *found->second;
      if (!item.text.empty()) entry.text = std::move(item.text);
      std::string().swap(entry.statement);  // releases the memory, not only the length
      ++normalised;
    }
  }
  return normalised;
}

std::vector<DigestRow> QueryDigests::snapshot(std::size_t limit) const {
  normalise_pending();
  std::vector<DigestRow> rows;
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    for (const Entry& entry : shard.lru) {
      DigestRow& row = rows.emplace_back();
      row.cluster = entry.cluster;
      row.user = entry.user;
      row.digest = format_digest(entry.digest);
      row.text = entry.text;
      row.calls = entry.calls;
      row.errors = entry.errors;
      row.total_seconds = seconds(entry.total_ns);
      row.mean_seconds = seconds(entry.total_ns) / static_cast<double>(entry.calls);
      row.min_seconds = seconds(entry.min_ns);
      row.max_seconds = seconds(entry.max_ns);
      row.rows = entry.rows;
      row.cache_hits = entry.cache_hits;
      row.cache_misses = entry.cache_misses;
      row.last_backend = entry.last_backend;
      row.first_seen = entry.first_seen;
      row.last_seen = entry.last_seen;
    }
  }
  const auto comes_first = [](const DigestRow& a, const DigestRow& b) {
    return std::tie(b.total_seconds, b.calls, a.cluster, a.user, a.digest) <
           std::tie(a.total_seconds, a.calls, b.cluster, b.user, b.digest);
  };
  if (limit == 0 || limit > rows.size()) limit = rows.size();
  std::partial_sort(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(limit), rows.end(),
                    comes_first);
  rows.resize(limit);
  return rows;
}

QueryDigests::Stats QueryDigests::stats() const {
  Stats stats;
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    stats.entries += shard.lru.size();
    stats.evictions += shard.evictions;
    for (const Entry& entry : shard.lru) stats.pending += entry.statement.empty() ? 0 : 1;
  }
  return stats;
}

}  // namespace plexi::routing
