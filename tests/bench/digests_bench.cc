// Times the query digest table: record() on an existing entry from one and two threads, on a
// new entry that evicts another, and the normalising that a snapshot does once per new entry.
// Run by hand: cmake --build build --target digests_bench && build/tests/digests_bench
#include <time.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "routing/query_digests.h"
#include "routing/statement_shape.h"

namespace {

using plexi::routing::DigestSample;
using plexi::routing::QueryDigests;
using plexi::routing::StatementShape;

double clock_ns(clockid_t clock) {
  timespec now{};
  clock_gettime(clock, &now);
  return static_cast<double>(now.tv_sec) * 1e9 + static_cast<double>(now.tv_nsec);
}

struct Timing {
  double cpu_ns = 0;   // CPU time of the calling thread per call
  double wall_ns = 0;  // elapsed time per call, which also counts waiting for a lock
};

template <typename Work>
Timing per_call(long calls, Work work) {
  const double cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
  const double wall = clock_ns(CLOCK_MONOTONIC);
  for (long i = 0; i < calls; ++i) work(i);
  return {(clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu) / static_cast<double>(calls),
          (clock_ns(CLOCK_MONOTONIC) - wall) / static_cast<double>(calls)};
}

DigestSample sample_of(const StatementShape& shape, const std::string& sql) {
  DigestSample sample;
  sample.cluster = "benchdb";
  sample.user = "bench";
  sample.digest = shape.digest;
  sample.shape = shape.text;
  sample.statement = sql;
  sample.elapsed = std::chrono::microseconds(180);
  sample.rows = 1;
  sample.backend = "pg1";
  return sample;
}

// Two threads recording at once, each its own statement (`same`: both the same one).
void two_threads(QueryDigests& digests, const DigestSample (&samples)[2], bool same, long calls,
                 Timing (&out)[2]) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    const DigestSample& sample = samples[same ? 0 : t];
    threads.emplace_back([&digests, &sample, &out, t, calls] {
      out[t] = per_call(calls, [&](long) { digests.record(sample); });
    });
  }
  for (std::thread& thread : threads) thread.join();
}

}  // namespace

int main() {
  static constexpr long kCalls = 2'000'000;
  const std::string select = "SELECT abalance FROM pgbench_accounts WHERE aid = 48213";
  const std::string update =
      "UPDATE pgbench_accounts SET abalance = abalance + -2231 WHERE aid = 1180";
  const StatementShape select_shape = plexi::routing::shape_statement(select);
  const StatementShape update_shape = plexi::routing::shape_statement(update);
  const DigestSample samples[2] = {sample_of(select_shape, select),
                                   sample_of(update_shape, update)};

  if (QueryDigests::shard_of(select_shape.digest) == QueryDigests::shard_of(update_shape.digest)) {
    std::puts("the two statements share a shard: the 2-shard figures would not be");
    return 1;
  }

  QueryDigests digests(10000);
  for (const DigestSample& sample : samples) digests.record(sample);
  const Timing hit = per_call(kCalls, [&](long) { digests.record(samples[0]); });
  Timing same[2];
  two_threads(digests, samples, true, kCalls, same);
  Timing apart[2];
  two_threads(digests, samples, false, kCalls, apart);

  // Every statement a new entry, in a table already full: each record() evicts one.
  QueryDigests full(1000);
  DigestSample fresh = samples[0];
  const Timing miss = per_call(kCalls / 10, [&](long i) {
    fresh.digest = static_cast<std::uint64_t>(i) * 0x9e3779b97f4a7c15ULL;
    full.record(fresh);
  });

  QueryDigests pending(10000);
  for (long i = 0; i < 5000; ++i) {
    fresh.digest = static_cast<std::uint64_t>(i) * 0x9e3779b97f4a7c15ULL;
    pending.record(fresh);
  }
  const double start = clock_ns(CLOCK_THREAD_CPUTIME_ID);
  const std::size_t normalised = pending.normalise_pending();
  const double normalise_ns = (clock_ns(CLOCK_THREAD_CPUTIME_ID) - start) / 5000.0;

  std::printf("ns per call (CPU time of the thread / elapsed):\n");
  std::printf("  record, existing entry, 1 thread           %6.1f / %6.1f\n", hit.cpu_ns,
              hit.wall_ns);
  std::printf("  record, same entry, 2 threads              %6.1f / %6.1f, %6.1f / %6.1f\n",
              same[0].cpu_ns, same[0].wall_ns, same[1].cpu_ns, same[1].wall_ns);
  std::printf("  record, entries in 2 shards, 2 threads     %6.1f / %6.1f, %6.1f / %6.1f\n",
              apart[0].cpu_ns, apart[0].wall_ns, apart[1].cpu_ns, apart[1].wall_ns);
  std::printf("  record, new entry evicting one, 1 thread   %6.1f / %6.1f\n", miss.cpu_ns,
              miss.wall_ns);
  std::printf("  normalise one new entry (snapshot)         %6.1f\n", normalise_ns);
  const QueryDigests::Stats stats = digests.stats();
  return stats.entries == 2 && normalised == 5000 ? 0 : 1;
}
