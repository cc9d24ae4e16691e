#include "routing/view_catalog.h"

#include <gtest/gtest.h>

namespace plexi::routing {
namespace {

using Strings = std::vector<std::string>;

TEST(ViewMap, AViewCarriesTheTablesBehindTheViewsItReads) {
  ViewMap map = view_map_of({{"order_totals", "orders"},
                             {"order_totals", "Order_Lines"},
                             {"big_orders", "order_totals"},
                             {"big_orders", "customers"},
                             {"loop_a", "loop_b"},
                             {"loop_b", "loop_a"}});
  EXPECT_EQ(map.tables_behind.at("order_totals"), (Strings{"order_lines", "orders"}));
  EXPECT_EQ(map.tables_behind.at("big_orders"),
            (Strings{"customers", "order_lines", "order_totals", "orders"}));
  EXPECT_EQ(map.tables_behind.at("loop_a"), (Strings{"loop_b"}));  // ends, whatever the catalog
  EXPECT_FALSE(map.tables_behind.contains("orders"));
}

TEST(ViewMap, ReadTablesGainThoseBehindTheirViews) {
  ViewMap map = view_map_of({{"order_totals", "orders"}, {"order_totals", "order_lines"}});
  EXPECT_EQ(with_tables_behind_views(map, {"ORDER_TOTALS", "items"}),
            (Strings{"ORDER_TOTALS", "items", "order_lines", "orders"}));
  EXPECT_EQ(with_tables_behind_views(map, {"items", "items"}), (Strings{"items"}));
  EXPECT_EQ(with_tables_behind_views(ViewMap{}, {}), Strings{});
}

TEST(ViewMap, SchemaChangesAreFoundInAnyStatementOfAString) {
  EXPECT_TRUE(changes_schema("CREATE VIEW v AS SELECT 1"));
  EXPECT_TRUE(
      changes_schema("  /* plexiproxy: role=primary */ create or replace view v as select 1"));
  EXPECT_TRUE(changes_schema("-- why\nDROP VIEW v"));
  EXPECT_TRUE(changes_schema("INSERT INTO t VALUES (1); alter table t add c int"));
  EXPECT_TRUE(changes_schema("/* a /* nested */ comment */ALTER VIEW v RENAME TO w"));
  EXPECT_FALSE(changes_schema("INSERT INTO t VALUES ('CREATE')"));
  EXPECT_FALSE(changes_schema("UPDATE created SET dropped = 1"));
  EXPECT_FALSE(changes_schema("INSERT INTO t VALUES (';'), ('; DROP')"));
  EXPECT_FALSE(changes_schema("SELECT 1 -- CREATE"));
  EXPECT_FALSE(changes_schema("CREATED"));
  EXPECT_FALSE(changes_schema("CREATE TEMP TABLE scratch (v int)"));
  EXPECT_FALSE(changes_schema("create local temporary view mine as select 1"));
  EXPECT_TRUE(changes_schema("CREATE TEMP TABLE scratch (v int); CREATE VIEW v AS SELECT 1"));
  EXPECT_TRUE(changes_schema("CREATE UNLOGGED TABLE t (v int)"));
  EXPECT_FALSE(changes_schema(""));
}

}  // namespace
}  // namespace plexi::routing
