// The audit log on spdlog: lines formatted by the caller, queued to an async logger with a
// one-thread pool of its own, written by a rotating file sink. The queue overruns instead of
// blocking, so a slow disk costs records (counted), never a worker's time.
#include "daemon/audit_log.h"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <iterator>
#include <mutex>
#include <thread>

#include <spdlog/async_logger.h>
#include <spdlog/details/thread_pool.h>
#include <spdlog/fmt/fmt.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/rotating_file_sink.h>

#include "common/json_escape.h"
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
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                 utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                 utc.tm_sec, since_epoch.count() % 1000);
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

// Runs on the writer thread: writes a line to the rotating file, counts it, and flushes
// when the queue behind it is empty, so the file is current whenever the log is idle while
// a busy log still writes in large blocks.
class AuditLog::Sink final : public spdlog::sinks::sink {
 public:
  Sink(const config::AuditLog& settings, spdlog::details::thread_pool& pool)
      : file_(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
            settings.file, settings.max_size, static_cast<std::size_t>(settings.max_files))),
        pool_(pool) {
    file_->set_formatter(
        std::make_unique<spdlog::pattern_formatter>("%v", spdlog::pattern_time_type::utc, "\n"));
  }

  void log(const spdlog::details::log_msg& msg) override {
    struct Count {  // counted written or not, so flush() never waits for a failed record
      std::atomic<std::uint64_t>& done;
      ~Count() { done.fetch_add(1, std::memory_order_release); }
    } count{done_};
    file_->log(msg);
    if (pool_.queue_size() == 0) file_->flush();
  }
  void flush() override { file_->flush(); }
  void set_pattern(const std::string&) override {}  // the caller formats the whole line
  void set_formatter(std::unique_ptr<spdlog::formatter>) override {}

  std::uint64_t done() const { return done_.load(std::memory_order_acquire); }

  // Disk errors reach the daemon's log at most once every ten seconds, with a count of
  // those not shown, so a full disk does not flood it.
  void report(const std::string& error) {
    std::lock_guard lock(report_mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (reported_ && now - last_report_ < std::chrono::seconds(10)) {
      ++unreported_;
      return;
    }
    component_logger("audit")->error("audit log: {} ({} more errors not shown)", error,
                                     unreported_);
    reported_ = true;
    last_report_ = now;
    unreported_ = 0;
  }

 private:
  std::shared_ptr<spdlog::sinks::rotating_file_sink_mt> file_;
  spdlog::details::thread_pool& pool_;  // the pool whose thread calls log()
  std::atomic<std::uint64_t> done_{0};
  std::mutex report_mutex_;
  bool reported_ = false;
  std::chrono::steady_clock::time_point last_report_;
  std::uint64_t unreported_ = 0;
};

AuditLog::AuditLog(std::string file, bool statements)
    : file_(std::move(file)), statements_(statements) {}

AuditLog::~AuditLog() = default;  // the pool's thread writes the queue out before it joins

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
    log->pool_ = std::make_shared<spdlog::details::thread_pool>(std::max<std::size_t>(queue, 1), 1);
    log->sink_ = std::make_shared<Sink>(settings.audit, *log->pool_);
  } catch (const spdlog::spdlog_ex& e) {
    error = "cannot open the audit log " + file + ": " + e.what();
    return nullptr;
  }
  log->logger_ = std::make_shared<spdlog::async_logger>(
      "audit", log->sink_, log->pool_, spdlog::async_overflow_policy::overrun_oldest);
  log->logger_->set_level(spdlog::level::trace);
  log->logger_->flush_on(spdlog::level::off);  // flush messages would take queue slots
  log->logger_->set_error_handler(
      [sink = log->sink_.get()](const std::string& message) { sink->report(message); });
  return log;
}

void AuditLog::write(const AuditRecord& record) {
  thread_local std::string line;  // keeps its capacity: no allocation once warmed up
  line.clear();
  format_audit_record(record, statements_, std::chrono::system_clock::now(), line);
  queued_.fetch_add(1, std::memory_order_relaxed);
  logger_->log(spdlog::level::info, spdlog::string_view_t(line.data(), line.size()));
}

std::uint64_t AuditLog::dropped() const { return pool_->overrun_counter(); }

void AuditLog::flush() {
  const std::uint64_t target = queued_.load(std::memory_order_relaxed);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (sink_->done() + dropped() < target && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  try {
    sink_->flush();
  } catch (const spdlog::spdlog_ex& e) {
    sink_->report(e.what());
  }
}

}  // namespace plexi
