// The audit log: lines formatted by the caller and appended to a shared buffer, which a
// writer thread of its own takes in batches (every 100 ms, or sooner when it fills) and
// writes through spdlog's rotating file sink with one flush per batch. Callers never wake
// the writer per record (a wake-up per statement cost more than the rest of the log), and
// a full buffer drops new records, counted, rather than make a worker wait on the disk.
#include "daemon/audit_log.h"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <iterator>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <spdlog/details/log_msg.h>
#include <spdlog/fmt/fmt.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/rotating_file_sink.h>

#include "common/json_escape.h"
#include "common/log_throttle.h"
#include "daemon/logging.h"

namespace plexi {
namespace {

void append_field(std::string& out, std::string_view key, std::string_view value) {
  out += ",\"";
  out += key;
  out += "\":\"";
  append_json_escaped(out, value);
  out += '"';
}

void append_time(std::string& out, std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  const auto since_epoch = duration_cast<milliseconds>(time.time_since_epoch());
  const std::time_t seconds = duration_cast<std::chrono::seconds>(since_epoch).count();
  // The date and time to the second, formatted once a second per thread.
  thread_local std::time_t cached_second = -1;
  thread_local char cached[24];
  if (seconds != cached_second) {
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    fmt::format_to_n(cached, sizeof(cached), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                     utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                     utc.tm_sec);
    cached_second = seconds;
  }
  out.append(cached, 19);
  fmt::format_to(std::back_inserter(out), ".{:03}Z", since_epoch.count() % 1000);
}

}  // namespace

void format_audit_record(const AuditRecord& record, bool statements,
                         std::chrono::system_clock::time_point time, std::string& out) {
  out += "{\"time\":\"";
  append_time(out, time);
  out += '"';
  append_field(out, "client", record.client);
  append_field(out, "user", record.user);
  append_field(out, "database", record.database);
  append_field(out, "cluster", record.cluster);
  append_field(out, "backend", record.backend);
  append_field(out, "role", record.role);
  append_field(out, "protocol", record.protocol);
  fmt::format_to(std::back_inserter(out), ",\"duration_ms\":{:.3f}",
                 std::chrono::duration<double, std::milli>(record.duration).count());
  if (record.rows) fmt::format_to(std::back_inserter(out), ",\"rows\":{}", *record.rows);
  if (!record.error_code.empty() || !record.error_message.empty()) {
    out += ",\"error\":{\"code\":\"";
    append_json_escaped(out, record.error_code);
    out += "\",\"message\":\"";
    append_json_escaped(out, record.error_message);
    out += "\"}";
  }
  if (!record.shape.empty()) append_field(out, "shape", record.shape);
  if (statements && !record.statement.empty()) append_field(out, "statement", record.statement);
  out += '}';
}

// The writer thread and the buffer it drains.
class AuditLog::Sink {
 public:
  Sink(const config::AuditLog& settings, std::size_t capacity)
      : file_(std::make_shared<spdlog::sinks::rotating_file_sink_st>(
            settings.file, settings.max_size, static_cast<std::size_t>(settings.max_files))),
        capacity_(std::max<std::size_t>(capacity, 1)) {
    file_->set_formatter(
        std::make_unique<spdlog::pattern_formatter>("%v", spdlog::pattern_time_type::utc, "\n"));
    writer_ = std::thread([this] { run(); });
  }

  ~Sink() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    writer_.join();  // writes out what is buffered first
  }

  // One line, without its line break.
  void add(std::string_view line) {
    bool wake = false;
    {
      std::lock_guard lock(mutex_);
      if (lines_ >= capacity_) {
        ++dropped_;
        return;
      }
      bool was_below = buffer_.size() < kBatchBytes;
      buffer_.append(line);
      buffer_ += '\n';
      ++lines_;
      wake = was_below && buffer_.size() >= kBatchBytes;
    }
    if (wake) wake_.notify_one();
  }

  // Lines written or dropped since the start: what flush() waits for.
  std::uint64_t settled() const {
    std::lock_guard lock(mutex_);
    return written_ + dropped_;
  }
  std::uint64_t dropped() const {
    std::lock_guard lock(mutex_);
    return dropped_;
  }
  void request_flush() {
    {
      std::lock_guard lock(mutex_);
      flush_requested_ = true;
    }
    wake_.notify_one();
  }

 private:
  static constexpr std::size_t kBatchBytes = 64 * 1024;
  static constexpr auto kPeriod = std::chrono::milliseconds(100);

  void run() {
    std::string batch;
    while (true) {
      std::size_t lines = 0;
      bool stopping = false;
      {
        std::unique_lock lock(mutex_);
        wake_.wait_for(lock, kPeriod, [this] {
          return stopping_ || flush_requested_ || buffer_.size() >= kBatchBytes;
        });
        batch.swap(buffer_);
        buffer_.clear();
        lines = lines_;
        lines_ = 0;
        flush_requested_ = false;
        stopping = stopping_;
      }
      if (!batch.empty()) write_batch(batch);
      {
        std::lock_guard lock(mutex_);
        written_ += lines;
      }
      if (batch.capacity() > 4 * kBatchBytes) std::string().swap(batch);  // after a burst
      if (stopping) return;
    }
  }

  void write_batch(const std::string& batch) {
    try {
      std::string_view rest = batch;
      while (!rest.empty()) {
        auto end = rest.find('\n');
        spdlog::details::log_msg message("audit", spdlog::level::info, rest.substr(0, end));
        file_->log(message);
        rest.remove_prefix(end + 1);
      }
      file_->flush();
    } catch (const spdlog::spdlog_ex& e) {
      report(e.what());
    }
  }

  // Disk errors reach the daemon's log at most once every ten seconds, with a count of
  // those not shown, so a full disk does not flood it.
  void report(const std::string& error) {
    std::uint64_t unreported = 0;
    if (!report_throttle_.allow(unreported)) return;
    component_logger("audit")->error("audit log: {} ({} more errors not shown)", error,
                                     unreported);
  }

  std::shared_ptr<spdlog::sinks::rotating_file_sink_st> file_;  // the writer thread's only
  const std::size_t capacity_;                                   // lines buffered at most
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::string buffer_;
  std::size_t lines_ = 0;
  std::uint64_t written_ = 0;
  std::uint64_t dropped_ = 0;
  bool flush_requested_ = false;
  bool stopping_ = false;
  LogThrottle report_throttle_{1, std::chrono::seconds(10)};
  std::thread writer_;
};

AuditLog::AuditLog(std::string file, bool statements)
    : file_(std::move(file)), statements_(statements) {}

AuditLog::~AuditLog() = default;  // the sink's thread writes the buffer out before it joins

std::unique_ptr<AuditLog> AuditLog::open(const config::Logging& settings, std::string& error,
                                         std::size_t queue) {
  const std::string& file = settings.audit.file;
  if (file.empty()) {
    error = "no audit log file is configured (log.audit.file)";
    return nullptr;
  }
  // A mistyped directory should be an error, not a directory tree created by the proxy.
  std::filesystem::path directory = std::filesystem::path(file).parent_path();
  if (directory.empty()) directory = ".";
  std::error_code ec;
  const auto type = std::filesystem::status(directory, ec).type();
  if (type != std::filesystem::file_type::directory) {
    error = "cannot open the audit log " + file + ": " + directory.string() +
            (type == std::filesystem::file_type::not_found ? " does not exist"
             : ec                                          ? ": " + ec.message()
                                                           : " is not a directory");
    return nullptr;
  }
  std::unique_ptr<AuditLog> log(new AuditLog(file, settings.statements));
  try {
    log->sink_ = std::make_unique<Sink>(settings.audit, queue);
  } catch (const spdlog::spdlog_ex& e) {
    error = "cannot open the audit log " + file + ": " + e.what();
    return nullptr;
  }
  return log;
}

void AuditLog::write(const AuditRecord& record) {
  thread_local std::string line;  // keeps its capacity: no allocation once warmed up
  line.clear();
  format_audit_record(record, statements_, std::chrono::system_clock::now(), line);
  queued_.fetch_add(1, std::memory_order_relaxed);
  sink_->add(line);
}

std::uint64_t AuditLog::dropped() const { return sink_->dropped(); }

void AuditLog::flush() {
  const std::uint64_t target = queued_.load(std::memory_order_relaxed);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  sink_->request_flush();
  while (sink_->settled() < target && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    sink_->request_flush();
  }
}

}  // namespace plexi
