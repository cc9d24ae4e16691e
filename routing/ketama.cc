// The ketama continuum as twemproxy builds and searches it, and hash tags.
#include "routing/ketama.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "routing/ketama_md5.h"

namespace plexi::routing {
namespace {

constexpr int kPointsPerServer = 160;
constexpr int kPointsPerDigest = 4;
constexpr std::uint16_t kLibmemcachedPort = 11211;

// twemproxy's count, in its own float arithmetic: share * 160 / 4 * servers (plus a tiny
// epsilon added in double), floored, times 4. Five servers weighted 1, 6, 6, 6, 6 get 7
// and 47 digests in float (1/25 * 40 * 5 comes out as 7.9999995), where double arithmetic
// would give 8 and 48 and move keys.
std::uint32_t points_for(std::uint32_t weight, std::uint32_t total_weight, std::size_t servers) {
  const float share = static_cast<float>(weight) / static_cast<float>(total_weight);
  const float scaled = share * static_cast<float>(kPointsPerServer) /
                       static_cast<float>(kPointsPerDigest) * static_cast<float>(servers);
  const auto nudged = static_cast<float>(static_cast<double>(scaled) + 0.0000000001);
  return static_cast<std::uint32_t>(std::floor(nudged)) * kPointsPerDigest;
}

}  // namespace

std::string_view hash_tag_part(std::string_view key, std::string_view tag) {
  if (tag.size() < 2) return key;
  const std::size_t open = key.find(tag[0]);
  if (open == std::string_view::npos) return key;
  const std::size_t close = key.find(tag[1], open + 1);
  if (close == std::string_view::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

std::string KetamaRing::default_name(std::string_view host, std::uint16_t port) {
  std::string name(host);
  if (port != kLibmemcachedPort) name += ":" + std::to_string(port);
  return name;
}

KetamaRing::KetamaRing(std::vector<Server> servers, HashFunction hash)
    : servers_(std::move(servers)), hash_(hash) {
  for (Server& server : servers_) server.weight = std::max<std::uint32_t>(server.weight, 1);
  const std::uint32_t total =
      std::accumulate(servers_.begin(), servers_.end(), std::uint32_t{0},
                      [](std::uint32_t sum, const Server& server) { return sum + server.weight; });
  for (std::size_t index = 0; index < servers_.size(); ++index) {
    const Server& server = servers_[index];
    const std::uint32_t points = points_for(server.weight, total, servers_.size());
    std::string text;
    for (std::uint32_t digest = 0; digest < points / kPointsPerDigest; ++digest) {
      text = server.name + "-" + std::to_string(digest);
      const auto md5 = md5_digest(text);
      for (int word = 0; word < kPointsPerDigest; ++word) {
        points_.push_back(Point{digest_word(md5, word), static_cast<std::uint32_t>(index)});
      }
    }
  }
  // Stable, so that points of equal value keep server order (twemproxy's qsort leaves
  // their order to chance; with 32-bit values they are rare).
  std::stable_sort(points_.begin(), points_.end(),
                   [](const Point& a, const Point& b) { return a.value < b.value; });
}

std::size_t KetamaRing::server_for(std::string_view key) const {
  if (servers_.size() <= 1 || points_.empty()) return 0;
  const std::uint32_t hash = key.empty() ? 0 : hash_key(hash_, key);
  // The first point at or after the hash, wrapping around past the last.
  auto point =
      std::lower_bound(points_.begin(), points_.end(), hash,
                       [](const Point& p, std::uint32_t value) { return p.value < value; });
  if (point == points_.end()) point = points_.begin();
  return point->server;
}

std::vector<double> KetamaRing::shares() const {
  std::vector<double> shares(servers_.size(), 0.0);
  if (servers_.size() == 1) shares[0] = 1.0;
  if (servers_.size() <= 1 || points_.empty()) return shares;
  // A point takes the hashes after the point before it, up to its own value; the first
  // point also takes those past the last one.
  constexpr double kSpace = 4294967296.0;
  std::uint32_t previous = points_.back().value;
  for (const Point& point : points_) {
    const std::uint32_t arc = point.value - previous;  // wraps around for the first point
    shares[point.server] += static_cast<double>(arc) / kSpace;
    previous = point.value;
  }
  return shares;
}

}  // namespace plexi::routing
