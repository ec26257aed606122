#pragma once
// A WebSocket connection's protocol state, server side (RFC 6455, RFC 7692):
// bytes from the client in, events and bytes for the client out. No sockets,
// no threads, no Python: the connection that owns a Session feeds it what it
// reads and writes what it queues.
//
//   ws::Session s(options);                     // after the 101 went out
//   std::vector<ws::Event> events;
//   s.feed(bytes_read, events);                 // any chunking, even 1 byte
//   for (auto& e : events) ...                  // messages, close, error
//   s.send_text("hi");                          // appends a frame to pending()
//   write(fd, s.pending()); s.consume(written);
//   if (s.finished() && s.pending().empty()) close the TCP connection
//
// Pings are answered by the session itself (the pong is queued in pending());
// pongs are dropped. A protocol violation queues the close frame with its
// code (1002, 1007, 1009) and reports an Error event; nothing is read after it.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ws/handshake.h"

namespace squall::ws {

// Close codes (RFC 6455 7.4.1).
inline constexpr std::uint16_t kCloseNormal = 1000;
inline constexpr std::uint16_t kCloseGoingAway = 1001;
inline constexpr std::uint16_t kCloseProtocolError = 1002;
inline constexpr std::uint16_t kCloseUnsupportedData = 1003;
inline constexpr std::uint16_t kCloseNoStatus = 1005;  // never on the wire: a close frame without code
inline constexpr std::uint16_t kCloseAbnormal = 1006;  // never on the wire: the TCP connection ended
inline constexpr std::uint16_t kCloseInvalidPayload = 1007;
inline constexpr std::uint16_t kClosePolicyViolation = 1008;
inline constexpr std::uint16_t kCloseTooBig = 1009;
inline constexpr std::uint16_t kCloseInternalError = 1011;
inline constexpr std::uint16_t kCloseServiceRestart = 1012;

// A code that may appear in a close frame (RFC 6455 7.4.1, 7.4.2 and the IANA
// registry): 1000-1003, 1007-1014, 3000-4999.
bool valid_close_code(std::uint16_t code);

struct SessionOptions {
  // Largest message accepted, reassembled and after inflating (RFC 6455
  // 10.4); past it the connection is closed with 1009.
  std::uint64_t max_message_size = 1 << 20;
  // Set when permessage-deflate was negotiated (Upgrade::deflate, as sent in
  // the 101): RSV1 marks a compressed message, both ways.
  std::optional<DeflateParams> deflate;
  // Outgoing messages shorter than this are sent uncompressed (deflate
  // costs more than it saves on a few bytes).
  std::size_t compress_min_size = 64;
  int compress_level = 6;  // zlib level, 1..9
  // Our deflater's window and zlib memLevel: min(this, the negotiated
  // server_max_window_bits), 9..15. A smaller window than negotiated is always
  // valid (RFC 7692 7.1.2.1 sets a maximum); 12 and 5 keep zlib's compressor
  // at about 38 KiB per connection instead of 262 KiB (15 and 8), the
  // `websockets` library's defaults.
  int compress_window_bits = 12;
  int compress_mem_level = 5;
};

enum class MessageType : std::uint8_t { Text, Binary };

struct Event {
  enum class Kind : std::uint8_t {
    Message,  // a complete message: `type`, `data` (text: valid UTF-8)
    Close,    // the client's close frame: `code` (1005 if it had none), `reason`;
              // the echo is already queued
    Error,    // a protocol violation: `code` is the close code queued
              // (1002, 1007, 1009), `reason` says what was wrong
  };
  Kind kind = Kind::Message;
  MessageType type = MessageType::Text;
  std::string data;
  std::uint16_t code = 0;
  std::string reason;
};

struct SessionStats {
  std::uint64_t messages_in = 0, messages_out = 0;
  std::uint64_t bytes_in = 0, bytes_out = 0;  // frame bytes read / queued
};

class Session {
 public:
  explicit Session(SessionOptions options = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Parses `bytes` (any split of the stream) and appends what they complete
  // to `events`. After a Close or Error event the rest is ignored.
  void feed(std::string_view bytes, std::vector<Event>& events);

  // Queue a message or a close frame; false (nothing queued) once a close
  // frame was sent, for an invalid code (valid_close_code), a reason longer
  // than 123 bytes or not UTF-8. send_text's data must be UTF-8 (not checked:
  // the caller's strings are).
  bool send_text(std::string_view data);
  bool send_binary(std::string_view data);
  bool send_close(std::uint16_t code = kCloseNormal, std::string_view reason = {});
  bool send_ping(std::string_view payload = {});  // at most 125 bytes

  // Bytes queued for the client, oldest first; consume(n) after writing n.
  std::string_view pending() const { return {out_.data() + out_head_, out_.size() - out_head_}; }
  void consume(std::size_t n);
  // The number of bytes queued: the server applies its own limit.
  std::size_t queued_bytes() const { return out_.size() - out_head_; }

  bool close_sent() const { return close_sent_; }
  bool close_received() const { return close_received_; }
  bool failed() const { return failed_; }
  // Nothing more will be read or sent: both close frames were exchanged, or
  // the session failed. The server closes the TCP connection once pending()
  // is written (RFC 6455 7.1.1: the server closes first).
  bool finished() const { return failed_ || (close_sent_ && close_received_); }

  const SessionStats& stats() const { return stats_; }

 private:
  struct Impl;
  void queue_frame(std::uint8_t opcode, std::string_view payload, bool rsv1);
  bool send_message(std::uint8_t opcode, std::string_view data);

  SessionOptions options_;
  std::unique_ptr<Impl> impl_;
  std::string out_;
  std::size_t out_head_ = 0;
  bool close_sent_ = false, close_received_ = false, failed_ = false;
  SessionStats stats_;
};

}  // namespace squall::ws
