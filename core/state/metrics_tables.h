#pragma once
// Metrics in shared memory: fixed-size tables, one set per worker
// slot, written only by that worker (its I/O thread for the server families,
// its Python threads for the Django families); the master reads and sums them
// for /metrics and, when a worker exits, folds its counters into the pod's
// `retired` tables (SharedState::retire), so pod totals never go backwards.
//
// This is the memory layout only, in core/state/ with the rest of the shared
// memory (namespace squall::metrics, as the writers and the exposition name
// it); the families, their names and help texts and the rendering are in
// core/metrics/.
//
// Every cell is a plain integer accessed through std::atomic_ref: the region
// is a zero-filled anonymous mapping (zero is a valid empty table, nothing is
// constructed, pages a worker never touches cost nothing), no lock is ever
// held across processes, and a worker that dies mid-write leaves at worst one
// half-claimed series, which readers skip.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "http/errors.h"

namespace squall::metrics {

// ---- buckets ---------------------------------------------------------------------

// django-prometheus' DEFAULT_LATENCY_BUCKETS (+Inf implied).
inline constexpr double kLatencyBuckets[] = {0.01, 0.025, 0.05, 0.075, 0.1,  0.25, 0.5,  0.75,
                                             1.0,  2.5,   5.0,  7.5,   10.0, 25.0, 50.0, 75.0};
inline constexpr std::size_t kLatencyCells = std::size(kLatencyBuckets) + 1;
// PROMETHEUS_LATENCY_BUCKETS: at most this many finite bounds (+Inf implied),
// so that a request or database series keeps its histogram in its cells.
inline constexpr std::size_t kMaxLatencyBuckets = std::size(kLatencyBuckets);
// The latency buckets in use (request latencies and, as django-prometheus
// since 2.3, query durations): n == 0 means kLatencyBuckets. Written by the
// master before the first fork, read by every writer and the exposition.
struct LatencyBuckets {
  std::uint64_t n;
  double bounds[kMaxLatencyBuckets];
};
// django-prometheus' PowersOf(2, 30): 0, 1, 2, 4, ... 2^29 (body sizes in bytes).
inline constexpr std::size_t kBodyBucketCount = 31;
inline constexpr std::size_t kBodyCells = kBodyBucketCount + 1;
double body_bucket(std::size_t i);
// squall_http_request_duration_seconds: finer at the low end (the engine's
// own view of a request, from its complete head to its last byte queued).
inline constexpr double kServerBuckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                            0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
inline constexpr std::size_t kServerCells = std::size(kServerBuckets) + 1;

// Index of the bucket (cells are per bucket, not cumulative) for a value.
std::size_t bucket_index(const double* bounds, std::size_t n, double value);
std::size_t body_bucket_index(std::uint64_t bytes);

// ---- cells -----------------------------------------------------------------------

inline std::uint64_t load(const std::uint64_t& cell) {
  return std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(cell)).load(std::memory_order_relaxed);
}
// One writer thread (the I/O loop): no locked instruction needed.
inline void bump(std::uint64_t& cell, std::uint64_t n = 1) {
  std::atomic_ref<std::uint64_t> r(cell);
  r.store(r.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
// Several writer threads (Python threads of one worker).
inline void add(std::uint64_t& cell, std::uint64_t n = 1) {
  std::atomic_ref<std::uint64_t>(cell).fetch_add(n, std::memory_order_relaxed);
}
inline void set(std::uint64_t& cell, std::uint64_t v) {
  std::atomic_ref<std::uint64_t>(cell).store(v, std::memory_order_relaxed);
}
inline std::uint64_t to_ns(double seconds) { return seconds > 0 ? static_cast<std::uint64_t>(seconds * 1e9) : 0; }

// WebSocket close codes counted one by one (RFC 6455 7.4.1, 1012 from the
// IANA registry); any other code is counted as "other", the last cell.
inline constexpr std::uint16_t kWsCloseCodes[] = {1000, 1001, 1002, 1003, 1006, 1007, 1008, 1009, 1011, 1012, 0};
inline constexpr std::size_t kWsCloseCodeCount = std::size(kWsCloseCodes);
// ---- exemplars --------------------------------------------------------------------

// OpenMetrics exemplar of a histogram bucket: the trace of the latest
// observation that fell in it (its value and wall-clock time), so a latency
// panel links a slow bucket to a trace. A seqlock per exemplar: several
// threads of a worker may record into one (a writer that finds it being
// written skips: an exemplar is "a recent one", not every one), and the
// master reads while they write (a read that overlaps a write is retried).
struct Exemplar {
  std::uint64_t seq;       // odd while written; 0: never written
  std::uint64_t trace[2];  // the 128-bit trace-id
  std::uint64_t value_ns;  // the observed duration
  std::uint64_t time_ms;   // CLOCK_REALTIME, ms since the epoch
};
// A consistent copy of an exemplar; `seq` 0 when none was ever written.
Exemplar read_exemplar(const Exemplar& e);
// Records the trace `trace_hex` (32 lowercase hex digits) observed at `seconds`.
void write_exemplar(Exemplar& e, std::string_view trace_hex, double seconds);
// 32 lowercase hex digits of an exemplar's trace-id.
std::string exemplar_trace_hex(const Exemplar& e);

// ---- fixed tables ----------------------------------------------------------------

// Written by a worker's I/O thread (counters) and every tick (gauges).
struct ServerTable {
  // counters
  std::uint64_t accepted, handled, requests, bytes_received, bytes_sent;
  std::uint64_t duration[kServerCells];
  std::uint64_t duration_sum_ns;
  std::uint64_t request_errors[http::kRequestErrorCount];  // requests refused, by http::RequestError
  // Requests past --timeout whose Python thread unwound (RequestTimeout) and
  // returned: written by the worker's Python threads (metrics::add).
  std::uint64_t timeouts_unwound;
  // WebSockets: accepted (101), handshakes refused, messages and their
  // payload bytes each way, connections ended by close code (kWsCloseCodes).
  std::uint64_t ws_opened, ws_handshake_failures, ws_messages_in, ws_messages_out, ws_bytes_in, ws_bytes_out;
  std::uint64_t ws_closes[kWsCloseCodeCount];
  Exemplar duration_exemplars[kServerCells];  // by bucket, not folded (a live worker's)
  // gauges (not folded: they describe a live worker)
  std::uint64_t active, reading, writing, waiting, ws_connections;
};

// A WebSocket connection ended with `code` (RFC 6455 7.4.1; 1006: no close frame).
inline void count_ws_close(ServerTable& t, std::uint16_t code) {
  std::size_t i = 0;
  while (i + 1 < kWsCloseCodeCount && kWsCloseCodes[i] != code) ++i;
  bump(t.ws_closes[i]);
}

// django-prometheus families without labels, written by the Python threads.
struct DjangoTable {
  std::uint64_t requests_before, responses_before, unknown_latency_before, unknown_latency, streaming;
  std::uint64_t latency_before[kLatencyCells];
  std::uint64_t latency_before_sum_ns;
  std::uint64_t request_body[kBodyCells];
  std::uint64_t request_body_sum;
  std::uint64_t response_body[kBodyCells];
  std::uint64_t response_body_sum;
  std::uint64_t series_dropped;  // label sets refused: the table was full
  std::uint64_t ajax;            // requests with X-Requested-With: XMLHttpRequest
};

// ---- labelled series ---------------------------------------------------------------

enum class Kind : std::uint32_t {
  Request = 1,     // view, method (as sent), transport, status: count, viewed, latency histogram
  Exception,       // type, view: count
  Db,              // alias, vendor: connections, errors, execute, execute_many, duration histogram
  DbError,         // alias, vendor, type: count
  Migrations,      // connection: applied, unapplied (gauges, pod-wide)
  Amqp,            // routing_key: received, acked, nacked, failed, handler duration histogram
  AmqpConnection,  // no labels: reconnects, connection losses
  Cache,           // backend: get, hits, misses, fail
  Model,           // model: inserts, updates, deletes
  Charset,         // charset: responses
  Template,        // templatename: responses
  AppCounter,      // an app's prometheus_client sample that only grows: cell 0 a double (folded)
  AppGauge,        // an app's prometheus_client gauge sample: cell 0 a double (not folded: it dies with its worker)
};
inline constexpr std::size_t kCells = 24;
inline constexpr std::size_t kLabelBytes = 232;
// Request cells; kReqViewed: the after-middleware's process_view ran (the view resolved)
inline constexpr std::size_t kReqCount = 0, kReqViewed = 1, kReqLatency = 2,
                             kReqLatencySum = kReqLatency + kLatencyCells;
// Db cells
inline constexpr std::size_t kDbConnections = 0, kDbConnectionErrors = 1, kDbExecute = 2, kDbExecuteMany = 3,
                             kDbDuration = 4, kDbDurationSum = kDbDuration + kLatencyCells;
// Cache cells (django_cache_get_*), Model cells (django_model_*)
inline constexpr std::size_t kCacheGet = 0, kCacheHits = 1, kCacheMisses = 2, kCacheFail = 3;
inline constexpr std::size_t kModelInserts = 0, kModelUpdates = 1, kModelDeletes = 2;
// Amqp cells (squall_amqp_*), the handler duration in kAmqpBuckets
inline constexpr double kAmqpBuckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0};
inline constexpr std::size_t kAmqpCells = std::size(kAmqpBuckets) + 1;
inline constexpr std::size_t kAmqpReceived = 0, kAmqpAcked = 1, kAmqpNacked = 2, kAmqpFailed = 3, kAmqpDuration = 4,
                             kAmqpDurationSum = kAmqpDuration + kAmqpCells;
inline constexpr std::size_t kAmqpReconnects = 0, kAmqpConnectionLosses = 1;
static_assert(kReqLatencySum < kCells && kDbDurationSum < kCells && kAmqpDurationSum < kCells);

struct Series {
  std::uint32_t state;  // 0 free, 1 being claimed, 2 ready (atomic_ref)
  std::uint32_t kind;
  std::uint32_t labels_len;
  std::uint32_t reserved;
  std::uint64_t hash;
  char labels[kLabelBytes];  // label values, each ending in '\0'
  std::uint64_t cells[kCells];
};

// Label values packed for a Series: each value cut (at a UTF-8 boundary) so
// that all fit, each followed by '\0' (values never contain one: cut there).
struct LabelKey {
  char bytes[kLabelBytes];
  std::uint32_t len = 0;
  std::uint64_t hash = 0;
  bool truncated = false;  // a value was shortened (or, exact: did not fit and the key is empty)
  LabelKey(Kind kind, std::initializer_list<std::string_view> values);
  // exact: every value whole or none (an app's names must not be cut).
  LabelKey(Kind kind, const std::string_view* values, std::size_t n, bool exact);
};

template <std::size_t N>
struct SeriesTable {
  static constexpr std::size_t kSlots = N;
  static constexpr std::size_t kLimit = N - N / 8;  // distinct label sets accepted
  std::uint64_t used;
  Series slots[N];
};

// Finds or claims the series for `key`; nullptr when the table is full.
Series* find_or_claim(Series* slots, std::size_t n, std::size_t limit, std::uint64_t& used, Kind kind,
                      const LabelKey& key);
template <std::size_t N>
Series* series(SeriesTable<N>& t, Kind kind, const LabelKey& key) {
  return find_or_claim(t.slots, N, t.kLimit, t.used, kind, key);
}

inline constexpr std::size_t kWorkerSeries = 1024;   // per worker: 896 label sets
inline constexpr std::size_t kRetiredSeries = 4096;  // the pod's folded totals
inline constexpr std::size_t kPodSeries = 64;        // pod-wide gauges (migrations)
inline constexpr std::size_t kMaxWorkerTables = 128;

struct WorkerTables {
  ServerTable server;
  DjangoTable django;
  SeriesTable<kWorkerSeries> series;
  // Exemplars of the Request series' latency buckets, by series slot (the
  // index in `series.slots`); pages of series never seen cost nothing.
  Exemplar request_exemplars[kWorkerSeries][kLatencyCells];
};
// fold() clears a slot up to the exemplars, which must come last.
static_assert(offsetof(WorkerTables, request_exemplars) + sizeof(WorkerTables::request_exemplars) ==
              sizeof(WorkerTables));

struct Region {
  LatencyBuckets latency;  // set once, before the first fork
  WorkerTables retired;    // dead workers' counters (series in `retired_series`)
  SeriesTable<kRetiredSeries> retired_series;
  SeriesTable<kPodSeries> pod;
  WorkerTables workers[kMaxWorkerTables];  // by worker slot (state::kMaxWorkers)
};

// A zeroed shared mapping (MAP_SHARED | MAP_ANONYMOUS); never unmapped.
Region* create_region();
// Master only: adds worker `slot`'s counters to the retired tables, then
// zeroes the worker's tables for the next worker in that slot.
void fold(Region& region, std::size_t slot);

// PROMETHEUS_LATENCY_BUCKETS: `bounds` ascending and finite, at most
// kMaxLatencyBuckets (the caller checks; extra bounds are ignored); empty: the defaults.
void set_latency_buckets(Region& region, const double* bounds, std::size_t n);
struct BucketsView {
  const double* bounds;
  std::size_t n;
};
// The buckets in use; `region` null: the defaults.
BucketsView latency_buckets(const Region* region);

// Writers for the Python side (a worker's Python threads).
struct RequestRecord {
  std::string_view view, method, transport, status;
  double latency = -1;  // s, < 0: unknown (answered before the after-middleware ran)
  std::uint64_t request_bytes = 0, response_bytes = 0;
  bool streaming = false;
  std::string_view charset = {};       // "": the response has none
  std::string_view templatename = {};  // "": not a TemplateResponse
  bool ajax = false;
  bool viewed = true;  // process_view ran (django_http_requests_total_by_view_transport_method)
};
// `trace_id`: 32 hex digits, the latency bucket's exemplar (empty: none).
void record_request(WorkerTables& t, const RequestRecord& r, BucketsView buckets = latency_buckets(nullptr),
                    std::string_view trace_id = {});
void record_before(WorkerTables& t);
void record_before_response(WorkerTables& t, double latency,
                            BucketsView buckets = latency_buckets(nullptr));  // latency < 0: unknown
void record_exception(WorkerTables& t, std::string_view type, std::string_view view);
void record_db_connection(WorkerTables& t, std::string_view alias, std::string_view vendor, bool ok);
// One execute() (rows = 1) or executemany() of `rows` parameter sets: as
// django-prometheus, django_db_execute_total counts each row of a bulk call.
void record_db_execute(WorkerTables& t, std::string_view alias, std::string_view vendor, bool many, double seconds,
                       std::string_view error_type, std::uint64_t rows = 1,
                       BucketsView buckets = latency_buckets(nullptr));
// A cache get (`cell`: kCacheGet ...), a model operation (kModelInserts ...; n = 0 only claims the series).
void record_cache(WorkerTables& t, std::string_view backend, std::size_t cell);
void record_model(WorkerTables& t, std::string_view model, std::size_t cell, std::uint64_t n = 1);
// An app's prometheus_client sample, its absolute value in this worker. `key`:
// family, type, sample name, then label name/value pairs (LabelKey packing).
// False when the table is full (counted in series_dropped).
bool set_app_sample(WorkerTables& t, bool counter, const LabelKey& key, double value);
void set_migrations(Region& region, std::string_view connection, std::uint64_t applied, std::uint64_t unapplied);

// An AMQP consumer (core/amqp): a counter cell (kAmqpReceived ...) by routing key,
// the handler's duration, and the connection counters (kAmqpReconnects ...).
void record_amqp(WorkerTables& t, std::string_view routing_key, std::size_t cell);
void observe_amqp_handler(WorkerTables& t, std::string_view routing_key, double seconds, bool failed);
void record_amqp_connection(WorkerTables& t, std::size_t cell);

// The I/O thread of a worker.
// `trace_id`: 32 hex digits, the bucket's exemplar (empty: none).
void observe_server_duration(ServerTable& t, double seconds, std::string_view trace_id = {});

}  // namespace squall::metrics
