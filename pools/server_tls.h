// TLS from the proxy to a backend server: which mode a backend asks for, one OpenSSL context
// per CA file shared by every connection, and the handshake with the checks the mode needs.
#pragma once

#include <string>

#include "common/asio.h"
#include "common/tls_stream.h"
#include "config/config.h"
#include "pools/server_socket.h"

namespace plexi::pools {

// A relay's stream to its server: plain until the protocol's own negotiation starts TLS.
using ServerStream = TlsStream<ServerSocket>;

// How a relay connection uses TLS, as the backend's configuration says. The server's host
// name, for SNI and verify-full, is the address's own host.
struct TlsTarget {
  config::ServerTls mode = config::ServerTls::kPrefer;
  std::string ca_file;  // the CAs verify-ca and verify-full trust (the loader requires one)

  bool operator==(const TlsTarget&) const = default;
  // TLS is attempted at all (prefer and up).
  bool wanted() const { return mode != config::ServerTls::kDisable; }
  // A server that cannot do TLS is refused rather than used in plain text (require and up).
  bool required() const { return mode >= config::ServerTls::kRequire; }
};

// The backend's tls and tls_ca_file; a Unix socket backend gets disable (TLS never runs there).
TlsTarget tls_target(const config::Backend& backend);

// Runs the client side of a TLS handshake with `host` on `stream`, which the protocol has
// already told the server to expect it. verify-ca checks the certificate chain; verify-full
// also that the certificate names `host` (a DNS name, or an IP address in its SANs). False
// with `error` set when the handshake or a check fails; a failed check names OpenSSL's reason
// ("server certificate verify failed: hostname mismatch").
awaitable<bool> start_server_tls(ServerStream& stream, const TlsTarget& tls,
                                 const std::string& host, std::string& error);

}  // namespace plexi::pools
