// libFuzzer target for what a process taking over reads from the old one: the client
// frames (with descriptors it pretends came along) and the PostgreSQL, MySQL and Redis session
// states. Whatever decodes must encode back to the same bytes; nothing may crash, and no
// count in the input may make a reader allocate beyond what the input holds.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/client_handover.h"
#include "protocol/mysql/handover_state.h"
#include "protocol/pg/handover_state.h"
#include "protocol/resp/handover_state.h"
#include "tests/fuzz/fuzz_check.h"

using plexi::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  if (auto pg = plexi::pg::decode_handed_session(input)) {
    check(plexi::pg::encode_handed_session(*pg) == input, "pg state re-encodes the same");
  }
  if (auto mysql = plexi::mysql::decode_handed_session(input)) {
    check(plexi::mysql::encode_handed_session(*mysql) == input, "mysql state re-encodes the same");
  }
  if (auto redis = plexi::resp::decode_handed_session(input)) {
    check(plexi::resp::encode_handed_session(*redis) == input, "redis state re-encodes the same");
  }

  // The frames, fed in two pieces with no real descriptors (-1 stands for each).
  plexi::ClientFrameReader reader;
  std::size_t cut = size == 0 ? 0 : data[0] % (size + 1);
  reader.add_bytes(input.substr(0, cut));
  for (int i = 0; i < 4; ++i) reader.add_descriptor(-1);
  bool more = true;
  bool second_piece = false;
  while (more) {
    plexi::HandedClient client;
    std::string error;
    switch (reader.next(client, error)) {
      case plexi::ClientFrameReader::Status::kClient:
        check(!client.protocol.empty(), "a frame names its protocol");
        check(client.state.size() <= plexi::ClientFrameReader::kMaxState, "state within limit");
        reader.add_descriptor(-1);
        break;
      case plexi::ClientFrameReader::Status::kNeedMore:
        if (second_piece) {
          more = false;
        } else {
          reader.add_bytes(input.substr(cut));
          second_piece = true;
        }
        break;
      case plexi::ClientFrameReader::Status::kEnd:
        break;
      case plexi::ClientFrameReader::Status::kError:
        check(!error.empty(), "an error says why");
        more = false;
        break;
    }
  }
  return 0;
}
