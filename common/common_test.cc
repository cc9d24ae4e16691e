// Tests for the small shared pieces: the read buffer and the registry of logged-in clients.
#include <gtest/gtest.h>

#include <set>

#include "common/bytes.h"
#include "common/client_registry.h"

namespace plexi {
namespace {

void put(ReadBuffer& buffer, std::string_view text) {
  auto space = buffer.prepare(text.size());
  std::memcpy(space.data(), text.data(), text.size());
  buffer.commit(text.size());
}

std::string text_of(const ReadBuffer& buffer) {
  auto bytes = buffer.readable();
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

TEST(ReadBuffer, KeepsUnreadBytesAcrossGrowthAndRelease) {
  ReadBuffer buffer;
  EXPECT_TRUE(buffer.empty());
  put(buffer, "hello ");
  buffer.consume(2);
  put(buffer, std::string(5000, 'x'));  // grows while two bytes were consumed
  EXPECT_EQ(text_of(buffer), "llo " + std::string(5000, 'x'));
  buffer.release_if_empty();  // not empty: keeps everything
  EXPECT_EQ(buffer.size(), 5004u);
  buffer.shrink_if_idle(16);  // not idle: keeps everything
  buffer.consume(5004);
  EXPECT_TRUE(buffer.empty());
  buffer.release_if_empty();
  put(buffer, "again");
  EXPECT_EQ(text_of(buffer), "again");
}

struct CountingClient : Client {
  int cancels = 0;
  int drains = 0;
  int kills = 0;
  std::string user;
  ClientInfo describe() const override {
    ClientInfo info;
    info.user = user;
    return info;
  }
  std::string_view protocol() const override { return "postgres"; }
  bool logging_in() const override { return false; }
  void cancel() override { ++cancels; }
  void drain() override { ++drains; }
  void kill() override { ++kills; }
};

TEST(ClientRegistry, CancelsAndDrainsLiveClientsByKey) {
  ClientRegistry registry;
  auto first = std::make_shared<CountingClient>();
  auto second = std::make_shared<CountingClient>();
  auto first_key = registry.add(first);
  auto second_key = registry.add(second);
  EXPECT_FALSE(first_key == second_key);
  EXPECT_GT(first_key.pid, 0);

  EXPECT_TRUE(registry.cancel(first_key));
  EXPECT_EQ(first->cancels, 1);
  EXPECT_EQ(second->cancels, 0);
  // A wrong secret cancels nothing.
  EXPECT_FALSE(registry.cancel({first_key.pid, first_key.secret + 1}));

  registry.drain_all();
  EXPECT_EQ(first->drains, 1);
  EXPECT_EQ(second->drains, 1);

  registry.remove(first_key);
  EXPECT_FALSE(registry.cancel(first_key));
  second.reset();  // gone without being removed: its key no longer reaches anything
  EXPECT_FALSE(registry.cancel(second_key));
  registry.drain_all();
  EXPECT_EQ(first->drains, 1);
}

TEST(ClientRegistry, ListsAndKillsLiveClients) {
  ClientRegistry registry;
  auto first = std::make_shared<CountingClient>();
  first->user = "alice";
  auto second = std::make_shared<CountingClient>();
  second->user = "bob";
  auto first_key = registry.add(first);
  auto second_key = registry.add(second);
  std::set<std::string> users;
  for (const auto& [id, client] : registry.clients()) {
    users.insert(client->describe().user);
    EXPECT_EQ(id, client == first ? first_key.pid : second_key.pid);
  }
  EXPECT_EQ(users, (std::set<std::string>{"alice", "bob"}));
  EXPECT_EQ(registry.size(), 2u);

  EXPECT_TRUE(registry.kill(second_key.pid));
  EXPECT_EQ(second->kills, 1);
  EXPECT_EQ(first->kills, 0);
  registry.remove(first_key);
  EXPECT_FALSE(registry.kill(first_key.pid));
  second.reset();
  EXPECT_TRUE(registry.clients().empty());  // a client gone without being removed is not listed
}

TEST(ClientRegistry, KeysAreUnique) {
  ClientRegistry registry;
  auto client = std::make_shared<CountingClient>();
  std::set<std::pair<int, int>> keys;
  for (int i = 0; i < 1000; ++i) {
    auto key = registry.add(client);
    keys.emplace(key.pid, key.secret);
  }
  EXPECT_EQ(keys.size(), 1000u);
}

}  // namespace
}  // namespace plexi
