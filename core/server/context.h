#pragma once
#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "state/metrics_tables.h"
#include "server/config.h"
#include "server/exchange.h"
#include "server/request_queue.h"

namespace squall::server {

class Connection;
using Clock = std::chrono::steady_clock;

// What connections share with the server that owns them (I/O thread only,
// except the atomics).
struct ServerContext {
  ServerContext(const ServerConfig& c, RequestQueue& q, std::shared_ptr<Wakeup> w)
      : config(c), queue(q), wakeup(std::move(w)) {
    if (!c.statics.mounts.empty()) static_files = std::make_unique<static_files::StaticFiles>(c.statics);
  }
  const ServerConfig& config;
  RequestQueue& queue;
  std::shared_ptr<Wakeup> wakeup;
  std::atomic<bool> draining{false};
  std::size_t active_exchanges = 0;
  // The loop's clock, read once per epoll batch: timeouts need no finer grain,
  // and a clock read per event is measurable at 100k requests/s.
  Clock::time_point now = Clock::now();
  std::vector<Connection*> closed;  // freed after the current event batch
  const state::SharedState* shared = nullptr;  // in a worker: the pod's state (probes)
  std::unique_ptr<static_files::StaticFiles> static_files;  // --static / --media
  int listen_fd = -1;  // the shared listen socket (squall_listen_queue_length)
  metrics::ServerTable* metrics = nullptr;      // in a worker: its server metrics (I/O thread only)
};

}  // namespace squall::server
