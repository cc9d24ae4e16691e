#include "protocol/mysql/response.h"

namespace plexi::mysql {
namespace {

std::uint8_t first_byte(Bytes payload) {
  return payload.empty() ? 0 : std::to_integer<std::uint8_t>(payload[0]);
}

}  // namespace

void ResponseTracker::start(Shape shape, std::uint32_t capabilities) {
  *this = ResponseTracker();
  shape_ = shape;
  capabilities_ = capabilities;
  state_ = shape == Shape::kRows ? State::kRows : State::kFirst;
  if (shape == Shape::kFieldList) state_ = State::kColumns;
}

void ResponseTracker::end_with(std::uint16_t status) {
  status_ = status;
  saw_status_ = true;
  state_ = (shape_ == Shape::kResultSets && (status & status::kMoreResultsExist)) ? State::kFirst
                                                                                  : State::kDone;
}

void ResponseTracker::take_ok(Bytes payload) {
  if (auto ok = decode_ok(payload, capabilities_)) {
    affected_rows_ = ok->affected_rows;
    last_insert_id_ = ok->last_insert_id;
    end_with(ok->status);
  } else {
    state_ = State::kDone;
  }
}

void ResponseTracker::after_columns_of_prepare() {
  if (remaining_ > 0) {
    state_ = State::kPrepareColumns;
  } else {
    state_ = State::kDone;
  }
}

bool ResponseTracker::feed(Bytes payload) {
  // The pieces after a full 16 MB piece belong to the same logical packet (a large row or
  // column value); only its first piece says what it is.
  bool continued = continuation_;
  continuation_ = payload.size() == kMaxPayload;
  if (continued || state_ == State::kDone) return state_ == State::kDone;

  std::uint8_t header = first_byte(payload);
  if (header == 0xff && state_ != State::kLocalFile) {
    failed_ = true;
    state_ = State::kDone;
    return true;
  }
  switch (state_) {
    case State::kFirst:
      if (shape_ == Shape::kOnePacket) {
        if (auto status = status_of(payload, capabilities_)) {
          if (header == 0x00) {
            take_ok(payload);
          } else {
            status_ = *status;
            saw_status_ = true;
          }
        }
        state_ = State::kDone;
        break;
      }
      if (shape_ == Shape::kPrepare) {
        prepare_ok_ = decode_prepare_ok(payload);
        if (!prepare_ok_) {
          state_ = State::kDone;
          break;
        }
        remaining_ = prepare_ok_->parameters;
        if (remaining_ > 0) {
          state_ = State::kParameters;
        } else {
          remaining_ = prepare_ok_->columns;
          after_columns_of_prepare();
        }
        break;
      }
      if (header == 0x00 && is_ok(payload)) {
        failed_ = false;
        take_ok(payload);
        break;
      }
      if (header == 0xfb) {
        state_ = State::kLocalFile;
        break;
      }
      {
        Reader reader(payload);
        auto count = reader.lenenc();
        if (reader.failed() || !count || *count == 0) {
          state_ = State::kDone;
          break;
        }
        failed_ = false;
        remaining_ = *count;
        state_ = State::kColumns;
      }
      break;
    case State::kColumns:
      if (shape_ == Shape::kFieldList) {
        if (is_result_end(payload, capabilities_)) {
          if (auto status = status_of(payload, capabilities_)) status_ = *status;
          saw_status_ = true;
          state_ = State::kDone;
        }
        break;
      }
      if (--remaining_ == 0) {
        state_ = (capabilities_ & cap::kDeprecateEof) ? State::kRows : State::kColumnsEnd;
      }
      break;
    case State::kColumnsEnd:
      if (auto eof = decode_eof(payload)) {
        // A cursor was opened (COM_STMT_EXECUTE with a cursor type): the rows come with
        // COM_STMT_FETCH.
        if (eof->status & status::kCursorExists) {
          end_with(eof->status);
          break;
        }
        status_ = eof->status;
      }
      state_ = State::kRows;
      break;
    case State::kRows:
      if (is_result_end(payload, capabilities_)) {
        if (header == 0xfe && payload.size() >= 7 && (capabilities_ & cap::kDeprecateEof)) {
          take_ok(payload);
        } else if (auto eof = decode_eof(payload)) {
          end_with(eof->status);
        } else {
          state_ = State::kDone;
        }
      } else {
        ++rows_;
      }
      break;
    case State::kParameters:
      if (--remaining_ == 0) {
        if (capabilities_ & cap::kDeprecateEof) {
          remaining_ = prepare_ok_->columns;
          after_columns_of_prepare();
        } else {
          state_ = State::kParametersEnd;
        }
      }
      break;
    case State::kParametersEnd:
      remaining_ = prepare_ok_->columns;
      after_columns_of_prepare();
      break;
    case State::kPrepareColumns:
      if (--remaining_ == 0) {
        state_ = (capabilities_ & cap::kDeprecateEof) ? State::kDone : State::kPrepareColumnsEnd;
      }
      break;
    case State::kPrepareColumnsEnd:
      state_ = State::kDone;
      break;
    case State::kLocalFile:
    case State::kDone:
      break;
  }
  return state_ == State::kDone;
}

}  // namespace plexi::mysql
