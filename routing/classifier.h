// Classifies PostgreSQL statement strings as reads or writes with PostgreSQL's own parser
// (libpg_query), parsing each distinct statement shape once: verdicts are kept in a bounded
// LRU keyed by the shape.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "routing/statement_rules.h"
#include "routing/statement_shape.h"
#include "routing/volatile_functions.h"

namespace plexi::routing {

// The analysis (shared by every statement of the shape) with what is particular to this
// statement: its hint, shape and digest.
struct Verdict : Analysis {
  Hint hint;  // views into the classified text
  std::uint64_t digest = 0;
  std::string shape;
};

class Classifier {
 public:
  static constexpr std::size_t kDefaultCapacity = 10000;
  // Longer statements are not parsed (they are writes) and their verdicts not cached.
  static constexpr std::size_t kDefaultMaxParseSize = 1 << 20;

  // `volatile_functions`: entries added to default_volatile_functions(). `capacity`: shapes
  // whose verdicts are kept (0: none, every statement is parsed).
  explicit Classifier(const std::vector<std::string>& volatile_functions = {},
                      std::size_t capacity = kDefaultCapacity,
                      std::size_t max_parse_size = kDefaultMaxParseSize);
  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;

  // Safe to call from several threads at once. Never throws on any text; what the parser
  // refuses is a write with parsed false.
  Verdict classify(std::string_view sql);

  struct Stats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t parses = 0;  // calls of the parser: misses, and uncacheable statements
    std::size_t entries = 0;
  };
  Stats stats() const;
  std::size_t capacity() const { return capacity_; }

 private:
  struct Entry {
    std::uint64_t digest;
    std::string shape;
    std::shared_ptr<const Analysis> analysis;
  };

  std::shared_ptr<const Analysis> lookup(const StatementShape& shape);
  void remember(const StatementShape& shape, std::shared_ptr<const Analysis> analysis);
  Analysis analyze(std::string_view sql);

  const VolatileFunctions functions_;
  const std::size_t capacity_;
  const std::size_t max_parse_size_;

  mutable std::mutex mutex_;  // guards the LRU and the hit and miss counts
  std::list<Entry> lru_;      // most recently used first
  std::unordered_map<std::uint64_t, std::list<Entry>::iterator> index_;  // by digest
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
  std::atomic<std::uint64_t> parses_{0};
};

}  // namespace plexi::routing
