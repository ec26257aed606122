// squall._core: the engine as seen from Python (see squall/_core.pyi).
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <string>

#include "amqp/consumer.h"
#include "master/master.h"
#include "wsgi/amqp_delivery.h"
#include "state/metrics_tables.h"
#include "log/log.h"
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

log::LogFormat log_format_from(const nb::dict& d) {
  return get<std::string>(d, "log_format", "text") == "json" ? log::LogFormat::Json : log::LogFormat::Text;
}

// Probe paths and limits: {"startup", "readiness", "liveness", "req_queue_len", "check_interval"}.
probe::ProbeConfig probe_config_from(const nb::dict& p, double heartbeat_timeout) {
  return probe::ProbeConfig{get<std::string>(p, "startup", "/startup"), get<std::string>(p, "readiness", "/ready"),
                            get<std::string>(p, "liveness", "/alive"), get<std::uint32_t>(p, "req_queue_len", 10),
                            heartbeat_timeout, get<double>(p, "check_interval", 0.0)};
}

// {"path": "/metrics", "info": {name: value}}: the metrics endpoint and squall_info's labels.
metrics::MetricsConfig metrics_config_from(const nb::dict& m) {
  metrics::MetricsConfig c;
  c.path = get<std::string>(m, "path", c.path);
  if (m.contains("info"))
    for (auto [k, v] : nb::cast<nb::dict>(m["info"])) c.info.emplace_back(nb::cast<std::string>(nb::str(k)), nb::cast<std::string>(nb::str(v)));
  return c;
}

// The worker's own metrics tables (set by Server.attach); null elsewhere, so
// the Python side's calls are no-ops in the master, the checker, or with --no-metrics.
metrics::WorkerTables* g_tables = nullptr;

// Opens a listen socket into `fd`; returns the bound port. RuntimeError with a one-line reason.
int listen_or_raise(const net::ListenOptions& options, net::UniqueFd& fd) {
  std::string error;
  fd = net::open_listener(options, error);
  if (!fd.valid()) throw nb::builtin_exception(nb::exception_type::runtime_error, error.c_str());
  return net::local_endpoint(fd.get()).value_or(net::Endpoint{}).port;
}

// --static / --media: {"mounts": [{"prefix", "roots": [(subprefix, dir)],
// "fall_through", "immutable_hashed"}], "max_age", "follow_symlinks"}.
static_files::Config statics_from(const nb::dict& s) {
  static_files::Config c;
  c.max_age = get<std::uint32_t>(s, "max_age", c.max_age);
  c.follow_symlinks = get<bool>(s, "follow_symlinks", c.follow_symlinks);
  for (nb::handle item : nb::cast<nb::list>(s["mounts"])) {
    nb::dict m = nb::cast<nb::dict>(item);
    static_files::Mount mount;
    mount.prefix = nb::cast<std::string>(m["prefix"]);
    mount.fall_through = get<bool>(m, "fall_through", false);
    mount.immutable_hashed = get<bool>(m, "immutable_hashed", false);
    for (const auto& [subprefix, dir] : nb::cast<std::vector<std::pair<std::string, std::string>>>(m["roots"]))
      mount.roots.push_back({subprefix, dir});
    if (mount.prefix.empty() || mount.prefix.front() != '/' || mount.prefix.back() != '/')
      throw nb::value_error(("static prefix must start and end with '/': '" + mount.prefix + "'").c_str());
    c.mounts.push_back(std::move(mount));
  }
  return c;
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
  c.multiprocess = get<int>(d, "workers", 1) > 1;
  c.log_format = log_format_from(d);
  if (d.contains("app_port_probes")) {
    c.app_port_probes = probe_config_from(nb::cast<nb::dict>(d["app_port_probes"]), get<double>(d, "timeout", 30.0));
    if (d.contains("metrics")) c.app_port_metrics = metrics_config_from(nb::cast<nb::dict>(d["metrics"]));
  }
  if (d.contains("statics")) c.statics = statics_from(nb::cast<nb::dict>(d["statics"]));
  auto allow = get<std::vector<std::string>>(d, "forwarded_allow_ips", {"127.0.0.1", "::1"});
  std::string bad;
  if (!c.forwarded_allow.parse(allow, bad))
    throw nb::value_error(("forwarded_allow_ips: not an IP address or network: '" + bad + "'").c_str());
  return c;
}

master::MasterConfig master_config_from(const nb::dict& d) {
  master::MasterConfig c;
  c.workers = get<int>(d, "workers", c.workers);
  c.timeout = get<double>(d, "timeout", c.timeout);
  c.max_requests = get<std::uint64_t>(d, "max_requests", c.max_requests);
  c.max_requests_jitter = get<std::uint64_t>(d, "max_requests_jitter", c.max_requests_jitter);
  c.max_lifetime = get<double>(d, "max_lifetime", c.max_lifetime);
  c.max_memory_mib = get<std::uint64_t>(d, "max_memory", c.max_memory_mib);
  c.shutdown_delay = get<double>(d, "shutdown_delay", c.shutdown_delay);
  c.graceful_timeout = get<double>(d, "graceful_timeout", c.graceful_timeout);
  c.startup_process = get<bool>(d, "startup_process", false);
  c.checker = get<bool>(d, "checker", false);
  c.exit_with_worker = get<bool>(d, "exit_with_worker", false);
  c.amqp = get<bool>(d, "amqp", false);
  if (d.contains("probes")) c.probe = probe_config_from(nb::cast<nb::dict>(d["probes"]), c.timeout);
  c.webhooks.urls = get<std::vector<std::string>>(d, "webhook_urls", {});
  if (d.contains("webhook_version") && !d["webhook_version"].is_none())
    c.webhooks.version = nb::cast<std::string>(d["webhook_version"]);
  if (d.contains("metrics")) c.metrics = metrics_config_from(nb::cast<nb::dict>(d["metrics"]));
  return c;
}

// fork(2) with CPython's own before/after hooks (what os.fork() does), run
// with the GIL: the master has no other Python thread, so it is never waited for.
pid_t fork_with_python_hooks() {
  nb::gil_scoped_acquire gil;
  PyOS_BeforeFork();
  pid_t pid = fork();
  int saved = errno;
  if (pid == 0) PyOS_AfterFork_Child();
  else PyOS_AfterFork_Parent();
  errno = saved;
  return pid;
}

}  // namespace

// The master process (see core/master/master.h).
class PyMaster {
 public:
  explicit PyMaster(nb::dict config)
      : config_(master_config_from(config)), state_(state::SharedState::create(config_.metrics.has_value())) {
    log::set_log_format(log_format_from(config));
  }

  int listen(const std::string& host, int port, int backlog, bool reuse_port) {
    return listen_or_raise({host, port, backlog, reuse_port}, listener_);
  }

  // The probe port (--probe-port); answered by the master's loop.
  int listen_probe(const std::string& host, int port) { return listen_or_raise({host, port, 128, false}, probe_listener_); }

  // ("master", -1, -1, exit_status) when the pod stops; in a process the
  // master just forked: ("worker", slot, listen_fd, 0), ("startup", ...) or ("checker", ...).
  nb::tuple run() {
    master::Master m(config_, state_, std::move(listener_));
    if (probe_listener_.valid()) m.set_probe(std::move(probe_listener_));
    master::RunResult r;
    {
      nb::gil_scoped_release release;
      r = m.run(fork_with_python_hooks);
    }
    return nb::make_tuple(std::string(master::role_name(r.role)), r.slot, r.listen_fd, r.exit_status);
  }

  // The checker process, after each run: [(probe bits, name, ok, reason, seconds)].
  void publish_checks(const std::vector<std::tuple<int, std::string, bool, std::string, double>>& results) {
    std::vector<state::CheckResult> out;
    for (const auto& [bits, name, ok, reason, duration] : results)
      out.push_back({static_cast<std::uint8_t>(bits), ok, name, reason, duration});
    state_->checks.publish(out);
  }

  // The startup process, before it exits non-zero: for the startup-failed webhook.
  void set_startup_error(const std::string& text) { state_->set_startup_error(text); }

  // django_migrations_(un)applied_total for a database connection (pod-wide gauges).
  void set_migrations(std::string_view connection, std::uint64_t applied, std::uint64_t unapplied) {
    if (state_->metrics) metrics::set_migrations(*state_->metrics, connection, applied, unapplied);
  }

  state::SharedState* state() const { return state_; }

 private:
  master::MasterConfig config_;
  state::SharedState* state_;
  net::UniqueFd listener_;
  net::UniqueFd probe_listener_;
};

class PyServer {
 public:
  explicit PyServer(nb::dict config) : server_(config_from(config)) {}

  int run() {
    nb::gil_scoped_release release;
    return server_.run();
  }

  void handle_signals() { server_.handle_signals(); }

  // In a worker process: serve on the master's socket, report in `slot`.
  void attach(const PyMaster& master, int slot, int listen_fd) {
    server_.adopt_listener(net::UniqueFd(listen_fd));
    server_.attach(master.state(), &master.state()->workers[slot]);
    if (master.state()->metrics) g_tables = &master.state()->metrics->workers[slot];
  }

  // A Python thread's life: take requests from the queue and run the app.
  void serve_requests(nb::object app, nb::object log_error, int thread_index) {
    AppContext ctx{std::move(app), std::move(log_error), server_.config().access_log};
    state::WorkerSlot* slot = server_.slot();
    state::ThreadSlot* mine =
        slot && thread_index >= 0 && std::size_t(thread_index) < state::kMaxThreads ? &slot->thread_slots[thread_index]
                                                                                       : nullptr;
    for (;;) {
      // Stay on the GIL while requests are waiting; release it only to sleep.
      std::shared_ptr<server::Exchange> ex = server_.try_next_exchange();
      if (!ex) {
        nb::gil_scoped_release release;
        ex = server_.next_exchange();
      }
      if (!ex) return;
      if (mine) {
        // What the master names if this request outlives --timeout.
        mine->begin(ex->head.method, ex->head.target, state::monotonic_ns());
        slot->busy_threads.fetch_add(1, std::memory_order_relaxed);
      }
      try {
        handle_exchange(ctx, ex);
      } catch (std::exception& e) {
        // A broken invariant in the bridge: fail this request, keep the thread.
        log::log_event("error", "squall.error", std::string("internal error: ") + e.what());
        ex->abort();
      }
      if (mine) {
        mine->end();
        slot->busy_threads.fetch_sub(1, std::memory_order_relaxed);
        slot->requests.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }

 private:
  server::Server server_;
};

// The AMQP consumer process (manage.py consume; core/amqp/consumer.h).
class PyConsumer {
 public:
  explicit PyConsumer(nb::dict d) : consumer_(consumer_config_from(d)) {}

  static amqp::ConsumerConfig consumer_config_from(const nb::dict& d) {
    amqp::ConsumerConfig c;
    c.host = get<std::string>(d, "host", c.host);
    c.port = get<int>(d, "port", c.port);
    c.vhost = get<std::string>(d, "vhost", c.vhost);
    c.user = get<std::string>(d, "user", c.user);
    c.password = get<std::string>(d, "password", c.password);
    c.queue = get<std::string>(d, "queue", c.queue);
    c.exchange = get<std::string>(d, "exchange", c.exchange);
    c.routing_keys = get<std::vector<std::string>>(d, "routing_keys", {});
    c.dead_letter_exchange = get<std::string>(d, "dead_letter_exchange", "");
    c.prefetch = get<int>(d, "prefetch", c.prefetch);
    c.heartbeat = get<int>(d, "heartbeat", c.heartbeat);
    c.connect_timeout = get<double>(d, "connect_timeout", c.connect_timeout);
    c.reconnect = get<bool>(d, "reconnect", c.reconnect);
    c.graceful_timeout = get<double>(d, "graceful_timeout", c.graceful_timeout);
    c.max_backoff = get<double>(d, "max_backoff", c.max_backoff);
    if (c.prefetch < 1 || c.prefetch > 65535) throw nb::value_error("prefetch must be 1-65535");
    return c;
  }

  void attach(const PyMaster& master, int slot) {
    state::SharedState* state = master.state();
    consumer_.attach(state, &state->workers[slot], state->metrics ? &state->metrics->workers[slot] : nullptr);
    if (state->metrics) g_tables = &state->metrics->workers[slot];
  }
  void handle_signals() { consumer_.handle_signals(); }
  int run() {
    nb::gil_scoped_release release;
    return consumer_.run();
  }
  void request_stop() { consumer_.request_stop(); }

  // None once the consumer stops.
  nb::object next_delivery() {
    std::unique_ptr<amqp::Delivery> d;
    {
      nb::gil_scoped_release release;
      d = consumer_.next_delivery();
    }
    if (!d) return nb::none();
    return delivery_to_python(*d);
  }

  // verdict: "ack", "requeue" or "reject".
  void settle(std::uint64_t generation, std::uint64_t tag, std::string_view verdict, bool failed, double seconds,
              const std::string& routing_key) {
    amqp::Verdict v = verdict == "ack"       ? amqp::Verdict::Ack
                      : verdict == "requeue" ? amqp::Verdict::Requeue
                      : verdict == "reject"  ? amqp::Verdict::Reject
                                             : throw nb::value_error("verdict: ack, requeue or reject");
    consumer_.settle(generation, tag, v, failed, seconds, routing_key);
  }

 private:
  amqp::Consumer consumer_;
};

}  // namespace squall::wsgi

// ---- the Django side's metrics (squall/metrics.py): one cheap call per event --------------

namespace squall::wsgi {
namespace {

void metrics_request(std::string_view view, std::string_view method, std::string_view transport,
                     std::string_view status, double latency, std::uint64_t request_bytes,
                     std::uint64_t response_bytes, bool streaming) {
  if (g_tables)
    metrics::record_request(*g_tables, {view, method, transport, status, latency, request_bytes, response_bytes, streaming});
}

void metrics_before() {
  if (g_tables) metrics::record_before(*g_tables);
}

void metrics_before_response(double latency) {
  if (g_tables) metrics::record_before_response(*g_tables, latency);
}

void metrics_exception(std::string_view type, std::string_view view) {
  if (g_tables) metrics::record_exception(*g_tables, type, view);
}

void metrics_db_connection(std::string_view alias, std::string_view vendor, bool ok) {
  if (g_tables) metrics::record_db_connection(*g_tables, alias, vendor, ok);
}

void metrics_db_execute(std::string_view alias, std::string_view vendor, bool many, double seconds,
                        std::string_view error_type) {
  if (g_tables) metrics::record_db_execute(*g_tables, alias, vendor, many, seconds, error_type);
}

}  // namespace
}  // namespace squall::wsgi

using squall::wsgi::PyMaster;
using squall::wsgi::PyServer;
using squall::wsgi::PyConsumer;

NB_MODULE(_core, m) {
  m.doc() = "Squall's C++ engine: HTTP/1.1 server and WSGI bridge";
  nb::class_<PyServer>(m, "Server")
      .def(nb::init<nb::dict>(), "config"_a)
      .def("attach", &PyServer::attach, "master"_a, "slot"_a, "listen_fd"_a)
      .def("handle_signals", &PyServer::handle_signals)
      .def("run", &PyServer::run)
      .def("serve_requests", &PyServer::serve_requests, "app"_a, "log_error"_a, "thread_index"_a = -1);
  nb::class_<PyConsumer>(m, "Consumer")
      .def(nb::init<nb::dict>(), "config"_a)
      .def("attach", &PyConsumer::attach, "master"_a, "slot"_a)
      .def("handle_signals", &PyConsumer::handle_signals)
      .def("run", &PyConsumer::run)
      .def("request_stop", &PyConsumer::request_stop)
      .def("next_delivery", &PyConsumer::next_delivery)
      .def("settle", &PyConsumer::settle, "generation"_a, "delivery_tag"_a, "verdict"_a, "failed"_a, "seconds"_a,
           "routing_key"_a);
  nb::class_<PyMaster>(m, "Master")
      .def(nb::init<nb::dict>(), "config"_a)
      .def("listen", &PyMaster::listen, "host"_a, "port"_a, "backlog"_a = 1024, "reuse_port"_a = false)
      .def("listen_probe", &PyMaster::listen_probe, "host"_a, "port"_a)
      .def("run", &PyMaster::run)
      .def("publish_checks", &PyMaster::publish_checks, "results"_a)
      .def("set_startup_error", &PyMaster::set_startup_error, "text"_a)
      .def("set_migrations", &PyMaster::set_migrations, "connection"_a, "applied"_a, "unapplied"_a);
  m.def("metrics_enabled", [] { return squall::wsgi::g_tables != nullptr; });
  m.def("metrics_request", &squall::wsgi::metrics_request, "view"_a, "method"_a, "transport"_a, "status"_a,
        "latency"_a, "request_bytes"_a, "response_bytes"_a, "streaming"_a);
  m.def("metrics_before", &squall::wsgi::metrics_before);
  m.def("metrics_before_response", &squall::wsgi::metrics_before_response, "latency"_a);
  m.def("metrics_exception", &squall::wsgi::metrics_exception, "type"_a, "view"_a);
  m.def("metrics_db_connection", &squall::wsgi::metrics_db_connection, "alias"_a, "vendor"_a, "ok"_a);
  m.def("metrics_db_execute", &squall::wsgi::metrics_db_execute, "alias"_a, "vendor"_a, "many"_a, "seconds"_a,
        "error_type"_a);
  squall::wsgi::init_app_call(m);
}
