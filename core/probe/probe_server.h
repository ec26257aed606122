#pragma once
// Kubernetes probes, answered by the master's loop from shared memory: no
// GIL, no worker, no Python. A probe can neither wait behind a slow view nor
// say "alive" for a pod whose workers stopped (DESIGN.md, Kubernetes contract).
//
// Paths: Hurricane's (--startup-probe /startup, --readiness-probe /ready,
// --liveness-probe /alive; trailing slash accepted) and kube-apiserver style
// /startupz, /readyz, /livez with ?verbose, ?exclude=NAME and /readyz/NAME.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/parser.h"
#include "master/shared_state.h"
#include "net/fd.h"

namespace squall::metrics {
struct MetricsConfig;
}

namespace squall::probe {

struct ProbeConfig {
  std::string startup_path = "/startup";
  std::string readiness_path = "/ready";
  std::string liveness_path = "/alive";
  std::uint32_t req_queue_len = 10;  // readiness fails at or above this many queued requests
  double heartbeat_timeout = 30.0;   // s: a worker silent this long fails liveness
  double check_interval = 0;         // s between health-check runs; 0 = no checker process
  // A result older than this fails its check: the checker itself is stuck.
  double stale_after() const { return 3 * check_interval + 10; }
};


struct Check {
  std::string name;
  bool ok;
  std::string reason;  // for the log only; responses say "reason withheld"
};

enum class Probe { Startup, Readiness, Liveness };

// The checks behind each probe (pure: used by the server and by tests).
std::vector<Check> evaluate(Probe probe, const master::Snapshot& snap, const ProbeConfig& config);

struct Answer {
  int status = 200;
  std::string body;
  double checks_age = -1;  // s since the health checks behind it ran; -1: none (no header)
};
// True when the target's path is one of the probe paths.
bool is_probe_target(std::string_view target, const ProbeConfig& config);
// The answer for a request target, or status 404 for a path that is no probe.
Answer answer(std::string_view target, const master::Snapshot& snap, const ProbeConfig& config);
// The whole HTTP response for an answer.
std::string response_bytes(const Answer& answer, bool close);

class ProbeServer {
 public:
  // `metrics`: also serve /metrics (its path), nullptr: no metrics.
  // `app_listen_fd`: the app's listen socket, for squall_listen_queue_length.
  ProbeServer(ProbeConfig config, const master::SharedState* state, net::UniqueFd listener,
              const metrics::MetricsConfig* metrics = nullptr, int app_listen_fd = -1);
  ~ProbeServer();
  int listen_fd() const { return listener_.get(); }
  bool owns(int fd) const { return connections_.count(fd) != 0; }
  // Accepted connections to register, edge-triggered, for EPOLLIN | EPOLLOUT
  // | EPOLLRDHUP | EPOLLET (the caller's loop).
  std::vector<int> accept_all();
  void on_event(int fd);  // readable or writable
  void on_readable(int fd) { on_event(fd); }
  void set_app_listen_fd(int fd) { app_listen_fd_ = fd; }  // -1 once the master closed it
  void close_stale();  // every tick: a probe connection lives at most 2 s (a metrics answer 10 s)

 private:
  struct Connection;
  void finish(int fd);
  void flush(int fd, Connection& c);

  ProbeConfig config_;
  const master::SharedState* state_;
  net::UniqueFd listener_;
  const metrics::MetricsConfig* metrics_;
  int app_listen_fd_;
  std::map<int, std::unique_ptr<Connection>> connections_;
};

}  // namespace squall::probe
