// Tests of the component loggers' JSON lines: whatever a message holds, the line is one
// JSON object whose message reads back as it was logged.
#include "daemon/logging.h"

#include <gtest/gtest.h>

#include "routing/json_tree.h"

namespace plexi {
namespace {

using routing::JsonTree;

TEST(Logging, JsonLinesStayOneObjectWhateverTheMessageHolds) {
  config::Logging settings;
  settings.format = config::LogFormat::kJson;
  configure_logging(settings);
  auto log = component_logger("logtest");
  const std::string message = "backend \"pg-1\": {\"x\": 1}\nC:\\tmp\t\x01 caf\xC3\xA9";
  testing::internal::CaptureStderr();
  log->warn("{}", message);
  log->flush();
  const std::string output = testing::internal::GetCapturedStderr();
  configure_logging(config::Logging{});  // back to text for the other tests

  ASSERT_FALSE(output.empty());
  EXPECT_EQ(output.find('\n'), output.size() - 1) << output;  // one line
  const std::string line = output.substr(0, output.size() - 1);
  JsonTree tree;
  ASSERT_TRUE(tree.parse(line)) << line;
  ASSERT_EQ(tree[0].kind, JsonTree::Kind::kObject);
  const auto text = [&](std::string_view key) {
    const std::size_t at = tree.member(0, key);
    return at == JsonTree::npos ? std::string("<missing>") : routing::json_unescape(tree[at].text);
  };
  EXPECT_EQ(text("message"), message);
  EXPECT_EQ(text("level"), "warning");
  EXPECT_EQ(text("component"), "logtest");
  EXPECT_NE(text("time"), "<missing>");
}

TEST(Logging, TextLinesKeepTheMessageAsWritten) {
  configure_logging(config::Logging{});
  auto log = component_logger("logtest");
  testing::internal::CaptureStderr();
  log->warn("said \"hi\"");
  log->flush();
  const std::string output = testing::internal::GetCapturedStderr();
  EXPECT_NE(output.find("[logtest] said \"hi\"\n"), std::string::npos) << output;
}

}  // namespace
}  // namespace plexi
