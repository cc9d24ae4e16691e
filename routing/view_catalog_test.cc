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
  EXPECT_EQ(with_tables_behind_views(&map, {"ORDER_TOTALS", "items"}),
            (Strings{"ORDER_TOTALS", "items", "order_lines", "orders"}));
  EXPECT_EQ(with_tables_behind_views(&map, {"items"}), (Strings{"items"}));
  EXPECT_EQ(with_tables_behind_views(nullptr, {"b", "a"}), (Strings{"b", "a"}));
}

}  // namespace
}  // namespace plexi::routing
