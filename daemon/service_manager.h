// What the daemon tells the service manager (systemd, Type=notify): ready, reloading,
// stopping, a status line with its client and server counts, and the watchdog's pings.
// When the process was not started with NOTIFY_SOCKET, or built without libsystemd, every
// message goes nowhere and the watchdog is off.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/asio.h"

namespace plexi {

// The figures of the STATUS= line.
struct ServiceCounts {
  int postgres_clients = 0;
  int mysql_clients = 0;
  int redis_clients = 0;
  int active_servers = 0;  // server connections handed out to clients (or being opened)
  int idle_servers = 0;
  bool draining = false;
};

// "clients: 12 pg, 3 mysql, 0 redis; servers: 4 active, 6 idle", prefixed with
// "draining: " once shutdown has begun.
std::string service_status(const ServiceCounts& counts);

class ServiceManager {
 public:
  // Reads the watchdog's timeout from WATCHDOG_USEC (when WATCHDOG_PID, if set, is ours).
  // The environment is left as it is, so a process this one starts sees it too.
  ServiceManager();

  // READY=1, with the status line. Also ends a reload.
  void ready(const std::string& status);
  // MAINPID= (this process) with READY=1 and the status line: what the new process of a
  // binary upgrade says once it serves, so systemd follows it rather than the old one
  // (needs NotifyAccess=all, as the unit sets).
  void took_over(const std::string& status);
  // RELOADING=1 with MONOTONIC_USEC=, which Type=notify-reload requires (systemd >= 253).
  void reloading();
  // STOPPING=1, with the status line.
  void stopping(const std::string& status);
  // STATUS=, only when it differs from the last one sent.
  void status(const std::string& status);

  // How often to ping: half the watchdog's timeout; zero when the watchdog is off.
  std::chrono::microseconds watchdog_ping_interval() const { return watchdog_timeout_ / 2; }
  // WATCHDOG=1.
  void watchdog();

 private:
  void send(const std::string& state);
  // Appends STATUS= to `state` and remembers it as the last status sent.
  std::string with_status(std::string state, const std::string& status);

  std::chrono::microseconds watchdog_timeout_{0};
  std::mutex mutex_;  // reloads come from the admin console's thread too
  std::string last_status_;
};

// Proves that every worker thread still runs its handlers, for the watchdog: each round
// posts a beat to every worker, and the next round sees which workers have not run it.
class WorkerHeartbeats {
 public:
  explicit WorkerHeartbeats(std::vector<asio::any_io_executor> workers);

  // The workers (by index) that have not yet run the last round's beat; empty before the
  // first round.
  std::vector<std::size_t> late() const;
  // Starts a new round: posts a beat to each worker.
  void beat();

 private:
  std::vector<asio::any_io_executor> workers_;
  // The last round each worker ran; shared with the posted beats, which may run after the
  // daemon has let go of this object.
  std::shared_ptr<std::vector<std::atomic<std::uint64_t>>> answered_;
  std::uint64_t round_ = 0;
};

}  // namespace plexi
