// Tests of the audit log: lines that parse as JSON with the record's fields, rotation by
// size, concurrent writers, a stalled disk that costs records but never the writer's time,
// and refusals to open.
#include "daemon/audit_log.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "routing/json_tree.h"

namespace plexi {
namespace {

using routing::JsonTree;
using namespace std::chrono_literals;

// The members of the JSON object on `line`, strings unescaped, a nested object's members as
// "outer.inner"; empty when the line is not one JSON object.
std::map<std::string, std::string> members_of(const std::string& line) {
  JsonTree tree;
  std::map<std::string, std::string> members;
  if (!tree.parse(line) || tree[0].kind != JsonTree::Kind::kObject) return members;
  auto read = [&](auto& self, std::size_t object, const std::string& prefix) -> void {
    for (auto i = tree.first_child(object); i != JsonTree::npos; i = tree.next_sibling(i)) {
      const std::string key = prefix + routing::json_unescape(tree[i].key);
      if (tree[i].kind == JsonTree::Kind::kObject) {
        self(self, i, key + ".");
      } else {
        members[key] = tree[i].kind == JsonTree::Kind::kString
                           ? routing::json_unescape(tree[i].text)
                           : std::string(tree[i].text);
      }
    }
  };
  read(read, 0, "");
  return members;
}

std::vector<std::string> lines_of(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

AuditRecord sample_record() {
  AuditRecord record;
  record.client = "127.0.0.1:51234";
  record.user = "app\"user";
  record.database = "shop";
  record.cluster = "main";
  record.backend = "pg-primary";
  record.role = "primary";
  record.protocol = "postgres";
  record.duration = 12345678ns;
  record.rows = 42;
  record.shape = "SELECT * FROM t WHERE name = ?";
  record.statement = "SELECT * FROM t WHERE name = 'secret'";
  return record;
}

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "plexi_audit_XXXXXX");
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    directory_ = pattern;
    settings_.audit.file = (directory_ / "audit.jsonl").string();
  }
  void TearDown() override { std::filesystem::remove_all(directory_); }

  std::unique_ptr<AuditLog> open(std::size_t queue = AuditLog::kDefaultQueue) {
    std::string error;
    auto log = AuditLog::open(settings_, error, queue);
    EXPECT_TRUE(log) << error;
    return log;
  }

  // Opens the log, writes sample_record() and returns the file's lines.
  std::vector<std::string> lines_after_one_record() {
    auto log = open();
    if (!log) return {};
    log->write(sample_record());
    log->flush();
    return lines_of(settings_.audit.file);
  }

  std::filesystem::path directory_;
  config::Logging settings_;
};

TEST_F(AuditLogTest, WritesOneJsonObjectALineWithTheRecordsFields) {
  auto log = open();
  ASSERT_TRUE(log);
  AuditRecord failed = sample_record();
  failed.rows.reset();
  failed.error_code = "42P01";
  failed.error_message = "relation \"nope\" does not exist\nLINE 1: \\ \x01 caf\xC3\xA9 \xFF";
  failed.duration = 1500us;
  const auto before = std::chrono::system_clock::now();
  log->write(sample_record());
  log->write(failed);
  log->flush();
  const auto after = std::chrono::system_clock::now();

  auto lines = lines_of(settings_.audit.file);
  ASSERT_EQ(lines.size(), 2u);
  auto first = members_of(lines[0]);
  ASSERT_FALSE(first.empty()) << lines[0];
  EXPECT_EQ(first["client"], "127.0.0.1:51234");
  EXPECT_EQ(first["user"], "app\"user");
  EXPECT_EQ(first["database"], "shop");
  EXPECT_EQ(first["cluster"], "main");
  EXPECT_EQ(first["backend"], "pg-primary");
  EXPECT_EQ(first["role"], "primary");
  EXPECT_EQ(first["protocol"], "postgres");
  EXPECT_EQ(first["duration_ms"], "12.346");
  EXPECT_EQ(first["rows"], "42");
  EXPECT_EQ(first["shape"], "SELECT * FROM t WHERE name = ?");
  EXPECT_EQ(first.count("statement"), 0u);  // log.statements is off: no literals
  EXPECT_EQ(lines[0].find("secret"), std::string::npos);
  EXPECT_EQ(first.count("error.code"), 0u);

  // RFC 3339 in UTC with milliseconds, between the moments around the write.
  const std::string& time = first["time"];
  ASSERT_TRUE(std::regex_match(time, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << time;
  std::tm utc{};
  ASSERT_NE(strptime(time.c_str(), "%Y-%m-%dT%H:%M:%S", &utc), nullptr);
  const auto stamped = std::chrono::system_clock::from_time_t(timegm(&utc)) +
                       std::chrono::milliseconds(std::stoi(time.substr(20, 3)));
  EXPECT_GE(stamped, std::chrono::time_point_cast<std::chrono::milliseconds>(before));
  EXPECT_LE(stamped, after);

  auto second = members_of(lines[1]);
  ASSERT_FALSE(second.empty()) << lines[1];
  EXPECT_EQ(second.count("rows"), 0u);  // unknown: left out, not 0
  EXPECT_EQ(second["duration_ms"], "1.500");
  EXPECT_EQ(second["error.code"], "42P01");
  EXPECT_EQ(second["error.message"],
            "relation \"nope\" does not exist\nLINE 1: \\ \x01 caf\xC3\xA9 \xEF\xBF\xBD");
}

TEST_F(AuditLogTest, WritesTheStatementTextOnlyWhenStatementsAreLogged) {
  settings_.statements = true;
  auto lines = lines_after_one_record();
  ASSERT_EQ(lines.size(), 1u);
  auto members = members_of(lines[0]);
  EXPECT_EQ(members["statement"], "SELECT * FROM t WHERE name = 'secret'");
  EXPECT_EQ(members["shape"], "SELECT * FROM t WHERE name = ?");
}

TEST_F(AuditLogTest, AppendsToAnExistingFile) {
  { std::ofstream(settings_.audit.file) << "{\"earlier\":1}\n"; }
  auto lines = lines_after_one_record();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "{\"earlier\":1}");
}

TEST_F(AuditLogTest, RotatesAtMaxSizeKeepingMaxFiles) {
  settings_.audit.max_size = 2000;
  settings_.audit.max_files = 2;
  auto log = open();
  ASSERT_TRUE(log);
  constexpr int kRecords = 100;  // about 300 bytes each: far more than three files hold
  for (int i = 0; i < kRecords; ++i) {
    AuditRecord record = sample_record();
    record.rows = i;
    log->write(record);
  }
  log->flush();
  const auto current = directory_ / "audit.jsonl";
  const auto older = directory_ / "audit.1.jsonl";
  const auto oldest = directory_ / "audit.2.jsonl";
  ASSERT_TRUE(std::filesystem::exists(older));
  ASSERT_TRUE(std::filesystem::exists(oldest));
  EXPECT_FALSE(std::filesystem::exists(directory_ / "audit.3.jsonl"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(directory_),
                          std::filesystem::directory_iterator()),
            3);
  // Oldest to newest, the kept lines are the last ones written, none torn, none missing.
  std::vector<std::string> kept;
  for (const auto& file : {oldest, older, current}) {
    EXPECT_LE(std::filesystem::file_size(file), 2000u) << file;
    auto lines = lines_of(file);
    EXPECT_FALSE(lines.empty()) << file;
    kept.insert(kept.end(), lines.begin(), lines.end());
  }
  ASSERT_FALSE(kept.empty());
  const int first_kept = kRecords - static_cast<int>(kept.size());
  EXPECT_GT(first_kept, 0);
  for (std::size_t i = 0; i < kept.size(); ++i) {
    auto members = members_of(kept[i]);
    ASSERT_FALSE(members.empty()) << kept[i];
    EXPECT_EQ(members["rows"], std::to_string(first_kept + static_cast<int>(i)));
  }
}

TEST_F(AuditLogTest, ConcurrentWritersProduceCompleteLinesOnly) {
  constexpr int kThreads = 4;
  constexpr int kEach = 3000;
  auto log = open(kThreads * kEach);  // room for all: none dropped, every line checked
  ASSERT_TRUE(log);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&log, t] {
      const std::string user = "user" + std::to_string(t);
      // A statement longer than spdlog's inline buffer and with characters to escape.
      const std::string shape =
          "SELECT \"" + std::string(400, 'x') + "\"\n FROM t" + std::to_string(t) + " WHERE a = ?";
      for (int i = 0; i < kEach; ++i) {
        AuditRecord record = sample_record();
        record.user = user;
        record.shape = shape;
        record.rows = i;
        log->write(record);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  log->flush();
  auto lines = lines_of(settings_.audit.file);
  EXPECT_EQ(log->dropped(), 0u);
  EXPECT_EQ(lines.size(), static_cast<std::size_t>(kThreads * kEach));
  std::map<std::string, int> next_row;  // per thread, every row in the order written
  for (const auto& line : lines) {
    auto members = members_of(line);
    ASSERT_FALSE(members.empty()) << line;
    const std::string& user = members["user"];
    ASSERT_EQ(members["shape"], "SELECT \"" + std::string(400, 'x') + "\"\n FROM t" +
                                    user.substr(4) + " WHERE a = ?");
    const int row = std::stoi(members["rows"]);
    EXPECT_EQ(row, next_row[user]) << user;
    next_row[user] = row + 1;
  }
  ASSERT_EQ(next_row.size(), static_cast<std::size_t>(kThreads));
  for (const auto& [user, next] : next_row) EXPECT_EQ(next, kEach) << user;
}

// A FIFO stands in for a disk that stops: nobody reads it until every record is written.
TEST_F(AuditLogTest, AStalledDiskDropsAndCountsRecordsWithoutBlockingTheWriter) {
  const auto fifo = directory_ / "audit.jsonl";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::atomic<bool> may_read{false};
  std::string received;
  std::thread reader([&] {
    std::ifstream in(fifo);  // opens once the audit log opens the other end
    while (!may_read) std::this_thread::sleep_for(1ms);
    std::ostringstream all;
    all << in.rdbuf();
    received = all.str();
  });
  auto log = open(16);
  ASSERT_TRUE(log);
  constexpr int kRecords = 2000;  // about 1 MB: far more than the pipe and queue hold
  const std::string shape(500, 's');
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRecords; ++i) {
    AuditRecord record = sample_record();
    record.shape = shape;
    record.rows = i;
    log->write(record);
  }
  const auto writing = std::chrono::steady_clock::now() - start;
  EXPECT_LT(writing, 2s);  // the writer thread is stuck on the full pipe all this time
  const std::uint64_t dropped = log->dropped();
  EXPECT_GT(dropped, kRecords / 2u);
  may_read = true;
  log->flush();
  log.reset();  // closes the pipe: the reader sees its end
  reader.join();
  std::istringstream in(received);
  std::size_t lines = 0;
  int last_row = -1;
  for (std::string line; std::getline(in, line); ++lines) {
    auto members = members_of(line);
    ASSERT_FALSE(members.empty()) << line;
    const int row = std::stoi(members["rows"]);
    EXPECT_GT(row, last_row);
    last_row = row;
  }
  EXPECT_EQ(lines + dropped, static_cast<std::size_t>(kRecords));
  // While the buffer is full new records are dropped: those kept are the first, in order.
  EXPECT_EQ(last_row, static_cast<int>(lines) - 1);
}

TEST_F(AuditLogTest, OpenFailsWithAReasonWhenTheFileCannotBeOpened) {
  std::string error;
  settings_.audit.file = (directory_ / "missing" / "audit.jsonl").string();
  EXPECT_FALSE(AuditLog::open(settings_, error));
  EXPECT_NE(error.find((directory_ / "missing").string()), std::string::npos) << error;
  EXPECT_NE(error.find("does not exist"), std::string::npos) << error;
  EXPECT_FALSE(std::filesystem::exists(directory_ / "missing"));  // not created

  error.clear();
  settings_.audit.file = directory_.string();  // a directory, not a file
  EXPECT_FALSE(AuditLog::open(settings_, error));
  EXPECT_NE(error.find(directory_.string()), std::string::npos) << error;

  error.clear();
  settings_.audit.file.clear();
  EXPECT_FALSE(AuditLog::open(settings_, error));
  EXPECT_NE(error.find("log.audit.file"), std::string::npos) << error;
}

}  // namespace
}  // namespace plexi
