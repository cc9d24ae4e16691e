// The sd_notify messages of the daemon, and the workers' heartbeats the watchdog relies on.
#include "daemon/service_manager.h"

#include <time.h>
#include <unistd.h>

#include <spdlog/fmt/fmt.h>

#ifdef PLEXI_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace plexi {

std::string service_status(const ServiceCounts& counts) {
  return fmt::format("{}clients: {} pg, {} mysql, {} redis; servers: {} active, {} idle",
                     counts.draining ? "draining: " : "", counts.postgres_clients,
                     counts.mysql_clients, counts.redis_clients, counts.active_servers,
                     counts.idle_servers);
}

ServiceManager::ServiceManager() {
#ifdef PLEXI_HAVE_SYSTEMD
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0) watchdog_timeout_ = std::chrono::microseconds(usec);
#endif
}

void ServiceManager::ready(const std::string& status) {
  std::lock_guard lock(mutex_);
  send(with_status("READY=1", status));
}

void ServiceManager::took_over(const std::string& status) {
  std::lock_guard lock(mutex_);
  send(with_status(fmt::format("MAINPID={}\nREADY=1", getpid()), status));
}

void ServiceManager::reloading() {
  // CLOCK_MONOTONIC, as systemd compares it with its own clock to tell this reload from an
  // earlier one.
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  auto usec = static_cast<unsigned long long>(now.tv_sec) * 1'000'000ULL +
              static_cast<unsigned long long>(now.tv_nsec) / 1000ULL;
  std::lock_guard lock(mutex_);
  send(fmt::format("RELOADING=1\nMONOTONIC_USEC={}", usec));
}

void ServiceManager::stopping(const std::string& status) {
  std::lock_guard lock(mutex_);
  send(with_status("STOPPING=1", status));
}

void ServiceManager::status(const std::string& status) {
  std::lock_guard lock(mutex_);
  if (status == last_status_) return;
  last_status_ = status;
  send("STATUS=" + status);
}

void ServiceManager::watchdog() { send("WATCHDOG=1"); }

std::string ServiceManager::with_status(std::string state, const std::string& status) {
  last_status_ = status;
  return state + "\nSTATUS=" + status;
}

void ServiceManager::send([[maybe_unused]] const std::string& state) {
#ifdef PLEXI_HAVE_SYSTEMD
  sd_notify(0, state.c_str());
#endif
}

WorkerHeartbeats::WorkerHeartbeats(std::vector<asio::any_io_executor> workers)
    : workers_(std::move(workers)),
      answered_(std::make_shared<std::vector<std::atomic<std::uint64_t>>>(workers_.size())) {}

std::vector<std::size_t> WorkerHeartbeats::late() const {
  std::vector<std::size_t> late;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    if ((*answered_)[i].load(std::memory_order_acquire) != round_) late.push_back(i);
  }
  return late;
}

void WorkerHeartbeats::beat() {
  ++round_;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    asio::post(workers_[i], [answered = answered_, i, round = round_] {
      (*answered)[i].store(round, std::memory_order_release);
    });
  }
}

}  // namespace plexi
