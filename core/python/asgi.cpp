#include "python/asgi.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>

#include "http/response.h"
#include "http/syntax.h"
#include "python/environ.h"
#include "python/raise.h"
#include "python/trace.h"
#include "server/access_log.h"
#include "ws/session.h"

namespace nb = nanobind;
using squall::server::Exchange;

namespace squall::python {
namespace {

// Interned once at import (never freed: module-lifetime constants).
struct Keys {
  PyObject *type, *asgi, *http_version, *method, *scheme, *path, *raw_path, *query_string, *root_path, *headers,
      *client, *server, *state, *http, *https, *v10, *v11, *asgi_info, *websocket, *ws, *wss, *subprotocols;
};
Keys K;

PyObject* intern(const char* s) { return PyUnicode_InternFromString(s); }

void set(PyObject* d, PyObject* key, PyObject* value) {  // steals value
  PyDict_SetItem(d, key, value);
  Py_DECREF(value);
}

PyObject* bytes_of(std::string_view s) {
  return PyBytes_FromStringAndSize(s.data(), static_cast<Py_ssize_t>(s.size()));
}

// ASGI's [host, port] (a tuple, as other servers give it).
PyObject* host_port(std::string_view host, int port) {
  PyObject* t = PyTuple_New(2);
  PyTuple_SET_ITEM(t, 0, PyUnicode_DecodeLatin1(host.data(), static_cast<Py_ssize_t>(host.size()), nullptr));
  PyTuple_SET_ITEM(t, 1, PyLong_FromLong(port));
  return t;
}

// bytes (or another buffer) -> its bytes; TypeError naming `what` otherwise.
std::string_view buffer_view(nb::handle obj, Py_buffer& view, const char* what) {
  if (PyBytes_Check(obj.ptr()))
    return {PyBytes_AS_STRING(obj.ptr()), static_cast<std::size_t>(PyBytes_GET_SIZE(obj.ptr()))};
  if (PyUnicode_Check(obj.ptr()) || PyObject_GetBuffer(obj.ptr(), &view, PyBUF_SIMPLE) != 0) {
    PyErr_Clear();
    raise(nb::exception_type::type_error,
          std::string(what) + " must be bytes, not " + Py_TYPE(obj.ptr())->tp_name + " (ASGI HTTP spec)");
  }
  return {static_cast<const char*>(view.buf), static_cast<std::size_t>(view.len)};
}

struct BufferGuard {
  Py_buffer view{};
  ~BufferGuard() {
    if (view.obj) PyBuffer_Release(&view);
  }
};

}  // namespace

AsgiRequest::AsgiRequest(std::shared_ptr<Exchange> ex, server::Server* server, metrics::WorkerTables* tables,
                         std::uint64_t id)
    : ex_(std::move(ex)), server_(server), tables_(tables), id_(id) {
  server_->app_tasks.fetch_add(1, std::memory_order_relaxed);
  server_->app_waiting.fetch_add(1, std::memory_order_relaxed);
}

AsgiRequest::~AsgiRequest() { done(); }

void AsgiRequest::stop_waiting() {
  if (!waiting_) return;
  waiting_ = false;
  server_->app_waiting.fetch_sub(1, std::memory_order_relaxed);
}

nb::object AsgiRequest::scope(nb::handle root_path, nb::handle state) const {
  const http::RequestHead& h = ex_->head;
  PyObject* d = PyDict_New();
  if (!d) throw nb::python_error();
  nb::object scope = nb::steal(d);
  const bool websocket = ex_->upgrade.has_value();
  PyObject* type = websocket ? K.websocket : K.http;
  Py_INCREF(type);
  set(d, K.type, type);
  Py_INCREF(K.asgi_info);
  set(d, K.asgi, K.asgi_info);
  PyObject* version = h.version_minor == 0 ? K.v10 : K.v11;
  Py_INCREF(version);
  set(d, K.http_version, version);
  if (!websocket)
    set(d, K.method, PyUnicode_DecodeLatin1(h.method.data(), static_cast<Py_ssize_t>(h.method.size()), nullptr));

  // request-target: origin-form, or absolute-form (RFC 9112 3.2.2) whose
  // scheme and authority are dropped, as for the WSGI environ.
  std::string_view target = h.target;
  if (!target.empty() && target.front() != '/' && target != "*") {
    if (auto scheme = target.find("://"); scheme != std::string_view::npos) {
      auto slash = target.find('/', scheme + 3);
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
  }
  std::string_view raw_path = target, query;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    raw_path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  // ASGI: "path" is percent- and UTF-8-decoded; invalid UTF-8 becomes U+FFFD
  // (what urllib.parse.unquote does), "raw_path" keeps the bytes as sent.
  std::string decoded = percent_decode(raw_path);
  PyObject* path = PyUnicode_DecodeUTF8(decoded.data(), static_cast<Py_ssize_t>(decoded.size()), "replace");
  if (!path) throw nb::python_error();
  set(d, K.path, path);
  set(d, K.raw_path, bytes_of(raw_path));
  set(d, K.query_string, bytes_of(query));
  set(d, K.root_path, Py_NewRef(root_path.ptr()));

  std::string server_name = "localhost";
  std::string_view forwarded_proto;
  PyObject* headers = PyList_New(0);
  set(d, K.headers, headers);  // the dict keeps it alive
  std::string lower;
  for (const auto& field : h.headers) {
    const std::string& name = field.name;
    // As for WSGI: "X_Foo" would reach Django as the same HTTP_X_FOO as
    // "X-Foo", so a client could spoof a proxy's header; nginx drops them too.
    if (name.find('_') != std::string::npos) continue;
    if (is_trace_header(name)) continue;  // the server's own values, appended below
    if (http::iequals(name, "host")) {
      std::string_view host = field.value;
      if (!host.empty() && host.front() == '[') {
        host = host.substr(0, host.find(']') + 1);
      } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
        host = host.substr(0, colon);
      }
      if (!host.empty()) server_name.assign(host);
    } else if (ex_->peer_trusted && forwarded_proto.empty() && http::iequals(name, "x-forwarded-proto")) {
      forwarded_proto = field.value;
    }
    lower.assign(name);
    for (char& c : lower)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    PyObject* pair = PyTuple_New(2);
    PyTuple_SET_ITEM(pair, 0, bytes_of(lower));
    PyTuple_SET_ITEM(pair, 1, bytes_of(field.value));
    PyList_Append(headers, pair);
    Py_DECREF(pair);
  }
  // As in the WSGI environ: the engine's request id and its span as the parent.
  for (const TraceHeader& t : trace_headers(ex_->trace)) {
    PyObject* pair = PyTuple_New(2);
    PyTuple_SET_ITEM(pair, 0, bytes_of(t.name));
    PyTuple_SET_ITEM(pair, 1, bytes_of(t.value));
    PyList_Append(headers, pair);
    Py_DECREF(pair);
  }
  add_trace_keys(d, ex_->trace);
  // Scheme from a trusted proxy's X-Forwarded-Proto (--forwarded-allow-ips), as for WSGI.
  std::string_view proto = http::trim_ows(forwarded_proto.substr(0, forwarded_proto.find(',')));
  bool secure = http::iequals(proto, "https") || http::iequals(proto, "wss");
  PyObject* scheme = websocket ? (secure ? K.wss : K.ws) : (secure ? K.https : K.http);
  Py_INCREF(scheme);
  set(d, K.scheme, scheme);
  const std::string& client = ex_->client.empty() ? ex_->peer.host : ex_->client;
  set(d, K.client, host_port(client, ex_->peer.port));
  // The name the client addressed (Host) and the port it reached: what the
  // WSGI environ gives as SERVER_NAME / SERVER_PORT, and Django reads from here.
  set(d, K.server, host_port(server_name, ex_->local_port));
  if (websocket) {
    PyObject* subprotocols = PyList_New(0);
    for (const std::string& p : ex_->upgrade->subprotocols) {
      PyObject* item = PyUnicode_DecodeLatin1(p.data(), static_cast<Py_ssize_t>(p.size()), nullptr);
      PyList_Append(subprotocols, item);
      Py_DECREF(item);
    }
    set(d, K.subprotocols, subprotocols);
  }
  if (!state.is_none()) {
    PyObject* copy = PyDict_Copy(state.ptr());  // ASGI: a shallow copy per request
    if (!copy) throw nb::python_error();
    set(d, K.state, copy);
  }
  if (PyErr_Occurred()) throw nb::python_error();
  return scope;
}

nb::tuple AsgiRequest::read(std::size_t max) {
  std::string out;
  server::BodyRead r = ex_->take_body(out, max);
  switch (r) {
    case server::BodyRead::Data: {
      bool more = !ex_->body_exhausted();
      return nb::make_tuple(0, nb::bytes(out.data(), out.size()), more);
    }
    case server::BodyRead::End: return nb::make_tuple(1, nb::bytes("", 0), false);
    case server::BodyRead::Wait: return nb::make_tuple(2, nb::bytes("", 0), true);
    case server::BodyRead::Failed: break;
  }
  return nb::make_tuple(3, nb::bytes("", 0), false);
}

namespace {

// ASGI headers (an iterable of [name, value] byte strings), checked as for WSGI.
std::vector<std::pair<std::string, std::string>> checked_headers(nb::handle headers, const char* what) {
  std::vector<std::pair<std::string, std::string>> out;
  if (headers.is_none()) return out;
  nb::object iterator = nb::steal(PyObject_GetIter(headers.ptr()));
  if (!iterator.is_valid()) {
    PyErr_Clear();
    raise(nb::exception_type::type_error, std::string(what) + ": headers must be an iterable of [name, value]");
  }
  for (;;) {
    nb::object item = nb::steal(PyIter_Next(iterator.ptr()));
    if (!item.is_valid()) {
      if (PyErr_Occurred()) throw nb::python_error();
      break;
    }
    if (PySequence_Check(item.ptr()) == 0 || PySequence_Size(item.ptr()) != 2) {
      PyErr_Clear();
      raise(nb::exception_type::type_error, std::string(what) + ": each header must be a [name, value] pair");
    }
    nb::object name_obj = nb::steal(PySequence_GetItem(item.ptr(), 0));
    nb::object value_obj = nb::steal(PySequence_GetItem(item.ptr(), 1));
    BufferGuard g1, g2;
    std::string name(buffer_view(name_obj, g1.view, "a header name"));
    std::string value(buffer_view(value_obj, g2.view, "a header value"));
    if (!http::is_token(name))
      raise(nb::exception_type::value_error, std::string(what) + ": invalid header name '" + name + "'");
    // CR/LF in a value would let the app (or its user input) inject headers.
    if (!http::is_field_value(value))
      raise(nb::exception_type::value_error,
            std::string(what) + ": header '" + name + "' has a control character (CR/LF injection)");
    if (http::is_hop_by_hop(name))
      raise(nb::exception_type::value_error,
            std::string(what) + ": hop-by-hop header '" + name + "' is the server's to send (RFC 9110 7.6.1)");
    out.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

std::string text_of(nb::handle obj, const char* what) {
  if (!PyUnicode_Check(obj.ptr()))
    raise(nb::exception_type::type_error, std::string(what) + " must be str, not " + Py_TYPE(obj.ptr())->tp_name);
  Py_ssize_t size;
  const char* utf8 = PyUnicode_AsUTF8AndSize(obj.ptr(), &size);
  if (!utf8) throw nb::python_error();  // lone surrogates: not UTF-8 encodable
  return std::string(utf8, static_cast<std::size_t>(size));
}

}  // namespace

void AsgiRequest::ws_accept(nb::handle subprotocol, nb::handle headers) {
  if (!websocket()) raise(nb::exception_type::runtime_error, "websocket.accept on an HTTP request");
  if (ex_->ws_accepted()) raise(nb::exception_type::runtime_error, "websocket.accept sent twice");
  server::Exchange::WsAccept accept;
  if (!subprotocol.is_none()) {
    accept.subprotocol = text_of(subprotocol, "websocket.accept's subprotocol");
    const auto& offered = ex_->upgrade->subprotocols;
    // RFC 6455 4.2.2: the server picks one of the client's, or none.
    if (std::find(offered.begin(), offered.end(), accept.subprotocol) == offered.end())
      raise(nb::exception_type::value_error,
            "websocket.accept: subprotocol '" + accept.subprotocol + "' was not offered by the client");
  }
  accept.headers = checked_headers(headers, "websocket.accept");
  for (const auto& [name, value] : accept.headers)
    if (http::iequals(name, "sec-websocket-protocol") || http::iequals(name, "sec-websocket-accept") ||
        http::iequals(name, "sec-websocket-extensions"))
      raise(nb::exception_type::value_error, "websocket.accept: header '" + name + "' is the server's to send");
  started_ = true;
  stop_waiting();
  ex_->ws_accept(std::move(accept));
}

int AsgiRequest::ws_send(nb::handle text, nb::handle bytes) {
  if (!ex_->ws_accepted()) raise(nb::exception_type::runtime_error, "websocket.send before websocket.accept");
  if (text.is_none() == bytes.is_none())
    raise(nb::exception_type::value_error, "websocket.send needs exactly one of 'text' and 'bytes'");
  server::Exchange::WsOut out;
  if (!text.is_none()) {
    out.kind = server::Exchange::WsOut::Kind::Text;
    out.data = text_of(text, "websocket.send's text");
  } else {
    out.kind = server::Exchange::WsOut::Kind::Binary;
    BufferGuard g;
    out.data = std::string(buffer_view(bytes, g.view, "websocket.send's bytes"));
  }
  return ex_->ws_send(std::move(out));
}

int AsgiRequest::ws_close(int code, nb::handle reason) {
  if (!ex_->ws_accepted()) {
    // ASGI: a close before accept is a refusal, HTTP 403.
    if (finished_) return 2;
    finished_ = true;
    stop_waiting();
    ex_->set_response(403, "Forbidden", {{"Content-Type", "text/plain; charset=utf-8"}});
    ex_->write("Forbidden\n", true);
    ex_->finish();
    return 0;
  }
  std::string why = reason.is_none() ? std::string() : text_of(reason, "websocket.close's reason");
  if (code < 0 || code > 65535 || !ws::valid_close_code(static_cast<std::uint16_t>(code)) || why.size() > 123)
    raise(nb::exception_type::value_error, "websocket.close: invalid code " + std::to_string(code) +
                                               " or a reason over 123 bytes (RFC 6455 5.5.1, 7.4)");
  finished_ = true;
  server::Exchange::WsOut out;
  out.kind = server::Exchange::WsOut::Kind::Close;
  out.code = static_cast<std::uint16_t>(code);
  out.data = std::move(why);
  return ex_->ws_send(std::move(out));
}

nb::tuple AsgiRequest::ws_receive() {
  server::Exchange::WsMessage msg;
  std::uint16_t code = 0;
  std::string reason;
  switch (ex_->ws_receive(msg, code, reason)) {
    case server::Exchange::WsRecv::Message: {
      if (msg.text) {
        // UTF-8 was checked by the session (RFC 6455 8.1).
        nb::object s = nb::steal(
            PyUnicode_DecodeUTF8(msg.data.data(), static_cast<Py_ssize_t>(msg.data.size()), "surrogateescape"));
        if (!s.is_valid()) throw nb::python_error();
        return nb::make_tuple(0, true, s, 0, nb::none());
      }
      return nb::make_tuple(0, false, nb::bytes(msg.data.data(), msg.data.size()), 0, nb::none());
    }
    case server::Exchange::WsRecv::Wait: return nb::make_tuple(1, false, nb::none(), 0, nb::none());
    case server::Exchange::WsRecv::Closed: break;
  }
  return nb::make_tuple(2, false, nb::none(), code, nb::str(reason.c_str(), reason.size()));
}

void AsgiRequest::start(nb::handle status, nb::handle headers) {
  if (started_) raise(nb::exception_type::runtime_error, "http.response.start sent twice");
  if (!PyLong_Check(status.ptr()))
    raise(nb::exception_type::type_error,
          std::string("http.response.start: status must be int, not ") + Py_TYPE(status.ptr())->tp_name);
  long code = PyLong_AsLong(status.ptr());
  if (code < 100 || code > 999 || (code >= 100 && code < 200))
    raise(nb::exception_type::value_error,
          "http.response.start: invalid status " + std::to_string(code) + " (expected 200-999)");
  std::vector<std::pair<std::string, std::string>> out = checked_headers(headers, "http.response.start");
  std::string reason(http::reason_phrase(static_cast<int>(code)));
  ex_->set_response(static_cast<int>(code), std::move(reason), std::move(out));
  started_ = true;
  stop_waiting();
}

int AsgiRequest::send(nb::handle body, bool more) {
  if (!started_) raise(nb::exception_type::runtime_error, "http.response.body sent before http.response.start");
  if (finished_) raise(nb::exception_type::runtime_error, "http.response.body sent after the response ended");
  BufferGuard g;
  std::string_view data = body.is_none() ? std::string_view() : buffer_view(body, g.view, "http.response.body's body");
  // The last message with nothing sent yet: the whole body is known, so it
  // goes out with Content-Length; otherwise chunked (Exchange decides).
  bool ok = ex_->write(data, !more);
  if (!more) {
    finished_ = true;
    ex_->finish();
  }
  if (!ok) return 2;
  return more && ex_->should_wait_drained() ? 1 : 0;
}

void AsgiRequest::fail() {
  if (finished_) return;
  finished_ = true;
  stop_waiting();
  if (websocket() && ex_->ws_accepted()) {
    // RFC 6455 7.4.1: 1011, the server met an unexpected condition.
    server::Exchange::WsOut out;
    out.kind = server::Exchange::WsOut::Kind::Close;
    out.code = ws::kCloseInternalError;
    ex_->ws_send(std::move(out));
    return;
  }
  if (ex_->response_started()) {
    ex_->abort();  // the head is out: only a close ends it honestly
    return;
  }
  ex_->set_response(500, "Internal Server Error", {{"Content-Type", "text/plain; charset=utf-8"}});
  ex_->write("Internal Server Error\n", true);
  ex_->finish();
}

void AsgiRequest::done() {
  if (done_) return;
  done_ = true;
  if (!finished_ && websocket() && ex_->ws_accepted()) {
    // The app returned without websocket.close: a normal closure (1000).
    finished_ = true;
    server::Exchange::WsOut out;
    out.kind = server::Exchange::WsOut::Kind::Close;
    out.code = ws::kCloseNormal;
    ex_->ws_send(std::move(out));
  }
  if (!finished_) fail();
  stop_waiting();
  server_->app_tasks.fetch_sub(1, std::memory_order_relaxed);
  if (ex_->deadline_passed() && tables_) metrics::add(tables_->server.timeouts_unwound);
  if (state::WorkerSlot* slot = server_->slot()) slot->requests.fetch_add(1, std::memory_order_relaxed);
  if (server_->config().access_log) {
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - ex_->started).count();
    server::log_access(*ex_, ms);
  }
}

void AsgiRequest::bind(nb::module_& m) {
  K.type = intern("type");
  K.asgi = intern("asgi");
  K.http_version = intern("http_version");
  K.method = intern("method");
  K.scheme = intern("scheme");
  K.path = intern("path");
  K.raw_path = intern("raw_path");
  K.query_string = intern("query_string");
  K.root_path = intern("root_path");
  K.headers = intern("headers");
  K.client = intern("client");
  K.server = intern("server");
  K.state = intern("state");
  K.http = intern("http");
  K.https = intern("https");
  K.websocket = intern("websocket");
  K.ws = intern("ws");
  K.wss = intern("wss");
  K.subprotocols = intern("subprotocols");
  K.v10 = intern("1.0");
  K.v11 = intern("1.1");
  // ASGI 3; HTTP spec 2.4: send() on a closed connection raises OSError.
  K.asgi_info = Py_BuildValue("{s:s,s:s}", "version", "3.0", "spec_version", "2.4");

  nb::class_<AsgiRequest>(m, "AsgiRequest")
      .def_prop_ro("id", &AsgiRequest::id)
      .def("scope", &AsgiRequest::scope, nb::arg("root_path"), nb::arg("state").none())
      .def("read", &AsgiRequest::read, nb::arg("max"))
      .def("arm", &AsgiRequest::arm, nb::arg("want"))
      .def_prop_ro("gone", &AsgiRequest::gone)
      .def_prop_ro("peer_closed", &AsgiRequest::peer_closed)
      .def_prop_ro("deadline_passed", &AsgiRequest::deadline_passed)
      .def_prop_ro("started", &AsgiRequest::started)
      .def("start", &AsgiRequest::start, nb::arg("status"), nb::arg("headers"))
      .def("send", &AsgiRequest::send, nb::arg("body").none(), nb::arg("more"))
      .def("fail", &AsgiRequest::fail)
      .def("done", &AsgiRequest::done)
      .def_prop_ro("websocket", &AsgiRequest::websocket)
      .def("ws_accept", &AsgiRequest::ws_accept, nb::arg("subprotocol").none(), nb::arg("headers").none())
      .def("ws_send", &AsgiRequest::ws_send, nb::arg("text").none(), nb::arg("bytes").none())
      .def("ws_close", &AsgiRequest::ws_close, nb::arg("code"), nb::arg("reason").none())
      .def("ws_receive", &AsgiRequest::ws_receive);
  m.attr("WANT_BODY") = static_cast<unsigned>(Exchange::WantBody);
  m.attr("WANT_DRAIN") = static_cast<unsigned>(Exchange::WantDrain);
  m.attr("WANT_GONE") = static_cast<unsigned>(Exchange::WantGone);
}

}  // namespace squall::python
