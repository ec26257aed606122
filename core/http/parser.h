#pragma once
// The HTTP/1.1 request parser interface. The one implementation wraps llhttp
// built in strict mode and adds the framing checks llhttp leaves to its user
// (RFC 9112 6.1-6.3: Content-Length vs Transfer-Encoding, duplicate lengths,
// final transfer coding). Every framing decision is made here, next to the parse.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "http/errors.h"
#include "http/limits.h"
#include "http/request.h"

namespace squall::http {

class ParserHandler {
 public:
  virtual ~ParserHandler() = default;
  // A complete, validated head. Called once per request, before any body.
  virtual void on_head(RequestHead&& head) = 0;
  // A piece of the (de-chunked) body. Never called with an empty view.
  virtual void on_body(std::string_view data) = 0;
  // The request, body included, is complete.
  virtual void on_message_complete() = 0;
};

struct ParseError {
  RequestError id = RequestError::Malformed;
  int status = 400;    // info(id).status: 400, 413, 414, 431, 501
  std::string reason;  // info(id).text or a more precise one, for the log and the response body
};

struct FeedResult {
  enum class State {
    NeedMore,         // all input consumed, the message is not complete yet
    MessageComplete,  // one message ended; the parser stopped after it (see resume())
    Error,            // unrecoverable: answer `error.status` and close the connection
  };
  State state = State::NeedMore;
  std::size_t consumed = 0;  // bytes of the input used; the caller keeps the rest
  ParseError error;
};

class Parser {
 public:
  virtual ~Parser() = default;
  // Feed bytes. Stops after each complete message (responses must go out in
  // request order, so the caller parses the next pipelined request only after
  // answering this one): then `consumed` may be less than `data.size()` and the
  // caller feeds the rest after calling resume().
  virtual FeedResult feed(std::string_view data) = 0;
  // Prepare for the next message after MessageComplete.
  virtual void resume() = 0;
  // True between the first byte of a message and its head being complete
  // (the header read timeout applies then).
  virtual bool reading_head() const = 0;
  // True when no byte of a next message has been seen.
  virtual bool idle() const = 0;
  // Lowers the body limit of the current message (Limits::max_body_bytes
  // again from the next one). Called from on_head: a declared length above it
  // is refused at once, a chunked body when it passes it (413, body_too_large).
  virtual void limit_body(std::uint64_t max_bytes) = 0;
};

std::unique_ptr<Parser> make_parser(const Limits& limits, ParserHandler& handler);

}  // namespace squall::http
