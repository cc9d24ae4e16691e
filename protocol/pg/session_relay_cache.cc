// The relay's use of the result cache (routing/result_cache.h). A request a rule or hint
// gives a cache_ttl, arriving between transactions, is looked up in the cluster's cache
// backend before any server is taken: a hit is answered from there, a miss goes to the
// write target and its answer is captured as the client receives it, then stored. Writes
// raise the generations of the tables they touch when their transaction is over.
#include "protocol/pg/encoder.h"
#include "protocol/pg/session_relay.h"
#include "routing/cache_admission.h"

namespace plexi::pg {
namespace {

void append_frame(ByteVector& out, const Frame& frame) {
  out.push_back(std::byte(frame.type));
  append_u32be(out, static_cast<std::uint32_t>(frame.body.size() + 4));
  append_bytes(out, frame.body);
}

}  // namespace

void Relay::find_cache() {
  cache_.reset();  // taken again, for the backend the config now names
  cache_routing_.reset();
  cache_backend_ = s_.env_.cache ? routing::cache_backend(*s_.cluster_) : nullptr;
  if (!cache_backend_) return;
  cache_routing_ = routing_ ? routing_ : s_.env_.routing.cluster(s_.config_, *s_.cluster_);
}

routing::CacheConnection* Relay::cache_connection() {
  if (!cache_) cache_ = s_.env_.cache->connection(s_.socket_.get_executor(), *cache_backend_);
  return cache_.get();
}

routing::ViewCatalogs::Snapshot Relay::views_of_cluster() const {
  auto* views = s_.env_.cache->views();
  return views ? views->current(s_.cluster_->name) : routing::ViewCatalogs::Snapshot{};
}

std::optional<config::Duration> Relay::cache_ttl_of(std::string_view sql,
                                                    const routing::Verdict& verdict) const {
  if (auto hinted = routing::hinted_cache_ttl(verdict.hint)) return hinted;
  if (!routing_->has_rules()) return std::nullopt;
  auto match = routing_->match(sql, verdict.shape, verdict.digest);
  if (!match || match->rule->block) return std::nullopt;
  return match->rule->cache_ttl;
}

void Relay::add_cache_key_settings(routing::CacheKey& key) const {
  // settings_ is ordered by name, so equal settings give equal keys.
  for (const auto& [name, statement] : settings_) {
    if (routing::setting_changes_results(name)) key.add(name).add(statement);
  }
}

std::optional<Relay::CacheRequest> Relay::cache_request(const Frame& frame) {
  CacheRequest request;
  std::string_view sql;
  routing::CacheKey key(s_.cluster_->name, s_.user_, s_.database_);
  if (frame.type == frontend::kQuery) {
    auto query = parse_query(frame.body);
    if (!query) return std::nullopt;
    sql = *query;
    request.length = frame.body.size() + 5;
    key.add("Q");
  } else if (frame.type == frontend::kParse || frame.type == frontend::kBind) {
    // Read ahead: the whole cycle must be in the buffer, in the one shape answered here.
    Bytes input = s_.input_.readable();
    std::size_t at = 0;
    auto next = [&]() -> std::optional<Frame> {
      auto decoded = decode_frame(input.subspan(at), s_.config_->limits.max_message_size);
      if (decoded.status != DecodeStatus::kOk) return std::nullopt;
      at += decoded.consumed;
      return decoded.message;
    };
    auto current = next();
    std::vector<std::uint32_t> types;
    if (current && current->type == frontend::kParse) {
      auto parse = parse_parse(current->body);
      if (!parse || !parse->statement.empty()) return std::nullopt;
      sql = parse->query;
      types = parse->parameter_types;
      request.parse = true;
      current = next();
    }
    if (!current || current->type != frontend::kBind) return std::nullopt;
    auto bind = parse_bind_names(current->body);
    if (!bind || !bind->portal.empty()) return std::nullopt;
    if (bind->statement.empty()) {
      if (!request.parse) return std::nullopt;  // an unnamed statement of an earlier cycle
    } else {
      if (request.parse || !extended_) return std::nullopt;
      auto it = extended_->statements.find(std::string(bind->statement));
      if (it == extended_->statements.end()) return std::nullopt;
      sql = it->second.query;
      types = it->second.types;
    }
    Bytes parameters = bind->rest;
    current = next();
    bool describe = false;
    if (current && current->type == frontend::kDescribe) {
      auto target = parse_describe(current->body);
      if (!target || target->kind != 'P' || !target->name.empty()) return std::nullopt;
      describe = true;
      current = next();
    }
    if (!current || current->type != frontend::kExecute) return std::nullopt;
    auto execute = parse_execute(current->body);
    if (!execute || !execute->portal.empty() || execute->max_rows != 0) return std::nullopt;
    current = next();
    if (!current || current->type != frontend::kSync) return std::nullopt;
    request.length = at;
    request.extended = true;
    key.add(describe ? "ED" : "E");
    std::string type_bytes;
    for (auto type : types) type_bytes.append(std::to_string(type)).push_back(',');
    key.add(type_bytes).add(parameters);
  } else {
    return std::nullopt;
  }
  auto verdict = routing_->classifier().classify(sql);
  request.ttl = cache_ttl_of(sql, verdict);
  if (!request.ttl || request.ttl->count() == 0) return std::nullopt;
  request.cacheable = routing::cacheable(verdict) && !verdict.hint.value("invalidate");
  if (!request.cacheable) return request;
  request.shape = routing::admission_shape(s_.cluster_->name, verdict.digest);
  if (!routing::worker_cache_admission(s_.config_->cache)
           .admits(request.shape, pools::Clock::now())) {
    request.cacheable = false;  // its entries have not been read again lately: resting
    return request;
  }
  auto views = views_of_cluster();
  if (views.state == routing::ViewCatalogs::State::kPending) {
    request.cacheable = false;  // a view read now could be stored without its tables
    return request;
  }
  request.sql = sql;
  key.add(routing::cache_text(sql));
  add_cache_key_settings(key);
  request.key = key.finish();
  request.generation_keys = routing::generation_keys(
      s_.cluster_->name, routing::with_tables_behind_views(views.map.get(), verdict.tables->read));
  request.generation_keys.push_back(routing::cluster_generation_key(s_.cluster_->name));
  return request;
}

awaitable<bool> Relay::answer_from_cache(const Frame& frame) {
  auto request = cache_request(frame);
  if (!request) co_return false;
  auto& metrics = s_.env_.metrics;
  if (!request->cacheable) {
    metrics.cache_request(metrics::CacheResult::kBypass);
    co_return false;
  }
  auto started = pools::Clock::now();
  auto* connection = cache_connection();
  const config::Cache& settings = s_.config_->cache;
  auto keep = cache_;  // the connection stays while this waits, whatever a reload does
  auto found = co_await connection->lookup(request->key, request->generation_keys, settings.timeout,
                                           settings.retry_interval);
  using Status = routing::CacheLookup::Status;
  switch (found.status) {
    case Status::kUnavailable:
      metrics.cache_request(metrics::CacheResult::kBypass);
      co_return false;
    case Status::kFailed:
      metrics.cache_request(metrics::CacheResult::kError);
      co_return false;
    case Status::kMiss:
    case Status::kHit:
      break;
  }
  std::optional<Bytes> answer;
  if (found.status == Status::kHit) answer = routing::entry_answer(found.entry, found.generations);
  routing::worker_cache_admission(s_.config_->cache)
      .record(request->shape, answer.has_value(), pools::Clock::now());
  if (!answer) {
    // Absent, or stored before a write to one of its tables.
    metrics.cache_request(metrics::CacheResult::kMiss);
    cache_fill_ = std::make_unique<CacheFill>();
    cache_fill_->key = std::move(request->key);
    cache_fill_->generations = std::move(found.generations);
    cache_fill_->ttl = *request->ttl;
    co_return false;
  }
  // The answer as a server would give it, after what the proxy answered itself.
  if (request->parse) {
    encode_parse_complete(s_.output_);
    // What the unnamed statement was is not needed: a read has no settings, and the next
    // cycle that uses it sends its own Parse.
    extended().unnamed_statement_settings.clear();
  }
  if (request->extended) encode_bind_complete(s_.output_);
  append_bytes(s_.output_, *answer);
  encode_ready_for_query(s_.output_, TxStatus::kIdle);
  metrics.cache_request(metrics::CacheResult::kHit);
  metrics.cache_bytes(metrics::CacheBytes::kServed, answer->size());
  count_cache_hit(*request, *answer, started);
  s_.input_.consume(request->length);
  co_return true;
}

void Relay::count_cache_hit(const CacheRequest& request, Bytes answer,
                            pools::Clock::time_point started) {
  auto elapsed =
      std::chrono::duration_cast<std::chrono::nanoseconds>(pools::Clock::now() - started);
  if (digesting()) {
    std::int64_t rows = -1;
    for (Bytes rest = answer; !rest.empty();) {
      auto decoded = decode_frame(rest);
      if (decoded.status != DecodeStatus::kOk) break;
      if (decoded.message.type == backend::kCommandComplete) {
        if (auto tag = parse_command_complete(decoded.message.body)) {
          if (auto counted = rows_in_command_tag(*tag))
            rows = std::max<std::int64_t>(rows, 0) + *counted;
        }
      }
      rest = rest.subspan(decoded.consumed);
    }
    const routing::StatementShape& shape = shape_of(request.sql);
    routing::DigestSample sample;
    sample.cluster = s_.cluster_->name;
    sample.user = s_.user_;
    sample.digest = shape.digest;
    sample.shape = shape.text;
    sample.statement = request.sql;
    sample.elapsed = elapsed;
    sample.rows = rows;
    sample.backend = cache_backend_->name;
    sample.cache_hit = true;
    s_.env_.digests->record(sample);
  }
  if (s_.env_.metrics.enabled()) series_for(cache_backend_, config::Role::kCache).record(elapsed);
}

void Relay::capture_for_cache(const Frame& frame) {
  CacheFill& fill = *cache_fill_;
  if (fill.spoiled) return;
  switch (frame.type) {
    case backend::kParseComplete:
    case backend::kBindComplete:
    case backend::kReadyForQuery:
      return;  // the proxy writes these itself on a hit
    case backend::kParameterStatus:
    case backend::kNotificationResponse:
    case backend::kErrorResponse:
    case backend::kCopyInResponse:
    case backend::kCopyOutResponse:
    case backend::kCopyBothResponse:
      fill.spoiled = true;
      return;
    default:
      break;
  }
  if (fill.answer.size() + frame.body.size() + 5 > s_.config_->cache.max_result_bytes) {
    fill.spoiled = true;
    ByteVector().swap(fill.answer);
    return;
  }
  append_frame(fill.answer, frame);
}

void Relay::finish_cache_fill(TxStatus status) {
  auto fill = std::move(cache_fill_);
  if (fill->spoiled || cycle_failed_ || status != TxStatus::kIdle || !cache_) return;
  std::string entry = routing::encode_entry(fill->generations, fill->answer);
  cache_->store(fill->key, entry, fill->ttl);
  s_.env_.metrics.cache_bytes(metrics::CacheBytes::kStored, fill->answer.size());
}

void Relay::note_writes(std::string_view sql) {
  auto verdict = cache_routing_->classifier().classify(sql);
  auto hinted = routing::hinted_invalidations(s_.cluster_->name, verdict.hint);
  written_tables_.insert(written_tables_.end(), hinted.begin(), hinted.end());
  if (verdict.changes_views) views_changed_ = true;
  if (verdict.tables->written.empty()) return;
  // A write through an updatable view changes the tables behind it.
  auto keys = routing::generation_keys(
      s_.cluster_->name,
      routing::with_tables_behind_views(views_of_cluster().map.get(), verdict.tables->written));
  written_tables_.insert(written_tables_.end(), keys.begin(), keys.end());
}

void Relay::invalidate_written() {
  if (views_changed_) {
    views_reread_due_ = true;  // committed (or rolled back) by now: views read again
    views_changed_ = false;
  }
  if (written_tables_.empty()) return;
  std::sort(written_tables_.begin(), written_tables_.end());
  written_tables_.erase(std::unique(written_tables_.begin(), written_tables_.end()),
                        written_tables_.end());
  invalidations_due_.insert(invalidations_due_.end(), written_tables_.begin(),
                            written_tables_.end());
  written_tables_.clear();
}

awaitable<void> Relay::read_views_again() {
  views_reread_due_ = false;
  auto* views = s_.env_.cache->views();
  if (!views) co_return;
  // Until then the cluster's reads skip the cache; the client hears of its DDL after it, so
  // that its next read is cached with the tables behind a view it made.
  co_await views->read_after_schema_change(s_.cluster_->name, s_.socket_.get_executor(),
                                           s_.cluster_->health.timeout);
}

awaitable<void> Relay::invalidate_due() {
  std::vector<std::string> keys;
  keys.swap(invalidations_due_);
  auto* connection = cache_connection();
  auto keep = cache_;  // the connection stays while this waits, whatever a reload does
  const config::Cache& settings = s_.config_->cache;
  // When Redis cannot take them now, the connection keeps them for later: the client goes on.
  co_await connection->invalidate_now(keys, settings.timeout, settings.retry_interval);
}

}  // namespace plexi::pg
