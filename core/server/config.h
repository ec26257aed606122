#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "http/limits.h"
#include "metrics/exposition.h"
#include "net/address.h"
#include "probe/policy.h"
#include "server/access_log.h"
#include "static/static_files.h"

namespace squall::server {

// What the engine needs from squall.options.Config (see docs/options.md for
// the defaults and their reasons).
struct ServerConfig {
  http::Limits limits;
  double header_timeout = 10.0;     // s, first byte of a request to its complete head -> 408
  double keepalive_timeout = 75.0;  // s, idle keep-alive connection is closed
  double body_timeout = 30.0;       // s, stall while a body is read or a response is written
  double graceful_timeout = 30.0;   // s, SIGTERM: in-flight requests get this long to finish
  // s, a request an application thread has run this long gets its deadline:
  // 504 (or a close, once its head is out) and the deadline handler (0 = off).
  double timeout = 0;
  // Requests waiting for an application thread; a new one past this is
  // answered 503 + Retry-After by the I/O thread (0 = unbounded).
  std::size_t max_queue = 0;
  // Fair accept: a worker whose queue holds --threads requests stops
  // accepting while another worker of the pod has an idle thread.
  bool fair_accept = true;
  net::AllowList forwarded_allow;  // peers whose X-Forwarded-* headers are honoured
  bool access_log = true;
  std::vector<AccessField> access_log_fields = kDefaultAccessFields;  // --access-log-format
  std::string server_software = "squall";  // SERVER_SOFTWARE in the WSGI environ: "squall/<version>"
  int threads = 1;                         // Python threads taking requests from the queue
  bool multiprocess = false;               // wsgi.multiprocess: more than one worker process
  // --probe-port equal to --port: probe paths are answered on the app port,
  // by the I/O thread from shared memory (never by the application).
  std::optional<probe::ProbeConfig> app_port_probes;
  // --static / --media: files answered by the I/O thread (no mounts: off).
  static_files::Config statics;
  // ... and /metrics too, unless --no-metrics (needs app_port_probes).
  std::optional<metrics::MetricsConfig> app_port_metrics;

  // ASGI: WebSocket upgrades go to the application (websocket scopes);
  // otherwise an Upgrade request is an ordinary request.
  bool websockets = false;
  std::uint64_t ws_max_message_size = 1 << 20;  // --ws-max-message-size: past it, close 1009

  // Internal buffer sizes (not options: they bound memory per connection).
  std::size_t read_chunk = 64 * 1024;           // one read(2)
  std::size_t body_buffer = 256 * 1024;         // request body buffered ahead of wsgi.input
  std::size_t output_high_water = 1024 * 1024;  // a writer waits above this
  std::size_t output_low_water = 256 * 1024;    // ... and resumes below this
};

}  // namespace squall::server
