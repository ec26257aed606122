#pragma once
// The probe port's HTTP endpoint, in the master's loop: Kubernetes probes
// (probe/policy.h) and /metrics, answered from shared memory: no GIL, no
// worker, no Python. A probe can neither wait behind a slow view nor say
// "alive" for a pod whose workers stopped (DESIGN.md, Kubernetes contract).
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "http/parser.h"
#include "metrics/exposition.h"
#include "net/fd.h"
#include "probe/policy.h"
#include "probe/routes.h"
#include "state/shared_state.h"

namespace squall::probe {

class ProbeServer {
 public:
  // `metrics`: also serve /metrics (its path), nullptr: no metrics.
  // `app_listen_fd`: the app's listen socket, for squall_listen_queue_length.
  ProbeServer(ProbeConfig config, const state::SharedState* state, net::UniqueFd listener,
              const metrics::MetricsConfig* metrics = nullptr, int app_listen_fd = -1);
  ~ProbeServer();
  int listen_fd() const { return listener_.get(); }
  bool owns(int fd) const { return connections_.count(fd) != 0; }
  // Accepted connections to register, edge-triggered, for EPOLLIN | EPOLLOUT
  // | EPOLLRDHUP | EPOLLET (the caller's loop).
  std::vector<int> accept_all();
  void on_event(int fd);                                   // readable or writable
  void set_app_listen_fd(int fd) { app_listen_fd_ = fd; }  // -1 once the master closed it
  void close_stale();  // every tick: a probe connection lives at most 2 s (a metrics answer 10 s)

 private:
  struct Connection;
  void finish(int fd);
  void flush(int fd, Connection& c);

  ProbeConfig config_;
  const state::SharedState* state_;
  net::UniqueFd listener_;
  const metrics::MetricsConfig* metrics_;
  int app_listen_fd_;
  std::map<int, std::unique_ptr<Connection>> connections_;
};

}  // namespace squall::probe
