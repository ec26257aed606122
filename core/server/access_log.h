#pragma once
// The access-log line of a request (squall.access), in the log format set
// with log::set_log_format: text, or one JSON object with the request's
// fields. Which fields, in which order: --access-log-format.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/request.h"
#include "http/trace_context.h"

namespace squall::server {

class Exchange;

// X(enumerator, name in --access-log-format)
#define SQUALL_ACCESS_LOG_FIELDS(X) \
  X(Client, "client")               \
  X(Request, "request")             \
  X(Method, "method")               \
  X(Path, "path")                   \
  X(Protocol, "protocol")           \
  X(Status, "status")               \
  X(Bytes, "bytes")                 \
  X(Duration, "duration")           \
  X(UserAgent, "user_agent")        \
  X(Referer, "referer")             \
  X(Host, "host")                   \
  X(RequestId, "request_id")        \
  X(TraceId, "trace_id")            \
  X(SpanId, "span_id")

enum class AccessField : std::uint8_t {
#define SQUALL_X(name, text) name,
  SQUALL_ACCESS_LOG_FIELDS(SQUALL_X)
#undef SQUALL_X
};

// The field named `name` (as in --access-log-format), nullopt if none is.
std::optional<AccessField> access_field(std::string_view name);

// The default line: client "METHOD TARGET HTTP/1.1" status bytes duration
// request_id=ID trace_id=ID span_id=ID.
inline const std::vector<AccessField> kDefaultAccessFields = {
    AccessField::Client,   AccessField::Request,   AccessField::Status,  AccessField::Bytes,
    AccessField::Duration, AccessField::RequestId, AccessField::TraceId, AccessField::SpanId};

// Process-wide, like the log format: set before requests are served.
void set_access_log_fields(std::vector<AccessField> fields);

void log_access(const Exchange& exchange, double duration_ms);
// The same line for a response the I/O thread answered itself (static files).
// `client`: the peer, or the client a trusted proxy forwarded for.
// `trace`: the request's ids (null: the id fields are "-", null in JSON).
void log_access(const std::string& client, const http::RequestHead& head, int status, std::uint64_t bytes,
                double duration_ms, const http::TraceContext* trace);

// The line's text (without the timestamp prefix) or JSON object, for tests.
std::string format_access(const std::vector<AccessField>& fields, bool json, const std::string& client,
                          const http::RequestHead& head, int status, std::uint64_t bytes, double duration_ms,
                          const http::TraceContext* trace = nullptr);

}  // namespace squall::server
