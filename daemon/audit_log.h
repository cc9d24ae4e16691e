// The audit log: one JSON object a line per statement, to a file rotated by size, written by
// a thread of its own so that a network worker never waits on the disk.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace plexi {

// One finished statement. Views and numbers only: filling one allocates nothing, and
// write() copies what it needs before it returns.
struct AuditRecord {
  std::string_view client;  // "ip:port" (IPv6 as "[::1]:port")
  std::string_view user;
  std::string_view database;
  std::string_view cluster;
  std::string_view backend;   // the backend's name from the config
  std::string_view role;      // "primary", "replica", "analytics", ...
  std::string_view protocol;  // "postgres", "mysql", "redis"
  std::chrono::nanoseconds duration{0};
  std::optional<std::uint64_t> rows;  // left out of the line when unknown
  std::string_view error_code;        // SQLSTATE (or the protocol's code); empty: no error
  std::string_view error_message;
  std::string_view statement;  // the text as sent; logged only with `log.statements: true`
  std::string_view shape;      // the text with literals replaced; always logged when set
};

class AuditLog {
 public:
  // Records that may wait for the disk; past it new records are dropped (and counted).
  static constexpr std::size_t kDefaultQueue = 8192;

  // Opens (appends to) `settings.audit.file`. Null, with `error` saying why, when there is
  // no file configured, its directory does not exist (it is not created) or the file cannot
  // be opened for writing.
  static std::unique_ptr<AuditLog> open(const config::Logging& settings, std::string& error,
                                        std::size_t queue = kDefaultQueue);
  ~AuditLog();  // writes what is queued, then stops the writer thread
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Formats `record` as one line stamped with the current time and queues it. Safe from any
  // number of threads at once; never waits on the disk, only on a short buffer lock. When
  // the buffer is full the record is dropped and counted.
  void write(const AuditRecord& record);

  // Records dropped because the writer thread fell behind, since open().
  std::uint64_t dropped() const;

  // Waits (up to a few seconds) until every record queued before the call is written or
  // dropped. The writer thread writes and flushes a batch every 100 ms (sooner when 64 kB
  // are waiting), so lines reach the file within about that without this.
  void flush();

  // The file's path as configured.
  const std::string& file() const { return file_; }

 private:
  class Sink;
  AuditLog(std::string file, bool statements);

  std::string file_;
  bool statements_;
  std::atomic<std::uint64_t> queued_{0};
  std::unique_ptr<Sink> sink_;
};

// `record` as the audit log writes it, without the line break. The line is appended to
// `out`. `time` is written as RFC 3339 UTC with milliseconds.
void format_audit_record(const AuditRecord& record, bool statements,
                         std::chrono::system_clock::time_point time, std::string& out);

}  // namespace plexi
