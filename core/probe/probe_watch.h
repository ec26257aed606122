#pragma once
// What the webhooks report (Hurricane's events, without its defects): startup
// once when the startup probe first passes, then every change of readiness and
// liveness. A new state counts only after it held for `settle` (the request
// queue check flaps under load; a webhook per flap would be noise), except
// readiness failing for shutdown: reported at once, the pod may exit soon.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "probe/probe_server.h"

namespace squall::probe {

struct ProbeChange {
  Probe probe;
  bool ok;
  std::string failed;  // "name: reason" per failing check, one per line
};

class ProbeWatch {
 public:
  explicit ProbeWatch(std::int64_t settle_ns = 1'000'000'000) : settle_ns_(settle_ns) {}
  std::vector<ProbeChange> update(const state::Snapshot& snap, const ProbeConfig& config, std::int64_t now_ns);

 private:
  struct Track {
    std::optional<bool> reported;  // the baseline is set at startup, without an event
    bool candidate = false;
    std::int64_t candidate_since = 0;
  };
  void step(Track& t, Probe probe, const std::vector<Check>& checks, std::int64_t now, std::int64_t settle,
            std::vector<ProbeChange>& out);

  std::int64_t settle_ns_;
  bool started_ = false;
  Track readiness_, liveness_;
};

}  // namespace squall::probe
