// Tests of what the service manager is told: the status line's wording, a status sent only
// when it changed, RELOADING=1 with the monotonic clock, and the heartbeats that tell a
// wedged worker from a running one.
#include "daemon/service_manager.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>

namespace plexi {
namespace {

TEST(ServiceStatus, SaysClientsByProtocolAndServersByState) {
  ServiceCounts counts{.postgres_clients = 12, .mysql_clients = 3, .redis_clients = 0,
                       .active_servers = 4, .idle_servers = 6};
  EXPECT_EQ(service_status(counts), "clients: 12 pg, 3 mysql, 0 redis; servers: 4 active, 6 idle");
  counts.draining = true;
  EXPECT_EQ(service_status(counts),
            "draining: clients: 12 pg, 3 mysql, 0 redis; servers: 4 active, 6 idle");
}

#ifdef PLEXI_HAVE_SYSTEMD
// A datagram socket standing in for systemd's, named by NOTIFY_SOCKET while it lives.
class NotifySocket {
 public:
  NotifySocket() {
    path_ = std::filesystem::temp_directory_path() /
            ("plexi-notify-" + std::to_string(getpid()) + ".sock");
    std::filesystem::remove(path_);
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path_.c_str());
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  ~NotifySocket() {
    unsetenv("NOTIFY_SOCKET");
    close(fd_);
    std::filesystem::remove(path_);
  }
  // The next message, or none when nothing is waiting.
  std::optional<std::string> receive() {
    char buffer[4096];
    ssize_t n = recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    return std::string(buffer, static_cast<std::size_t>(n));
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

TEST(ServiceManager, SendsAStatusOnlyWhenItChanged) {
  NotifySocket socket;
  ServiceManager manager;
  manager.ready("clients: 0 pg");
  EXPECT_EQ(socket.receive(), "READY=1\nSTATUS=clients: 0 pg");
  manager.status("clients: 0 pg");  // what READY=1 said already
  manager.status("clients: 1 pg");
  manager.status("clients: 1 pg");
  EXPECT_EQ(socket.receive(), "STATUS=clients: 1 pg");
  EXPECT_EQ(socket.receive(), std::nullopt);
  manager.stopping("draining: clients: 1 pg");
  EXPECT_EQ(socket.receive(), "STOPPING=1\nSTATUS=draining: clients: 1 pg");
}

TEST(ServiceManager, TakingOverNamesThisProcessAsTheMainOne) {
  NotifySocket socket;
  ServiceManager manager;
  manager.took_over("clients: 0 pg");
  EXPECT_EQ(socket.receive(),
            "MAINPID=" + std::to_string(getpid()) + "\nREADY=1\nSTATUS=clients: 0 pg");
}

TEST(ServiceManager, ReloadingCarriesTheMonotonicClock) {
  NotifySocket socket;
  ServiceManager manager;
  timespec before{};
  clock_gettime(CLOCK_MONOTONIC, &before);
  manager.reloading();
  auto message = socket.receive();
  ASSERT_TRUE(message);
  const std::string prefix = "RELOADING=1\nMONOTONIC_USEC=";
  ASSERT_EQ(message->substr(0, prefix.size()), prefix);
  auto usec = std::stoull(message->substr(prefix.size()));
  auto before_usec = static_cast<unsigned long long>(before.tv_sec) * 1'000'000ULL +
                     static_cast<unsigned long long>(before.tv_nsec) / 1000ULL;
  EXPECT_GE(usec, before_usec);
  EXPECT_LT(usec, before_usec + 5'000'000ULL);
}

TEST(ServiceManager, WatchdogIntervalIsHalfOfWatchdogUsec) {
  setenv("WATCHDOG_USEC", "3000000", 1);
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  ServiceManager ours;
  EXPECT_EQ(ours.watchdog_ping_interval(), std::chrono::milliseconds(1500));
  // Meant for another process (the one systemd started, before a binary upgrade).
  setenv("WATCHDOG_PID", std::to_string(getpid() + 1).c_str(), 1);
  ServiceManager other;
  EXPECT_EQ(other.watchdog_ping_interval().count(), 0);
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  ServiceManager none;
  EXPECT_EQ(none.watchdog_ping_interval().count(), 0);
}
#endif

TEST(WorkerHeartbeats, AWorkerIsLateUntilItRunsTheBeat) {
  asio::io_context first(1), second(1);
  WorkerHeartbeats heartbeats({first.get_executor(), second.get_executor()});
  EXPECT_TRUE(heartbeats.late().empty());  // no round yet
  heartbeats.beat();
  EXPECT_EQ(heartbeats.late(), (std::vector<std::size_t>{0, 1}));
  first.poll();
  EXPECT_EQ(heartbeats.late(), (std::vector<std::size_t>{1}));
  second.poll();
  EXPECT_TRUE(heartbeats.late().empty());
  // A beat answered in an earlier round does not count for the next one.
  heartbeats.beat();
  second.restart();  // out of work after its first poll, as a worker with its guard never is
  second.poll();
  EXPECT_EQ(heartbeats.late(), (std::vector<std::size_t>{0}));
}

}  // namespace
}  // namespace plexi
