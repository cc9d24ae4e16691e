// Tests of how a session's view of the configuration moves to a reloaded snapshot: its
// cluster and user are found again by name; a removed user stays, a removed cluster keeps
// the session where it was.
#include <gtest/gtest.h>

#include "config/config.h"

namespace plexi::config {
namespace {

std::shared_ptr<const Config> make_config(std::vector<std::string> users,
                                          std::vector<std::string> backends,
                                          BackendType type = BackendType::kPostgres) {
  auto config = std::make_shared<Config>();
  for (auto& name : users) {
    User user;
    user.name = name;
    config->users.push_back(user);
  }
  Cluster cluster;
  cluster.name = "appdb";
  for (auto& name : backends) {
    Backend backend;
    backend.name = name;
    backend.type = type;
    cluster.backends.push_back(backend);
  }
  config->clusters.emplace("appdb", cluster);
  return config;
}

struct View {
  std::shared_ptr<const Config> config;
  const Cluster* cluster = nullptr;
  const User* user = nullptr;
  std::shared_ptr<const Config> user_config;

  explicit View(std::shared_ptr<const Config> start, std::string_view user_name = "app")
      : config(std::move(start)),
        cluster(config->find_cluster("appdb")),
        user(config->find_user(user_name)) {}
  SessionView view() { return {config, cluster, user, user_config}; }
};

TEST(Adopt, MovesClusterAndUserToTheNewSnapshot) {
  View session(make_config({"app"}, {"pg1"}));
  auto latest = make_config({"app", "other"}, {"pg1", "pg2"});
  ASSERT_TRUE(adopt(latest, session.view()));
  EXPECT_EQ(session.config, latest);
  EXPECT_EQ(session.cluster, latest->find_cluster("appdb"));
  EXPECT_EQ(session.cluster->backends.size(), 2u);
  EXPECT_EQ(session.user, latest->find_user("app"));
  EXPECT_EQ(session.user_config, nullptr);
}

TEST(Adopt, ARemovedUserStaysAliveWithTheSnapshotItCameFrom) {
  auto first = make_config({"app"}, {"pg1"});
  View session(first);
  const User* before = session.user;
  first.reset();  // the daemon's reference is gone
  ASSERT_TRUE(adopt(make_config({"other"}, {"pg1", "pg2"}), session.view()));
  EXPECT_EQ(session.user, before);
  EXPECT_EQ(session.user->name, "app");
  ASSERT_NE(session.user_config, nullptr);
  EXPECT_EQ(session.user_config->find_user("app"), before);
  // Listed again later: the session takes the new record and lets the old snapshot go.
  auto again = make_config({"app"}, {"pg1"});
  ASSERT_TRUE(adopt(again, session.view()));
  EXPECT_EQ(session.user, again->find_user("app"));
  EXPECT_EQ(session.user_config, nullptr);
}

TEST(Adopt, ARemovedOrChangedClusterKeepsTheSessionWhereItWas) {
  auto first = make_config({"app"}, {"pg1"});
  View session(first);
  auto without = std::make_shared<Config>(*make_config({"app"}, {"pg1"}));
  without->clusters.clear();
  EXPECT_FALSE(adopt(without, session.view()));
  EXPECT_FALSE(adopt(make_config({"app"}, {"lite"}, BackendType::kSqlite), session.view()));
  auto redis = std::make_shared<Config>(*make_config({"app"}, {"pg1"}));
  redis->clusters.at("appdb").protocol = Protocol::kRedis;
  EXPECT_FALSE(adopt(redis, session.view()));
  EXPECT_EQ(session.config, first);
  EXPECT_EQ(session.cluster, first->find_cluster("appdb"));
}

TEST(Adopt, NoUserIsFine) {
  View session(make_config({}, {"pg1"}));
  EXPECT_EQ(session.user, nullptr);
  ASSERT_TRUE(adopt(make_config({}, {"pg1", "pg2"}), session.view()));
  EXPECT_EQ(session.user, nullptr);
  EXPECT_EQ(session.user_config, nullptr);
}

}  // namespace
}  // namespace plexi::config
