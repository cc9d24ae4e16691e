// Builds the OpenSSL context of clients' handshakes from the tls section.
#include "daemon/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <fstream>
#include <iterator>
#include <string_view>

namespace plexi {
namespace {

using error_code = boost::system::error_code;

constexpr std::string_view kPostgresAlpn = "postgresql";

// Picks "postgresql" when the client offers it; other clients (MySQL, Redis, libpq before
// 17) offer no ALPN and go on without one.
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_length,
                const unsigned char* offered, unsigned int offered_length, void*) {
  for (unsigned int i = 0; i < offered_length;) {
    unsigned int length = offered[i];
    if (i + 1 + length > offered_length) break;
    std::string_view name(reinterpret_cast<const char*>(offered + i + 1), length);
    if (name == kPostgresAlpn) {
      *out = offered + i + 1;
      *out_length = static_cast<unsigned char>(length);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + length;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

std::string file_text(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

std::string describe(const std::string& what, const std::string& file, const error_code& ec) {
  // Asio's message for an OpenSSL error is OpenSSL's reason string.
  return what + " " + file + ": " + ec.message();
}

}  // namespace

std::shared_ptr<asio::ssl::context> make_client_tls_context(const config::Config& config,
                                                            std::string& error) {
  if (config.client_tls == config::ClientTls::kDisable) return nullptr;
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* native = context->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(
      native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  error_code ec;
  context->use_certificate_chain_file(config.tls_cert_file, ec);
  if (ec) {
    error = describe("tls.cert_file", config.tls_cert_file, ec);
    return nullptr;
  }
  // OpenSSL checks that the key is the certificate's ("key values mismatch" otherwise).
  context->use_private_key_file(config.tls_key_file, asio::ssl::context::pem, ec);
  if (ec) {
    error = describe("tls.key_file", config.tls_key_file, ec);
    return nullptr;
  }
  if (!config.tls_ca_file.empty()) {
    context->load_verify_file(config.tls_ca_file, ec);
    STACK_OF(X509_NAME)* names = ec ? nullptr : SSL_load_client_CA_file(config.tls_ca_file.c_str());
    if (ec || !names) {
      error = ec ? describe("tls.ca_file", config.tls_ca_file, ec)
                 : "tls.ca_file " + config.tls_ca_file + ": holds no certificate";
      ERR_clear_error();
      return nullptr;
    }
    // The CA names tell clients which certificate to send.
    SSL_CTX_set_client_CA_list(native, names);
    context->set_verify_mode(asio::ssl::verify_peer |
                             (config.tls_verify_client ? asio::ssl::verify_fail_if_no_peer_cert
                                                       : asio::ssl::verify_none));
    // Resumed sessions of verified clients need an id context, or OpenSSL refuses them.
    static constexpr unsigned char kSessionContext[] = "plexiproxy";
    SSL_CTX_set_session_id_context(native, kSessionContext, sizeof(kSessionContext) - 1);
  }
  SSL_CTX_set_alpn_select_cb(native, select_alpn, nullptr);
  return context;
}

std::string client_tls_fingerprint(const config::Config& config) {
  if (config.client_tls == config::ClientTls::kDisable) return {};
  std::string fingerprint;
  for (const auto* part : {&config.tls_cert_file, &config.tls_key_file, &config.tls_ca_file}) {
    fingerprint += *part + '\0' + file_text(*part) + '\0';
  }
  fingerprint += config.tls_verify_client ? '1' : '0';
  return fingerprint;
}

}  // namespace plexi
