#include "common/client_handover.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

namespace plexi {
namespace {

// A descriptor the test can tell is open (and owns).
int open_descriptor() {
  int pair[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  ::close(pair[1]);
  return pair[0];
}

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(StateFields, RoundTrip) {
  StateWriter out;
  out.u32(0xdeadbeef).u64(0x0102030405060708ULL).text("").text(std::string("a\0b", 3)).flag(true);
  std::string bytes = out.take();
  StateReader in(bytes);
  EXPECT_EQ(in.u32(), 0xdeadbeefu);
  EXPECT_EQ(in.u64(), 0x0102030405060708ULL);
  EXPECT_EQ(in.text(), "");
  EXPECT_EQ(in.text(), std::string("a\0b", 3));
  EXPECT_TRUE(in.flag());
  EXPECT_TRUE(in.done());
}

TEST(StateFields, ReadingPastTheEndFailsForGood) {
  StateWriter out;
  out.text("hello");
  std::string bytes = out.take();
  StateReader short_text(std::string_view(bytes).substr(0, bytes.size() - 1));
  EXPECT_EQ(short_text.text(), "");
  EXPECT_FALSE(short_text.ok());
  EXPECT_EQ(short_text.u32(), 0u);  // and stays failed
  EXPECT_FALSE(short_text.done());
  StateReader extra(bytes + "x");
  EXPECT_EQ(extra.text(), "hello");
  EXPECT_TRUE(extra.ok());
  EXPECT_FALSE(extra.done());  // a byte left over is not a whole state
}

TEST(StateFields, AFlagIsZeroOrOne) {
  StateWriter out;
  out.u32(2);
  std::string bytes = out.take();
  StateReader in(bytes);
  EXPECT_FALSE(in.flag());
  EXPECT_FALSE(in.ok());
}

TEST(StateFields, ACountTheRestCannotHoldIsRefused) {
  StateWriter out;
  out.u32(1000000).text("one item");
  std::string bytes = out.take();
  StateReader in(bytes);
  EXPECT_EQ(in.count(8), 0u);
  EXPECT_FALSE(in.ok());
}

TEST(HandoverQueue, TakesClientsOnlyWhileOpen) {
  HandoverQueue queue;
  int fd = open_descriptor();
  HandedClient closed_client{"postgres", "state", fd};
  EXPECT_FALSE(queue.offer(std::move(closed_client)));
  EXPECT_EQ(closed_client.fd, fd);  // still the caller's
  queue.open();
  EXPECT_TRUE(queue.is_open());
  EXPECT_TRUE(queue.offer({"postgres", "one", fd}));
  EXPECT_TRUE(queue.offer({"redis", "two", open_descriptor()}));
  queue.close();
  EXPECT_FALSE(queue.offer({"redis", "three", -1}));
  auto taken = queue.take_all();
  ASSERT_EQ(taken.size(), 2u);
  EXPECT_EQ(taken[0].state, "one");
  EXPECT_EQ(taken[1].protocol, "redis");
  EXPECT_TRUE(queue.take_all().empty());
  for (auto& client : taken) ::close(client.fd);
}

TEST(HandoverQueue, ClosesTheDescriptorsNobodyTook) {
  int fd = open_descriptor();
  {
    HandoverQueue queue;
    queue.open();
    ASSERT_TRUE(queue.offer({"postgres", "", fd}));
  }
  EXPECT_FALSE(is_open(fd));
}

TEST(ClientFrames, FramesAndDescriptorsArePairedInOrder) {
  ClientFrameReader reader;
  std::string stream = client_frame_header("postgres", 5) + "abcde" +
                       client_frame_header("redis", 0) + std::string(kHandoverEnd);
  HandedClient client;
  std::string error;
  // Bytes without their descriptor, then in pieces.
  reader.add_bytes(stream.substr(0, 10));
  EXPECT_EQ(reader.next(client, error), ClientFrameReader::Status::kNeedMore);
  reader.add_bytes(stream.substr(10, 14));
  EXPECT_EQ(reader.next(client, error), ClientFrameReader::Status::kNeedMore);
  reader.add_descriptor(41);
  ASSERT_EQ(reader.next(client, error), ClientFrameReader::Status::kClient) << error;
  EXPECT_EQ(client.protocol, "postgres");
  EXPECT_EQ(client.state, "abcde");
  EXPECT_EQ(client.fd, 41);
  reader.add_bytes(stream.substr(24));
  EXPECT_EQ(reader.next(client, error), ClientFrameReader::Status::kNeedMore);  // no fd yet
  reader.add_descriptor(42);
  ASSERT_EQ(reader.next(client, error), ClientFrameReader::Status::kClient) << error;
  EXPECT_EQ(client.protocol, "redis");
  EXPECT_EQ(client.state, "");
  EXPECT_EQ(client.fd, 42);
  EXPECT_EQ(reader.next(client, error), ClientFrameReader::Status::kEnd);
}

TEST(ClientFrames, GarbageIsAnError) {
  for (std::string bad : std::vector<std::string>{
           "HELLO\n", "CLIENT postgres\n", "CLIENT postgres 12x\n", "CLIENT  5\n",
           "CLIENT postgres 99999999999\n", std::string(200, 'x')}) {
    ClientFrameReader reader;
    reader.add_bytes(bad);
    HandedClient client;
    std::string error;
    EXPECT_EQ(reader.next(client, error), ClientFrameReader::Status::kError) << bad;
    EXPECT_FALSE(error.empty());
  }
}

TEST(ClientFrames, DescriptorsNobodyTookAreClosed) {
  int fd = open_descriptor();
  {
    ClientFrameReader reader;
    reader.add_descriptor(fd);
  }
  EXPECT_FALSE(is_open(fd));
}

}  // namespace
}  // namespace plexi
