// libFuzzer driver for the HTTP/1.1 request parser (core/http/parser.cpp).
//
// Each input is parsed twice, as a connection would feed it: once in one
// buffer, once split in two at a point taken from the input, with resume()
// after every message. Both runs must produce the same transcript of heads,
// bodies and completions, and the parser's invariants must hold. See README.md.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/parser.h"

namespace {

using squall::http::FeedResult;
using squall::http::Limits;
using squall::http::RequestHead;

void require(bool ok) {
  if (!ok) std::abort();
}

// Small limits, so that the limit paths are reached too.
Limits fuzz_limits() {
  Limits l;
  l.max_request_line = 256;
  l.max_header_bytes = 1024;
  l.max_header_count = 16;
  l.max_body_bytes = 4096;
  return l;
}

// Writes every handler call into a transcript, checking the call order.
struct Transcript final : squall::http::ParserHandler {
  std::string text;
  bool in_message = false;
  std::uint64_t body_bytes = 0;

  void on_head(RequestHead&& h) override {
    require(!in_message);
    require(!(h.chunked && h.content_length));  // one framing per message
    require(h.version_major == 1 && h.version_minor <= 1);
    require(!h.method.empty() && !h.target.empty());
    in_message = true;
    body_bytes = 0;
    text += "H " + h.method + " " + h.target + " " + std::to_string(h.headers.size()) + " " +
            std::to_string(h.content_length.value_or(0)) + (h.chunked ? " c" : "") + (h.keep_alive ? " k" : "") + "\n";
    for (const auto& field : h.headers) text += field.name + ": " + field.value + "\n";
  }
  void on_body(std::string_view data) override {
    require(in_message && !data.empty());
    body_bytes += data.size();
    require(body_bytes <= fuzz_limits().max_body_bytes);
    text.append(data);  // pieces differ between runs, their concatenation does not
  }
  void on_message_complete() override {
    require(in_message);
    in_message = false;
    text += "\nC\n";
  }
};

// Feeds `parts` in order like a connection; returns the transcript.
std::string run(std::string_view first, std::string_view second) {
  Transcript t;
  auto parser = squall::http::make_parser(fuzz_limits(), t);
  require(parser->idle());
  for (std::string_view rest : {first, second}) {
    while (!rest.empty()) {
      const FeedResult r = parser->feed(rest);
      require(r.consumed <= rest.size());
      if (r.state == FeedResult::State::Error) {
        require(r.error.status >= 400 && r.error.status <= 501 && !r.error.reason.empty());
        // Errors are sticky.
        require(parser->feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n").state == FeedResult::State::Error);
        return t.text + "E\n";
      }
      if (r.state == FeedResult::State::NeedMore) {
        require(r.consumed == rest.size());
      } else {
        require(!t.in_message);
        parser->resume();
        require(parser->idle() && !parser->reading_head());
      }
      rest.remove_prefix(r.consumed);
    }
  }
  return t.text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);
  const std::size_t split = (static_cast<std::size_t>(data[0]) << 8 | data[1]) % (input.size() + 1);
  const std::string whole = run(input, {});
  const std::string split_run = run(input.substr(0, split), input.substr(split));
  require(whole == split_run);
  return 0;
}
