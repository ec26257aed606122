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

void add_trace_environ(PyObject* env, const server::Exchange& ex) {
  const http::TraceContext& t = ex.trace;
  if (t.request_id.empty()) return;  // an exchange made without a head (tests)
  // The same id under the header's key: request.headers["X-Request-ID"] in
  // Django is what the response and the access log show.
  set(env, "HTTP_X_REQUEST_ID", latin1(t.request_id));
  set(env, "HTTP_TRACEPARENT", latin1(t.traceparent()));
  if (t.has_parent && !t.tracestate.empty()) set(env, "HTTP_TRACESTATE", latin1(t.tracestate));
  set(env, "squall.request_id", latin1(t.request_id));
  set(env, "squall.trace_id", latin1(t.trace()));
  set(env, "squall.span_id", latin1(t.span()));
  set(env, "squall.parent_id", t.has_parent ? latin1(t.parent()) : Py_NewRef(Py_None));
  set(env, "squall.trace_flags", PyLong_FromLong(t.flags));
}

const http::TraceContext* current_trace() { return t_current; }

CurrentTrace::CurrentTrace(const http::TraceContext& t) : previous_(t_current) { t_current = &t; }
CurrentTrace::~CurrentTrace() { t_current = previous_; }

}  // namespace squall::python
