// The client side of TLS towards backend servers: contexts cached per CA file, the handshake
// and its verification.
#include "pools/server_tls.h"

#include <openssl/x509v3.h>

#include <map>
#include <memory>
#include <mutex>

namespace plexi::pools {
namespace {

// One context per CA file (none: no verification): loading a CA bundle costs milliseconds, and a
// context is safe to share between threads once built. A context that could not load its CAs is not
// kept, so a file put in place later is read on the next connection.
std::shared_ptr<asio::ssl::context> client_context(const std::string& ca_file, std::string& error) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<asio::ssl::context>> contexts;
  std::lock_guard lock(mutex);
  auto& context = contexts[ca_file];
  if (context) return context;
  auto made = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(made->native_handle(), TLS1_2_VERSION);
  error_code ec;
  if (!ca_file.empty()) made->load_verify_file(ca_file, ec);
  if (ec) {
    error = "cannot load the CA certificates of " + ca_file + ": " + ec.message();
    contexts.erase(ca_file);
    return nullptr;
  }
  context = std::move(made);
  return context;
}

bool is_ip_address(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

TlsTarget tls_target(const config::Backend& backend) {
  TlsTarget target;
  target.mode = config::is_socket_path(backend.host) ? config::ServerTls::kDisable : backend.tls;
  target.ca_file = backend.tls_ca_file;
  return target;
}

awaitable<bool> start_server_tls(ServerStream& stream, const TlsTarget& tls,
                                 const std::string& host, std::string& error) {
  auto context = client_context(tls.mode >= config::ServerTls::kVerifyCa ? tls.ca_file : "", error);
  if (!context) co_return false;
  const bool ip = is_ip_address(host);
  bool configured = true;
  auto configure = [&](asio::ssl::stream<ServerSocket&>& ssl) {
    SSL* handle = ssl.native_handle();
    // SNI takes host names only (RFC 6066).
    if (!ip && !host.empty()) SSL_set_tlsext_host_name(handle, host.c_str());
    if (tls.mode < config::ServerTls::kVerifyCa) {
      ssl.set_verify_mode(asio::ssl::verify_none);
      return;
    }
    ssl.set_verify_mode(asio::ssl::verify_peer);
    if (tls.mode == config::ServerTls::kVerifyFull) {
      // OpenSSL's own check during the handshake: its failure is the verify result that
      // names the mismatch.
      X509_VERIFY_PARAM* param = SSL_get0_param(handle);
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      configured = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1
                      : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size()) == 1;
    }
  };
  error_code ec;
  bool started =
      co_await stream.start_tls(*context, asio::ssl::stream_base::client, ec, {}, configure);
  if (!configured) {
    error = "cannot check the server certificate against host '" + host + "'";
    co_return false;
  }
  if (started) co_return true;
  const long verified = stream.ssl() ? SSL_get_verify_result(stream.ssl()) : X509_V_OK;
  if (verified != X509_V_OK) {
    error =
        std::string("server certificate verify failed: ") + X509_verify_cert_error_string(verified);
  } else {
    error = "TLS handshake with the server failed: " + ec.message();
  }
  co_return false;
}

}  // namespace plexi::pools
