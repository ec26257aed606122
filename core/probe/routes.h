#pragma once
// The local routes: requests the engine answers itself, from shared memory
// or the file system, without Python: the probe paths (probe/policy.h),
// /metrics (metrics/exposition.h) and static and media files
// (static/static_files.h). One dispatcher, used by the probe port's
// ProbeServer (master) and by a worker's connections (--probe-port equal to
// --port, --static, --media). Every answer's head is written by
// http::serialize.
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "http/request.h"
#include "metrics/exposition.h"
#include "net/fd.h"
#include "probe/policy.h"
#include "state/shared_state.h"
#include "static/static_files.h"

namespace squall::probe {

// A request to a probe path or /metrics may carry a small body (load
// balancers' and Hurricane users' POST health checks): up to this much is read
// and discarded; more is refused with 413 (body_too_large).
inline constexpr std::uint64_t kMaxProbeBodyBytes = 64 * 1024;

struct Routes {
  const state::SharedState* state = nullptr;        // null: no probes, no /metrics
  const ProbeConfig* probes = nullptr;              // null: no probe paths (and no /metrics)
  const metrics::MetricsConfig* metrics = nullptr;  // null: no /metrics
  int listen_fd = -1;                               // the app's listen socket (squall_listen_queue_length)
  static_files::StaticFiles* files = nullptr;       // null: no --static / --media
};

struct LocalAnswer {
  enum class Kind { Probe, Metrics, File };
  Kind kind = Kind::Probe;
  int status = 200;
  std::string bytes;   // head, and the body unless it is a file
  net::UniqueFd file;  // valid: `length` bytes from `offset` follow the head
  off_t offset = 0;
  std::size_t length = 0;  // of the file's range (the access log's bytes)
};

// The answer for a request that is a local route, nullopt for one that goes
// to the application. `close`: the answer says Connection: close.
std::optional<LocalAnswer> route(const Routes& routes, const http::RequestHead& head, bool close);

// The HTTP response for a probe answer (used for the probe port's 404 too).
// HEAD: the head alone.
std::string response_bytes(const Answer& answer, bool close, int version_minor = 1, bool head_only = false);

}  // namespace squall::probe
