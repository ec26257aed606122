// libFuzzer driver for the WebSocket session (core/ws/session.cpp): frame
// parsing, reassembly, UTF-8, close handling and permessage-deflate.
//
// The first byte picks the options (deflate with or without context
// takeover, a small or large message limit), the next two a split point;
// the rest is the client's byte stream. It is fed twice, whole and split in
// two, and both runs must give the same events and the same bytes queued for
// the client. Invariants: an Error's code is 1002, 1007 or 1009; a text
// message is valid UTF-8; no message is larger than the limit; nothing
// follows a Close or an Error. With permessage-deflate, which of 1007 and
// 1009 comes first may depend on how the input was split (the inflater's
// output is checked per piece), so there only "an error" is compared, and
// the close frame's code is left out of the queued bytes. See README.md.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "ws/session.h"
#include "ws/utf8.h"

namespace {

using squall::ws::Event;

void require(bool ok) {
  if (!ok) std::abort();
}

squall::ws::SessionOptions options_for(std::uint8_t b) {
  squall::ws::SessionOptions o;
  o.max_message_size = (b & 1) ? 64 : 1 << 16;
  if (b & 2) {
    squall::ws::DeflateParams d;
    d.client_no_context_takeover = b & 4;
    d.server_no_context_takeover = b & 8;
    o.deflate = d;
    o.compress_min_size = 0;
  }
  return o;
}

std::string run(std::uint8_t flags, std::string_view first, std::string_view second) {
  const auto options = options_for(flags);
  squall::ws::Session s(options);
  std::vector<Event> events;
  s.feed(first, events);
  s.feed(second, events);
  std::string t;
  bool ended = false;
  for (const Event& e : events) {
    require(!ended);
    switch (e.kind) {
      case Event::Kind::Message:
        require(e.data.size() <= options.max_message_size);
        if (e.type == squall::ws::MessageType::Text) require(squall::ws::valid_utf8(e.data));
        t += "M" + std::to_string(int(e.type)) + ":" + e.data + "\n";
        // Echo it: the serializer and the deflater run too.
        if (e.type == squall::ws::MessageType::Text)
          require(s.send_text(e.data) || s.close_sent());
        else
          require(s.send_binary(e.data) || s.close_sent());
        break;
      case Event::Kind::Close:
        require(e.code == squall::ws::kCloseNoStatus || squall::ws::valid_close_code(e.code));
        require(squall::ws::valid_utf8(e.reason));
        require(s.close_received() && s.close_sent());
        t += "C" + std::to_string(e.code) + ":" + e.reason + "\n";
        ended = true;
        break;
      case Event::Kind::Error:
        require(e.code == 1002 || e.code == 1007 || e.code == 1009);
        require(s.failed() && s.finished() && !e.reason.empty());
        t += options.deflate ? std::string("E\n") : "E" + std::to_string(e.code) + ":" + e.reason + "\n";
        ended = true;
        break;
    }
  }
  t += "P:";
  std::string_view pending = s.pending();
  if (s.failed() && options.deflate) pending.remove_suffix(2);  // the close code
  t.append(pending);
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 3, size - 3);
  const std::size_t split = (static_cast<std::size_t>(data[1]) << 8 | data[2]) % (input.size() + 1);
  require(run(data[0], input, {}) == run(data[0], input.substr(0, split), input.substr(split)));
  return 0;
}
