#pragma once
// Response heads: the one type every response of the server is described
// with (a WSGI response, a static file, a probe, /metrics, 100 Continue, an
// error) and the one serializer that writes it on the wire. The status line,
// the Server and Date fields, the framing fields (RFC 9112 6.1-6.3: exactly
// one of Content-Length, Transfer-Encoding: chunked or the end of the
// connection) and Connection (RFC 9112 9.3, 9.6) are written here and nowhere else.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/syntax.h"

namespace squall::http {

// The reason phrase for a status code ("Unknown" when not registered).
std::string_view reason_phrase(int status);

// "Sat, 21 Nov 2026 08:50:00 GMT" for the current second (RFC 9110 5.6.7),
// cached per thread.
std::string_view http_date();

inline constexpr std::string_view kServerName = "squall";

// RFC 9110 6.4.1 / 15.3.5 / 15.4.5: no content for 1xx, 204 and 304.
inline bool status_has_no_body(int status) { return (status >= 100 && status < 200) || status == 204 || status == 304; }

struct ResponseHead {
  int status = 200;
  std::string reason;  // empty: reason_phrase(status)
  // The request's minor version: an HTTP/1.0 client is answered in HTTP/1.0
  // and told "Connection: keep-alive" when the connection stays open (it
  // would assume a close otherwise, RFC 9112 9.3 and C.2.2).
  int version_minor = 1;
  // Fields in order, valid names and values (the caller checked what came
  // from the application). A Server or Date field here replaces ours.
  std::vector<std::pair<std::string, std::string>> fields;
  // Framing: Content-Length when set; else chunked when `chunked`; else none
  // (a body without either ends with the connection: keep_alive must be false,
  // or the status has no body, or the fields already carry Content-Length).
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
  bool keep_alive = true;  // false: "Connection: close"

  void add(std::string_view name, std::string_view value) { fields.emplace_back(name, value); }
};

// The bytes of `head`: status line, fields, Server and Date (unless given),
// framing, Connection, blank line. An interim response (1xx) is its status
// line and fields only.
std::string serialize(const ResponseHead& head);

// A short text/plain answer of the server's own (errors, 405 ...): the head
// with Content-Type and Content-Length, then `body` unless `head_only` (a
// HEAD request: the same Content-Length, no content, RFC 9110 9.3.2).
ResponseHead text_head(int status, std::size_t body_size, int version_minor, bool keep_alive);
std::string text_response(ResponseHead head, std::string_view body, bool head_only = false);
// The common case: an error answered on HTTP/1.1, connection closed or not.
std::string simple_response(int status, std::string_view body, bool close);

}  // namespace squall::http
