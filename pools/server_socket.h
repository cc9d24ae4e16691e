// The socket of a relay connection to a server and how it is opened: over TCP, or over a
// Unix socket when the server runs on this host (the kernel's work per round trip is smaller).
#pragma once

#include <cstdint>
#include <string>

#include "common/asio.h"

namespace plexi::pools {

// One socket type for both transports, so the relays read and write through the same calls
// whichever a backend uses: a generic socket dispatches on nothing per operation.
using ServerSocket = asio::generic::stream_protocol::socket;
using ServerEndpoint = asio::generic::stream_protocol::endpoint;

// Connects `socket` to the Unix socket file `target` when it is a path (see
// config::is_socket_path), else to `target`:`port` over TCP with Nagle's algorithm off (the
// relays write whole requests). False, with `error` set, when it cannot; an error about a
// socket file names it.
awaitable<bool> connect_server(ServerSocket& socket, const std::string& target, std::uint16_t port,
                               std::string& error);

}  // namespace plexi::pools
