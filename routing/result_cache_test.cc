#include "routing/result_cache.h"

#include <gtest/gtest.h>

#include "routing/classifier.h"
#include "routing/redis_test_util.h"

namespace plexi::routing {
namespace {

using testing::ScriptedServer;
using namespace std::chrono_literals;

Bytes bytes_of(std::string_view text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

std::string text_of(Bytes bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::string bulk(std::string_view text) {
  return "$" + std::to_string(text.size()) + "\r\n" + std::string(text) + "\r\n";
}

std::string command(std::initializer_list<std::string_view> args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (auto arg : args) out += bulk(arg);
  return out;
}

TEST(ResultCachePolicy, HintedTtl) {
  EXPECT_EQ(hinted_cache_ttl(read_hint("/* plexiproxy: cache_ttl=30s */ SELECT 1")),
            config::Duration(30000));
  EXPECT_EQ(hinted_cache_ttl(read_hint("/* plexiproxy: role=replica cache_ttl=500ms */ SELECT 1")),
            config::Duration(500));
  EXPECT_EQ(hinted_cache_ttl(read_hint("/* plexiproxy: cache_ttl=off */ SELECT 1")),
            config::Duration(0));
  EXPECT_EQ(hinted_cache_ttl(read_hint("/* plexiproxy: cache_ttl=0 */ SELECT 1")),
            config::Duration(0));
  EXPECT_FALSE(hinted_cache_ttl(read_hint("/* plexiproxy: role=replica */ SELECT 1")));
  EXPECT_FALSE(hinted_cache_ttl(read_hint("/* plexiproxy: cache_ttl=soon */ SELECT 1")));
  EXPECT_FALSE(hinted_cache_ttl(read_hint("SELECT 1")));
}

TEST(ResultCachePolicy, HintedInvalidations) {
  EXPECT_EQ(hinted_invalidations(
                "appdb", read_hint("/* plexiproxy: invalidate=Orders|public.order_lines|orders "
                                   "role=primary */ SELECT place_order(1)")),
            (std::vector<std::string>{"plexiproxy:gen:appdb:order_lines",
                                      "plexiproxy:gen:appdb:orders"}));
  EXPECT_EQ(hinted_invalidations("shop", read_hint("/* plexiproxy: invalidate=* */ CALL f()")),
            (std::vector<std::string>{"plexiproxy:gen:shop"}));
  EXPECT_TRUE(
      hinted_invalidations("a", read_hint("/* plexiproxy: invalidate= */ SELECT 1")).empty());
  EXPECT_TRUE(
      hinted_invalidations("a", read_hint("/* plexiproxy: cache_ttl=1s */ SELECT 1")).empty());
  EXPECT_TRUE(
      hinted_invalidations("a", read_hint("SELECT 1 /* plexiproxy: invalidate=t */")).empty());
}

TEST(ResultCachePolicy, OnlyReadsOutsideTransactionsWithoutVolatileCallsAreCacheable) {
  Classifier classifier;
  auto cacheable_sql = [&](std::string_view sql) { return cacheable(classifier.classify(sql)); };
  EXPECT_TRUE(cacheable_sql("SELECT name FROM items WHERE id = 1"));
  EXPECT_TRUE(cacheable_sql("SELECT a.x FROM a JOIN b ON a.id = b.id"));
  EXPECT_TRUE(cacheable_sql("SELECT 1"));
  EXPECT_FALSE(cacheable_sql("SELECT now(), count(*) FROM items"));
  EXPECT_FALSE(cacheable_sql("SELECT CURRENT_TIMESTAMP"));
  EXPECT_FALSE(cacheable_sql("SELECT * FROM events WHERE day = current_date"));
  EXPECT_FALSE(cacheable_sql("SELECT localtimestamp"));
  EXPECT_FALSE(cacheable_sql("SELECT pg_catalog.clock_timestamp()"));
  EXPECT_FALSE(cacheable_sql("SELECT gen_random_uuid()"));
  EXPECT_FALSE(cacheable_sql("SELECT id FROM t WHERE x = (SELECT random())"));
  EXPECT_FALSE(cacheable_sql("SELECT pg_stat_get_numscans(16384)"));
  EXPECT_FALSE(cacheable_sql("SELECT random()"));
  // Still reads: they may go to replicas, they are only kept out of the cache.
  EXPECT_TRUE(classifier.classify("SELECT now()").read);
  EXPECT_TRUE(classifier.classify("SELECT random()").read);
  EXPECT_TRUE(cacheable_sql("SELECT current_user, current_schema"));
  EXPECT_TRUE(cacheable_sql("SELECT upper(name) FROM items"));
  EXPECT_FALSE(cacheable_sql("SELECT nextval('s')"));
  EXPECT_FALSE(cacheable_sql("SELECT id FROM items FOR UPDATE"));
  EXPECT_FALSE(cacheable_sql("SELECT * INTO copy FROM items"));
  EXPECT_FALSE(cacheable_sql("INSERT INTO items VALUES (1)"));
  EXPECT_FALSE(cacheable_sql("BEGIN; SELECT 1"));
  EXPECT_FALSE(cacheable_sql("WITH d AS (DELETE FROM items RETURNING *) SELECT * FROM d"));
  EXPECT_FALSE(cacheable_sql("SET plexiproxy.role = 'replica'"));
  EXPECT_FALSE(cacheable_sql("SELEC oops"));
}

TEST(ResultCachePolicy, TheKeyedTextLeavesOutHintsSpaceAndSemicolons) {
  EXPECT_EQ(cache_text("/* plexiproxy: cache_ttl=30s */ SELECT 1;"), "SELECT 1");
  EXPECT_EQ(cache_text("  -- note\n /* a */ SELECT 1 ; ; \n"), "SELECT 1");
  EXPECT_EQ(cache_text("SELECT '/* no */'"), "SELECT '/* no */'");
  EXPECT_EQ(cache_text("/* never closed SELECT 1"), "/* never closed SELECT 1");
  EXPECT_EQ(cache_text(" ; "), "");
}

TEST(ResultCachePolicy, SettingsThatChangeResults) {
  EXPECT_TRUE(setting_changes_results("search_path"));
  EXPECT_TRUE(setting_changes_results("TimeZone"));
  EXPECT_TRUE(setting_changes_results("DateStyle"));
  EXPECT_TRUE(setting_changes_results("sql_mode"));
  EXPECT_FALSE(setting_changes_results("application_name"));
  EXPECT_FALSE(setting_changes_results("Statement_Timeout"));
  EXPECT_FALSE(setting_changes_results("plexiproxy.role"));
}

TEST(ResultCacheKey, FieldsAreDelimitedAndEveryOneCounts) {
  std::string base = CacheKey("c", "u", "d").add("SELECT 1").finish();
  EXPECT_TRUE(base.starts_with("plexiproxy:result:"));
  EXPECT_EQ(base.size(), std::string("plexiproxy:result:").size() + 32);
  EXPECT_EQ(base, CacheKey("c", "u", "d").add("SELECT 1").finish());
  EXPECT_NE(base, CacheKey("c", "u2", "d").add("SELECT 1").finish());
  EXPECT_NE(base, CacheKey("c", "u", "d2").add("SELECT 1").finish());
  EXPECT_NE(base, CacheKey("c2", "u", "d").add("SELECT 1").finish());
  EXPECT_NE(base, CacheKey("c", "u", "d").add("SELECT 2").finish());
  EXPECT_NE(CacheKey("c", "u", "d").add("ab").add("c").finish(),
            CacheKey("c", "u", "d").add("a").add("bc").finish());
  EXPECT_EQ(CacheKey("c", "u", "d").add(bytes_of("x")).finish(),
            CacheKey("c", "u", "d").add("x").finish());
}

TEST(ResultCacheKey, GenerationKeysNameBareTablesInLowerCase) {
  EXPECT_EQ(generation_key("appdb", "public.Items"), "plexiproxy:gen:appdb:items");
  EXPECT_EQ(generation_key("appdb", "items"), "plexiproxy:gen:appdb:items");
  EXPECT_EQ(generation_key("appdb", "\"Odd\""), "plexiproxy:gen:appdb:odd");
  EXPECT_EQ(generation_key("shop", "db.`orders`"), "plexiproxy:gen:shop:orders");
  EXPECT_EQ(cluster_generation_key("shop"), "plexiproxy:gen:shop");
  EXPECT_EQ(generation_keys("a", {"s.t", "t", "u"}),
            (std::vector<std::string>{"plexiproxy:gen:a:t", "plexiproxy:gen:a:u"}));
}

TEST(ResultCacheEntry, AnEntryAnswersOnlyUnderItsGenerations) {
  std::vector<std::int64_t> generations = {0, 7, -1, 1LL << 40};
  const std::string stored("T\0\0\0\4answer", 11);  // NUL bytes included
  std::string entry = encode_entry(generations, bytes_of(stored));
  auto answer = entry_answer(entry, generations);
  ASSERT_TRUE(answer);
  EXPECT_EQ(text_of(*answer), stored);
  EXPECT_FALSE(entry_answer(entry, std::vector<std::int64_t>{0, 8, -1, 1LL << 40}));
  EXPECT_FALSE(entry_answer(entry, std::vector<std::int64_t>{0, 7, -1}));
  EXPECT_FALSE(entry_answer(entry.substr(0, 20), generations));
  EXPECT_FALSE(entry_answer("something else", {}));
  auto empty = entry_answer(encode_entry({}, {}), {});
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

// Runs `body` as a coroutine on `io` until it is done.
template <typename F>
void run(asio::io_context& io, F body) {
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        co_await body();
        done = true;
      },
      asio::detached);
  while (!done && io.run_one_for(5s)) {
  }
  ASSERT_TRUE(done);
}

CacheTarget target_of(std::uint16_t port) {
  CacheTarget target;
  target.host = "127.0.0.1";
  target.port = port;
  target.connect_timeout = 2000ms;
  return target;
}

TEST(CacheConnection, LookupsArePipelinedAndReadTheGenerations) {
  asio::io_context io;
  std::string entry = encode_entry(std::vector<std::int64_t>{3}, bytes_of("cached"));
  ScriptedServer server(io, {{{command({"MGET", "k1", "g1"}) + command({"MGET", "k2", "g1"}),
                               "*2\r\n" + bulk(entry) + bulk("3") + "*2\r\n$-1\r\n$-1\r\n"}}});
  auto connection =
      std::make_shared<CacheConnection>(io.get_executor(), target_of(server.port()), nullptr);
  CacheLookup first, second;
  int finished = 0;
  const std::vector<std::string> generation_keys = {"g1"};
  auto look_up = [&](std::string key, CacheLookup& out) -> awaitable<void> {
    out = co_await connection->lookup(key, generation_keys, 2000ms, 1000ms);
    ++finished;
  };
  asio::co_spawn(io, look_up(std::string("k1"), first), asio::detached);
  asio::co_spawn(io, look_up(std::string("k2"), second), asio::detached);
  while (finished < 2 && io.run_one_for(5s)) {
  }
  ASSERT_EQ(finished, 2);
  EXPECT_EQ(first.status, CacheLookup::Status::kHit);
  EXPECT_EQ(first.generations, std::vector<std::int64_t>{3});
  auto answer = entry_answer(first.entry, first.generations);
  ASSERT_TRUE(answer);
  EXPECT_EQ(text_of(*answer), "cached");
  EXPECT_EQ(second.status, CacheLookup::Status::kMiss);
  EXPECT_EQ(second.generations, std::vector<std::int64_t>{0});
  connection->close();
}

TEST(CacheConnection, AServerThatDoesNotAnswerIsLeftAloneForTheRetryInterval) {
  asio::io_context io;
  // The first connection never answers; a second one would be refused.
  ScriptedServer server(io, {{{command({"MGET", "k", "g"}), ""}}});
  auto connection =
      std::make_shared<CacheConnection>(io.get_executor(), target_of(server.port()), nullptr);
  const std::vector<std::string> one_table = {"g"};
  const std::string key = "k";
  run(io, [&]() -> awaitable<void> {
    auto started = std::chrono::steady_clock::now();
    auto timed_out = co_await connection->lookup(key, one_table, 100ms, 60000ms);
    EXPECT_EQ(timed_out.status, CacheLookup::Status::kFailed);
    EXPECT_GE(std::chrono::steady_clock::now() - started, 100ms);
    auto skipped = co_await connection->lookup(key, one_table, 100ms, 60000ms);
    EXPECT_EQ(skipped.status, CacheLookup::Status::kUnavailable);
  });
  EXPECT_FALSE(connection->connected());
  server.close();
}

TEST(CacheConnection, ARefusedConnectionFailsAndIsRetriedLater) {
  asio::io_context io;
  std::uint16_t port = 0;
  {
    tcp::acceptor closed(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = closed.local_endpoint().port();
  }
  auto connection = std::make_shared<CacheConnection>(io.get_executor(), target_of(port), nullptr);
  const std::string key = "k";
  const std::vector<std::string> none;
  run(io, [&]() -> awaitable<void> {
    auto refused = co_await connection->lookup(key, none, 500ms, 50ms);
    EXPECT_EQ(refused.status, CacheLookup::Status::kFailed);
    auto skipped = co_await connection->lookup(key, none, 500ms, 50ms);
    EXPECT_EQ(skipped.status, CacheLookup::Status::kUnavailable);
    asio::steady_timer wait(io, 80ms);
    co_await wait.async_wait(use_awaitable);
    auto again = co_await connection->lookup(key, none, 500ms, 50ms);
    EXPECT_EQ(again.status, CacheLookup::Status::kFailed);  // tried again: still refused
  });
}

TEST(CacheConnection, InvalidationsWaitForTheConnectionAndStoresFollowThem) {
  asio::io_context io;
  ScriptedServer server(
      io, {{{command({"AUTH", "secret"}) + command({"INCR", "g:a"}) + command({"INCR", "g:b"}),
             "+OK\r\n:1\r\n:4\r\n"},
            {command({"SET", "k", "v", "PX", "1500"}) + command({"MGET", "k"}),
             "+OK\r\n*1\r\n" + bulk("v")}}});
  auto target = target_of(server.port());
  target.password = "secret";
  auto connection = std::make_shared<CacheConnection>(io.get_executor(), target, nullptr);
  // Not connected yet: sent once the connection is up, after AUTH, and waited for.
  const std::vector<std::string> written = {"g:a", "g:b"};
  run(io, [&]() -> awaitable<void> {
    const bool raised = co_await connection->invalidate_now(written, 2000ms, 1000ms);
    EXPECT_TRUE(raised);
  });
  while (!connection->connected() && io.run_one_for(5s)) {
  }
  ASSERT_TRUE(connection->connected());
  // Their answers read: a lookup made while they are unanswered would send them again.
  io.run_for(200ms);
  connection->store("k", "v", 1500ms);
  const std::string key = "k";
  const std::vector<std::string> none;
  run(io, [&]() -> awaitable<void> {
    auto found = co_await connection->lookup(key, none, 2000ms, 1000ms);
    EXPECT_EQ(found.status, CacheLookup::Status::kHit);
    EXPECT_EQ(found.entry, "v");
  });
  connection->close();
}

TEST(CacheConnection, InvalidationsAnotherWorkerCouldNotSendGoAheadOfALookup) {
  asio::io_context io;
  auto unsent = std::make_shared<UnsentInvalidations>();
  unsent->add("g:t");  // a write on another worker, while its connection was down
  ScriptedServer server(io, {{{command({"INCR", "g:t"}) + command({"MGET", "k", "g:t"}),
                               ":5\r\n*2\r\n$-1\r\n" + bulk("5")}}});
  auto connection = std::make_shared<CacheConnection>(io.get_executor(), target_of(server.port()),
                                                      nullptr, unsent);
  const std::string key = "k";
  const std::vector<std::string> tables = {"g:t"};
  run(io, [&]() -> awaitable<void> {
    auto found = co_await connection->lookup(key, tables, 2000ms, 1000ms);
    EXPECT_EQ(found.status, CacheLookup::Status::kMiss);
    EXPECT_EQ(found.generations, std::vector<std::int64_t>{5});
  });
  EXPECT_TRUE(unsent->empty());  // answered: no connection sends it again
  connection->close();
}

}  // namespace
}  // namespace plexi::routing
