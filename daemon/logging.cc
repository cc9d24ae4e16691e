// Component loggers share one stderr sink; the format is text or one JSON object a line.
#include "daemon/logging.h"

#include <mutex>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "common/json_escape.h"

namespace plexi {
namespace {

// %j: the message escaped for a JSON string, so that quotes, backslashes, line breaks and
// bytes that are not UTF-8 in a message cannot break the line.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    thread_local std::string escaped;
    escaped.clear();
    append_json_escaped(escaped, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

std::mutex g_mutex;
config::Logging g_settings;
bool g_configured = false;

std::unique_ptr<spdlog::formatter> formatter_for(config::LogFormat format) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  if (format == config::LogFormat::kJson) {
    // Component names are the daemon's own words and level names are fixed: only the
    // message needs escaping.
    formatter->add_flag<JsonMessageFlag>('j').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","component":"%n","message":"%j"})");
  } else {
    formatter->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v");
  }
  return formatter;
}

void apply(const std::shared_ptr<spdlog::logger>& logger) {
  logger->set_formatter(formatter_for(g_settings.format));
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
