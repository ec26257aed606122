// squall._core: the engine as seen from Python (see squall/_core.pyi).
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "amqp/consumer.h"
#include "log/log.h"
#include "master/master.h"
#include "python/app_call.h"
#include "python/asgi.h"
#include "python/config_types.h"
#include "python/deadline.h"
#include "python/trace.h"
#include "server/server.h"
#include "state/metrics_tables.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace squall::python {
namespace {

// The worker's own metrics tables (set by Server.attach); null elsewhere, so
// the Python side's calls are no-ops in the master, the checker, or with --no-metrics.
metrics::WorkerTables* g_tables = nullptr;
// The latency buckets in use (PROMETHEUS_LATENCY_BUCKETS), set with g_tables.
metrics::BucketsView g_latency = metrics::latency_buckets(nullptr);

// Opens a listen socket into `fd`; returns the bound port. RuntimeError with a one-line reason.
int listen_or_raise(const net::ListenOptions& options, net::UniqueFd& fd) {
  std::string error;
  fd = net::open_listener(options, error);
  if (!fd.valid()) throw nb::builtin_exception(nb::exception_type::runtime_error, error.c_str());
  return net::local_endpoint(fd.get()).value_or(net::Endpoint{}).port;
}

// fork(2) with CPython's own before/after hooks (what os.fork() does), run
// with the GIL: the master has no other Python thread, so it is never waited for.
pid_t fork_with_python_hooks() {
  nb::gil_scoped_acquire gil;
  PyOS_BeforeFork();
  pid_t pid = fork();
  int saved = errno;
  if (pid == 0)
    PyOS_AfterFork_Child();
  else
    PyOS_AfterFork_Parent();
  errno = saved;
  return pid;
}

}  // namespace

// The master process (see core/master/master.h).
class PyMaster {
 public:
  // The signal handlers go in first: from here on a SIGTERM or SIGINT waits
  // for the master's loop (Python code between here and run() is not
  // interrupted by it).
  explicit PyMaster(master::MasterConfig config)
      : config_(std::move(config)),
        state_(state::SharedState::create(config_.metrics.has_value())),
        signals_(master::Master::install_signals()) {
    // Before the first fork: every worker and the exposition read them.
    if (state_->metrics && config_.metrics)
      metrics::set_latency_buckets(*state_->metrics, config_.metrics->latency_buckets.data(),
                                   config_.metrics->latency_buckets.size());
  }

  int listen(const std::string& host, int port, int backlog, bool reuse_port) {
    return listen_or_raise({host, port, backlog, reuse_port}, listener_);
  }

  // The probe port (--probe-port); answered by the master's loop.
  int listen_probe(const std::string& host, int port) {
    return listen_or_raise({host, port, 128, false}, probe_listener_);
  }

  // Role::Master with the exit status when the pod stops; in a process the
  // master just forked: its role (with a worker's slot and listen socket).
  master::RunResult run() {
    master::Master m(config_, state_, std::move(listener_));
    if (probe_listener_.valid()) m.set_probe(std::move(probe_listener_));
    if (signals_) m.adopt_signals(std::move(signals_));
    master::RunResult r;
    {
      nb::gil_scoped_release release;
      r = m.run(fork_with_python_hooks);
    }
    return r;
  }

  // The checker process, after each run.
  void publish_checks(const std::vector<state::CheckResult>& results) { state_->checks.publish(results); }

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
  std::unique_ptr<net::SignalPipe> signals_;  // until run() hands them to the Master
};

class PyServer {
 public:
  explicit PyServer(server::ServerConfig config) : server_(std::move(config)) {
    if (server_.config().timeout > 0)
      server_.set_deadline_handler([this](const std::shared_ptr<server::Exchange>& ex) { deadlines_.post(ex); });
  }

  // ASGI: the event loop takes the requests (see asgi_poll); returns the
  // descriptor it watches. At a deadline the loop is told (it cancels the
  // task) instead of a thread getting an asynchronous exception.
  int enable_asgi() {
    if (!notify_) {
      notify_ = server_.enable_app_notify();
      if (server_.config().timeout > 0)
        server_.set_deadline_handler([](const std::shared_ptr<server::Exchange>& ex) { ex->poke_app(); });
    }
    return notify_->fd();
  }

  // The loop's view after its descriptor became readable: the requests newly
  // queued, the ids of those whose state changed, and whether the queue closed
  // (the worker stops: no request will come any more).
  nb::tuple asgi_poll() {
    if (!notify_) throw nb::builtin_exception(nb::exception_type::runtime_error, "enable_asgi() was not called");
    std::vector<std::uint64_t> ids = notify_->drain();
    nb::list fresh;
    while (std::shared_ptr<server::Exchange> ex = server_.try_next_exchange()) {
      std::uint64_t id = ++last_id_;
      ex->watch(notify_, id);
      fresh.append(nb::cast(new AsgiRequest(std::move(ex), &server_, g_tables, id), nb::rv_policy::take_ownership));
    }
    nb::list changed;
    for (std::uint64_t id : ids) changed.append(id);
    return nb::make_tuple(fresh, changed, server_.queue_closed());
  }

  // The application refused to start (ASGI lifespan): told to the master
  // before this worker exits, which then stops the pod (exit status 1).
  void app_startup_failed() {
    if (state::WorkerSlot* slot = server_.slot()) slot->app_startup_failed.store(1);
  }

  // The event loop is alive: called by it every half second (with --timeout).
  // Its thread slot then shows a "request" that started at its last call, so
  // a loop blocked by synchronous code is what the master replaces at
  // --timeout + --timeout-grace, as it would a stuck WSGI thread. stop: idle.
  void asgi_heartbeat(bool stop) {
    state::WorkerSlot* slot = server_.slot();
    if (!slot) return;
    if (stop)
      slot->thread_slots[0].end();
    else
      slot->thread_slots[0].begin("ASGI", "(event loop blocked)", state::monotonic_ns());
  }

  int run() {
    nb::gil_scoped_release release;
    if (server_.config().timeout > 0 && !notify_) deadlines_.start(server_.config().timeout);
    int status = server_.run();
    deadlines_.stop();  // without the GIL: its thread may be waiting for it
    return status;
  }

  void handle_signals() { server_.handle_signals(); }

  // In a worker process: serve on the master's socket, report in `slot`.
  void attach(const PyMaster& master, int slot, int listen_fd) {
    server_.adopt_listener(net::UniqueFd(listen_fd));
    server_.attach(master.state(), &master.state()->workers[slot]);
    if (master.state()->metrics) {
      g_tables = &master.state()->metrics->workers[slot];
      g_latency = metrics::latency_buckets(master.state()->metrics);
    }
  }

  // A Python thread's life: take requests from the queue and run the app.
  void serve_requests(nb::object app, nb::object log_error, int thread_index) {
    AppContext ctx{std::move(app), std::move(log_error), server_.config().access_log,
                   nb::str(server_.config().server_software.c_str())};
    // With --timeout: this thread's record for the deadline raiser (GIL held
    // whenever it is read or written).
    Runner runner;
    runner.ident = PyThread_get_thread_ident();
    bool deadlines = server_.config().timeout > 0;
    if (deadlines) {
      ctx.runner = &runner;
      deadlines_.add(&runner);
    }
    struct Unregister {
      DeadlineRaiser& d;
      Runner* r;
      bool on;
      ~Unregister() {
        if (on) d.remove(r);
      }
    } unregister{deadlines_, &runner, deadlines};
    state::WorkerSlot* slot = server_.slot();
    state::ThreadSlot* mine = slot && thread_index >= 0 && std::size_t(thread_index) < state::kMaxThreads
                                  ? &slot->thread_slots[thread_index]
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
      runner.current = ex.get();
      runner.interruptible = true;
      runner.raised = false;
      try {
        handle_exchange(ctx, ex);
      } catch (std::exception& e) {
        // A broken invariant in the bridge: fail this request, keep the thread.
        log::log_event("error", "squall.error", std::string("internal error: ") + e.what());
        ex->abort();
      }
      DeadlineRaiser::settle(runner);
      runner.current = nullptr;
      if (ex->deadline_passed()) count_unwound(*ex);
      if (mine) {
        mine->end();
        slot->busy_threads.fetch_sub(1, std::memory_order_relaxed);
        slot->requests.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }

 private:
  // The thread came back from a request past its deadline: it unwound.
  void count_unwound(const server::Exchange& ex) {
    if (g_tables) metrics::add(g_tables->server.timeouts_unwound);
    double ran = double(std::chrono::steady_clock::now().time_since_epoch().count() - ex.dispatched_ns()) / 1e9;
    char buf[64];
    std::snprintf(buf, sizeof buf, " unwound after %.1f s", ran);
    log::log_event("info", "squall.timeout",
                   "worker " + std::to_string(getpid()) + ": request " + ex.head.method + " " + ex.head.target + buf);
  }

  server::Server server_;
  DeadlineRaiser deadlines_;
  std::shared_ptr<server::AppNotify> notify_;
  std::uint64_t last_id_ = 0;
};

// The AMQP consumer process (manage.py consume; core/amqp/consumer.h).
class PyConsumer {
 public:
  explicit PyConsumer(amqp::ConsumerConfig config) : consumer_(std::move(config)) {}

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
  std::unique_ptr<amqp::Delivery> next_delivery() {
    nb::gil_scoped_release release;
    return consumer_.next_delivery();
  }

  void settle(std::uint64_t generation, std::uint64_t tag, amqp::Verdict verdict, bool failed, double seconds,
              const std::string& routing_key) {
    consumer_.settle(generation, tag, verdict, failed, seconds, routing_key);
  }

 private:
  amqp::Consumer consumer_;
};

}  // namespace squall::python

// ---- the Django side's metrics (squall/metrics.py): one cheap call per event --------------

namespace squall::python {
namespace {

void metrics_request(std::string_view view, std::string_view method, std::string_view transport,
                     std::string_view status, double latency, std::uint64_t request_bytes, std::uint64_t response_bytes,
                     bool streaming, std::string_view charset, std::string_view templatename, bool ajax, bool viewed) {
  if (!g_tables) return;
  const http::TraceContext* trace = current_trace();
  metrics::record_request(*g_tables,
                          {view, method, transport, status, latency, request_bytes, response_bytes, streaming, charset,
                           templatename, ajax, viewed},
                          g_latency, trace ? trace->trace() : std::string_view());
}

void metrics_before() {
  if (g_tables) metrics::record_before(*g_tables);
}

void metrics_before_response(double latency) {
  if (g_tables) metrics::record_before_response(*g_tables, latency, g_latency);
}

void metrics_exception(std::string_view type, std::string_view view) {
  if (g_tables) metrics::record_exception(*g_tables, type, view);
}

void metrics_db_connection(std::string_view alias, std::string_view vendor, bool ok) {
  if (g_tables) metrics::record_db_connection(*g_tables, alias, vendor, ok);
}

void metrics_db_execute(std::string_view alias, std::string_view vendor, bool many, double seconds,
                        std::string_view error_type, std::uint64_t rows) {
  if (g_tables) metrics::record_db_execute(*g_tables, alias, vendor, many, seconds, error_type, rows, g_latency);
}

void metrics_cache(std::string_view backend, int cell) {
  if (g_tables && cell >= 0 && cell <= static_cast<int>(metrics::kCacheFail))
    metrics::record_cache(*g_tables, backend, static_cast<std::size_t>(cell));
}

void metrics_model(std::string_view model, int cell, std::uint64_t n) {
  if (g_tables && cell >= 0 && cell <= static_cast<int>(metrics::kModelDeletes))
    metrics::record_model(*g_tables, model, static_cast<std::size_t>(cell), n);
}

// An app's prometheus_client samples: (key values, counter?, value) each; the
// indexes of the samples refused (table full, or a key over 232 bytes).
std::vector<std::size_t> metrics_app_set(
    const std::vector<std::tuple<std::vector<std::string>, bool, double>>& samples) {
  std::vector<std::size_t> refused;
  if (!g_tables) return refused;
  std::vector<std::string_view> values;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const auto& [key, counter, value] = samples[i];
    values.assign(key.begin(), key.end());
    metrics::LabelKey packed(counter ? metrics::Kind::AppCounter : metrics::Kind::AppGauge, values.data(),
                             values.size(), true);
    if (!metrics::set_app_sample(*g_tables, counter, packed, value)) refused.push_back(i);
  }
  return refused;
}

}  // namespace
}  // namespace squall::python

using squall::python::PyConsumer;
using squall::python::PyMaster;
using squall::python::PyServer;

NB_MODULE(_core, m) {
  m.doc() = "Squall's C++ engine: HTTP/1.1 server and WSGI bridge";
  squall::python::bind_config_types(m);
  m.def("set_log_format", &squall::log::set_log_format, "format"_a);
  m.def("set_log_level", &squall::log::set_log_level, "level"_a);
  nb::class_<PyServer>(m, "Server")
      .def(nb::init<squall::server::ServerConfig>(), "config"_a)
      .def("attach", &PyServer::attach, "master"_a, "slot"_a, "listen_fd"_a)
      .def("handle_signals", &PyServer::handle_signals)
      .def("run", &PyServer::run)
      .def("enable_asgi", &PyServer::enable_asgi)
      .def("asgi_poll", &PyServer::asgi_poll)
      .def("asgi_heartbeat", &PyServer::asgi_heartbeat, "stop"_a = false)
      .def("app_startup_failed", &PyServer::app_startup_failed)
      .def("serve_requests", &PyServer::serve_requests, "app"_a, "log_error"_a, "thread_index"_a = -1);
  nb::class_<PyConsumer>(m, "Consumer")
      .def(nb::init<squall::amqp::ConsumerConfig>(), "config"_a)
      .def("attach", &PyConsumer::attach, "master"_a, "slot"_a)
      .def("handle_signals", &PyConsumer::handle_signals)
      .def("run", &PyConsumer::run)
      .def("request_stop", &PyConsumer::request_stop)
      .def("next_delivery", &PyConsumer::next_delivery)
      .def("settle", &PyConsumer::settle, "generation"_a, "delivery_tag"_a, "verdict"_a, "failed"_a, "seconds"_a,
           "routing_key"_a);
  nb::class_<PyMaster>(m, "Master")
      .def(nb::init<squall::master::MasterConfig>(), "config"_a)
      .def("listen", &PyMaster::listen, "host"_a, "port"_a, "backlog"_a = 1024, "reuse_port"_a = false)
      .def("listen_probe", &PyMaster::listen_probe, "host"_a, "port"_a)
      .def("run", &PyMaster::run)
      .def("publish_checks", &PyMaster::publish_checks, "results"_a)
      .def("set_startup_error", &PyMaster::set_startup_error, "text"_a)
      .def("set_migrations", &PyMaster::set_migrations, "connection"_a, "applied"_a, "unapplied"_a);
  m.def("metrics_enabled", [] { return squall::python::g_tables != nullptr; });
  m.def("metrics_request", &squall::python::metrics_request, "view"_a, "method"_a, "transport"_a, "status"_a,
        "latency"_a, "request_bytes"_a, "response_bytes"_a, "streaming"_a, "charset"_a, "templatename"_a, "ajax"_a,
        "viewed"_a);
  m.def("metrics_before", &squall::python::metrics_before);
  m.def("metrics_before_response", &squall::python::metrics_before_response, "latency"_a);
  m.def("metrics_exception", &squall::python::metrics_exception, "type"_a, "view"_a);
  m.def("metrics_db_connection", &squall::python::metrics_db_connection, "alias"_a, "vendor"_a, "ok"_a);
  m.def("metrics_db_execute", &squall::python::metrics_db_execute, "alias"_a, "vendor"_a, "many"_a, "seconds"_a,
        "error_type"_a, "rows"_a);
  m.def("metrics_cache", &squall::python::metrics_cache, "backend"_a, "cell"_a);
  m.def("metrics_model", &squall::python::metrics_model, "model"_a, "cell"_a, "n"_a);
  m.def("metrics_app_set", &squall::python::metrics_app_set, "samples"_a);
  squall::python::init_app_call(m);
  squall::python::AsgiRequest::bind(m);
}
