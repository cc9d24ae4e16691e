// The check that the TLS files of the tls section can serve a handshake, with libcrypto
// only, so a bad certificate is a config error at start-up, --check-config and reload.
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "config/loader.h"

namespace plexi::config::detail {
namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* certificate) const { X509_free(certificate); }
};
struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};

// Certificate files hold a chain, a CA file a bundle: far below this, and a wrong path must
// not load a disk image.
constexpr std::size_t kMaxTlsFile = 16 * 1024 * 1024;

// The file's contents as a memory BIO (`contents` must outlive it); empty with `error` set
// when it cannot be read. Read through read_small_file: BIO_new_file on a FIFO waits for a
// writer, so a TLS file named by mistake or malice could block start-up for ever.
std::unique_ptr<BIO, BioFree> open(const std::string& file, std::string& contents,
                                   std::string& error) {
  auto read = read_small_file(file, kMaxTlsFile, error);
  if (!read) return nullptr;
  contents = std::move(*read);
  std::unique_ptr<BIO, BioFree> bio(
      BIO_new_mem_buf(contents.data(), static_cast<int>(contents.size())));
  if (!bio) error = "cannot read " + file + ": out of memory";
  ERR_clear_error();
  return bio;
}

}  // namespace

std::vector<ConfigError> check_tls_files(const Config& config) {
  std::vector<ConfigError> errors;
  if (config.client_tls == ClientTls::kDisable) return errors;
  auto fail = [&](std::string_view key, std::string message) {
    errors.push_back(
        {config.source, config.tls_line, "tls." + std::string(key), std::move(message)});
  };
  std::string error, contents;
  std::unique_ptr<X509, X509Free> certificate;
  if (auto bio = open(config.tls_cert_file, contents, error)) {
    certificate.reset(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!certificate) fail("cert_file", config.tls_cert_file + " holds no PEM certificate");
  } else {
    fail("cert_file", error);
  }
  if (auto bio = open(config.tls_key_file, contents, error)) {
    std::unique_ptr<EVP_PKEY, KeyFree> key(
        PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!key) {
      fail("key_file", config.tls_key_file + " holds no PEM private key (or it is encrypted)");
    } else if (certificate && X509_check_private_key(certificate.get(), key.get()) != 1) {
      fail("key_file", config.tls_key_file + " is not the key of " + config.tls_cert_file);
    }
  } else {
    fail("key_file", error);
  }
  if (!config.tls_ca_file.empty()) {
    if (auto bio = open(config.tls_ca_file, contents, error)) {
      std::unique_ptr<X509, X509Free> ca(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
      if (!ca) fail("ca_file", config.tls_ca_file + " holds no PEM certificate");
    } else {
      fail("ca_file", error);
    }
  }
  ERR_clear_error();
  return errors;
}

}  // namespace plexi::config::detail
