// A Redis server played from a script on loopback, for the tests of the Redis check and of
// Sentinel discovery: each connection follows its own script of expected requests and answers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/asio.h"

namespace plexi::routing::testing {

class ScriptedServer {
 public:
  // One step: wait until `request` (RESP text, such as "*1\r\n$4\r\nPING\r\n") has arrived,
  // then send `answer`. An empty answer holds the connection open, never answering again; an
  // empty request is there at once. A connection whose script ends otherwise is closed.
  struct Step {
    std::string request;
    std::string answer;
  };
  using Script = std::vector<Step>;

  // The i-th connection accepted follows scripts[i]; further connections are refused.
  ScriptedServer(asio::io_context& io, std::vector<Script> scripts)
      : acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    asio::co_spawn(io, accept(std::move(scripts)), asio::detached);
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  // Everything the connections sent, in arrival order.
  const std::string& received() const { return *received_; }
  // Stops accepting and closes the connections held open.
  void close() {
    acceptor_.close();
    held_->clear();
  }

 private:
  awaitable<void> accept(std::vector<Script> scripts) {
    for (auto& script : scripts) {
      boost::system::error_code ec;
      tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(use_awaitable, ec));
      if (ec) co_return;
      asio::co_spawn(acceptor_.get_executor(),
                     serve(std::move(socket), std::move(script), received_, held_), asio::detached);
    }
    acceptor_.close();
  }

  // Shares the log and the held sockets, not the server: a connection may outlive it.
  static awaitable<void> serve(tcp::socket socket, Script script,
                               std::shared_ptr<std::string> received,
                               std::shared_ptr<std::vector<tcp::socket>> held) {
    std::string pending;
    boost::system::error_code ec;
    for (const auto& step : script) {
      while (pending.find(step.request) == std::string::npos) {
        char chunk[512];
        const std::size_t n = co_await socket.async_read_some(
            asio::buffer(chunk), asio::redirect_error(use_awaitable, ec));
        if (ec) co_return;
        pending.append(chunk, n);
        received->append(chunk, n);
      }
      pending.clear();
      if (step.answer.empty()) {
        held->push_back(std::move(socket));
        co_return;
      }
      co_await asio::async_write(socket, asio::buffer(step.answer),
                                 asio::redirect_error(use_awaitable, ec));
    }
  }

  tcp::acceptor acceptor_;
  std::shared_ptr<std::string> received_ = std::make_shared<std::string>();
  std::shared_ptr<std::vector<tcp::socket>> held_ = std::make_shared<std::vector<tcp::socket>>();
};

// RESP text of a command, as clients send it: an array of bulk strings.
inline std::string resp_command(std::initializer_list<std::string> args) {
  std::string text = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& arg : args) text += "$" + std::to_string(arg.size()) + "\r\n" + arg + "\r\n";
  return text;
}

}  // namespace plexi::routing::testing
