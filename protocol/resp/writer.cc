// Writes replies in the client's RESP version, and commands for servers.
#include <charconv>
#include <cmath>

#include "protocol/resp/resp.h"

namespace plexi::resp {

void Writer::header(char type, std::int64_t number) {
  char text[24];
  text[0] = type;
  auto end = std::to_chars(text + 1, text + sizeof text - 2, number).ptr;
  *end++ = '\r';
  *end++ = '\n';
  out_.append(text, static_cast<std::size_t>(end - text));
}

void Writer::line(char type, std::string_view text) {
  out_ += type;
  std::size_t start = out_.size();
  out_ += text;
  // A CR or LF would end the line early and let the rest be read as another reply.
  for (std::size_t i = start; i < out_.size(); ++i) {
    if (out_[i] == '\r' || out_[i] == '\n') out_[i] = ' ';
  }
  out_ += "\r\n";
}

void Writer::aggregate(char resp3_type, std::size_t count) {
  header(protocol_ >= 3 ? resp3_type : '*', static_cast<std::int64_t>(count));
}

void Writer::simple(std::string_view text) { line('+', text); }

void Writer::error(std::string_view text) { line('-', text); }

void Writer::integer(std::int64_t value) { header(':', value); }

void Writer::blob(char type, std::string_view prefix, std::string_view bytes) {
  header(type, static_cast<std::int64_t>(prefix.size() + bytes.size()));
  out_ += prefix;
  out_ += bytes;
  out_ += "\r\n";
}

void Writer::bulk(std::string_view bytes) { blob('$', {}, bytes); }

void Writer::null() { out_ += protocol_ >= 3 ? "_\r\n" : "$-1\r\n"; }

void Writer::null_array() { out_ += protocol_ >= 3 ? "_\r\n" : "*-1\r\n"; }

void Writer::array(std::size_t count) { aggregate('*', count); }

void Writer::map(std::size_t pairs) {
  if (protocol_ >= 3) {
    aggregate('%', pairs);
  } else {
    aggregate('*', 2 * pairs);
  }
}

void Writer::set(std::size_t count) { aggregate('~', count); }

void Writer::push(std::size_t count) { aggregate('>', count); }

void Writer::boolean(bool value) {
  if (protocol_ >= 3) {
    out_ += value ? "#t\r\n" : "#f\r\n";
  } else {
    integer(value ? 1 : 0);
  }
}

void Writer::double_value(double value) {
  char text[32];
  std::string_view digits;
  if (std::isnan(value)) {
    digits = "nan";
  } else if (std::isinf(value)) {
    digits = value > 0 ? "inf" : "-inf";
  } else {
    // The shortest text that reads back as the same double, as Redis 7.2 writes them.
    auto end = std::to_chars(text, text + sizeof text, value).ptr;
    digits = std::string_view(text, static_cast<std::size_t>(end - text));
  }
  if (protocol_ >= 3) {
    line(',', digits);
  } else {
    bulk(digits);
  }
}

void Writer::value(const Value& value) {
  bool resp3 = protocol_ >= 3;
  const auto& elements = value.elements;
  // Maps and attributes hold keys and values alternately; an odd last key gets a null.
  auto pairs = [&] {
    for (const auto& element : elements) this->value(element);
    if (elements.size() % 2 != 0) null();
  };
  switch (value.type) {
    case Type::kSimpleString:
      return simple(value.text);
    case Type::kError:
      return error(value.text);
    case Type::kInteger:
      return integer(value.integer);
    case Type::kBulkString:
      return bulk(value.text);
    case Type::kNull:
      return null();
    case Type::kBoolean:
      return boolean(value.integer != 0);
    case Type::kDouble:
      return resp3 ? line(',', value.text) : bulk(value.text);
    case Type::kBigNumber:
      return resp3 ? line('(', value.text) : bulk(value.text);
    case Type::kBulkError:
      return resp3 ? blob('!', {}, value.text) : error(value.text);
    case Type::kVerbatim:
      return resp3 ? blob('=', "txt:", value.text) : bulk(value.text);
    case Type::kArray:
      array(elements.size());
      break;
    case Type::kSet:
      set(elements.size());
      break;
    case Type::kPush:
      push(elements.size());
      break;
    case Type::kMap:
      map((elements.size() + 1) / 2);
      return pairs();
    case Type::kAttribute:
      if (!resp3) return;
      header('|', static_cast<std::int64_t>((elements.size() + 1) / 2));
      return pairs();
  }
  for (const auto& element : elements) this->value(element);
}

void encode_command(std::string& out, std::span<const std::string_view> args) {
  Writer writer(out, 2);
  writer.array(args.size());
  for (auto arg : args) writer.bulk(arg);
}

}  // namespace plexi::resp
