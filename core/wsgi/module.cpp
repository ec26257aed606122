// squall._core: the engine as seen from Python (see squall/_core.pyi).
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <string>

#include "server/log.h"
#include "server/server.h"
#include "wsgi/app_call.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace squall::wsgi {
namespace {

template <typename T>
T get(const nb::dict& d, const char* key, T fallback) {
  return d.contains(key) ? nb::cast<T>(d[key]) : fallback;
}

server::ServerConfig config_from(const nb::dict& d) {
  server::ServerConfig c;
  c.threads = get<int>(d, "threads", c.threads);
  c.limits.max_request_line = get<std::size_t>(d, "max_request_line", c.limits.max_request_line);
  c.limits.max_header_bytes = get<std::size_t>(d, "max_header_bytes", c.limits.max_header_bytes);
  c.limits.max_header_count = get<std::size_t>(d, "max_header_count", c.limits.max_header_count);
  c.limits.max_body_bytes = get<std::uint64_t>(d, "max_body_size", c.limits.max_body_bytes);
  c.header_timeout = get<double>(d, "header_timeout", c.header_timeout);
  c.keepalive_timeout = get<double>(d, "keepalive_timeout", c.keepalive_timeout);
  c.body_timeout = get<double>(d, "body_timeout", c.body_timeout);
  c.graceful_timeout = get<double>(d, "graceful_timeout", c.graceful_timeout);
  c.access_log = get<bool>(d, "access_log", c.access_log);
  c.log_format = get<std::string>(d, "log_format", "text") == "json" ? server::LogFormat::Json
                                                                       : server::LogFormat::Text;
  auto allow = get<std::vector<std::string>>(d, "forwarded_allow_ips", {"127.0.0.1", "::1"});
  std::string bad;
  if (!c.forwarded_allow.parse(allow, bad))
    throw nb::value_error(("forwarded_allow_ips: not an IP address or network: '" + bad + "'").c_str());
  return c;
}

}  // namespace

class PyServer {
 public:
  explicit PyServer(nb::dict config) : server_(config_from(config)) {}

  int listen(const std::string& host, int port, int backlog, bool reuse_port) {
    std::string error;
    if (!server_.listen({host, port, backlog, reuse_port}, error)) throw nb::builtin_exception(nb::exception_type::runtime_error, error.c_str());
    return server_.port();
  }

  int run() {
    nb::gil_scoped_release release;
    return server_.run();
  }

  void stop(bool graceful) { server_.request_stop(graceful); }

  // A Python thread's life: take requests from the queue and run the app.
  void serve_requests(nb::object app, nb::object log_error) {
    AppContext ctx{std::move(app), std::move(log_error), server_.config().access_log};
    for (;;) {
      // Stay on the GIL while requests are waiting; release it only to sleep.
      std::shared_ptr<server::Exchange> ex = server_.try_next_exchange();
      if (!ex) {
        nb::gil_scoped_release release;
        ex = server_.next_exchange();
      }
      if (!ex) return;
      try {
        handle_exchange(ctx, ex);
      } catch (std::exception& e) {
        // A broken invariant in the bridge: fail this request, keep the thread.
        server::log_event("error", "squall.error", std::string("internal error: ") + e.what());
        ex->abort();
      }
    }
  }

  std::size_t queue_length() const { return server_.queue_length(); }

 private:
  server::Server server_;
};

}  // namespace squall::wsgi

using squall::wsgi::PyServer;

NB_MODULE(_core, m) {
  m.doc() = "Squall's C++ engine: HTTP/1.1 server and WSGI bridge";
  nb::class_<PyServer>(m, "Server")
      .def(nb::init<nb::dict>(), "config"_a)
      .def("listen", &PyServer::listen, "host"_a, "port"_a, "backlog"_a = 1024, "reuse_port"_a = false)
      .def("run", &PyServer::run)
      .def("stop", &PyServer::stop, "graceful"_a = true)
      .def("serve_requests", &PyServer::serve_requests, "app"_a, "log_error"_a)
      .def_prop_ro("queue_length", &PyServer::queue_length)
      .def_static("block_signals", &squall::server::Server::block_signals);
  m.def("log_event", [](const std::string& level, const std::string& logger, const std::string& message) {
    squall::server::log_event(level, logger, message);
  });
  squall::wsgi::init_app_call(m);
}
