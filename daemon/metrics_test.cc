#include "daemon/metrics.h"

#include <gtest/gtest.h>

namespace plexi::metrics {
namespace {

TEST(Metrics, StatementSeriesAreCountedAndScraped) {
  Metrics metrics;
  const auto& series = metrics.statements("postgres", "appdb", "pg1", "replica");
  EXPECT_EQ(&series, &metrics.statements("postgres", "appdb", "pg1", "replica"));
  series.record(std::chrono::milliseconds(3));
  series.record(std::chrono::milliseconds(1));
  auto text = metrics.scrape();
  EXPECT_NE(text.find("# HELP plexiproxy_queries_total "), std::string::npos) << text;
  EXPECT_NE(text.find("plexiproxy_queries_total{backend=\"pg1\",cluster=\"appdb\","
                      "protocol=\"postgres\",role=\"replica\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("plexiproxy_query_duration_seconds_count{cluster=\"appdb\","
                      "protocol=\"postgres\",role=\"replica\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("plexiproxy_query_duration_seconds_bucket{cluster=\"appdb\","
                      "protocol=\"postgres\",role=\"replica\",le=\"0.0025\"} 1"),
            std::string::npos)
      << text;
  auto totals = metrics.statement_totals();
  ASSERT_EQ(totals.size(), 1u);
  EXPECT_EQ(totals[0].cluster, "appdb");
  EXPECT_EQ(totals[0].backend, "pg1");
  EXPECT_EQ(totals[0].role, "replica");
  EXPECT_EQ(totals[0].statements, 2u);
  EXPECT_NEAR(totals[0].seconds, 0.004, 1e-9);
}

TEST(Metrics, EveryErrorKindIsExportedFromTheStart) {
  Metrics metrics;
  metrics.error(Error::kAuthFailed);
  auto text = metrics.scrape();
  EXPECT_NE(text.find("plexiproxy_errors_total{kind=\"auth_failed\"} 1"), std::string::npos);
  EXPECT_NE(text.find("plexiproxy_errors_total{kind=\"pool_timeout\"} 0"), std::string::npos);
  EXPECT_NE(text.find("plexiproxy_build_info{version=\"" PLEXI_VERSION "\"} 1"),
            std::string::npos);
}

TEST(Metrics, CollectorsAddFamiliesWithTheirDeclaredHelp) {
  Metrics metrics;
  metrics.add_collector([](std::vector<prometheus::MetricFamily>& families) {
    auto family = Metrics::gauge_family("plexiproxy_backend_up");
    prometheus::ClientMetric metric;
    metric.label = {{"backend", "pg1"}, {"cluster", "appdb"}};
    metric.gauge.value = 0;
    family.metric.push_back(metric);
    families.push_back(std::move(family));
  });
  auto text = metrics.scrape();
  EXPECT_NE(text.find("# HELP plexiproxy_backend_up 1 when the health monitor"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE plexiproxy_backend_up gauge"), std::string::npos);
  EXPECT_NE(text.find("plexiproxy_backend_up{backend=\"pg1\",cluster=\"appdb\"} 0"),
            std::string::npos);
}

}  // namespace
}  // namespace plexi::metrics
