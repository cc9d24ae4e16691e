// The classifier: shape, cache lookup under a short lock, and on a miss libpg_query's JSON
// parse tree read by the statement rules outside the lock.
#include "routing/classifier.h"

#include <pg_query.h>

#include <utility>

namespace plexi::routing {
namespace {

// Frees a parse result however the analysis ends.
class ParseResult {
 public:
  explicit ParseResult(const char* sql) : result_(pg_query_parse(sql)) {}
  ~ParseResult() { pg_query_free_parse_result(result_); }
  ParseResult(const ParseResult&) = delete;
  ParseResult& operator=(const ParseResult&) = delete;

  const PgQueryError* error() const { return result_.error; }
  std::string_view tree() const {
    return result_.parse_tree ? std::string_view(result_.parse_tree) : std::string_view();
  }

 private:
  PgQueryParseResult result_;
};

}  // namespace

Classifier::Classifier(const std::vector<std::string>& volatile_functions, std::size_t capacity,
                       std::size_t max_parse_size)
    : functions_(volatile_functions), capacity_(capacity), max_parse_size_(max_parse_size) {}

Verdict Classifier::classify(std::string_view sql) {
  StatementShape shape;
  shape_statement(sql, shape);
  Verdict verdict;
  if (std::shared_ptr<const Analysis> cached = lookup(shape)) {
    static_cast<Analysis&>(verdict) = *cached;
  } else {
    Analysis fresh = analyze(sql);
    if (fresh.cacheable && capacity_ > 0) remember(shape, std::make_shared<const Analysis>(fresh));
    static_cast<Analysis&>(verdict) = std::move(fresh);
  }
  verdict.hint = shape.hint;
  verdict.digest = shape.digest;
  verdict.shape = std::move(shape.text);
  return verdict;
}

std::shared_ptr<const Analysis> Classifier::lookup(const StatementShape& shape) {
  std::lock_guard lock(mutex_);
  const auto found = index_.find(shape.digest);
  if (found == index_.end() || found->second->shape != shape.text) {
    ++misses_;
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, found->second);
  ++hits_;
  return found->second->analysis;
}

void Classifier::remember(const StatementShape& shape, std::shared_ptr<const Analysis> analysis) {
  std::lock_guard lock(mutex_);
  if (const auto found = index_.find(shape.digest); found != index_.end()) {
    // Another thread parsed the same shape meanwhile, or two shapes share a digest: the
    // newer one takes the place.
    found->second->shape = shape.text;
    found->second->analysis = std::move(analysis);
    lru_.splice(lru_.begin(), lru_, found->second);
    return;
  }
  lru_.push_front({shape.digest, shape.text, std::move(analysis)});
  index_.emplace(shape.digest, lru_.begin());
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().digest);
    lru_.pop_back();
  }
}

Analysis Classifier::analyze(std::string_view sql) {
  if (sql.size() > max_parse_size_) {
    return unparsed("longer than " + std::to_string(max_parse_size_) + " bytes, not parsed", false);
  }
  // The wire protocol never carries one; a literal holding it would share a valid shape.
  if (sql.find('\0') != std::string_view::npos) return unparsed("holds a zero byte", false);
  const std::string text(sql);
  parses_.fetch_add(1, std::memory_order_relaxed);
  const ParseResult result(text.c_str());
  if (result.error()) {
    return unparsed(result.error()->message ? result.error()->message : "syntax error");
  }
  JsonTree tree;
  if (!tree.parse(result.tree())) return unparsed("the parser's output is not JSON");
  return analyze_parse_tree(tree, functions_);
}

Classifier::Stats Classifier::stats() const {
  Stats stats;
  {
    std::lock_guard lock(mutex_);
    stats.hits = hits_;
    stats.misses = misses_;
    stats.entries = lru_.size();
  }
  stats.parses = parses_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace plexi::routing
