// Component loggers share one stderr sink; the format is text or one JSON object a line.
#include "daemon/logging.h"

#include <mutex>

#include <spdlog/sinks/stdout_sinks.h>

namespace plexi {
namespace {

std::mutex g_mutex;
config::Logging g_settings;
bool g_configured = false;

const char* pattern_for(config::LogFormat format) {
  if (format == config::LogFormat::kJson) {
    return R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","component":"%n","message":"%v"})";
  }
  return "%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v";
}

void apply(const std::shared_ptr<spdlog::logger>& logger) {
  logger->set_pattern(pattern_for(g_settings.format));
  auto level = g_settings.level;
  if (auto it = g_settings.components.find(logger->name()); it != g_settings.components.end()) {
    level = it->second;
  }
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::warn);
}

}  // namespace

void configure_logging(const config::Logging& settings) {
  std::lock_guard lock(g_mutex);
  g_settings = settings;
  g_configured = true;
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& logger) { apply(logger); });
}

std::shared_ptr<spdlog::logger> component_logger(std::string_view component) {
  std::string name(component);
  if (auto existing = spdlog::get(name)) return existing;
  std::lock_guard lock(g_mutex);
  if (auto existing = spdlog::get(name)) return existing;
  static auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(name, sink);
  apply(logger);
  spdlog::register_logger(logger);
  return logger;
}

}  // namespace plexi
