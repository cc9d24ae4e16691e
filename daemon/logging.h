// Logging setup: spdlog loggers per component, text or JSON lines, levels from the config.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "config/config.h"

namespace plexi {

// Sets the format and levels for every component logger. Safe to call again on reload.
void configure_logging(const config::Logging& settings);

// The logger of one component ("daemon", "pg", "pool", "sqlite", ...), created on first use.
std::shared_ptr<spdlog::logger> component_logger(std::string_view component);

}  // namespace plexi
