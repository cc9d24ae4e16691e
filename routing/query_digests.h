// The query digest table: per (cluster, user, statement shape) counts of calls, errors, time
// and rows, bounded in size, for SHOW QUERIES and /status?queries=1.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace plexi::routing {

// One completed statement, as the session saw it. Views are read during record() only.
struct DigestSample {
  std::string_view cluster;
  std::string_view user;
  std::uint64_t digest = 0;    // StatementShape::digest
  std::string_view shape;      // StatementShape::text; read only for a new entry
  // The text the client sent, normalised later with PostgreSQL's parser; read only for a
  // new entry. Empty: the shape is the entry's text (MySQL statements).
  std::string_view statement;
  std::chrono::nanoseconds elapsed{0};
  std::int64_t rows = -1;  // -1: unknown (not added to the row count)
  std::string_view backend;
  bool error = false;
  // Answered from the result cache (hit), or looked up there and not found (miss).
  bool cache_hit = false;
  bool cache_miss = false;
};

// A copy of one entry, for display.
struct DigestRow {
  std::string cluster;
  std::string user;
  std::string digest;  // format_digest(): 16 hexadecimal digits
  // pg_query_normalize() of the first statement seen (literals as $1, $2, ...), or the
  // shape when the parser refused that statement, it was too long to keep, or it is MySQL's.
  std::string text;
  std::uint64_t calls = 0;
  std::uint64_t errors = 0;
  double total_seconds = 0;
  double mean_seconds = 0;
  double min_seconds = 0;
  double max_seconds = 0;
  std::int64_t rows = 0;  // sum over the calls whose row count was known
  std::uint64_t cache_hits = 0;
  std::uint64_t cache_misses = 0;
  std::string last_backend;
  std::chrono::system_clock::time_point first_seen;
  std::chrono::system_clock::time_point last_seen;
};

class QueryDigests {
 public:
  static constexpr std::size_t kShards = 16;
  // Longer statements are not kept for normalising: their entry shows the shape, cut to this.
  static constexpr std::size_t kMaxTextSize = 4096;

  // Keeps at most max(max_entries, kShards) entries (each shard keeps its share, at least
  // one); 0 keeps none, and record() does nothing.
  explicit QueryDigests(std::size_t max_entries);
  QueryDigests(const QueryDigests&) = delete;
  QueryDigests& operator=(const QueryDigests&) = delete;

  // Safe from any number of threads at once. For an existing entry: one short lock of the
  // digest's shard, no allocation (but for a backend name longer than any this entry held
  // before) and no parsing. A new entry past its shard's share evicts the shard's least
  // recently recorded one.
  void record(const DigestSample& sample);

  // Applies a new bound; shrinking evicts the least recently recorded entries at once.
  void set_max_entries(std::size_t max_entries);
  // Forgets every entry. The eviction count goes on.
  void clear();

  // Normalises the statements of the entries that are new since the last call, outside the
  // shard locks, and drops those statements (they may carry secrets). snapshot() calls it;
  // calling it on a timer as well bounds how long a statement's literals are held. Returns
  // how many entries it normalised.
  std::size_t normalise_pending() const;

  // Copies of the entries, most total time first (then most calls), `limit` of them at most
  // (0: all). Normalises pending statements first.
  std::vector<DigestRow> snapshot(std::size_t limit = 0) const;

  struct Stats {
    std::size_t entries = 0;
    std::uint64_t evictions = 0;
    std::size_t pending = 0;  // entries still holding their statement, not yet normalised
  };
  Stats stats() const;

  // Which shard a digest's entries live in.
  static std::size_t shard_of(std::uint64_t digest) { return digest % kShards; }

 private:
  // An entry's identity; views into the entry itself, or into a sample while looking up.
  struct Key {
    std::uint64_t digest;
    std::string_view cluster;
    std::string_view user;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& key) const;
  };
  struct Entry {
    std::uint64_t digest = 0;
    std::string cluster;
    std::string user;
    std::string text;       // the shape until normalised
    std::string statement;  // the first statement, until normalised; empty when not kept
    std::uint64_t calls = 0;
    std::uint64_t errors = 0;
    std::int64_t total_ns = 0;
    std::int64_t min_ns = 0;
    std::int64_t max_ns = 0;
    std::int64_t rows = 0;
    std::uint64_t cache_hits = 0;
    std::uint64_t cache_misses = 0;
    std::string last_backend;
    std::chrono::system_clock::time_point first_seen;
    std::chrono::system_clock::time_point last_seen;

    Key key() const { return {digest, cluster, user}; }
  };
  using Lru = std::list<Entry>;  // most recently recorded first

  // A std::mutex rather than a SpinLock: snapshot() and set_max_entries() hold a shard for
  // a whole pass over it, which a spinning worker would pay for in CPU time. Aligned so that
  // two shards' locks never share a cache line.
  struct alignas(64) Shard {
    std::mutex mutex;
    std::size_t capacity = 0;
    Lru lru;
    std::unordered_map<Key, Lru::iterator, KeyHash> index;
    std::uint64_t evictions = 0;

    void evict_past_capacity();  // with the mutex held
  };

  mutable std::array<Shard, kShards> shards_;
};

}  // namespace plexi::routing
