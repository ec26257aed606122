#pragma once
// The request id and W3C trace context in the WSGI environ (docs/tracing.md),
// and the trace of the request a Python thread is running (for the
// exemplars of django_http_requests_latency_seconds_by_view_method).
#include <Python.h>

#include <string>
#include <string_view>
#include <vector>

#include "http/trace_context.h"
#include "server/exchange.h"

namespace squall::python {

// The fields the server replaces in the environ with its own values.
bool is_trace_header(std::string_view name);

// The fields the app sees in place of the client's: x-request-id (the
// engine's id), traceparent (the server's span as the parent), tracestate
// (the caller's, with a valid traceparent). Empty for an exchange made
// without a head. Names are lower-case, as ASGI wants them.
struct TraceHeader {
  std::string_view name;
  const char* environ_key;  // its CGI name in the WSGI environ
  std::string value;
};
std::vector<TraceHeader> trace_headers(const http::TraceContext& t);

// squall.request_id, squall.trace_id, squall.span_id, squall.parent_id (None
// when the trace started here), squall.trace_flags: the same keys in the WSGI
// environ and the ASGI scope. Call with the GIL.
void add_trace_keys(PyObject* dict, const http::TraceContext& t);

// HTTP_X_REQUEST_ID, HTTP_TRACEPARENT (the server's span as the parent),
// HTTP_TRACESTATE (the caller's, with a valid traceparent), and
// squall.request_id, squall.trace_id, squall.span_id, squall.parent_id
// (None when the trace started here). Call with the GIL.
void add_trace_environ(PyObject* env, const server::Exchange& ex);

// The trace of the request this thread runs, null between requests.
const http::TraceContext* current_trace();

// Sets this thread's current trace for its lifetime.
class CurrentTrace {
 public:
  explicit CurrentTrace(const http::TraceContext& t);
  ~CurrentTrace();
  CurrentTrace(const CurrentTrace&) = delete;
  CurrentTrace& operator=(const CurrentTrace&) = delete;

 private:
  const http::TraceContext* previous_;
};

}  // namespace squall::python
