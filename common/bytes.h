// Byte spans, big-endian integer access and a growable buffer for socket I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace plexi {

using Bytes = std::span<const std::byte>;
using ByteVector = std::vector<std::byte>;

inline Bytes as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}
inline std::string_view as_chars(Bytes bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

inline std::uint16_t read_u16be(const std::byte* p) {
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(p[0]) << 8) |
                                    std::to_integer<unsigned>(p[1]));
}
inline std::uint32_t read_u32be(const std::byte* p) {
  return (std::to_integer<std::uint32_t>(p[0]) << 24) |
         (std::to_integer<std::uint32_t>(p[1]) << 16) |
         (std::to_integer<std::uint32_t>(p[2]) << 8) | std::to_integer<std::uint32_t>(p[3]);
}
inline std::int32_t read_i32be(const std::byte* p) {
  return static_cast<std::int32_t>(read_u32be(p));
}
inline std::int16_t read_i16be(const std::byte* p) {
  return static_cast<std::int16_t>(read_u16be(p));
}
inline std::uint64_t read_u64be(const std::byte* p) {
  return (static_cast<std::uint64_t>(read_u32be(p)) << 32) | read_u32be(p + 4);
}

inline void append_u8(ByteVector& out, std::uint8_t v) { out.push_back(std::byte{v}); }
inline void append_u16be(ByteVector& out, std::uint16_t v) {
  out.push_back(std::byte(v >> 8));
  out.push_back(std::byte(v & 0xff));
}
inline void append_u32be(ByteVector& out, std::uint32_t v) {
  out.push_back(std::byte(v >> 24));
  out.push_back(std::byte((v >> 16) & 0xff));
  out.push_back(std::byte((v >> 8) & 0xff));
  out.push_back(std::byte(v & 0xff));
}
inline void append_u64be(ByteVector& out, std::uint64_t v) {
  append_u32be(out, static_cast<std::uint32_t>(v >> 32));
  append_u32be(out, static_cast<std::uint32_t>(v));
}
inline void append_bytes(ByteVector& out, Bytes bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}
inline void append_text(ByteVector& out, std::string_view text) {
  append_bytes(out, as_bytes(text));
}
inline void put_u32be(std::byte* p, std::uint32_t v) {
  p[0] = std::byte(v >> 24);
  p[1] = std::byte((v >> 16) & 0xff);
  p[2] = std::byte((v >> 8) & 0xff);
  p[3] = std::byte(v & 0xff);
}

// A read buffer for one socket: bytes arrive at the back, complete messages leave from
// the front. Space is reused by moving the unread tail to the start, so a connection's
// buffer stays at the size of its largest message in flight. Storage is not zeroed: only
// bytes a socket wrote into it are ever read.
class ReadBuffer {
 public:
  // Storage is allocated on the first prepare(), so an idle connection costs nothing here.
  ReadBuffer() = default;

  Bytes readable() const { return {storage_.get() + begin_, end_ - begin_}; }
  std::size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }

  // Room for at least `n` more bytes; returns where to write them.
  std::span<std::byte> prepare(std::size_t n) {
    if (capacity_ - end_ < n) {
      if (begin_ > 0) {
        std::memmove(storage_.get(), storage_.get() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
      }
      if (capacity_ - end_ < n) reallocate(end_ + n);
    }
    return {storage_.get() + end_, capacity_ - end_};
  }
  void commit(std::size_t n) { end_ += n; }
  void append(std::string_view bytes) {
    if (bytes.empty()) return;
    std::memcpy(prepare(bytes.size()).data(), bytes.data(), bytes.size());
    commit(bytes.size());
  }
  std::string_view readable_text() const {
    return {reinterpret_cast<const char*>(storage_.get() + begin_), end_ - begin_};
  }

  // Gives memory back after a large message, so idle connections stay small.
  void shrink_if_idle(std::size_t keep) {
    if (empty() && capacity_ > keep) reallocate(keep);
  }
  // Frees all storage when nothing is buffered (a client going idle).
  void release_if_empty() {
    if (empty()) reallocate(0);
  }

 private:
  void reallocate(std::size_t capacity) {
    std::unique_ptr<std::byte[]> storage;
    if (capacity > 0) {
      storage.reset(new std::byte[capacity]);
      if (end_ > begin_) std::memcpy(storage.get(), storage_.get() + begin_, end_ - begin_);
    }
    end_ -= begin_;
    begin_ = 0;
    storage_ = std::move(storage);
    capacity_ = capacity;
  }

  std::unique_ptr<std::byte[]> storage_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace plexi
