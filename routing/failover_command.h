// Runs a cluster's on_failover command without blocking the caller, and reaps it.
#pragma once

#include <spdlog/logger.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "routing/health_events.h"

namespace plexi::routing {

// The argument vector for `command` and a failover. A command with no shell syntax (only
// words separated by spaces) is run directly, found on PATH, with the cluster, the old
// write target (an empty argument when there was none) and the new one appended. Anything
// else ($VAR, quotes, pipes, redirections, ;, &&, globs, ~) runs as
// `/bin/sh -c '<command> "$@"' on_failover <cluster> <old> <new>`, so the three arguments
// reach the command's last simple command: `notify.sh >> /var/log/failover.log` works.
std::vector<std::string> failover_argv(std::string_view command, const Failover& failover);

// Starts the command with stdin on /dev/null, stdout and stderr shared with plexiproxy, and
// no other inherited descriptors. A detached thread waits for it and logs how it ended.
// Returns the child's PID, or -1 when it could not start (logged).
int run_failover_command(std::string_view command, const Failover& failover,
                         std::shared_ptr<spdlog::logger> log);

}  // namespace plexi::routing
