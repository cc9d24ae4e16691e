// Real redis-server and nutcracker processes for the tests that hold the command table and
// the ketama ring against them: each on a free loopback port (20000-31999) in a temporary
// directory, started with fork and exec and stopped by its PID; and a plain RESP client.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <random>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "protocol/resp/value.h"

namespace plexi::routing::testing {

inline constexpr const char* kRedisServer = "/usr/bin/redis-server";
inline constexpr const char* kNutcracker = "/usr/sbin/nutcracker";

// A port nothing on loopback holds right now (bound without SO_REUSEADDR, so a port in
// TIME_WAIT counts as taken), never the same twice in one test process.
inline int free_port() {
  static std::set<int> handed_out;
  static std::mt19937 random(std::random_device{}());
  constexpr int kLow = 20000, kHigh = 32000;
  const int start = std::uniform_int_distribution<int>(kLow, kHigh - 1)(random);
  for (int offset = 0; offset < kHigh - kLow; ++offset) {
    const int port = kLow + (start - kLow + offset) % (kHigh - kLow);
    if (handed_out.count(port)) continue;
    const int probe = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool bound = ::bind(probe, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(probe);
    if (bound) {
      handed_out.insert(port);
      return port;
    }
  }
  throw std::runtime_error("no free loopback port in 20000-31999");
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "plexi-redis-test-XXXXXX");
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string file_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// One child process, its output in `log`. Dies with the test process (parent-death
// signal); stopped by SIGTERM to its own PID, then SIGKILL after five seconds.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::filesystem::path& log) : log_(log) {
    std::vector<char*> pointers;
    for (const std::string& arg : argv) pointers.push_back(const_cast<char*>(arg.c_str()));
    pointers.push_back(nullptr);
    const std::string log_path = log.string();
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      // Only async-signal-safe calls until exec.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(127);
      const int out = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int in = ::open("/dev/null", O_RDONLY);
      if (out < 0 || in < 0) ::_exit(127);
      ::dup2(in, STDIN_FILENO);
      ::dup2(out, STDOUT_FILENO);
      ::dup2(out, STDERR_FILENO);
      ::execv(pointers[0], pointers.data());
      ::_exit(127);
    }
  }
  ~Process() { stop(); }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }
  void stop() {
    if (!running()) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 500; ++i) {
      if (!running()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  std::string log() const { return file_text(log_); }

 private:
  pid_t pid_ = -1;
  std::filesystem::path log_;
};

inline int connect_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  const int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  return fd;
}

// A blocking RESP2 client: requests are written as arrays of bulk strings, replies read
// into resp::Value trees.
class RespClient {
 public:
  explicit RespClient(int port) : fd_(connect_loopback(port)) {
    if (fd_ < 0) throw std::runtime_error("cannot connect to port " + std::to_string(port));
  }
  ~RespClient() { ::close(fd_); }
  RespClient(const RespClient&) = delete;
  RespClient& operator=(const RespClient&) = delete;

  // Queues a request; flush() sends what is queued.
  void send(std::span<const std::string_view> args) {
    out_ += "*" + std::to_string(args.size()) + "\r\n";
    for (std::string_view arg : args) {
      out_ += "$" + std::to_string(arg.size()) + "\r\n";
      out_ += arg;
      out_ += "\r\n";
    }
  }
  void send(std::initializer_list<std::string_view> args) {
    send(std::span<const std::string_view>(args.begin(), args.size()));
  }
  void flush() {
    std::size_t sent = 0;
    while (sent < out_.size()) {
      const ssize_t n = ::send(fd_, out_.data() + sent, out_.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      sent += static_cast<std::size_t>(n);
    }
    out_.clear();
  }
  resp::Value command(std::initializer_list<std::string_view> args) {
    send(args);
    flush();
    return read();
  }
  resp::Value command(std::span<const std::string_view> args) {
    send(args);
    flush();
    return read();
  }

  resp::Value read() {
    const std::string header = line();
    if (header.empty()) throw std::runtime_error("empty RESP line");
    resp::Value value;
    const std::string rest = header.substr(1);
    switch (header[0]) {
      case '+':
        value.type = resp::Type::kSimpleString;
        value.text = rest;
        return value;
      case '-':
        value.type = resp::Type::kError;
        value.text = rest;
        return value;
      case ':':
        value.type = resp::Type::kInteger;
        value.integer = std::stoll(rest);
        return value;
      case '$': {
        const long long length = std::stoll(rest);
        if (length < 0) return value;  // null
        value.type = resp::Type::kBulkString;
        value.text = take(static_cast<std::size_t>(length) + 2).substr(0, length);
        return value;
      }
      case '*': {
        const long long count = std::stoll(rest);
        if (count < 0) return value;
        value.type = resp::Type::kArray;
        for (long long i = 0; i < count; ++i) value.elements.push_back(read());
        return value;
      }
      default:
        throw std::runtime_error("unexpected RESP line: " + header);
    }
  }

 private:
  void fill() {
    char buffer[65536];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n <= 0) throw std::runtime_error("connection closed");
    in_.append(buffer, static_cast<std::size_t>(n));
  }
  std::string line() {
    std::size_t end;
    while ((end = in_.find("\r\n", at_)) == std::string::npos) fill();
    std::string text = in_.substr(at_, end - at_);
    consume(end + 2 - at_);
    return text;
  }
  std::string take(std::size_t count) {
    while (in_.size() - at_ < count) fill();
    std::string text = in_.substr(at_, count);
    consume(count);
    return text;
  }
  void consume(std::size_t count) {
    at_ += count;
    if (at_ > (1 << 20)) {
      in_.erase(0, at_);
      at_ = 0;
    }
  }

  int fd_;
  std::string out_;
  std::string in_;
  std::size_t at_ = 0;
};

// Waits until `port` accepts a connection; false if the process exits or 10 s pass.
inline bool wait_accepting(Process& process, int port) {
  for (int i = 0; i < 1000; ++i) {
    if (!process.running()) return false;
    const int fd = connect_loopback(port);
    if (fd >= 0) {
      ::close(fd);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// A redis-server of its own (no persistence) in `dir`. A port taken between the probe and
// the server's bind makes it exit; another port is tried then.
class RedisServer {
 public:
  explicit RedisServer(const std::filesystem::path& dir) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_port();
      const auto data = dir / ("redis-" + std::to_string(port_));
      std::filesystem::create_directories(data);
      process_ = std::make_unique<Process>(
          std::vector<std::string>{kRedisServer, "--port", std::to_string(port_), "--bind",
                                   "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
                                   data.string()},
          data / "log");
      if (wait_accepting(*process_, port_)) return;
      log_ = process_->log();
      process_.reset();
    }
    throw std::runtime_error("redis-server did not start:\n" + log_);
  }
  int port() const { return port_; }
  pid_t pid() const { return process_->pid(); }

 private:
  int port_ = 0;
  std::unique_ptr<Process> process_;
  std::string log_;
};

}  // namespace plexi::routing::testing
