#pragma once
// State shared by the master and its workers, in one anonymous shared mapping
// created before the first fork (no files, no per-pid growth). Workers write
// only their own slot; the master reads every slot and writes the pod-wide
// fields. Every field is a lock-free atomic, so a reader never waits on a
// worker and a crashed worker can't leave a lock held. The probes and the
// metrics exposition read it through snapshot().
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "state/metrics_tables.h"

namespace squall::state {

inline constexpr std::size_t kMaxWorkers = 128;
inline constexpr std::size_t kMaxThreads = 256;

std::int64_t monotonic_ns();

// One Python thread of a worker: the request it runs, if any.
struct alignas(64) ThreadSlot {
  std::atomic<std::int64_t> request_started_ns{0};  // 0 = idle
  std::atomic<std::uint32_t> seq{0};                // odd while method/path are written
  char method[16] = {};
  char path[104] = {};

  void begin(std::string_view method, std::string_view path, std::int64_t now_ns);
  void end();
};

struct alignas(64) WorkerSlot {
  std::atomic<std::int32_t> pid{0};  // 0: the slot is free
  std::atomic<std::int64_t> started_ns{0};
  std::atomic<std::int64_t> heartbeat_ns{0};  // the worker's I/O loop, every tick
  std::atomic<std::uint32_t> ready{0};        // the worker accepts connections
  std::atomic<std::uint64_t> requests{0};     // responses completed
  std::atomic<std::uint32_t> in_flight{0};    // requests read and not yet answered
  std::atomic<std::uint32_t> queued{0};       // requests waiting for a Python thread
  std::atomic<std::uint32_t> busy_threads{0};
  std::atomic<std::uint32_t> threads{0};
  std::atomic<std::uint32_t> amqp_state{0};  // a consumer (AmqpState): connecting, consuming, ...
  // Set by a worker before it exits because the application refused to start
  // (an ASGI lifespan startup that failed): the master stops the pod.
  std::atomic<std::uint32_t> app_startup_failed{0};
  ThreadSlot thread_slots[kMaxThreads];

  void reset();
};

// Health-check results, written by the checker process after each run and
// read by the probes (core/probe/policy.h). A seqlock: the writer makes `seq` odd, writes,
// makes it even; a reader copies and retries while it changed. A checker
// that dies mid-write leaves `seq` odd: the master repairs it (repair()).
inline constexpr std::size_t kMaxChecks = 64;
enum ProbeBit : std::uint8_t { kStartupBit = 1, kReadinessBit = 2, kLivenessBit = 4 };

struct CheckResult {
  std::uint8_t probes = 0;  // ProbeBit mask: the probes this result feeds
  bool ok = false;
  std::string name;
  std::string reason;   // why it failed (for the log only)
  double duration = 0;  // seconds
};

struct CheckTable {
  std::atomic<std::uint32_t> seq{0};
  std::atomic<std::int64_t> finished_ns{0};  // end of the last complete run; 0 = none yet
  struct Slot {
    std::uint8_t probes;
    std::uint8_t ok;
    char name[62];
    char reason[192];
    std::int64_t duration_us;
  };
  std::uint32_t count = 0;
  Slot slots[kMaxChecks] = {};

  void publish(const std::vector<CheckResult>& results);  // the checker, after a run
  // False when the writer was busy (or died) during every attempt.
  bool read(std::vector<CheckResult>& out, std::int64_t& finished_ns) const;
  void repair();  // master, after the checker exited
};

// Why workers were replaced (squall_worker_respawns_total{reason}): the
// enumerators and their label values from this one list. The master's
// reasons to stop a worker (master::Master::Why) include these.
#define SQUALL_RESPAWN_REASONS(X) \
  X(Crash, "crash")               \
  X(Timeout, "timeout")           \
  X(MaxRequests, "max_requests")  \
  X(MaxLifetime, "max_lifetime")  \
  X(MaxMemory, "max_memory")      \
  X(Reload, "reload")
enum class RespawnReason : std::uint8_t {
#define SQUALL_X(e, name) e,
  SQUALL_RESPAWN_REASONS(SQUALL_X)
#undef SQUALL_X
};
inline constexpr std::string_view kRespawnReasons[] = {
#define SQUALL_X(e, name) name,
    SQUALL_RESPAWN_REASONS(SQUALL_X)
#undef SQUALL_X
};
inline constexpr std::size_t kRespawnReasonCount = std::size(kRespawnReasons);

// An AMQP consumer's connection (WorkerSlot::amqp_state,
// squall_amqp_connection_state{state}), enumerators and label values together.
#define SQUALL_AMQP_STATES(X)     \
  X(Disconnected, "disconnected") \
  X(Connecting, "connecting")     \
  X(Consuming, "consuming")       \
  X(Closing, "closing")
enum class AmqpState : std::uint32_t {
#define SQUALL_X(e, name) e,
  SQUALL_AMQP_STATES(SQUALL_X)
#undef SQUALL_X
};
inline constexpr std::string_view kAmqpStates[] = {
#define SQUALL_X(e, name) name,
    SQUALL_AMQP_STATES(SQUALL_X)
#undef SQUALL_X
};
inline constexpr std::size_t kAmqpStateCount = std::size(kAmqpStates);

struct SharedState {
  std::atomic<std::uint32_t> draining{0};  // SIGTERM seen: readiness fails, Connection: close
  std::atomic<std::uint32_t> started{0};   // startup done: every worker accepted connections
  std::atomic<std::int64_t> started_after_us{0};
  std::atomic<std::uint64_t> retired_requests{0};  // requests of workers that exited
  std::atomic<std::uint32_t> fold_seq{0};          // odd while a dead worker is folded in
  WorkerSlot workers[kMaxWorkers];
  CheckTable checks;
  std::atomic<std::int32_t> master_pid{0};
  std::atomic<std::uint64_t> respawns[kRespawnReasonCount] = {};  // by kRespawnReasons
  // Requests still running at --timeout + --timeout-grace, whose worker the
  // master replaced (squall_request_timeouts_total{outcome="worker_replaced"}).
  std::atomic<std::uint64_t> timeouts_replaced{0};
  std::atomic<std::int64_t> master_started_ns{0};  // CLOCK_MONOTONIC
  std::atomic<std::uint32_t> amqp{0};              // the workers are AMQP consumers (manage.py consume)
  // Metrics tables (state/metrics_tables.h), a mapping of their own; nullptr
  // with --no-metrics. retire() folds a dead worker's into the pod totals.
  // The tables live in this layer, beside the slots, and not in core/metrics/
  // (which declares the families and renders them): folding a dead worker's
  // counters must happen under the same fold_seq as its request count, so
  // retire() calls metrics::fold itself, and state/ includes nothing above it.
  metrics::Region* metrics = nullptr;
  // The startup process's error (command output tail, traceback), read by the
  // master for the startup-failed webhook.
  std::atomic<std::uint32_t> startup_error_len{0};
  char startup_error[8192] = {};
  void set_startup_error(std::string_view text);
  std::string startup_error_text() const;

  // Master only: adds a dead worker's totals to the pod's and frees its slot,
  // so pod-level counters never go backwards (see snapshot()).
  void retire(WorkerSlot& slot);

  // Maps a zeroed shared region (MAP_SHARED | MAP_ANONYMOUS); never unmapped
  // while the process lives, so workers and the master can hold pointers.
  // With `metrics`, the metrics tables too.
  static SharedState* create(bool metrics = true);
};

// A consistent copy for readers (probes, metrics, tests).
struct WorkerSnapshot {
  int slot = 0;
  int pid = 0;
  bool ready = false;
  std::uint64_t requests = 0;
  std::uint32_t in_flight = 0, queued = 0, busy_threads = 0, threads = 0;
  double heartbeat_age = 0;   // seconds
  double oldest_request = 0;  // seconds the longest-running request has run, 0 if none
};
struct Snapshot {
  bool draining = false;
  bool started = false;
  double started_after = 0;          // seconds from the master's start to startup done
  std::uint64_t requests_total = 0;  // never decreases: includes retired workers
  std::vector<WorkerSnapshot> workers;
  std::vector<CheckResult> checks;  // the latest health-check results
  bool checks_readable = true;      // false: the checker was writing the whole time
  double checks_age = -1;           // seconds since the last complete run, -1 = none yet
};
Snapshot snapshot(const SharedState& state);

}  // namespace squall::state
