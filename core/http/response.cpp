#include "http/response.h"

#include <ctime>

#include "http/request.h"

namespace squall::http {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

std::string_view http_date() {
  thread_local std::time_t cached_second = 0;
  thread_local char buf[40];
  thread_local std::size_t len = 0;
  std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    len = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached_second = now;
  }
  return {buf, len};
}

std::string serialize(const ResponseHead& h) {
  std::string out;
  out.reserve(192 + h.fields.size() * 48);
  out += h.version_minor >= 1 ? "HTTP/1.1 " : "HTTP/1.0 ";
  int status = h.status;
  char code[4] = {char('0' + status / 100 % 10), char('0' + status / 10 % 10), char('0' + status % 10), ' '};
  out.append(code, 4);
  out += h.reason.empty() ? reason_phrase(status) : std::string_view(h.reason);
  out += "\r\n";
  bool has_date = false, has_server = false;
  for (const auto& [name, value] : h.fields) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
    if (iequals(name, "date"))
      has_date = true;
    else if (iequals(name, "server"))
      has_server = true;
  }
  if (status < 200) {  // interim: the final response carries the rest
    out += "\r\n";
    return out;
  }
  if (!has_server) {
    out += "Server: ";
    out += kServerName;
    out += "\r\n";
  }
  if (!has_date) {
    out += "Date: ";
    out += http_date();
    out += "\r\n";
  }
  if (h.content_length) {
    out += "Content-Length: ";
    out += std::to_string(*h.content_length);
    out += "\r\n";
  } else if (h.chunked) {
    out += "Transfer-Encoding: chunked\r\n";
  }
  if (!h.keep_alive)
    out += "Connection: close\r\n";
  else if (h.version_minor == 0)
    out += "Connection: keep-alive\r\n";
  out += "\r\n";
  return out;
}

ResponseHead text_head(int status, std::size_t body_size, int version_minor, bool keep_alive) {
  ResponseHead h;
  h.status = status;
  h.version_minor = version_minor;
  h.keep_alive = keep_alive;
  h.add("Content-Type", "text/plain; charset=utf-8");
  h.content_length = body_size;
  return h;
}

std::string text_response(ResponseHead head, std::string_view body, bool head_only) {
  head.content_length = body.size();
  std::string out = serialize(head);
  if (!head_only && !status_has_no_body(head.status)) out += body;
  return out;
}

std::string simple_response(int status, std::string_view body, bool close) {
  return text_response(text_head(status, body.size(), 1, !close), body);
}

}  // namespace squall::http
