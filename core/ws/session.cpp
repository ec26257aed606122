#include "ws/session.h"

#include <algorithm>
#include <cstring>

#include "ws/deflate.h"
#include "ws/frame.h"
#include "ws/utf8.h"

namespace squall::ws {

bool valid_close_code(std::uint16_t code) {
  // RFC 6455 7.4.1/7.4.2: 1004-1006 and 1015 are reserved or never sent;
  // 1012-1014 were registered later with IANA; 3000-4999 for libraries and
  // applications.
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

struct Session::Impl {
  // The frame being read (RFC 6455 5.2).
  std::uint8_t header[14];
  std::size_t header_len = 0, header_need = 2;
  bool in_payload = false;
  bool fin = false, rsv1 = false;
  std::uint8_t opcode = 0;
  std::uint8_t key[4] = {};
  std::uint64_t remaining = 0, offset = 0;
  // The message being reassembled.
  bool in_message = false, compressed = false;
  std::uint8_t message_opcode = 0;
  std::string message;
  Utf8Validator utf8;
  std::string control;  // a control frame's payload, at most 125 bytes
  std::string scratch;  // unmasked compressed bytes, inflated at once
  std::unique_ptr<Deflater> deflater;
  std::unique_ptr<Inflater> inflater;
  bool done = false;  // a close frame was received or the session failed
};

Session::Session(SessionOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  if (options_.deflate) {
    const DeflateParams& d = *options_.deflate;
    // A smaller window than negotiated is always valid (RFC 7692 7.1.2.1).
    const int window = std::clamp(std::min(d.server_max_window_bits, options_.compress_window_bits), 9, 15);
    impl_->deflater = std::make_unique<Deflater>(
        options_.compress_level, window, std::clamp(options_.compress_mem_level, 1, 9), d.server_no_context_takeover);
    impl_->inflater = std::make_unique<Inflater>(d.client_no_context_takeover);
  }
}

Session::~Session() = default;

void Session::queue_frame(std::uint8_t opcode, std::string_view payload, bool rsv1) {
  const std::size_t before = out_.size();
  append_frame_header(out_, true, rsv1, opcode, payload.size());
  out_.append(payload);
  stats_.bytes_out += out_.size() - before;
}

void Session::consume(std::size_t n) {
  out_head_ += std::min(n, out_.size() - out_head_);
  if (out_head_ == out_.size()) {
    out_.clear();
    out_head_ = 0;
  } else if (out_head_ >= 65536 && out_head_ * 2 >= out_.size()) {
    out_.erase(0, out_head_);
    out_head_ = 0;
  }
}

bool Session::send_message(std::uint8_t opcode, std::string_view data) {
  if (close_sent_) return false;
  ++stats_.messages_out;
  if (impl_->deflater && data.size() >= options_.compress_min_size) {
    std::string compressed;
    if (impl_->deflater->compress(data, compressed)) {
      queue_frame(opcode, compressed, true);
      return true;
    }
  }
  queue_frame(opcode, data, false);
  return true;
}

bool Session::send_text(std::string_view data) { return send_message(kOpText, data); }
bool Session::send_binary(std::string_view data) { return send_message(kOpBinary, data); }

bool Session::send_ping(std::string_view payload) {
  if (close_sent_ || payload.size() > 125) return false;
  queue_frame(kOpPing, payload, false);
  return true;
}

bool Session::send_close(std::uint16_t code, std::string_view reason) {
  if (close_sent_ || !valid_close_code(code) || reason.size() > 123 || !valid_utf8(reason)) return false;
  char payload[125];
  payload[0] = char(code >> 8);
  payload[1] = char(code & 0xFF);
  if (!reason.empty()) std::memcpy(payload + 2, reason.data(), reason.size());
  queue_frame(kOpClose, std::string_view(payload, 2 + reason.size()), false);
  close_sent_ = true;
  return true;
}

namespace {

Event error_event(std::uint16_t code, std::string reason) {
  Event e;
  e.kind = Event::Kind::Error;
  e.code = code;
  e.reason = std::move(reason);
  return e;
}

}  // namespace

void Session::feed(std::string_view data, std::vector<Event>& events) {
  Impl& s = *impl_;
  // _Fail the WebSocket Connection_ (RFC 6455 7.1.7): the close frame with
  // the code, then nothing more is read.
  auto fail = [&](std::uint16_t code, std::string reason) {
    if (!close_sent_) {
      char payload[2] = {char(code >> 8), char(code & 0xFF)};
      queue_frame(kOpClose, std::string_view(payload, 2), false);
      close_sent_ = true;
    }
    failed_ = true;
    s.done = true;
    events.push_back(error_event(code, std::move(reason)));
  };
  auto validate_text = [&](std::size_t from) {
    if (s.message_opcode == kOpText && !s.utf8.feed(std::string_view(s.message).substr(from))) {
      fail(kCloseInvalidPayload, "invalid UTF-8 in a text message");
      return false;
    }
    return true;
  };

  // RFC 6455 5.2, 5.4, 5.5: the frame header's rules, checked as soon as its
  // first two bytes are in.
  auto check_first_bytes = [&]() -> bool {
    const std::uint8_t b0 = s.header[0], b1 = s.header[1];
    s.fin = b0 & 0x80;
    s.rsv1 = b0 & 0x40;
    s.opcode = b0 & 0x0F;
    if (b0 & 0x30) return fail(kCloseProtocolError, "RSV2 or RSV3 set without an extension defining it"), false;
    if (s.opcode > kOpBinary && s.opcode < kOpClose)
      return fail(kCloseProtocolError, "reserved opcode " + std::to_string(s.opcode)), false;
    if (s.opcode > kOpPong) return fail(kCloseProtocolError, "reserved opcode " + std::to_string(s.opcode)), false;
    if (!(b1 & 0x80)) return fail(kCloseProtocolError, "unmasked client frame"), false;  // 5.1
    const std::uint8_t len7 = b1 & 0x7F;
    if (is_control(s.opcode)) {
      if (!s.fin) return fail(kCloseProtocolError, "fragmented control frame"), false;
      if (len7 > 125) return fail(kCloseProtocolError, "control frame payload over 125 bytes"), false;
      if (s.rsv1) return fail(kCloseProtocolError, "RSV1 set on a control frame"), false;
    } else if (s.opcode == kOpContinuation) {
      if (!s.in_message) return fail(kCloseProtocolError, "continuation frame without a message to continue"), false;
      // RFC 7692 6: RSV1 only on a message's first frame.
      if (s.rsv1) return fail(kCloseProtocolError, "RSV1 set on a continuation frame"), false;
    } else {
      if (s.in_message) return fail(kCloseProtocolError, "new data frame inside a fragmented message"), false;
      if (s.rsv1 && !s.inflater) return fail(kCloseProtocolError, "RSV1 set without permessage-deflate"), false;
    }
    s.header_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
    return true;
  };

  auto start_payload = [&]() -> bool {
    const std::uint8_t len7 = s.header[1] & 0x7F;
    std::uint64_t len = len7;
    std::size_t at = 2;
    if (len7 == 126) {
      len = std::uint64_t(s.header[2]) << 8 | s.header[3];
      at = 4;
    } else if (len7 == 127) {
      len = 0;
      for (int i = 0; i < 8; ++i) len = len << 8 | s.header[2 + i];
      at = 10;
      if (len >> 63) return fail(kCloseProtocolError, "64-bit payload length with its high bit set"), false;
    }
    std::memcpy(s.key, s.header + at, 4);
    if (!is_control(s.opcode)) {
      if (s.opcode != kOpContinuation) {
        s.in_message = true;
        s.message_opcode = s.opcode;
        s.compressed = s.rsv1;
        s.message.clear();
        s.utf8.reset();
      }
      // Uncompressed: the limit is known from the header (RFC 6455 10.4).
      if (!s.compressed &&
          len > options_.max_message_size - std::min<std::uint64_t>(s.message.size(), options_.max_message_size))
        return fail(kCloseTooBig, "message larger than " + std::to_string(options_.max_message_size) + " bytes"), false;
    } else {
      s.control.clear();
    }
    s.remaining = len;
    s.offset = 0;
    s.in_payload = true;
    return true;
  };

  auto end_frame = [&]() {
    s.in_payload = false;
    s.header_len = 0;
    s.header_need = 2;
    if (is_control(s.opcode)) {
      if (s.opcode == kOpPing) {
        if (!close_sent_) queue_frame(kOpPong, s.control, false);  // 5.5.3: the same payload
      } else if (s.opcode == kOpClose) {
        // 5.5.1: an optional 2-byte code, then a UTF-8 reason.
        Event e;
        e.kind = Event::Kind::Close;
        e.code = kCloseNoStatus;
        if (s.control.size() == 1) return fail(kCloseProtocolError, "close frame with a 1-byte payload");
        if (s.control.size() >= 2) {
          e.code = std::uint16_t(std::uint8_t(s.control[0]) << 8 | std::uint8_t(s.control[1]));
          if (!valid_close_code(e.code))
            return fail(kCloseProtocolError, "invalid close code " + std::to_string(e.code));
          e.reason = s.control.substr(2);
          if (!valid_utf8(e.reason)) return fail(kCloseInvalidPayload, "close reason is not UTF-8");
        }
        close_received_ = true;
        s.done = true;
        if (!close_sent_) {  // 5.5.1: echo the code
          if (e.code == kCloseNoStatus) {
            queue_frame(kOpClose, {}, false);
          } else {
            const char payload[2] = {s.control[0], s.control[1]};
            queue_frame(kOpClose, std::string_view(payload, 2), false);
          }
          close_sent_ = true;
        }
        events.push_back(std::move(e));
      }
      return;  // pongs are dropped
    }
    if (!s.fin) return;
    if (s.compressed) {
      const std::size_t from = s.message.size();
      const auto r = s.inflater->finish(s.message, options_.max_message_size);
      if (r == Inflater::Result::TooBig)
        return fail(kCloseTooBig, "message larger than " + std::to_string(options_.max_message_size) + " bytes");
      if (r == Inflater::Result::Invalid) return fail(kCloseInvalidPayload, "invalid compressed data");
      if (!validate_text(from)) return;
    }
    if (s.message_opcode == kOpText && !s.utf8.complete())
      return fail(kCloseInvalidPayload, "text message ends inside a UTF-8 sequence");
    Event e;
    e.kind = Event::Kind::Message;
    e.type = s.message_opcode == kOpText ? MessageType::Text : MessageType::Binary;
    e.data = std::move(s.message);
    s.message = std::string();
    s.in_message = false;
    ++stats_.messages_in;
    events.push_back(std::move(e));
  };

  while (!data.empty() && !s.done) {
    if (!s.in_payload) {
      const std::size_t n = std::min(s.header_need - s.header_len, data.size());
      std::memcpy(s.header + s.header_len, data.data(), n);
      s.header_len += n;
      data.remove_prefix(n);
      stats_.bytes_in += n;
      if (s.header_len == 2 && !check_first_bytes()) return;
      if (s.header_len < s.header_need) continue;
      if (!start_payload()) return;
      if (s.remaining == 0) end_frame();
      continue;
    }
    const std::size_t n = std::size_t(std::min<std::uint64_t>(s.remaining, data.size()));
    const std::string_view chunk = data.substr(0, n);
    data.remove_prefix(n);
    stats_.bytes_in += n;
    if (is_control(s.opcode)) {
      const std::size_t at = s.control.size();
      s.control.append(chunk);
      unmask(s.control.data() + at, n, s.key, s.offset);
    } else if (s.compressed) {
      s.scratch.assign(chunk);
      unmask(s.scratch.data(), n, s.key, s.offset);
      const std::size_t from = s.message.size();
      const auto r = s.inflater->inflate(s.scratch, s.message, options_.max_message_size);
      if (r == Inflater::Result::TooBig)
        return fail(kCloseTooBig, "message larger than " + std::to_string(options_.max_message_size) + " bytes");
      if (r == Inflater::Result::Invalid) return fail(kCloseInvalidPayload, "invalid compressed data");
      if (!validate_text(from)) return;
    } else {
      const std::size_t at = s.message.size();
      s.message.append(chunk);
      unmask(s.message.data() + at, n, s.key, s.offset);
      if (!validate_text(at)) return;
    }
    s.remaining -= n;
    s.offset += n;
    if (s.remaining == 0) end_frame();
  }
}

}  // namespace squall::ws
