// Where a server's response to one command ends, read packet by packet: the relay forwards
// each packet as it arrives and needs to know only when the response is over, whether it
// failed, and the server status flags it ended with (an open transaction, more results, a
// cursor left open).
#pragma once

#include <cstdint>
#include <optional>

#include "common/bytes.h"
#include "protocol/mysql/packets.h"

namespace plexi::mysql {

class ResponseTracker {
 public:
  // What the command's response looks like.
  enum class Shape {
    kResultSets,  // COM_QUERY, COM_STMT_EXECUTE: OK, ERR, LOCAL INFILE or result sets, repeated
                  // while the server says more results exist
    kRows,        // COM_STMT_FETCH: rows up to an EOF, or ERR
    kPrepare,     // COM_STMT_PREPARE: its OK, parameter and column definitions, or ERR
    kFieldList,   // COM_FIELD_LIST: column definitions up to an EOF, or ERR
    kOnePacket,   // COM_PING, COM_INIT_DB, COM_STATISTICS, COM_SET_OPTION, ...: one packet
  };

  ResponseTracker() = default;
  ResponseTracker(Shape shape, std::uint32_t capabilities) { start(shape, capabilities); }
  void start(Shape shape, std::uint32_t capabilities);

  // Takes the next packet's payload; true when it was the response's last.
  bool feed(Bytes payload);

  bool done() const { return state_ == State::kDone; }
  // The server sent ERR (the last result of a multi-result response, or the only one).
  bool failed() const { return failed_; }
  // The server asked for a local file (0xfb): the client's data packets go to the server
  // next, then the response continues.
  bool wants_local_file() const { return state_ == State::kLocalFile; }
  void local_file_sent() { state_ = State::kFirst; }
  // The status flags of the last OK or EOF seen (0 until one is).
  std::uint16_t status() const { return status_; }
  bool saw_status() const { return saw_status_; }
  // The last OK's counts.
  std::uint64_t affected_rows() const { return affected_rows_; }
  std::uint64_t last_insert_id() const { return last_insert_id_; }
  // Rows of the result sets seen so far.
  std::uint64_t rows() const { return rows_; }
  // kPrepare: the server's answer.
  const std::optional<PrepareOk>& prepare_ok() const { return prepare_ok_; }

 private:
  enum class State {
    kFirst,       // the first packet of a result
    kColumns,     // column definitions to come
    kColumnsEnd,  // the EOF after the column definitions
    kRows,        // rows up to the end packet
    kParameters,  // kPrepare: parameter definitions
    kParametersEnd,
    kPrepareColumns,
    kPrepareColumnsEnd,
    kLocalFile,
    kDone,
  };
  void end_with(std::uint16_t status);
  void take_ok(Bytes payload);
  void after_columns_of_prepare();

  Shape shape_ = Shape::kOnePacket;
  std::uint32_t capabilities_ = 0;
  State state_ = State::kFirst;
  std::uint64_t remaining_ = 0;  // definitions still to come
  bool continuation_ = false;    // the previous packet was a full 16 MB piece
  bool failed_ = false;
  bool saw_status_ = false;
  std::uint16_t status_ = 0;
  std::uint64_t affected_rows_ = 0;
  std::uint64_t last_insert_id_ = 0;
  std::uint64_t rows_ = 0;
  std::optional<PrepareOk> prepare_ok_;
};

}  // namespace plexi::mysql
