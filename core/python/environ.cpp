#include "python/environ.h"

#include <string>
#include <string_view>
#include <unordered_map>

#include "http/syntax.h"
#include "python/trace.h"
#include "server/exchange.h"

namespace squall::python {
namespace {

struct Keys {
  PyObject *request_method, *script_name, *path_info, *query_string, *raw_uri, *server_name, *server_port,
      *server_protocol, *remote_addr, *remote_port, *content_type, *content_length, *wsgi_version, *wsgi_url_scheme,
      *wsgi_input, *wsgi_errors, *wsgi_multithread, *wsgi_multiprocess, *wsgi_run_once, *wsgi_file_wrapper,
      *wsgi_input_terminated, *server_software;
  PyObject *empty, *http, *https, *http10, *http11, *version_tuple;
};
Keys K;

// Header name as received -> "HTTP_..." key. Bounded so a client sending
// random header names cannot grow it without limit. GIL-protected.
std::unordered_map<std::string, PyObject*> g_header_keys;
constexpr std::size_t kMaxCachedHeaderKeys = 512;
std::unordered_map<std::string, PyObject*> g_methods;

PyObject* intern(const char* s) { return PyUnicode_InternFromString(s); }

PyObject* latin1(std::string_view s) {
  return PyUnicode_DecodeLatin1(s.data(), static_cast<Py_ssize_t>(s.size()), nullptr);
}

// Steals `value`.
void set(PyObject* env, PyObject* key, PyObject* value) {
  PyDict_SetItem(env, key, value);
  Py_DECREF(value);
}

PyObject* header_key(const std::string& name) {
  auto it = g_header_keys.find(name);
  if (it != g_header_keys.end()) {
    Py_INCREF(it->second);
    return it->second;
  }
  std::string key = "HTTP_";
  key.reserve(5 + name.size());
  for (char c : name) key += c == '-' ? '_' : static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
  PyObject* obj = PyUnicode_InternFromString(key.c_str());
  if (g_header_keys.size() < kMaxCachedHeaderKeys) {
    Py_INCREF(obj);
    g_header_keys.emplace(name, obj);
  }
  return obj;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

// PATH_INFO is the percent-decoded path (PEP 3333, CGI 1.1 4.1.5).
std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

namespace {}  // namespace

void init_environ_constants() {
  K.request_method = intern("REQUEST_METHOD");
  K.script_name = intern("SCRIPT_NAME");
  K.path_info = intern("PATH_INFO");
  K.query_string = intern("QUERY_STRING");
  K.raw_uri = intern("RAW_URI");
  K.server_name = intern("SERVER_NAME");
  K.server_port = intern("SERVER_PORT");
  K.server_protocol = intern("SERVER_PROTOCOL");
  K.remote_addr = intern("REMOTE_ADDR");
  K.remote_port = intern("REMOTE_PORT");
  K.content_type = intern("CONTENT_TYPE");
  K.content_length = intern("CONTENT_LENGTH");
  K.wsgi_version = intern("wsgi.version");
  K.wsgi_url_scheme = intern("wsgi.url_scheme");
  K.wsgi_input = intern("wsgi.input");
  K.wsgi_errors = intern("wsgi.errors");
  K.wsgi_multithread = intern("wsgi.multithread");
  K.wsgi_multiprocess = intern("wsgi.multiprocess");
  K.wsgi_run_once = intern("wsgi.run_once");
  K.wsgi_file_wrapper = intern("wsgi.file_wrapper");
  K.wsgi_input_terminated = intern("wsgi.input_terminated");
  K.server_software = intern("SERVER_SOFTWARE");
  K.empty = intern("");
  K.http = intern("http");
  K.https = intern("https");
  K.http10 = intern("HTTP/1.0");
  K.http11 = intern("HTTP/1.1");
  K.version_tuple = Py_BuildValue("(ii)", 1, 0);
  for (const char* m : {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) g_methods.emplace(m, intern(m));
}

PyObject* build_environ(const server::Exchange& ex, PyObject* input, PyObject* file_wrapper,
                        PyObject* server_software) {
  const auto& h = ex.head;
  PyObject* env = PyDict_New();
  if (!env) return nullptr;

  if (auto it = g_methods.find(h.method); it != g_methods.end()) {
    Py_INCREF(it->second);
    set(env, K.request_method, it->second);
  } else {
    set(env, K.request_method, latin1(h.method));
  }

  // request-target: origin-form, or absolute-form (RFC 9112 3.2.2) whose
  // scheme and authority are dropped here.
  std::string_view target = h.target;
  if (!target.empty() && target.front() != '/' && target != "*") {
    if (auto scheme = target.find("://"); scheme != std::string_view::npos) {
      auto path = target.find('/', scheme + 3);
      target = path == std::string_view::npos ? std::string_view("/") : target.substr(path);
    }
  }
  std::string_view path = target, query;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  Py_INCREF(K.empty);
  set(env, K.script_name, K.empty);
  // asterisk-form (OPTIONS *, RFC 9112 3.2.4) names no resource: an empty
  // PATH_INFO (PEP 3333 allows it; a path must start with "/"); RAW_URI keeps "*".
  if (target == "*") path = {};
  set(env, K.path_info, latin1(percent_decode(path)));
  set(env, K.query_string, latin1(query));
  set(env, K.raw_uri, latin1(h.target));
  Py_INCREF(h.version_minor == 0 ? K.http10 : K.http11);
  set(env, K.server_protocol, h.version_minor == 0 ? K.http10 : K.http11);

  std::string server_name = "localhost";
  std::string forwarded_proto;
  std::string cookies;
  for (const auto& header : h.headers) {
    const std::string& name = header.name;
    if (http::iequals(name, "content-type")) {
      set(env, K.content_type, latin1(header.value));
      continue;
    }
    if (http::iequals(name, "content-length")) {
      set(env, K.content_length, latin1(header.value));
      continue;
    }
    // Underscores would make "X_Foo" and "X-Foo" the same key: drop them, as
    // nginx and gunicorn do, so a client cannot spoof a proxy's header.
    if (name.find('_') != std::string::npos) continue;
    if (is_trace_header(name)) continue;  // the server's own values (add_trace_environ)
    if (http::iequals(name, "host")) {
      std::string_view host = header.value;
      if (!host.empty() && host.front() == '[') {
        host = host.substr(0, host.find(']') + 1);
      } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
        host = host.substr(0, colon);
      }
      if (!host.empty()) server_name.assign(host);
    } else if (ex.peer_trusted && http::iequals(name, "x-forwarded-proto") && forwarded_proto.empty()) {
      forwarded_proto = header.value;
    }
    PyObject* key = header_key(name);
    PyObject* existing = PyDict_GetItem(env, key);  // borrowed
    if (existing) {
      // RFC 9110 5.3: repeated fields combine with ", " (cookies with "; ", RFC 6265 5.4).
      bool cookie = http::iequals(name, "cookie");
      PyObject* sep = PyUnicode_FromString(cookie ? "; " : ", ");
      PyObject* joined = PyUnicode_Concat(existing, sep);
      PyObject* value = latin1(header.value);
      PyObject* all = PyUnicode_Concat(joined, value);
      Py_DECREF(sep);
      Py_DECREF(joined);
      Py_DECREF(value);
      PyDict_SetItem(env, key, all);
      Py_DECREF(all);
    } else {
      set(env, key, latin1(header.value));
    }
    Py_DECREF(key);
  }
  add_trace_environ(env, ex);
  set(env, K.server_name, latin1(server_name));
  set(env, K.server_port, PyUnicode_FromString(std::to_string(ex.local_port).c_str()));
  if (server_software && server_software != Py_None) {
    Py_INCREF(server_software);
    set(env, K.server_software, server_software);
  }

  // From a trusted proxy, the client it forwarded for (server::forwarded_client).
  const std::string& remote = ex.client.empty() ? ex.peer.host : ex.client;
  set(env, K.remote_addr, latin1(remote));
  set(env, K.remote_port, PyUnicode_FromString(std::to_string(ex.peer.port).c_str()));

  PyObject* scheme = K.http;
  std::string_view proto = http::trim_ows(std::string_view(forwarded_proto).substr(0, forwarded_proto.find(',')));
  if (http::iequals(proto, "https")) scheme = K.https;
  Py_INCREF(scheme);
  set(env, K.wsgi_url_scheme, scheme);

  Py_INCREF(K.version_tuple);
  set(env, K.wsgi_version, K.version_tuple);
  Py_INCREF(input);
  set(env, K.wsgi_input, input);
  PyObject* errors = PySys_GetObject("stderr");  // borrowed
  if (errors) {
    Py_INCREF(errors);
    set(env, K.wsgi_errors, errors);
  }
  PyObject* multithread = ex.multithread ? Py_True : Py_False;
  Py_INCREF(multithread);
  set(env, K.wsgi_multithread, multithread);
  PyObject* multiprocess = ex.multiprocess ? Py_True : Py_False;
  Py_INCREF(multiprocess);
  set(env, K.wsgi_multiprocess, multiprocess);
  Py_INCREF(Py_False);
  set(env, K.wsgi_run_once, Py_False);
  Py_INCREF(file_wrapper);
  set(env, K.wsgi_file_wrapper, file_wrapper);
  // The body ends where the request says (chunked included): reading to EOF is safe.
  Py_INCREF(Py_True);
  set(env, K.wsgi_input_terminated, Py_True);
  return env;
}

}  // namespace squall::python
