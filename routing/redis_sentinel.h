// Finds a Redis master through Sentinel: asks a Sentinel where the master named in the config
// is, follows its +switch-master announcements, asks again every refresh period (which also
// tells a silent Sentinel from a live one), moves to the next Sentinel when one fails, and
// reports the master's address whenever it changes.
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/asio.h"
#include "config/config.h"

namespace plexi::routing {

struct SentinelSettings {
  std::vector<config::Endpoint> sentinels;  // tried in this order, round and round
  std::string master;                       // the name the Sentinels monitor the master by
  std::chrono::milliseconds timeout{1000};  // for each connect and each answer
  std::chrono::milliseconds refresh{1000};  // how often the master's address is asked again
};

// A Redis cluster's sentinels and sentinel_master, with its health timeout and interval as
// timeout and refresh. None when the cluster names no Sentinels.
std::optional<SentinelSettings> sentinel_settings(const config::Cluster& cluster);

// Watches one master through its Sentinels. Sentinels that need a password are not supported
// (the config has no key for one).
class SentinelWatch {
 public:
  // The master's address as the Sentinel gives it (an IP address unless the Sentinels
  // announce host names).
  using MasterCallback = std::function<void(std::string host, std::uint16_t port)>;

  // `executor` must be a strand, or any executor whose handlers never run concurrently;
  // `on_master` runs on it: once when the master's address is first learnt, then on every
  // change (a Sentinel's +switch-master, or a different answer when asked again), never
  // twice in a row with the same address, and never after stop().
  SentinelWatch(asio::any_io_executor executor, SentinelSettings settings, MasterCallback on_master,
                std::shared_ptr<spdlog::logger> log);
  ~SentinelWatch();  // stop()s
  SentinelWatch(const SentinelWatch&) = delete;
  SentinelWatch& operator=(const SentinelWatch&) = delete;

  // Starts watching; from any thread.
  void start();
  // Stops soon: every connection closes and the callback is not called again. From any
  // thread; calls made on the executor stop the callback at once.
  void stop();

 private:
  struct Core;
  std::shared_ptr<Core> core_;
};

}  // namespace plexi::routing
