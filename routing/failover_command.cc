// posix_spawn of the on_failover command, and a thread per child that waits for its exit.
#include "routing/failover_command.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

extern char** environ;

namespace plexi::routing {
namespace {

bool needs_shell(std::string_view command) {
  return command.find_first_of("|&;<>()$`\\\"'*?[]#~{}!=\n\t") != std::string_view::npos;
}

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  std::size_t at = 0;
  while (at < text.size()) {
    const auto start = text.find_first_not_of(' ', at);
    if (start == std::string_view::npos) break;
    const auto end = std::min(text.find(' ', start), text.size());
    words.emplace_back(text.substr(start, end - start));
    at = end;
  }
  return words;
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "ended with status " + std::to_string(status);
}

}  // namespace

std::vector<std::string> failover_argv(std::string_view command, const Failover& failover) {
  std::vector<std::string> argv;
  if (needs_shell(command)) {
    argv = {"/bin/sh", "-c", std::string(command) + " \"$@\"", "on_failover"};
  } else {
    argv = split_words(command);
  }
  argv.push_back(failover.cluster);
  argv.push_back(failover.from);
  argv.push_back(failover.to);
  return argv;
}

int run_failover_command(std::string_view command, const Failover& failover,
                         std::shared_ptr<spdlog::logger> log) {
  const auto args = failover_argv(command, failover);
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attributes);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  // Listening sockets and server connections must not live on in a long-running hook.
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
  // The child starts with no blocked signals and default handlers, whatever our threads use.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &all);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  pid_t pid = -1;
  const int error = argv.size() > 4
                        ? posix_spawnp(&pid, argv[0], &actions, &attributes, argv.data(), environ)
                        : ENOENT;  // a command of only spaces
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (error != 0) {
    log->error("cluster {}: cannot run on_failover '{}': {}", failover.cluster, command,
               std::strerror(error));
    return -1;
  }
  log->info("cluster {}: on_failover started (pid {}): {} {} -> {}", failover.cluster, pid,
            failover.cluster, failover.from.empty() ? "none" : failover.from, failover.to);
  // One short-lived thread per failover: simpler than SIGCHLD handling, and failovers are rare.
  std::thread([pid, log, cluster = failover.cluster] {
    int status = 0;
    pid_t done;
    do {
      done = ::waitpid(pid, &status, 0);
    } while (done < 0 && errno == EINTR);
    if (done < 0) {
      log->warn("cluster {}: on_failover (pid {}): cannot wait: {}", cluster, pid,
                std::strerror(errno));
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      log->info("cluster {}: on_failover (pid {}) finished", cluster, pid);
    } else {
      log->warn("cluster {}: on_failover (pid {}) {}", cluster, pid, describe_exit(status));
    }
  }).detach();
  return pid;
}

}  // namespace plexi::routing
