// Tests of how on_failover commands are run: directly or through the shell, with the
// cluster, old and new write targets as arguments, and reaped without waiting.
#include "routing/failover_command.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace plexi::routing {
namespace {

using Args = std::vector<std::string>;

TEST(FailoverCommand, PlainWordsRunDirectly) {
  EXPECT_EQ(failover_argv("/usr/local/bin/notify --page  ops", {"appdb", "pg1", "pg2"}),
            (Args{"/usr/local/bin/notify", "--page", "ops", "appdb", "pg1", "pg2"}));
  EXPECT_EQ(failover_argv("notify", {"appdb", "", "pg2"}), (Args{"notify", "appdb", "", "pg2"}));
}

TEST(FailoverCommand, ShellSyntaxRunsThroughTheShell) {
  for (const char* command : {"notify >> /var/log/failover.log", "notify $HOME", "a | b",
                              "notify 'two words'", "A=1 notify", "~/bin/notify"}) {
    const auto argv = failover_argv(command, {"appdb", "pg1", "pg2"});
    EXPECT_EQ(argv, (Args{"/bin/sh", "-c", std::string(command) + " \"$@\"", "on_failover", "appdb",
                          "pg1", "pg2"}))
        << command;
  }
}

std::string wait_for_file(const std::filesystem::path& path) {
  for (int i = 0; i < 200; ++i) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    if (text.str().find('\n') != std::string::npos) return text.str();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return "";
}

TEST(FailoverCommand, RunsTheCommandWithItsArguments) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("plexi-failover-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto out = dir / "calls";
  auto log =
      std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
  // Through the shell (a redirection), the arguments arrive as "$@".
  const int pid =
      run_failover_command("printf '%s|%s|%s\\n' > " + out.string(), {"appdb", "", "pg2"}, log);
  EXPECT_GT(pid, 0);
  EXPECT_EQ(wait_for_file(out), "appdb||pg2\n");
  // Directly: no shell, the program found on PATH.
  const auto script = dir / "record.sh";
  std::ofstream(script) << "#!/bin/sh\necho \"$#:$1:$2:$3\" > " << (dir / "direct").string()
                        << "\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  EXPECT_GT(run_failover_command(script.string(), {"appdb", "pg1", "pg2"}, log), 0);
  EXPECT_EQ(wait_for_file(dir / "direct"), "3:appdb:pg1:pg2\n");
  EXPECT_EQ(run_failover_command("/nonexistent/hook", {"appdb", "pg1", "pg2"}, log), -1);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the reapers log
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace plexi::routing
