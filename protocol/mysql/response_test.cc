#include "protocol/mysql/response.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace plexi::mysql {
namespace {

using Shape = ResponseTracker::Shape;

ByteVector ok_packet(std::uint16_t status, std::uint32_t capabilities, bool eof_header = false,
                     std::uint64_t last_insert_id = 0) {
  Ok ok;
  ok.status = status;
  ok.affected_rows = 1;
  ok.last_insert_id = last_insert_id;
  return encode_ok_payload(ok, capabilities, eof_header);
}

ByteVector column_count(std::uint64_t n) {
  ByteVector out;
  append_lenenc(out, n);
  return out;
}

ByteVector column(const std::string& name) {
  ColumnDefinition definition;
  definition.name = name;
  return encode_column_definition_payload(definition);
}

ByteVector row(const std::string& value) {
  ByteVector out;
  append_text_row_payload(out, {value});
  return out;
}

ByteVector eof(std::uint16_t status) { return encode_eof_payload({0, status}); }

// Feeds packets one by one; returns the index of the packet the tracker called the last
// (-1 when none did).
int last_packet(ResponseTracker& tracker, const std::vector<ByteVector>& packets) {
  for (std::size_t i = 0; i < packets.size(); ++i) {
    if (tracker.feed(packets[i])) return static_cast<int>(i);
  }
  return -1;
}

constexpr std::uint32_t kClassic = cap::kProtocol41;
constexpr std::uint32_t kModern = cap::kProtocol41 | cap::kDeprecateEof | cap::kSessionTrack;

TEST(ResponseTracker, OkEndsAQuery) {
  ResponseTracker tracker(Shape::kResultSets, kClassic);
  EXPECT_EQ(last_packet(tracker,
                        {ok_packet(status::kAutocommit | status::kInTrans, kClassic, false, 42)}),
            0);
  EXPECT_FALSE(tracker.failed());
  EXPECT_EQ(tracker.status() & status::kInTrans, status::kInTrans);
  EXPECT_EQ(tracker.last_insert_id(), 42u);
}

TEST(ResponseTracker, ErrEndsAQuery) {
  ResponseTracker tracker(Shape::kResultSets, kClassic);
  EXPECT_EQ(last_packet(tracker, {encode_err_payload({1146, "42S02", "no such table"})}), 0);
  EXPECT_TRUE(tracker.failed());
}

TEST(ResponseTracker, ClassicResultSetEndsAtTheSecondEof) {
  ResponseTracker tracker(Shape::kResultSets, kClassic);
  std::vector<ByteVector> packets{column_count(2),          column("a"), column("b"),
                                  eof(status::kAutocommit), row("1"),    row("2"),
                                  eof(status::kAutocommit)};
  EXPECT_EQ(last_packet(tracker, packets), 6);
  EXPECT_EQ(tracker.rows(), 2u);
}

TEST(ResponseTracker, DeprecateEofResultSetEndsAtTheOkWithEofHeader) {
  ResponseTracker tracker(Shape::kResultSets, kModern);
  std::vector<ByteVector> packets{column_count(1), column("a"), row("x"),
                                  ok_packet(status::kAutocommit, kModern, true)};
  EXPECT_EQ(last_packet(tracker, packets), 3);
  EXPECT_EQ(tracker.rows(), 1u);
}

TEST(ResponseTracker, MultiResultsGoOnWhileTheServerSaysMore) {
  ResponseTracker tracker(Shape::kResultSets, kClassic);
  std::vector<ByteVector> packets{column_count(1),
                                  column("a"),
                                  eof(status::kMoreResultsExist),
                                  row("1"),
                                  eof(status::kMoreResultsExist),
                                  ok_packet(status::kMoreResultsExist, kClassic),
                                  column_count(1),
                                  column("b"),
                                  eof(0),
                                  row("2"),
                                  eof(status::kAutocommit)};
  EXPECT_EQ(last_packet(tracker, packets), 10);
  EXPECT_EQ(tracker.rows(), 2u);
}

TEST(ResponseTracker, ARowStartingWithAnEofByteIsARowWhenLong) {
  // A value of 2^24 bytes or more starts with 0xfe; such a row is never shorter than 9 bytes.
  ResponseTracker tracker(Shape::kResultSets, kClassic);
  ByteVector long_row{std::byte{0xfe}};
  long_row.resize(20, std::byte{'x'});
  std::vector<ByteVector> packets{column_count(1), column("a"), eof(0), long_row, eof(0)};
  EXPECT_EQ(last_packet(tracker, packets), 4);
  EXPECT_EQ(tracker.rows(), 1u);
}

TEST(ResponseTracker, CursorOpenedEndsAfterTheColumns) {
  ResponseTracker tracker(Shape::kResultSets, kClassic);
  std::vector<ByteVector> packets{column_count(1), column("a"),
                                  eof(status::kCursorExists | status::kAutocommit)};
  EXPECT_EQ(last_packet(tracker, packets), 2);
  EXPECT_TRUE(tracker.status() & status::kCursorExists);
}

TEST(ResponseTracker, FetchReadsRowsToTheEof) {
  ResponseTracker tracker(Shape::kRows, kClassic);
  EXPECT_EQ(last_packet(tracker, {row("1"), row("2"), eof(status::kLastRowSent)}), 2);
  EXPECT_TRUE(tracker.status() & status::kLastRowSent);
}

TEST(ResponseTracker, PrepareCountsParametersAndColumns) {
  for (std::uint32_t capabilities : {kClassic, kModern}) {
    ResponseTracker tracker(Shape::kPrepare, capabilities);
    PrepareOk ok{7, 2, 1, 0};
    std::vector<ByteVector> packets{encode_prepare_ok_payload(ok), column("?"), column("?")};
    if (!(capabilities & cap::kDeprecateEof)) packets.push_back(eof(0));
    packets.push_back(column("c"));
    if (!(capabilities & cap::kDeprecateEof)) packets.push_back(eof(0));
    EXPECT_EQ(last_packet(tracker, packets), static_cast<int>(packets.size()) - 1);
    ASSERT_TRUE(tracker.prepare_ok());
    EXPECT_EQ(tracker.prepare_ok()->statement_id, 7u);
  }
}

TEST(ResponseTracker, PrepareWithoutParametersOrColumnsIsOnePacket) {
  ResponseTracker tracker(Shape::kPrepare, kClassic);
  EXPECT_EQ(last_packet(tracker, {encode_prepare_ok_payload({3, 0, 0, 0})}), 0);
}

TEST(ResponseTracker, FieldListEndsAtTheEof) {
  ResponseTracker tracker(Shape::kFieldList, kClassic);
  EXPECT_EQ(last_packet(tracker, {column("a"), column("b"), eof(0)}), 2);
}

TEST(ResponseTracker, LocalInfileRequestWaitsForTheClientsData) {
  ResponseTracker tracker(Shape::kResultSets, kClassic);
  ByteVector request{std::byte{0xfb}};
  append_text(request, "/tmp/file");
  EXPECT_FALSE(tracker.feed(request));
  EXPECT_TRUE(tracker.wants_local_file());
  tracker.local_file_sent();
  EXPECT_TRUE(tracker.feed(ok_packet(status::kAutocommit, kClassic)));
}

TEST(ResponseTracker, PiecesOfA16MegabytePacketAreOnePacket) {
  ResponseTracker tracker(Shape::kResultSets, kClassic);
  ByteVector full(kMaxPayload, std::byte{'x'});
  full[0] = std::byte{0xfc};  // a row; its continuation may start with any byte
  ByteVector tail{std::byte{0xfe}, std::byte{0}, std::byte{0}};
  std::vector<ByteVector> packets{column_count(1), column("a"), eof(0), full, tail, eof(0)};
  EXPECT_EQ(last_packet(tracker, packets), 5);
  EXPECT_EQ(tracker.rows(), 1u);
}

}  // namespace
}  // namespace plexi::mysql
