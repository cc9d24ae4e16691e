// One Redis backend's health check through hiredis's async API, its socket waited on with
// Asio: a connection kept between checks, AUTH when the backend has a password, PING, ROLE
// (and INFO replication on a replica), and what they say as a CheckResult, all within the
// check's timeout. hiredis 0.14 has no TLS: a backend with tls require and up is asked the
// same over the relays' own ServerLink instead.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/asio.h"
#include "config/config.h"
#include "pools/redis/server_link.h"
#include "protocol/resp/value.h"
#include "routing/backend_check.h"
#include "routing/backend_health.h"
#include "routing/redis_async.h"

namespace plexi::routing {

// Where a Redis check connects and what it sends AUTH with: `password` alone is
// `AUTH password`, with `user` it is `AUTH user password` (an ACL user); no password, no AUTH.
// Two equal settings describe the same check.
struct RedisCheckSettings : CheckLogin {
  bool operator==(const RedisCheckSettings&) const = default;
};

// The backend's own username and password when it has either, else the cluster's
// health.user and health.password; with none of them the check sends no AUTH (a Redis
// server may need none, unlike an SQL one). Its tls and tls_ca_file as for the relays.
std::optional<RedisCheckSettings> redis_check_settings(const config::Cluster& cluster,
                                                       const config::Backend& backend);

// Reads ROLE's reply into `result`. A master is a primary: not in recovery, wal_lsn its
// replication offset. A replica (ROLE says "slave") is in recovery, wal_lsn its offset (0
// before its first sync); while its link to the master is "connected" its receive_lsn is the
// same offset, for a Redis replica applies the stream as it arrives (so nothing waits: no
// lag). A sentinel, an error reply or another shape leave `result` failed.
void read_role(const resp::Value& reply, CheckResult& result);

// Reads INFO replication's reply into `result`, which read_role() found a replica. While
// master_link_status is up, replay_age_seconds is master_last_io_seconds_ago; while it is
// down, the receive position goes and replay_age_seconds is master_link_down_since_seconds
// (what the replica serves is that old), or none when it has never been in sync: a lag
// nobody knows.
void read_replication_info(const resp::Value& reply, CheckResult& result);

class RedisCheck : public BackendCheck {
 public:
  // `executor`: as for BackendCheck, a strand or the like.
  RedisCheck(asio::any_io_executor executor, RedisCheckSettings settings);
  ~RedisCheck() override;

 private:
  bool connected() const override { return link_ || connection_.connected(); }
  awaitable<bool> attempt(CheckResult& result) override;
  void reset() override;
  void interrupt() override;
  bool tls() const { return settings_.tls >= config::ServerTls::kRequire; }
  awaitable<bool> connect(std::string& error);
  // Sends `command` and waits for its reply; an error reply is a failure named after the
  // command's first word.
  awaitable<std::optional<resp::Value>> ask(std::vector<std::string> command, std::string& error);
  // ask() over the TLS link, which logs in (AUTH) on its own when it connects.
  awaitable<std::optional<resp::Value>> ask_link(const std::vector<std::string>& command,
                                                 std::string& error);

  RedisCheckSettings settings_;
  HiredisConnection connection_;
  Waker waker_;  // before link_: a closing link may still wake it
  std::shared_ptr<pools::redis::ServerLink> link_;
};

}  // namespace plexi::routing
