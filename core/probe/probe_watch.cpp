#include "probe/probe_watch.h"

#include <algorithm>

namespace squall::probe {
namespace {

bool all_ok(const std::vector<Check>& checks) {
  return std::all_of(checks.begin(), checks.end(), [](const Check& c) { return c.ok; });
}

std::string failures(const std::vector<Check>& checks) {
  std::string text;
  for (const auto& c : checks)
    if (!c.ok) text += c.name + ": " + c.reason + "\n";
  return text;
}

}  // namespace

void ProbeWatch::step(Track& t, Probe probe, const std::vector<Check>& checks, std::int64_t now, std::int64_t settle,
                      std::vector<ProbeChange>& out) {
  bool ok = all_ok(checks);
  if (!t.reported) {
    t.reported = ok;
    t.candidate = ok;
    return;
  }
  if (ok == *t.reported) {
    t.candidate = ok;
    return;
  }
  if (ok != t.candidate) {
    t.candidate = ok;
    t.candidate_since = now;
  }
  if (now - t.candidate_since < settle) return;
  t.reported = ok;
  out.push_back({probe, ok, failures(checks)});
}

std::vector<ProbeChange> ProbeWatch::update(const state::Snapshot& snap, const ProbeConfig& config,
                                            std::int64_t now_ns) {
  std::vector<ProbeChange> out;
  if (!started_) {
    auto checks = evaluate(Probe::Startup, snap, config);
    if (!all_ok(checks)) return out;
    started_ = true;
    out.push_back({Probe::Startup, true, ""});
  }
  step(readiness_, Probe::Readiness, evaluate(Probe::Readiness, snap, config), now_ns, snap.draining ? 0 : settle_ns_,
       out);
  step(liveness_, Probe::Liveness, evaluate(Probe::Liveness, snap, config), now_ns, settle_ns_, out);
  return out;
}

}  // namespace squall::probe
