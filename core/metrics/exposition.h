#pragma once
// /metrics: the pod's metrics, summed by the master from shared memory (the
// retired tables plus every live worker's), in the Prometheus text format
// 0.0.4 or, when the scraper asks for it, OpenMetrics 1.0. Built in C++ in the
// master's loop (or a worker's I/O thread with --probe-port equal to --port):
// no Python, no GIL, no files.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "state/shared_state.h"

namespace squall::metrics {

enum class Format { Text, OpenMetrics };

// The format for an Accept header: OpenMetrics 1.0 when the client prefers
// application/openmetrics-text (version 1.0.0 or unversioned), else text 0.0.4.
Format negotiate(std::string_view accept);
std::string_view content_type(Format format);

struct MetricsConfig {
  std::string path = "/metrics";
  // squall_info labels: the version and the main options.
  std::vector<std::pair<std::string, std::string>> info;
  // PROMETHEUS_METRIC_NAMESPACE: "NS" names the django_* families NS_django_*; "": none.
  std::string django_namespace;
  // PROMETHEUS_LATENCY_BUCKETS, finite and ascending (+Inf implied); empty: django-prometheus'.
  std::vector<double> latency_buckets;
};

// Whether each probe passes (squall_probe_success), decided by the caller
// with core/probe/policy.h: the exposition renders verdicts, it does not
// evaluate probes (core/probe/ is above this layer).
struct ProbeSuccess {
  bool startup = false, readiness = false, liveness = false;
};

// What the exposition reads besides the tables.
struct Sources {
  const state::SharedState& state;
  ProbeSuccess probes;
  int listen_fd = -1;  // the app's listen socket, for its queue length; -1: unknown
};

// True when the request target's path is the metrics path.
bool is_metrics_target(std::string_view target, const MetricsConfig& config);

std::string render(const MetricsConfig& config, const Sources& sources, Format format);

// The whole HTTP response to a GET (HEAD: no body) of the metrics path.
std::string response_bytes(const MetricsConfig& config, const Sources& sources, std::string_view method,
                           std::string_view accept, bool close, int version_minor = 1);

}  // namespace squall::metrics
