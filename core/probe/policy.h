#pragma once
// Probe policy: what the startup, readiness and liveness probes check and
// answer, evaluated from a shared-memory snapshot (pure; no I/O). The HTTP
// endpoint that serves them is probe/probe_server.h; probes are answered
// there, by the master's loop: no GIL, no worker, no Python. A probe can neither wait behind a slow view nor
// say "alive" for a pod whose workers stopped (DESIGN.md, Kubernetes contract).
//
// Paths: Hurricane's (--startup-probe /startup, --readiness-probe /ready,
// --liveness-probe /alive; trailing slash accepted) and kube-apiserver style
// /startupz, /readyz, /livez with ?verbose, ?exclude=NAME and /readyz/NAME.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/exposition.h"
#include "state/shared_state.h"

namespace squall::probe {

struct ProbeConfig {
  std::string startup_path = "/startup";
  std::string readiness_path = "/ready";
  std::string liveness_path = "/alive";
  std::uint32_t req_queue_len = 10;  // readiness fails at or above this many queued requests
  double heartbeat_timeout = 30.0;   // s: a worker silent this long fails liveness
  // s: a request past --timeout gets this long to unwind before its worker is
  // replaced; liveness fails only past both (the master is about to kill it).
  double timeout_grace = 0;
  double check_interval = 0;  // s between health-check runs; 0 = no checker process
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
std::vector<Check> evaluate(Probe probe, const state::Snapshot& snap, const ProbeConfig& config);

struct Answer {
  int status = 200;
  std::string body;
  double checks_age = -1;  // s since the health checks behind it ran; -1: none (no header)
};
// True when the target's path is one of the probe paths.
bool is_probe_target(std::string_view target, const ProbeConfig& config);
// The answer for a request target, or status 404 for a path that is no probe.
Answer answer(std::string_view target, const state::Snapshot& snap, const ProbeConfig& config);
// Whether each probe passes, for squall_probe_success in /metrics.
metrics::ProbeSuccess probe_success(const state::Snapshot& snap, const ProbeConfig& config);

}  // namespace squall::probe
