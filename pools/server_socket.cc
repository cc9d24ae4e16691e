// Opens the socket of a relay connection to a server, over TCP or a Unix socket.
#include "pools/server_socket.h"

#include <sys/un.h>

#include <vector>

#include "config/config.h"

namespace plexi::pools {

using error_code = boost::system::error_code;

awaitable<bool> connect_server(ServerSocket& socket, const std::string& target, std::uint16_t port,
                               std::string& error) {
  error_code ec;
  if (config::is_socket_path(target)) {
    // Asio throws for a path its socket address cannot hold; the config check keeps
    // configured ones short enough, this keeps the rule an error value.
    if (target.size() >= sizeof(sockaddr_un::sun_path)) {
      error = target + ": path too long for a Unix socket";
      co_return false;
    }
    const asio::local::stream_protocol::endpoint file(target);
    co_await socket.async_connect(file, asio::redirect_error(use_awaitable, ec));
    if (ec) error = target + ": " + ec.message();
    co_return !ec;
  }
  tcp::resolver resolver(socket.get_executor());
  auto found = co_await resolver.async_resolve(target, std::to_string(port),
                                               asio::redirect_error(use_awaitable, ec));
  if (!ec) {
    std::vector<ServerEndpoint> endpoints;
    for (const auto& entry : found) endpoints.emplace_back(entry.endpoint());
    co_await asio::async_connect(socket, endpoints, asio::redirect_error(use_awaitable, ec));
  }
  if (ec) {
    error = ec.message();
    co_return false;
  }
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  co_return true;
}

}  // namespace plexi::pools
