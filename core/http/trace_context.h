#pragma once
// What makes a request followable: its request id (X-Request-ID) and its W3C
// Trace Context (https://www.w3.org/TR/trace-context/): the trace it belongs
// to, the caller's span (traceparent's parent-id) and the server's own span,
// new per request. Decided once per request head by the I/O thread
// (Connection::on_head) and read by the access log, the WSGI environ, the
// response head and the exemplars of the latency histograms.
#include <cstdint>
#include <string>
#include <string_view>

#include "http/request.h"

namespace squall::http {

inline constexpr std::size_t kTraceIdHex = 32;  // 16 bytes
inline constexpr std::size_t kSpanIdHex = 16;   // 8 bytes
// A request id taken from a trusted peer: at most this long, of kRequestIdChars.
inline constexpr std::size_t kMaxRequestId = 128;
inline constexpr std::string_view kRequestIdHeader = "X-Request-ID";

struct TraceContext {
  std::string request_id;
  char trace_id[kTraceIdHex] = {};  // lowercase hex
  char span_id[kSpanIdHex] = {};    // the server's span, new per request
  char parent_id[kSpanIdHex] = {};  // the caller's span: valid only with `has_parent`
  bool has_parent = false;          // a valid traceparent came in
  std::uint8_t flags = 0;           // trace-flags; only "sampled" (0x01) is kept
  std::string tracestate;           // the caller's, kept only with a valid traceparent

  std::string_view trace() const { return {trace_id, kTraceIdHex}; }
  std::string_view span() const { return {span_id, kSpanIdHex}; }
  std::string_view parent() const { return has_parent ? std::string_view(parent_id, kSpanIdHex) : std::string_view(); }
  // The traceparent the application sees: this trace, the server's span as
  // its parent, the caller's flags ("01", sampled, for a trace started here).
  std::string traceparent() const;
};

// A traceparent value (version 00 exactly; a higher version by its first
// four fields, as the spec asks). False when invalid: wrong length or
// separators, uppercase or non-hex digits, version ff, an all-zero trace-id
// or parent-id.
bool parse_traceparent(std::string_view value, char (&trace_id)[kTraceIdHex], char (&parent_id)[kSpanIdHex],
                       std::uint8_t& flags);

// A request id the server accepts from a trusted peer: 1..kMaxRequestId
// characters of ALPHA / DIGIT / "-" "_" "." ":" "+" "/" "=" "@" (safe in a
// log line, a header and a URL's query).
bool valid_request_id(std::string_view value);

// Random lowercase hex digits from a per-thread generator seeded from
// getrandom(2) (reseeded after fork, so workers never share a sequence).
void random_hex(char* out, std::size_t digits);

// The request's ids: X-Request-ID and traceparent/tracestate are believed
// only from a `trusted` peer for the request id (any client can send one),
// and from anyone for the trace context (the spec's propagation model: an
// invalid one starts a new trace). One field each: several traceparent or
// X-Request-ID fields are invalid.
TraceContext make_trace_context(const RequestHead& head, bool trusted);
// A context for a request whose head could not be read (a parse error).
TraceContext new_trace_context();

}  // namespace squall::http
