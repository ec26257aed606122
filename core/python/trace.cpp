#include "python/trace.h"

namespace squall::python {
namespace {

thread_local const http::TraceContext* t_current = nullptr;

PyObject* latin1(std::string_view s) {
  return PyUnicode_DecodeLatin1(s.data(), static_cast<Py_ssize_t>(s.size()), nullptr);
}

// Steals `value`.
void set(PyObject* env, const char* key, PyObject* value) {
  if (!value) {
    PyErr_Clear();
    return;
  }
  PyDict_SetItemString(env, key, value);
  Py_DECREF(value);
}

}  // namespace

bool is_trace_header(std::string_view name) {
  return http::iequals(name, http::kRequestIdHeader) || http::iequals(name, "traceparent") ||
         http::iequals(name, "tracestate");
}

std::vector<TraceHeader> trace_headers(const http::TraceContext& t) {
  std::vector<TraceHeader> out;
  if (t.request_id.empty()) return out;  // an exchange made without a head (tests)
  // The same id under the header's name: request.headers["X-Request-ID"] in
  // Django is what the response and the access log show.
  out.push_back({"x-request-id", "HTTP_X_REQUEST_ID", t.request_id});
  out.push_back({"traceparent", "HTTP_TRACEPARENT", t.traceparent()});
  if (t.has_parent && !t.tracestate.empty()) out.push_back({"tracestate", "HTTP_TRACESTATE", t.tracestate});
  return out;
}

void add_trace_keys(PyObject* dict, const http::TraceContext& t) {
  if (t.request_id.empty()) return;
  set(dict, "squall.request_id", latin1(t.request_id));
  set(dict, "squall.trace_id", latin1(t.trace()));
  set(dict, "squall.span_id", latin1(t.span()));
  set(dict, "squall.parent_id", t.has_parent ? latin1(t.parent()) : Py_NewRef(Py_None));
  set(dict, "squall.trace_flags", PyLong_FromLong(t.flags));
}

void add_trace_environ(PyObject* env, const server::Exchange& ex) {
  for (const TraceHeader& h : trace_headers(ex.trace)) set(env, h.environ_key, latin1(h.value));
  add_trace_keys(env, ex.trace);
}

const http::TraceContext* current_trace() { return t_current; }

CurrentTrace::CurrentTrace(const http::TraceContext& t) : previous_(t_current) { t_current = &t; }
CurrentTrace::~CurrentTrace() { t_current = previous_; }

}  // namespace squall::python
