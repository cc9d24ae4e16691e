#include "common/client_handover.h"

#include <unistd.h>

#include <charconv>

namespace plexi {

HandoverQueue::~HandoverQueue() {
  for (auto& client : queued_) {
    if (client.fd >= 0) ::close(client.fd);
  }
}

void HandoverQueue::open() {
  std::lock_guard lock(mutex_);
  open_ = true;
}

void HandoverQueue::close() {
  std::lock_guard lock(mutex_);
  open_ = false;
}

bool HandoverQueue::is_open() const {
  std::lock_guard lock(mutex_);
  return open_;
}

bool HandoverQueue::offer(HandedClient&& client) {
  std::lock_guard lock(mutex_);
  if (!open_) return false;
  queued_.push_back(std::move(client));
  client.fd = -1;
  return true;
}

std::vector<HandedClient> HandoverQueue::take_all() {
  std::lock_guard lock(mutex_);
  std::vector<HandedClient> taken;
  taken.swap(queued_);
  return taken;
}

StateWriter& StateWriter::u32(std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out_.push_back(static_cast<char>(value >> shift));
  return *this;
}

StateWriter& StateWriter::u64(std::uint64_t value) {
  u32(static_cast<std::uint32_t>(value >> 32));
  return u32(static_cast<std::uint32_t>(value));
}

StateWriter& StateWriter::text(std::string_view value) {
  u32(static_cast<std::uint32_t>(value.size()));
  out_.append(value);
  return *this;
}

StateWriter& StateWriter::pairs(const std::vector<std::pair<std::string, std::string>>& items) {
  u32(static_cast<std::uint32_t>(items.size()));
  for (const auto& [first, second] : items) text(first).text(second);
  return *this;
}

std::vector<std::pair<std::string, std::string>> StateReader::pairs() {
  std::vector<std::pair<std::string, std::string>> items;
  std::uint32_t n = count(8);
  for (std::uint32_t i = 0; i < n && ok_; ++i) {
    std::string first = text();
    std::string second = text();
    items.emplace_back(std::move(first), std::move(second));
  }
  return items;
}

std::uint32_t StateReader::u32() {
  if (in_.size() < 4) return fail(), 0;
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value = (value << 8) | static_cast<unsigned char>(in_[i]);
  in_.remove_prefix(4);
  return value;
}

std::uint64_t StateReader::u64() {
  std::uint64_t high = u32();
  std::uint64_t low = u32();
  return ok_ ? (high << 32) | low : 0;
}

std::string StateReader::text() {
  std::uint32_t size = u32();
  if (!ok_ || in_.size() < size) return fail(), std::string();
  std::string value(in_.substr(0, size));
  in_.remove_prefix(size);
  return value;
}

std::uint32_t StateReader::count(std::size_t item_bytes) {
  std::uint32_t n = u32();
  if (!ok_) return 0;
  if (item_bytes > 0 && n > in_.size() / item_bytes) return fail(), 0;
  return n;
}

std::string client_frame_header(std::string_view protocol, std::size_t state_size) {
  std::string header = "CLIENT ";
  header.append(protocol).append(" ").append(std::to_string(state_size)).append("\n");
  return header;
}

ClientFrameReader::~ClientFrameReader() {
  for (int fd : fds_) ::close(fd);
}

ClientFrameReader::Status ClientFrameReader::next(HandedClient& client, std::string& error) {
  auto newline = buffer_.find('\n');
  if (newline == std::string::npos) {
    if (buffer_.size() > 128) {
      error = "frame header too long";
      return Status::kError;
    }
    return Status::kNeedMore;
  }
  std::string_view line(buffer_.data(), newline);
  if (line == "END") {
    buffer_.erase(0, newline + 1);
    return Status::kEnd;
  }
  // CLIENT <protocol> <n>
  constexpr std::string_view kClient = "CLIENT ";
  auto space = line.rfind(' ');
  if (!line.starts_with(kClient) || space < kClient.size()) {
    error = "unexpected frame '" + std::string(line.substr(0, 40)) + "'";
    return Status::kError;
  }
  std::string_view protocol = line.substr(kClient.size(), space - kClient.size());
  std::string_view size_text = line.substr(space + 1);
  std::size_t size = 0;
  auto [end, ec] = std::from_chars(size_text.data(), size_text.data() + size_text.size(), size);
  if (ec != std::errc() || end != size_text.data() + size_text.size() || size > kMaxState ||
      protocol.empty()) {
    error = "malformed frame '" + std::string(line.substr(0, 40)) + "'";
    return Status::kError;
  }
  if (buffer_.size() - newline - 1 < size || fds_.empty()) return Status::kNeedMore;
  client.protocol = std::string(protocol);
  client.state = buffer_.substr(newline + 1, size);
  client.fd = fds_.front();
  fds_.pop_front();
  buffer_.erase(0, newline + 1 + size);
  return Status::kClient;
}

}  // namespace plexi
