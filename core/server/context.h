#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "probe/routes.h"
#include "server/config.h"
#include "server/exchange.h"
#include "server/request_queue.h"
#include "state/metrics_tables.h"

namespace squall::server {

class Connection;
using Clock = std::chrono::steady_clock;

// What connections share with the server that owns them (I/O thread only,
// except the atomics).
struct ServerContext {
  ServerContext(const ServerConfig& c, RequestQueue& q, std::shared_ptr<Wakeup> w)
      : config(c), queue(q), wakeup(std::move(w)) {
    if (!c.statics.mounts.empty()) static_files = std::make_unique<static_files::StaticFiles>(c.statics);
    routes.files = static_files.get();
    if (c.app_port_probes) routes.probes = &*c.app_port_probes;
    if (c.app_port_probes && c.app_port_metrics) routes.metrics = &*c.app_port_metrics;
  }
  const ServerConfig& config;
  RequestQueue& queue;
  std::shared_ptr<Wakeup> wakeup;
  std::atomic<bool> draining{false};
  std::size_t active_exchanges = 0;
  // The loop's clock, read once per epoll batch: timeouts need no finer grain,
  // and a clock read per event is measurable at 100k requests/s.
  Clock::time_point now = Clock::now();
  std::vector<Connection*> closed;                          // freed after the current event batch
  std::unique_ptr<static_files::StaticFiles> static_files;  // --static / --media
  // What the I/O thread answers itself (probe/routes.h); routes.state (the pod's state, in a
  // worker) is set by Server::attach, routes.listen_fd with the listen socket.
  probe::Routes routes;
  metrics::ServerTable* metrics = nullptr;  // in a worker: its server metrics (I/O thread only)
  // Called by the I/O thread when an exchange passes --timeout (after its 504
  // or close): the application side's chance to interrupt the thread running
  // it. Must not block the loop (it only hands the exchange over).
  std::function<void(const std::shared_ptr<Exchange>&)> on_deadline;
  std::string who;  // "worker PID: " in a worker, for log lines
};

}  // namespace squall::server
