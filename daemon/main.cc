// plexiproxy's entry point: command line, configuration, logging, then the daemon.
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>

#include <spdlog/spdlog.h>

#include "config/config.h"
#include "daemon/daemon.h"
#include "daemon/logging.h"

namespace {

constexpr const char* kUsage = R"(Usage: plexiproxy [OPTIONS]

A database proxy and router for PostgreSQL, MySQL/MariaDB and Redis clients.

Options:
  -c, --config FILE   Read the configuration from FILE (YAML). Without it, plexiproxy
                      serves an embedded SQLite database to loopback clients.
      --check-config  Validate the configuration and exit: 0 when valid, 1 otherwise.
      --allow-insecure-config
                      Load a config file that group or others may read although it
                      holds plain passwords (refused otherwise: chmod 600 it, or use
                      SCRAM/md5 secrets, ${VAR} or password_file:).
  -d, --data DIR      Where the embedded default keeps plexiproxy.db (default: .).
      --takeover [SOCKET]
                      Take the listeners over from the running plexiproxy through its
                      upgrade socket (default: upgrade.socket of the config), which
                      then drains and exits: a binary upgrade without downtime.
  -V, --version       Print the version and exit.
  -h, --help          Print this help and exit.

Environment:
  PLEXIPROXY_<PATH>   Overrides a configuration key; path segments joined by "__",
                      e.g. PLEXIPROXY_LISTEN__POSTGRES=127.0.0.1:7432.
  ${VAR}, ${VAR:-default} in the file expand from the environment.

Signals: SIGHUP reloads the configuration; SIGTERM and SIGINT drain and stop;
SIGUSR2 starts the binary again from its path with --takeover (an upgrade).

The manual, plexiproxy(8), describes every top-level configuration key.
)";

struct CommandLine {
  plexi::DaemonOptions daemon;
  bool check_only = false;
};

int parse(int argc, char** argv, CommandLine& out) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "plexiproxy: %s needs a value\n", name);
        return nullptr;
      }
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "-V" || arg == "--version") {
      std::printf("plexiproxy %s\n", PLEXI_VERSION);
      return 0;
    }
    if (arg == "--check-config") {
      out.check_only = true;
    } else if (arg == "--allow-insecure-config") {
      out.daemon.load.allow_insecure_config = true;
    } else if (arg == "-c" || arg == "--config") {
      const char* path = value("--config");
      if (!path) return 2;
      out.daemon.config_path = path;
    } else if (arg.starts_with("--config=")) {
      out.daemon.config_path = arg.substr(9);
    } else if (arg == "--takeover") {
      // The socket is optional: a following argument that is not an option names it.
      out.daemon.takeover = "";
      if (i + 1 < argc && argv[i + 1][0] != '-') out.daemon.takeover = argv[++i];
    } else if (arg.starts_with("--takeover=")) {
      out.daemon.takeover = arg.substr(11);
    } else if (arg == "-d" || arg == "--data") {
      const char* dir = value("--data");
      if (!dir) return 2;
      out.daemon.data_dir = dir;
    } else if (arg.starts_with("--data=")) {
      out.daemon.data_dir = arg.substr(7);
    } else {
      std::fprintf(stderr, "plexiproxy: unknown option %s\n%s", arg.c_str(), kUsage);
      return 2;
    }
  }
  return -1;
}

// Every client is a descriptor: take as many as the hard limit allows (systemd's and
// Docker's soft limit is often 1024), and say so when max_client_conn cannot fit.
void raise_descriptor_limit(int max_client_conn) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  // Server connections are pooled and few; listeners, logs and pools need some more.
  auto wanted = static_cast<rlim_t>(max_client_conn) + 100;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    spdlog::warn("open files limit {} is below what max_client_conn {} may need ({}): raise "
                 "LimitNOFILE / ulimit -n",
                 static_cast<unsigned long long>(limit.rlim_cur), max_client_conn,
                 static_cast<unsigned long long>(wanted));
  }
}

// Where SIGUSR2 finds the new binary: the path this one was started as (an upgrade replaces
// the file there), made absolute; /proc/self/exe when it was found through PATH.
std::string executable_path(const char* argv0) {
  std::string path = argv0 ? argv0 : "";
  if (path.find('/') == std::string::npos) {
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::string() : self.string();
  }
  if (path.front() == '/') return path;
  std::error_code ec;
  auto absolute = std::filesystem::absolute(path, ec);
  return ec ? path : absolute.lexically_normal().string();
}

}  // namespace

int main(int argc, char** argv) {
  // hiredis writes to its sockets with write(2): a server that went away must give EPIPE,
  // not end the daemon.
  std::signal(SIGPIPE, SIG_IGN);
  CommandLine command_line;
  if (int code = parse(argc, argv, command_line); code >= 0) return code;
  command_line.daemon.executable = executable_path(argv[0]);
  command_line.daemon.arguments.assign(argv + 1, argv + argc);

  auto environment = plexi::config::process_environment();
  plexi::config::LoadResult loaded;
  if (command_line.daemon.config_path) {
    loaded = plexi::config::load_config_file(*command_line.daemon.config_path, environment,
                                             command_line.daemon.load);
  } else {
    loaded = plexi::config::embedded_default_config(command_line.daemon.data_dir, environment);
  }
  if (!loaded.config) {
    for (const auto& error : loaded.errors) std::fprintf(stderr, "%s\n", error.to_string().c_str());
    return 1;
  }
  if (command_line.check_only) {
    std::printf("%s: configuration is valid\n", loaded.config->source.c_str());
    return 0;
  }
  plexi::configure_logging(loaded.config->log);
  raise_descriptor_limit(loaded.config->limits.max_client_conn);
  plexi::Daemon daemon(command_line.daemon, loaded.config);
  return daemon.run();
}
