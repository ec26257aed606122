#pragma once
// Building response heads. The framing of a response (Content-Length,
// chunked or close-delimited) is decided here, per RFC 9112 6.3 and 7.1.
#include <string>
#include <string_view>

namespace squall::http {

// The reason phrase for a status code ("Unknown" when not registered).
std::string_view reason_phrase(int status);

// RFC 9110 5.6.2: tchar for header field names.
bool is_token(std::string_view s);
// RFC 9110 5.5: field values carry no CR, LF or NUL (obs-text is allowed).
bool is_field_value(std::string_view s);

// "Sat, 21 Nov 2026 08:50:00 GMT" for the current second (RFC 9110 5.6.7),
// cached per thread.
std::string_view http_date();

// A response the server produces itself (errors, 100 Continue): status line,
// Date, Server, Content-Type text/plain, Content-Length, Connection: close
// when `close`, then the body.
std::string simple_response(int status, std::string_view body, bool close);

inline constexpr std::string_view kServerName = "squall";

// RFC 9110 6.4.1 / 15.3.5 / 15.4.5: no content for 1xx, 204 and 304.
inline bool status_has_no_body(int status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

}  // namespace squall::http
