// The server-side TLS context every listener's handshakes use, made from the tls section:
// TLS 1.2 at least, OpenSSL's default ciphers for it, no compression or renegotiation, ALPN
// "postgresql" for PostgreSQL 17's direct TLS, and client certificates when a CA is given.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "common/asio.h"
#include "config/config.h"

namespace plexi {

// The context for `config`'s tls section; null with `error` set when a file cannot be used.
// Null without an error when tls.client is disable.
std::shared_ptr<asio::ssl::context> make_client_tls_context(const config::Config& config,
                                                            std::string& error);

// What the context of `config` is made from: its settings and its files' contents. Equal
// fingerprints make equal contexts, so a reload makes a new one only when this changed.
std::string client_tls_fingerprint(const config::Config& config);

}  // namespace plexi
