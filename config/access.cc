#include "config/access.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "config/loader.h"

namespace plexi::config {
namespace {

bool matches_without_user(const AccessRule& rule, const AccessRequest& request) {
  if (!rule.listeners.empty() &&
      std::find(rule.listeners.begin(), rule.listeners.end(), request.listener) ==
          rule.listeners.end()) {
    return false;
  }
  if (!rule.clusters.empty() &&
      std::find(rule.clusters.begin(), rule.clusters.end(), request.cluster) ==
          rule.clusters.end()) {
    return false;
  }
  if (rule.tls && *rule.tls != request.tls) return false;
  if (rule.addresses.empty()) return true;
  return std::any_of(rule.addresses.begin(), rule.addresses.end(),
                     [&](const AddressBlock& block) { return contains(block, request.address); });
}

// A rule's key takes one value or a list of them; `take` gets each (node, key path, text).
template <typename Take>
void for_each_value(detail::Reader& r, const YAML::Node& n, const std::string& key, Take take) {
  if (n.IsSequence()) {
    for (std::size_t i = 0; i < n.size(); ++i) {
      const std::string item_key = detail::index_path(key, i);
      if (auto value = r.text(n[i], item_key)) take(n[i], item_key, *value);
    }
  } else if (auto value = r.text(n, key)) {
    take(n, key, *value);
  }
}

bool matches_user(const AccessRule& rule, std::string_view user) {
  return rule.users.empty() ||
         std::find(rule.users.begin(), rule.users.end(), user) != rule.users.end();
}

}  // namespace

std::string_view to_string(AccessMethod value) {
  switch (value) {
    case AccessMethod::kTrust:
      return "trust";
    case AccessMethod::kPassword:
      return "password";
    case AccessMethod::kScramSha256:
      return "scram-sha-256";
    case AccessMethod::kMd5:
      return "md5";
    case AccessMethod::kCert:
      return "cert";
    case AccessMethod::kReject:
      return "reject";
  }
  return "?";
}

std::array<std::uint8_t, 16> to_address_bytes(const std::uint8_t* bytes, std::size_t size) {
  std::array<std::uint8_t, 16> address{};
  if (size == 16) {
    std::memcpy(address.data(), bytes, 16);
  } else if (size == 4) {
    address[10] = address[11] = 0xff;
    std::memcpy(address.data() + 12, bytes, 4);
  }
  return address;
}

std::optional<AddressBlock> parse_address_block(std::string_view text, std::string& error) {
  auto slash = text.find('/');
  std::string host(text.substr(0, slash));
  AddressBlock block;
  int max_prefix = 128;
  std::uint8_t v4[4];
  if (inet_pton(AF_INET, host.c_str(), v4) == 1) {
    block.bytes = to_address_bytes(v4, 4);
    max_prefix = 32;
  } else if (inet_pton(AF_INET6, host.c_str(), block.bytes.data()) != 1) {
    error = "expected an address or address/prefix such as 10.0.0.0/8 or ::1, got '" +
            std::string(text) + "'";
    return std::nullopt;
  }
  int prefix = max_prefix;
  if (slash != std::string_view::npos) {
    std::string_view digits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
        prefix < 0 || prefix > max_prefix) {
      error = "the prefix length of '" + std::string(text) + "' must be 0 to " +
              std::to_string(max_prefix);
      return std::nullopt;
    }
  }
  block.prefix = prefix + (max_prefix == 32 ? 96 : 0);
  // Bits past the prefix are ignored, as pg_hba.conf's "10.1.2.3/8" means 10.0.0.0/8.
  for (int bit = block.prefix; bit < 128; ++bit) {
    block.bytes[static_cast<std::size_t>(bit / 8)] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
  }
  return block;
}

bool contains(const AddressBlock& block, const std::array<std::uint8_t, 16>& address) {
  int whole = block.prefix / 8;
  if (std::memcmp(block.bytes.data(), address.data(), static_cast<std::size_t>(whole)) != 0) {
    return false;
  }
  int rest = block.prefix % 8;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (block.bytes[static_cast<std::size_t>(whole)] & mask) ==
         (address[static_cast<std::size_t>(whole)] & mask);
}

const AccessRule* match_access(const Config& config, const AccessRequest& request) {
  for (const auto& rule : config.access) {
    if (matches_without_user(rule, request) && matches_user(rule, request.user)) return &rule;
  }
  return nullptr;
}

const AccessRule* match_access_before_user(const Config& config, const AccessRequest& request,
                                           bool& needs_user) {
  needs_user = false;
  for (const auto& rule : config.access) {
    if (!matches_without_user(rule, request)) continue;
    if (rule.users.empty()) return &rule;
    needs_user = true;
    return nullptr;
  }
  return nullptr;
}

std::string describe_access(const AccessRequest& request) {
  char text[INET6_ADDRSTRLEN] = {};
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(request.address.data(), kMapped, sizeof kMapped) == 0) {
    inet_ntop(AF_INET, request.address.data() + 12, text, sizeof text);
  } else {
    inet_ntop(AF_INET6, request.address.data(), text, sizeof text);
  }
  return "host \"" + std::string(text) + "\", user \"" + std::string(request.user) +
         "\", cluster \"" + std::string(request.cluster) + "\", " +
         (request.tls ? "TLS" : "no TLS");
}

namespace detail {

void read_access(Reader& r, const YAML::Node& node, const std::string& path, Draft& d) {
  static const Choices<Protocol> kListeners = {{"postgres", Protocol::kPostgres},
                                               {"mysql", Protocol::kMysql},
                                               {"redis", Protocol::kRedis}};
  static const Choices<AccessMethod> kMethods = {{"trust", AccessMethod::kTrust},
                                                 {"password", AccessMethod::kPassword},
                                                 {"scram-sha-256", AccessMethod::kScramSha256},
                                                 {"md5", AccessMethod::kMd5},
                                                 {"cert", AccessMethod::kCert},
                                                 {"reject", AccessMethod::kReject}};
  static const Fields<AccessRule> fields = {
      {"listener",
       [](Reader& r, const YAML::Node& n, const std::string& key, AccessRule& rule) {
         for_each_value(r, n, key, [&](const YAML::Node& at, const std::string& k, const std::string&) {
           if (auto listener = as_choice(kListeners)(r, at, k)) rule.listeners.push_back(*listener);
         });
       }},
      {"cluster",
       [](Reader& r, const YAML::Node& n, const std::string& key, AccessRule& rule) {
         for_each_value(r, n, key, [&](const YAML::Node&, const std::string&, const std::string& value) {
           rule.clusters.push_back(value);
         });
       }},
      {"user",
       [](Reader& r, const YAML::Node& n, const std::string& key, AccessRule& rule) {
         for_each_value(r, n, key, [&](const YAML::Node&, const std::string&, const std::string& value) {
           rule.users.push_back(value);
         });
       }},
      {"address",
       [](Reader& r, const YAML::Node& n, const std::string& key, AccessRule& rule) {
         for_each_value(r, n, key, [&](const YAML::Node& at, const std::string& k, const std::string& value) {
           std::string error;
           if (auto block = parse_address_block(value, error)) {
             rule.addresses.push_back(*block);
           } else {
             r.error(at, k, error);
           }
         });
       }},
      field("tls", &AccessRule::tls, as_bool()),
      field("method", &AccessRule::method, as_choice(kMethods)),
  };
  if (node.IsNull()) return;
  if (!node.IsSequence()) {
    r.error(node, path, "expected a list of rules (lines starting with '- method:')");
    return;
  }
  for (std::size_t i = 0; i < node.size(); ++i) {
    const YAML::Node item = node[i];
    const std::string item_path = index_path(path, i);
    AccessRule rule;
    if (!item.Mark().is_null()) rule.line = item.Mark().line + 1;
    if (!read_map(r, item, item_path, fields, rule)) continue;
    if (!item.IsMap() || !item["method"].IsDefined()) {
      r.error(item, item_path, "a rule needs a method: (trust, password, scram-sha-256, md5, cert "
                               "or reject)");
      continue;
    }
    for (const auto& name : rule.clusters) {
      if (name != "plexiproxy" && !d.config.find_cluster(name)) {
        r.error(item["cluster"], child_path(item_path, "cluster"),
                "no cluster is named '" + name + "'");
      }
    }
    if (rule.method == AccessMethod::kCert &&
        (d.config.client_tls == ClientTls::kDisable || d.config.tls_ca_file.empty())) {
      r.error(item["method"], child_path(item_path, "method"),
              "cert needs tls.client allow or require and tls.ca_file to verify certificates "
              "with");
    }
    d.config.access.push_back(std::move(rule));
  }
}

}  // namespace detail
}  // namespace plexi::config
