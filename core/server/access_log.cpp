#include "server/access_log.h"

#include <cstdio>

#include "log/log.h"
#include "server/exchange.h"

namespace squall::server {
namespace {

std::vector<AccessField>& fields() {
  static std::vector<AccessField> f = kDefaultAccessFields;
  return f;
}

// A field value in a text line: quoted, '"' and '\' escaped (a client cannot
// forge the rest of the line; the parser has refused control characters).
void append_quoted(std::string& line, std::string_view value) {
  line += '"';
  for (char c : value) {
    if (c == '"' || c == '\\') line += '\\';
    line += c;
  }
  line += '"';
}

const std::string* header(const http::RequestHead& h, std::string_view name) {
  const http::Header* f = h.find(name);
  return f ? &f->value : nullptr;
}

}  // namespace

std::optional<AccessField> access_field(std::string_view name) {
#define SQUALL_X(enumerator, text) \
  if (name == text) return AccessField::enumerator;
  SQUALL_ACCESS_LOG_FIELDS(SQUALL_X)
#undef SQUALL_X
  return std::nullopt;
}

void set_access_log_fields(std::vector<AccessField> f) { fields() = std::move(f); }

void log_access(const Exchange& ex, double duration_ms) {
  log_access(ex.client.empty() ? ex.peer.host : ex.client, ex.head, ex.status(), ex.body_bytes(), duration_ms,
             &ex.trace);
}

std::string format_access(const std::vector<AccessField>& chosen, bool json, const std::string& client,
                          const http::RequestHead& h, int status, std::uint64_t bytes, double duration_ms,
                          const http::TraceContext* trace) {
  auto id = [&](AccessField f) -> std::string_view {
    if (!trace) return {};
    return f == AccessField::RequestId ? std::string_view(trace->request_id)
           : f == AccessField::TraceId ? trace->trace()
                                       : trace->span();
  };
  char version[16];
  std::snprintf(version, sizeof version, "HTTP/%d.%d", h.version_major, h.version_minor);
  char duration[32];
  std::snprintf(duration, sizeof duration, "%.3f", duration_ms);
  std::string line;
  line.reserve(160);
  if (json) {
    bool method = false, path = false, protocol = false;  // each key once
    auto key = [&](const char* k) {
      line += ", \"";
      line += k;
      line += "\": ";
    };
    auto string = [&](std::string_view v) {
      line += '"';
      line += log::json_escape(v);
      line += '"';
    };
    auto optional = [&](const std::string* v) {
      if (v)
        string(*v);
      else
        line += "null";
    };
    line +=
        "{\"time\": \"" + log::timestamp() + "\", \"level\": \"info\", \"logger\": \"squall.access\", \"message\": ";
    string(h.method + " " + h.target);
    for (AccessField f : chosen) {
      switch (f) {
        case AccessField::Client: key("remote_addr"), string(client); break;
        case AccessField::Request:
        case AccessField::Method:
        case AccessField::Path:
        case AccessField::Protocol: {
          const bool all = f == AccessField::Request;
          if ((all || f == AccessField::Method) && !method) key("method"), string(h.method), method = true;
          if ((all || f == AccessField::Path) && !path) key("path"), string(h.target), path = true;
          if ((all || f == AccessField::Protocol) && !protocol) key("protocol"), string(version), protocol = true;
          break;
        }
        case AccessField::Status: key("status"), line += std::to_string(status); break;
        case AccessField::Bytes: key("bytes"), line += std::to_string(bytes); break;
        case AccessField::Duration: key("duration_ms"), line += duration; break;
        case AccessField::UserAgent: key("user_agent"), optional(header(h, "User-Agent")); break;
        case AccessField::Referer: key("referer"), optional(header(h, "Referer")); break;
        case AccessField::Host: key("host"), optional(header(h, "Host")); break;
        case AccessField::RequestId:
        case AccessField::TraceId:
        case AccessField::SpanId: {
          const bool request_id = f == AccessField::RequestId;
          key(request_id ? "request_id" : f == AccessField::TraceId ? "trace_id" : "span_id");
          if (!trace)
            line += "null";
          else if (request_id)
            string(id(f));  // from a trusted proxy: valid_request_id() characters only, but escape anyway
          else
            line += '"', line += id(f), line += '"';
          break;
        }
      }
    }
    line += "}";
    return line;
  }
  for (AccessField f : chosen) {
    if (!line.empty()) line += ' ';
    switch (f) {
      case AccessField::Client: line += client; break;
      case AccessField::Request:
        line += '"';
        line += h.method;
        line += ' ';
        line += h.target;
        line += ' ';
        line += version;
        line += '"';
        break;
      case AccessField::Method: line += h.method; break;
      case AccessField::Path: line += h.target; break;
      case AccessField::Protocol: line += version; break;
      case AccessField::Status: line += std::to_string(status); break;
      case AccessField::Bytes: line += std::to_string(bytes); break;
      case AccessField::Duration:
        line += duration;
        line += "ms";
        break;
      case AccessField::UserAgent:
      case AccessField::Referer:
      case AccessField::Host: {
        const char* name = f == AccessField::UserAgent ? "User-Agent" : f == AccessField::Referer ? "Referer" : "Host";
        const std::string* v = header(h, name);
        append_quoted(line, v ? std::string_view(*v) : std::string_view("-"));
        break;
      }
      // key=value: three ids side by side are told apart without counting.
      case AccessField::RequestId:
      case AccessField::TraceId:
      case AccessField::SpanId: {
        line += f == AccessField::RequestId ? "request_id=" : f == AccessField::TraceId ? "trace_id=" : "span_id=";
        std::string_view v = id(f);
        line += v.empty() ? std::string_view("-") : v;
        break;
      }
    }
  }
  return line;
}

void log_access(const std::string& client, const http::RequestHead& h, int status, std::uint64_t bytes,
                double duration_ms, const http::TraceContext* trace) {
  const bool json = log::log_format() == log::LogFormat::Json;
  std::string body = format_access(fields(), json, client, h, status, bytes, duration_ms, trace);
  std::string line = json ? std::move(body) : log::timestamp() + " INFO squall.access: " + body;
  line += '\n';
  log::write_line(line);
}

}  // namespace squall::server
