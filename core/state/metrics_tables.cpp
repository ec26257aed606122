#include "state/metrics_tables.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace squall::metrics {

double body_bucket(std::size_t i) { return i == 0 ? 0.0 : static_cast<double>(std::uint64_t{1} << (i - 1)); }

std::size_t bucket_index(const double* bounds, std::size_t n, double value) {
  for (std::size_t i = 0; i < n; ++i)
    if (value <= bounds[i]) return i;
  return n;  // +Inf
}

std::size_t body_bucket_index(std::uint64_t bytes) {
  if (bytes == 0) return 0;
  // Smallest i >= 1 with bytes <= 2^(i-1).
  std::size_t i = 1;
  while (i < kBodyBucketCount && bytes > (std::uint64_t{1} << (i - 1))) ++i;
  return i;  // kBodyBucketCount: +Inf
}

namespace {

std::uint64_t fnv1a(const char* p, std::size_t n, std::uint64_t h = 1469598103934665603ull) {
  for (std::size_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(p[i])) * 1099511628211ull;
  return h;
}

// The longest prefix of `s` of at most `max` bytes that ends on a UTF-8
// character boundary and holds no NUL.
std::string_view cut(std::string_view s, std::size_t max) {
  if (auto nul = s.find('\0'); nul != std::string_view::npos) s = s.substr(0, nul);
  if (s.size() <= max) return s;
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

}  // namespace

LabelKey::LabelKey(Kind kind, std::initializer_list<std::string_view> values)
    : LabelKey(kind, values.begin(), values.size(), false) {}

LabelKey::LabelKey(Kind kind, const std::string_view* values, std::size_t n, bool exact) {
  std::size_t total = 0;
  for (std::size_t i = 0; i < n; ++i) total += values[i].size() + 1;
  if (exact && total > kLabelBytes) n = 0, truncated = true;
  std::size_t left = n;
  for (std::size_t i = 0; i < n; ++i) {
    // Share what is left fairly among the values still to come.
    std::size_t room = (kLabelBytes - len) / left - 1;
    std::string_view v = cut(values[i], exact ? kLabelBytes : room);
    truncated = truncated || v.size() != values[i].size();
    std::memcpy(bytes + len, v.data(), v.size());
    len += static_cast<std::uint32_t>(v.size());
    bytes[len++] = '\0';
    --left;
  }
  hash = fnv1a(bytes, len, 1469598103934665603ull ^ static_cast<std::uint64_t>(kind)) | 1;  // never 0
}

Series* find_or_claim(Series* slots, std::size_t n, std::size_t limit, std::uint64_t& used, Kind kind,
                      const LabelKey& key) {
  auto matches = [&](const Series& s) {
    return s.hash == key.hash && s.kind == static_cast<std::uint32_t>(kind) && s.labels_len == key.len &&
           std::memcmp(s.labels, key.bytes, key.len) == 0;
  };
  std::size_t start = key.hash % n;
  for (std::size_t probe = 0; probe < n; ++probe) {
    Series& s = slots[(start + probe) % n];
    std::atomic_ref<std::uint32_t> state(s.state);
    std::uint32_t st = state.load(std::memory_order_acquire);
    if (st == 0) {
      // Free: the end of this key's probe sequence. Claim it, unless full.
      if (load(used) >= limit) return nullptr;
      std::uint32_t expected = 0;
      if (state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
        add(used);
        s.kind = static_cast<std::uint32_t>(kind);
        s.labels_len = key.len;
        std::memcpy(s.labels, key.bytes, key.len);
        s.hash = key.hash;
        state.store(2, std::memory_order_release);
        return &s;
      }
      st = expected;  // another thread claimed it meanwhile: see what it becomes
    }
    // Being claimed by another thread of this worker: wait for its key
    // (a few stores). A writer that died here leaves it at 1: skip it then.
    for (int spin = 0; st == 1 && spin < 100000; ++spin) st = state.load(std::memory_order_acquire);
    if (st == 2 && matches(s)) return &s;
  }
  return nullptr;
}

Region* create_region() {
  void* p = mmap(nullptr, sizeof(Region), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) std::abort();  // as SharedState::create: nothing sensible to run
  return static_cast<Region*>(p);     // zero-filled: every table is empty
}

namespace {

template <std::size_t N>
void add_cells(std::uint64_t (&to)[N], const std::uint64_t (&from)[N]) {
  for (std::size_t i = 0; i < N; ++i) add(to[i], load(from[i]));
}

void fold_server(ServerTable& to, const ServerTable& from) {
  for (auto field :
       {&ServerTable::accepted, &ServerTable::handled, &ServerTable::requests, &ServerTable::bytes_received,
        &ServerTable::bytes_sent, &ServerTable::duration_sum_ns, &ServerTable::timeouts_unwound,
        &ServerTable::ws_opened, &ServerTable::ws_handshake_failures, &ServerTable::ws_messages_in,
        &ServerTable::ws_messages_out, &ServerTable::ws_bytes_in, &ServerTable::ws_bytes_out})
    add(to.*field, load(from.*field));
  add_cells(to.duration, from.duration);
  add_cells(to.request_errors, from.request_errors);
  add_cells(to.ws_closes, from.ws_closes);
}

void fold_django(DjangoTable& to, const DjangoTable& from) {
  for (auto field : {&DjangoTable::requests_before, &DjangoTable::responses_before,
                     &DjangoTable::unknown_latency_before, &DjangoTable::unknown_latency, &DjangoTable::streaming,
                     &DjangoTable::latency_before_sum_ns, &DjangoTable::request_body_sum,
                     &DjangoTable::response_body_sum, &DjangoTable::series_dropped, &DjangoTable::ajax})
    add(to.*field, load(from.*field));
  add_cells(to.latency_before, from.latency_before);
  add_cells(to.request_body, from.request_body);
  add_cells(to.response_body, from.response_body);
}

}  // namespace

void fold(Region& region, std::size_t slot) {
  if (slot >= kMaxWorkerTables) return;
  WorkerTables& w = region.workers[slot];
  fold_server(region.retired.server, w.server);
  fold_django(region.retired.django, w.django);
  for (Series& s : w.series.slots) {
    if (std::atomic_ref<std::uint32_t>(s.state).load(std::memory_order_acquire) == 0) continue;
    // The next worker in this slot must not inherit this series' exemplars
    // (only rows of claimed series: the others' pages were never touched).
    auto& exemplars = w.request_exemplars[static_cast<std::size_t>(&s - w.series.slots)];
    std::memset(static_cast<void*>(exemplars), 0, sizeof exemplars);
    if (std::atomic_ref<std::uint32_t>(s.state).load(std::memory_order_acquire) != 2) continue;
    // An app's gauge describes a live process: it ends with its worker.
    if (s.kind == static_cast<std::uint32_t>(Kind::AppGauge)) continue;
    LabelKey key(static_cast<Kind>(s.kind), {});
    std::memcpy(key.bytes, s.labels, s.labels_len);
    key.len = s.labels_len;
    key.hash = s.hash;
    Series* to = series(region.retired_series, static_cast<Kind>(s.kind), key);
    if (!to) {
      add(region.retired.django.series_dropped);
      continue;
    }
    if (s.kind == static_cast<std::uint32_t>(Kind::AppCounter)) {
      // A double, not an integer; the master is the retired tables' only writer.
      set(to->cells[0], std::bit_cast<std::uint64_t>(std::bit_cast<double>(load(to->cells[0])) +
                                                     std::bit_cast<double>(load(s.cells[0]))));
      continue;
    }
    add_cells(to->cells, s.cells);
  }
  std::memset(static_cast<void*>(&w), 0, offsetof(WorkerTables, request_exemplars));
}

// ---- writers -------------------------------------------------------------------------

namespace {
void observe(std::uint64_t* cells, const double* bounds, std::size_t n, std::uint64_t& sum_ns, double seconds) {
  add(cells[bucket_index(bounds, n, seconds)]);
  add(sum_ns, to_ns(seconds));
}
}  // namespace

void set_latency_buckets(Region& region, const double* bounds, std::size_t n) {
  n = std::min(n, kMaxLatencyBuckets);
  std::memcpy(region.latency.bounds, bounds, n * sizeof(double));
  region.latency.n = n;
}

BucketsView latency_buckets(const Region* region) {
  if (region && region->latency.n) return {region->latency.bounds, region->latency.n};
  return {kLatencyBuckets, std::size(kLatencyBuckets)};
}

namespace {
void count(WorkerTables& t, Kind kind, std::string_view label, std::size_t cell, std::uint64_t n = 1) {
  LabelKey key(kind, {label});
  if (Series* s = series(t.series, kind, key))
    add(s->cells[cell], n);
  else
    add(t.django.series_dropped);
}
}  // namespace

void record_request(WorkerTables& t, const RequestRecord& r, BucketsView b, std::string_view trace_id) {
  LabelKey key(Kind::Request, {r.view, r.method, r.transport, r.status});
  if (Series* s = series(t.series, Kind::Request, key)) {
    add(s->cells[kReqCount]);
    if (r.viewed) add(s->cells[kReqViewed]);
    if (r.latency >= 0) {
      observe(s->cells + kReqLatency, b.bounds, b.n, s->cells[kReqLatencySum], r.latency);
      if (!trace_id.empty())
        write_exemplar(
            t.request_exemplars[static_cast<std::size_t>(s - t.series.slots)][bucket_index(b.bounds, b.n, r.latency)],
            trace_id, r.latency);
    }
  } else {
    add(t.django.series_dropped);
  }
  if (!r.charset.empty()) count(t, Kind::Charset, r.charset, 0);
  if (!r.templatename.empty()) count(t, Kind::Template, r.templatename, 0);
  if (r.ajax) add(t.django.ajax);
  if (r.latency < 0) add(t.django.unknown_latency);
  add(t.django.request_body[body_bucket_index(r.request_bytes)]);
  add(t.django.request_body_sum, r.request_bytes);
  if (r.streaming) {
    add(t.django.streaming);
  } else {
    add(t.django.response_body[body_bucket_index(r.response_bytes)]);
    add(t.django.response_body_sum, r.response_bytes);
  }
}

void record_before(WorkerTables& t) { add(t.django.requests_before); }

void record_before_response(WorkerTables& t, double latency, BucketsView b) {
  add(t.django.responses_before);
  if (latency < 0)
    add(t.django.unknown_latency_before);
  else
    observe(t.django.latency_before, b.bounds, b.n, t.django.latency_before_sum_ns, latency);
}

void record_exception(WorkerTables& t, std::string_view type, std::string_view view) {
  LabelKey key(Kind::Exception, {type, view});
  if (Series* s = series(t.series, Kind::Exception, key))
    add(s->cells[0]);
  else
    add(t.django.series_dropped);
}

void record_db_connection(WorkerTables& t, std::string_view alias, std::string_view vendor, bool ok) {
  LabelKey key(Kind::Db, {alias, vendor});
  if (Series* s = series(t.series, Kind::Db, key))
    add(s->cells[ok ? kDbConnections : kDbConnectionErrors]);
  else
    add(t.django.series_dropped);
}

void record_db_execute(WorkerTables& t, std::string_view alias, std::string_view vendor, bool many, double seconds,
                       std::string_view error_type, std::uint64_t rows, BucketsView b) {
  LabelKey key(Kind::Db, {alias, vendor});
  if (Series* s = series(t.series, Kind::Db, key)) {
    add(s->cells[kDbExecute], many ? rows : 1);
    if (many) add(s->cells[kDbExecuteMany], rows);
    observe(s->cells + kDbDuration, b.bounds, b.n, s->cells[kDbDurationSum], seconds);
  } else {
    add(t.django.series_dropped);
  }
  if (error_type.empty()) return;
  LabelKey ekey(Kind::DbError, {alias, vendor, error_type});
  if (Series* s = series(t.series, Kind::DbError, ekey))
    add(s->cells[0]);
  else
    add(t.django.series_dropped);
}

void set_migrations(Region& region, std::string_view connection, std::uint64_t applied, std::uint64_t unapplied) {
  LabelKey key(Kind::Migrations, {connection});
  if (Series* s = series(region.pod, Kind::Migrations, key)) {
    set(s->cells[0], applied);
    set(s->cells[1], unapplied);
  }
}

void record_cache(WorkerTables& t, std::string_view backend, std::size_t cell) { count(t, Kind::Cache, backend, cell); }

void record_model(WorkerTables& t, std::string_view model, std::size_t cell, std::uint64_t n) {
  count(t, Kind::Model, model, cell, n);
}

bool set_app_sample(WorkerTables& t, bool counter, const LabelKey& key, double value) {
  Kind kind = counter ? Kind::AppCounter : Kind::AppGauge;
  Series* s = key.truncated ? nullptr : series(t.series, kind, key);
  if (!s) {
    add(t.django.series_dropped);
    return false;
  }
  set(s->cells[0], std::bit_cast<std::uint64_t>(value));
  return true;
}

void observe_server_duration(ServerTable& t, double seconds, std::string_view trace_id) {
  const std::size_t i = bucket_index(kServerBuckets, std::size(kServerBuckets), seconds);
  bump(t.duration[i]);
  bump(t.duration_sum_ns, to_ns(seconds));
  if (!trace_id.empty()) write_exemplar(t.duration_exemplars[i], trace_id, seconds);
}

// ---- exemplars -------------------------------------------------------------------------

namespace {
std::uint64_t hex64(std::string_view s) {
  std::uint64_t v = 0;
  for (char c : s) v = v << 4 | static_cast<std::uint64_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  return v;
}
}  // namespace

void write_exemplar(Exemplar& e, std::string_view trace_hex, double seconds) {
  if (trace_hex.size() != 32) return;
  std::atomic_ref<std::uint64_t> seq(e.seq);
  std::uint64_t s = seq.load(std::memory_order_relaxed);
  // Odd: another thread is writing it; leave it the latest.
  if (s % 2 || !seq.compare_exchange_strong(s, s + 1, std::memory_order_acquire)) return;
  timespec now{};
  clock_gettime(CLOCK_REALTIME_COARSE, &now);
  set(e.trace[0], hex64(trace_hex.substr(0, 16)));
  set(e.trace[1], hex64(trace_hex.substr(16, 16)));
  set(e.value_ns, to_ns(seconds));
  set(e.time_ms, static_cast<std::uint64_t>(now.tv_sec) * 1000 + static_cast<std::uint64_t>(now.tv_nsec) / 1000000);
  seq.store(s + 2, std::memory_order_release);
}

Exemplar read_exemplar(const Exemplar& e) {
  std::atomic_ref<std::uint64_t> seq(const_cast<std::uint64_t&>(e.seq));
  for (int attempt = 0; attempt < 100; ++attempt) {
    Exemplar copy{};
    copy.seq = seq.load(std::memory_order_acquire);
    if (copy.seq == 0) return copy;
    if (copy.seq % 2) continue;
    copy.trace[0] = load(e.trace[0]);
    copy.trace[1] = load(e.trace[1]);
    copy.value_ns = load(e.value_ns);
    copy.time_ms = load(e.time_ms);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (seq.load(std::memory_order_relaxed) == copy.seq) return copy;
  }
  return Exemplar{};  // a writer died mid-write, or keeps writing: none this time
}

std::string exemplar_trace_hex(const Exemplar& e) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int half = 0; half < 2; ++half)
    for (int i = 0; i < 16; ++i) out[half * 16 + i] = kHex[(e.trace[half] >> (60 - 4 * i)) & 0xF];
  return out;
}

namespace {
Series* amqp_series(WorkerTables& t, std::string_view routing_key) {
  LabelKey key(Kind::Amqp, {routing_key});
  Series* s = series(t.series, Kind::Amqp, key);
  if (!s) add(t.django.series_dropped);
  return s;
}
}  // namespace

void record_amqp(WorkerTables& t, std::string_view routing_key, std::size_t cell) {
  if (Series* s = amqp_series(t, routing_key)) add(s->cells[cell]);
}

void observe_amqp_handler(WorkerTables& t, std::string_view routing_key, double seconds, bool failed) {
  Series* s = amqp_series(t, routing_key);
  if (!s) return;
  if (failed) add(s->cells[kAmqpFailed]);
  observe(s->cells + kAmqpDuration, kAmqpBuckets, std::size(kAmqpBuckets), s->cells[kAmqpDurationSum], seconds);
}

void record_amqp_connection(WorkerTables& t, std::size_t cell) {
  LabelKey key(Kind::AmqpConnection, {});
  if (Series* s = series(t.series, Kind::AmqpConnection, key)) add(s->cells[cell]);
}

}  // namespace squall::metrics
