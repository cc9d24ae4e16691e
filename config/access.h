// The access rules: which clients may try to log in, and how they must prove who they are.
// Evaluated by every front before any authentication exchange, so a refused client costs no
// password check, no auth_query and no server connection.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace plexi::config {

// What a front knows about a client when it asks the rules.
struct AccessRequest {
  Protocol listener = Protocol::kPostgres;
  std::string_view cluster;  // "plexiproxy" for the admin console
  std::string_view user;
  std::array<std::uint8_t, 16> address{};  // IPv6, IPv4 mapped (see to_address_bytes)
  bool tls = false;
};

// `text` as an address block: "a.b.c.d", "a.b.c.d/n", an IPv6 address with or without
// "/n". Nullopt when it is none, with `error` saying why.
std::optional<AddressBlock> parse_address_block(std::string_view text, std::string& error);

// An address in AccessRequest's form from its IPv4 (4 bytes) or IPv6 (16 bytes) bytes.
std::array<std::uint8_t, 16> to_address_bytes(const std::uint8_t* bytes, std::size_t size);

bool contains(const AddressBlock& block, const std::array<std::uint8_t, 16>& address);

// The first rule `request` matches, or null when none does (the client is refused). Only
// for a config with rules: without any, every client may try to log in.
const AccessRule* match_access(const Config& config, const AccessRequest& request);

// Whether some rule could still match once the user is known: for Redis, whose clients name
// their user only in AUTH. Returns the rule that decides without a user (the first whose
// other conditions match and that names no user) or null with `needs_user` true when a rule
// naming users comes first, null with it false when no rule can match at all.
const AccessRule* match_access_before_user(const Config& config, const AccessRequest& request,
                                           bool& needs_user);

// How a refused client is described in logs: "host 10.1.2.3, user "bob", cluster "app",
// TLS" or "… no TLS".
std::string describe_access(const AccessRequest& request);

}  // namespace plexi::config
