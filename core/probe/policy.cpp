#include "probe/policy.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "log/log.h"

namespace squall::probe {
namespace {

std::string_view strip_slash(std::string_view path) {
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return path;
}

std::vector<std::string> query_values(std::string_view query, std::string_view key) {
  std::vector<std::string> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == key) out.emplace_back(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
  }
  return out;
}

bool has_key(std::string_view query, std::string_view key) { return !query_values(query, key).empty(); }

// kube-apiserver semantics: "ok", or with ?verbose one "[+]name ok" line per
// check; any failure: 500 and "[-]name failed: reason withheld" (the reason
// goes to the log, never to the caller).
Answer kube_answer(std::string_view kind, std::vector<Check> checks, std::string_view query) {
  for (const auto& excluded : query_values(query, "exclude"))
    checks.erase(std::remove_if(checks.begin(), checks.end(), [&](const Check& c) { return c.name == excluded; }),
                 checks.end());
  bool ok = std::all_of(checks.begin(), checks.end(), [](const Check& c) { return c.ok; });
  Answer a;
  a.status = ok ? 200 : 500;
  if (ok && !has_key(query, "verbose")) {
    a.body = "ok";
    return a;
  }
  for (const auto& c : checks) {
    a.body += c.ok ? "[+]" + c.name + " ok\n" : "[-]" + c.name + " failed: reason withheld\n";
    if (!c.ok)
      log::log_event("warning", "squall.probe", std::string(kind) + " check " + c.name + " failed: " + c.reason);
  }
  a.body += std::string(kind) + (ok ? " check passed\n" : " check failed\n");
  return a;
}

// The checker process's latest results for this probe (HEALTH_CHECK subsets
// and Django system checks), each by its own name.
void add_health_checks(std::vector<Check>& checks, Probe probe, const state::Snapshot& snap,
                       const ProbeConfig& config) {
  if (config.check_interval <= 0 || snap.checks_age < 0) return;
  std::uint8_t bit = probe == Probe::Startup     ? state::kStartupBit
                     : probe == Probe::Readiness ? state::kReadinessBit
                                                 : state::kLivenessBit;
  bool stale = snap.checks_age > config.stale_after() || !snap.checks_readable;
  char age[96];
  std::snprintf(age, sizeof age, "no health-check result for %.0f s (the checker process is stuck)", snap.checks_age);
  for (const auto& r : snap.checks) {
    if (!(r.probes & bit)) continue;
    if (stale)
      checks.push_back({r.name, false, age});
    else
      checks.push_back({r.name, r.ok, r.reason});
  }
}

}  // namespace

std::vector<Check> evaluate(Probe probe, const state::Snapshot& snap, const ProbeConfig& config) {
  std::vector<Check> checks;
  std::size_t ready = 0, stale = 0;
  std::uint32_t queued = 0;
  for (const auto& w : snap.workers) {
    ready += w.ready;
    queued += w.queued;
    // A loop that stopped heartbeating, or a request (an AMQP handler) past
    // --timeout and --timeout-grace: the master is about to kill the worker.
    if (w.heartbeat_age > config.heartbeat_timeout ||
        w.oldest_request > config.heartbeat_timeout + config.timeout_grace)
      ++stale;
  }
  switch (probe) {
    case Probe::Startup:
      checks.push_back({"workers", snap.started, "not every worker has started yet"});
      // With a checker, startup also waits for its first complete run, so
      // readiness and liveness never answer from "no result yet".
      if (config.check_interval > 0)
        checks.push_back({"health-checks", snap.checks_age >= 0, "the first health-check run has not finished"});
      break;
    case Probe::Readiness:
      checks.push_back(
          {"workers", snap.started && ready > 0, snap.started ? "no worker accepts connections" : "starting"});
      checks.push_back({"shutdown", !snap.draining, "the pod is shutting down (SIGTERM)"});
      checks.push_back({"queue", queued < config.req_queue_len,
                        std::to_string(queued) + " requests wait for a Python thread (--req-queue-len " +
                            std::to_string(config.req_queue_len) + ")"});
      break;
    case Probe::Liveness:
      // The master's loop answers this very request: it is alive. Workers:
      // a stuck one is killed and replaced by the master, so only report one
      // that is stale beyond the timeout (supervision itself is broken then).
      checks.push_back({"master", true, ""});
      checks.push_back({"workers", stale == 0,
                        std::to_string(stale) + " worker(s) stopped heartbeating or run a request past --timeout"});
      break;
  }
  add_health_checks(checks, probe, snap, config);
  return checks;
}

namespace {

std::pair<std::string_view, std::string_view> split_target(std::string_view target) {
  std::string_view path = target, query;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  return {strip_slash(path), query};
}

}  // namespace

bool is_probe_target(std::string_view target, const ProbeConfig& config) {
  auto [path, query] = split_target(target);
  for (std::string_view kube : {"/startupz", "/readyz", "/livez"})
    if (path == kube || (path.starts_with(kube) && path.size() > kube.size() && path[kube.size()] == '/')) return true;
  return path == strip_slash(config.startup_path) || path == strip_slash(config.readiness_path) ||
         path == strip_slash(config.liveness_path);
}

namespace {
Answer answer_without_age(std::string_view target, const state::Snapshot& snap, const ProbeConfig& config);
}  // namespace

Answer answer(std::string_view target, const state::Snapshot& snap, const ProbeConfig& config) {
  Answer a = answer_without_age(target, snap, config);
  if (config.check_interval > 0 && a.status != 404) a.checks_age = snap.checks_age;
  return a;
}

namespace {
Answer answer_without_age(std::string_view target, const state::Snapshot& snap, const ProbeConfig& config) {
  auto [path, query] = split_target(target);
  // kube-apiserver style.
  for (auto [name, probe] : {std::pair{std::string_view("/startupz"), Probe::Startup},
                             std::pair{std::string_view("/readyz"), Probe::Readiness},
                             std::pair{std::string_view("/livez"), Probe::Liveness}}) {
    if (path == name) return kube_answer(name.substr(1), evaluate(probe, snap, config), query);
    if (path.starts_with(name) && path.size() > name.size() && path[name.size()] == '/') {
      std::string_view one = path.substr(name.size() + 1);
      auto checks = evaluate(probe, snap, config);
      auto it = std::find_if(checks.begin(), checks.end(), [&](const Check& c) { return c.name == one; });
      if (it == checks.end()) return {404, "no such check\n"};
      return kube_answer(name.substr(1), {*it}, query);
    }
  }
  // Hurricane's paths and status codes: 400 before startup and while the
  // queue is full, 500 when a check fails, 200 otherwise.
  Probe probe;
  if (path == strip_slash(config.startup_path))
    probe = Probe::Startup;
  else if (path == strip_slash(config.readiness_path))
    probe = Probe::Readiness;
  else if (path == strip_slash(config.liveness_path))
    probe = Probe::Liveness;
  else
    return {404, "not a probe path\n"};
  // "Started" is the whole startup probe: workers and the startup checks.
  auto startup = evaluate(Probe::Startup, snap, config);
  if (!std::all_of(startup.begin(), startup.end(), [](const Check& c) { return c.ok; })) return {400, ""};
  auto checks = evaluate(probe, snap, config);
  for (const auto& c : checks) {
    if (c.ok) continue;
    if (c.name == "queue") return {400, "request queue is full\n"};
    log::log_event("warning", "squall.probe", "check " + c.name + " failed: " + c.reason);
    return {500, "check failed: " + c.name + "\n"};
  }
  if (probe == Probe::Startup) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "Startup was finished after %.2f s\n", snap.started_after);
    return {200, buf};
  }
  return {200, probe == Probe::Readiness ? "ready\n" : "alive\n"};
}
}  // namespace

metrics::ProbeSuccess probe_success(const state::Snapshot& snap, const ProbeConfig& config) {
  auto passes = [&](Probe p) {
    auto checks = evaluate(p, snap, config);
    return std::all_of(checks.begin(), checks.end(), [](const Check& c) { return c.ok; });
  };
  return {passes(Probe::Startup), passes(Probe::Readiness), passes(Probe::Liveness)};
}

}  // namespace squall::probe
