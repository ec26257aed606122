#include "state/shared_state.h"

#include "state/metrics_tables.h"

#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

namespace squall::state {

Snapshot detail_snapshot(const SharedState& state);

std::int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void ThreadSlot::begin(std::string_view m, std::string_view p, std::int64_t now_ns) {
  seq.fetch_add(1, std::memory_order_acq_rel);  // odd: being written
  std::size_t nm = std::min(m.size(), sizeof method - 1), np = std::min(p.size(), sizeof path - 1);
  std::memcpy(method, m.data(), nm);
  method[nm] = '\0';
  std::memcpy(path, p.data(), np);
  path[np] = '\0';
  seq.fetch_add(1, std::memory_order_acq_rel);
  request_started_ns.store(now_ns, std::memory_order_release);
}

void ThreadSlot::end() { request_started_ns.store(0, std::memory_order_release); }

void WorkerSlot::reset() {
  pid.store(0);
  started_ns.store(0);
  heartbeat_ns.store(0);
  ready.store(0);
  amqp_state.store(0);
  app_startup_failed.store(0);
  requests.store(0);
  in_flight.store(0);
  queued.store(0);
  busy_threads.store(0);
  threads.store(0);
  for (auto& t : thread_slots) t.request_started_ns.store(0);
}

static_assert(metrics::kMaxWorkerTables == kMaxWorkers);

SharedState* SharedState::create(bool with_metrics) {
  void* p = mmap(nullptr, sizeof(SharedState), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) std::abort();  // no shared memory: nothing sensible to run
  auto* state = new (p) SharedState();
  if (with_metrics) state->metrics = metrics::create_region();
  return state;
}

void SharedState::retire(WorkerSlot& slot) {
  fold_seq.fetch_add(1, std::memory_order_acq_rel);
  retired_requests.fetch_add(slot.requests.load());
  if (metrics) metrics::fold(*metrics, static_cast<std::size_t>(&slot - workers));
  slot.reset();
  fold_seq.fetch_add(1, std::memory_order_acq_rel);
}

namespace {
void copy_string(char* to, std::size_t size, std::string_view from) {
  std::size_t n = std::min(from.size(), size - 1);
  std::memcpy(to, from.data(), n);
  to[n] = '\0';
}
}  // namespace

void CheckTable::publish(const std::vector<CheckResult>& results) {
  seq.fetch_add(1, std::memory_order_acq_rel);  // odd: writing
  std::atomic_thread_fence(std::memory_order_release);
  count = static_cast<std::uint32_t>(std::min(results.size(), kMaxChecks));
  for (std::uint32_t i = 0; i < count; ++i) {
    Slot& s = slots[i];
    s.probes = results[i].probes;
    s.ok = results[i].ok;
    copy_string(s.name, sizeof s.name, results[i].name);
    copy_string(s.reason, sizeof s.reason, results[i].reason);
    s.duration_us = static_cast<std::int64_t>(results[i].duration * 1e6);
  }
  finished_ns.store(monotonic_ns(), std::memory_order_relaxed);
  seq.fetch_add(1, std::memory_order_release);  // even: done
}

bool CheckTable::read(std::vector<CheckResult>& out, std::int64_t& finished) const {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    std::uint32_t before = seq.load(std::memory_order_acquire);
    if (before % 2) continue;
    std::uint32_t n = std::min<std::uint32_t>(count, kMaxChecks);
    Slot copy[kMaxChecks];
    std::memcpy(copy, slots, n * sizeof(Slot));
    finished = finished_ns.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (seq.load(std::memory_order_relaxed) != before) continue;
    out.clear();
    for (std::uint32_t i = 0; i < n; ++i) {
      copy[i].name[sizeof copy[i].name - 1] = copy[i].reason[sizeof copy[i].reason - 1] = '\0';
      out.push_back({copy[i].probes, copy[i].ok != 0, copy[i].name, copy[i].reason,
                     static_cast<double>(copy[i].duration_us) / 1e6});
    }
    return true;
  }
  return false;
}

void CheckTable::repair() {
  if (seq.load() % 2) seq.fetch_add(1);
}

void SharedState::set_startup_error(std::string_view text) {
  // Keep the end: the last lines of a traceback say what failed.
  if (text.size() >= sizeof startup_error) text = text.substr(text.size() - (sizeof startup_error - 1));
  copy_string(startup_error, sizeof startup_error, text);
  startup_error_len.store(static_cast<std::uint32_t>(text.size()), std::memory_order_release);
}

std::string SharedState::startup_error_text() const {
  std::uint32_t n =
      std::min<std::uint32_t>(startup_error_len.load(std::memory_order_acquire), sizeof startup_error - 1);
  return std::string(startup_error, n);
}

Snapshot snapshot(const SharedState& state) {
  // Retry while the master folds a dead worker in, so a reader never sees its
  // requests twice or not at all.
  for (;;) {
    std::uint32_t before = state.fold_seq.load(std::memory_order_acquire);
    if (before % 2 == 0) {
      Snapshot snap = detail_snapshot(state);
      if (state.fold_seq.load(std::memory_order_acquire) == before) return snap;
    }
  }
}

Snapshot detail_snapshot(const SharedState& state) {
  Snapshot snap;
  snap.draining = state.draining.load() != 0;
  snap.started = state.started.load() != 0;
  snap.started_after = static_cast<double>(state.started_after_us.load()) / 1e6;
  snap.requests_total = state.retired_requests.load();
  std::int64_t now = monotonic_ns();
  std::int64_t finished = 0;
  snap.checks_readable = state.checks.read(snap.checks, finished);
  if (finished) snap.checks_age = static_cast<double>(now - finished) / 1e9;
  for (std::size_t i = 0; i < kMaxWorkers; ++i) {
    const WorkerSlot& w = state.workers[i];
    int pid = w.pid.load();
    if (pid == 0) continue;
    WorkerSnapshot ws;
    ws.slot = static_cast<int>(i);
    ws.pid = pid;
    ws.ready = w.ready.load() != 0;
    ws.requests = w.requests.load();
    ws.in_flight = w.in_flight.load();
    ws.queued = w.queued.load();
    ws.busy_threads = w.busy_threads.load();
    ws.threads = w.threads.load();
    std::int64_t hb = w.heartbeat_ns.load();
    ws.heartbeat_age = hb ? static_cast<double>(now - hb) / 1e9 : 0;
    for (std::uint32_t t = 0; t < std::min<std::uint32_t>(ws.threads, kMaxThreads); ++t) {
      std::int64_t started = w.thread_slots[t].request_started_ns.load();
      if (started) ws.oldest_request = std::max(ws.oldest_request, static_cast<double>(now - started) / 1e9);
    }
    snap.requests_total += ws.requests;
    snap.workers.push_back(ws);
  }
  return snap;
}

}  // namespace squall::state
