// Health-check results in shared memory, the probes that read them, and the
// changes the webhooks report (core/state/shared_state.h, core/probe/).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe/probe_server.h"
#include "probe/probe_watch.h"
#include "state/shared_state.h"

namespace squall {
namespace {

using probe::Probe;
using state::CheckResult;

constexpr std::int64_t kMs = 1'000'000;

state::Snapshot started_pod() {
  state::Snapshot snap;
  snap.started = true;
  state::WorkerSnapshot w;
  w.ready = true;
  snap.workers.push_back(w);
  return snap;
}

probe::ProbeConfig with_checker() {
  probe::ProbeConfig config;
  config.check_interval = 1.0;
  return config;
}

bool passes(Probe p, const state::Snapshot& snap, const probe::ProbeConfig& config) {
  auto checks = probe::evaluate(p, snap, config);
  return std::all_of(checks.begin(), checks.end(), [](const probe::Check& c) { return c.ok; });
}

TEST(CheckTable, TheCheckerWritesTheMasterReadsAcrossFork) {
  auto* state = state::SharedState::create();
  pid_t pid = fork();
  if (pid == 0) {
    state->checks.publish({{state::kReadinessBit, false, "DatabaseBackend[default]", "connection refused", 0.25},
                           {state::kLivenessBit, true, "memory", "", 0.001}});
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  auto snap = state::snapshot(*state);
  ASSERT_EQ(snap.checks.size(), 2u);
  EXPECT_EQ(snap.checks[0].name, "DatabaseBackend[default]");
  EXPECT_FALSE(snap.checks[0].ok);
  EXPECT_EQ(snap.checks[0].reason, "connection refused");
  EXPECT_DOUBLE_EQ(snap.checks[0].duration, 0.25);
  EXPECT_TRUE(snap.checks[1].ok);
  EXPECT_GE(snap.checks_age, 0);
  EXPECT_LT(snap.checks_age, 5);
}

TEST(CheckTable, AWriterThatDiedMidWriteIsRepairedByTheMaster) {
  auto* state = state::SharedState::create();
  state->checks.publish({{state::kReadinessBit, true, "a", "", 0}});
  state->checks.seq.fetch_add(1);  // as if the checker died while writing
  std::vector<CheckResult> out;
  std::int64_t finished = 0;
  EXPECT_FALSE(state->checks.read(out, finished));  // bounded: never spins forever
  state->checks.repair();
  EXPECT_TRUE(state->checks.read(out, finished));
  EXPECT_EQ(out.size(), 1u);
}

TEST(CheckTable, LongNamesAndReasonsAreCut) {
  auto* state = state::SharedState::create();
  state->checks.publish({{state::kReadinessBit, false, std::string(500, 'n'), std::string(5000, 'r'), 0}});
  auto snap = state::snapshot(*state);
  ASSERT_EQ(snap.checks.size(), 1u);
  EXPECT_EQ(snap.checks[0].name.size(), 61u);
  EXPECT_EQ(snap.checks[0].reason.size(), 191u);
}

TEST(ProbeChecks, EachResultFeedsOnlyItsProbes) {
  auto snap = started_pod();
  snap.checks_age = 0.5;
  snap.checks = {{state::kReadinessBit, false, "db", "connection refused", 0},
                 {state::kLivenessBit, true, "memory", "", 0}};
  auto config = with_checker();
  EXPECT_TRUE(passes(Probe::Startup, snap, config));
  EXPECT_FALSE(passes(Probe::Readiness, snap, config));
  EXPECT_TRUE(passes(Probe::Liveness, snap, config));
  auto answer = probe::answer("/readyz?verbose", snap, config);
  EXPECT_EQ(answer.status, 500);
  EXPECT_NE(answer.body.find("[-]db failed: reason withheld"), std::string::npos);
  EXPECT_EQ(answer.body.find("refused"), std::string::npos);  // the reason stays in the log
  EXPECT_EQ(probe::answer("/ready", snap, config).status, 500);
  EXPECT_EQ(probe::answer("/readyz?exclude=db", snap, config).status, 200);
  EXPECT_EQ(probe::answer("/livez/memory", snap, config).status, 200);
  // The age of the results is in a header of every probe answer.
  auto bytes = probe::response_bytes(probe::answer("/alive", snap, config), true);
  EXPECT_NE(bytes.find("\r\nX-Health-Checks-Age: 0.5\r\n"), std::string::npos);
  EXPECT_EQ(probe::response_bytes(probe::answer("/alive", snap, probe::ProbeConfig{}), true).find("Age"),
            std::string::npos);
}

TEST(ProbeChecks, StartupWaitsForTheFirstRunAndHurricanePathsSay400Meanwhile) {
  auto snap = started_pod();  // workers ready, no check run yet
  auto config = with_checker();
  EXPECT_FALSE(passes(Probe::Startup, snap, config));
  EXPECT_EQ(probe::answer("/startup", snap, config).status, 400);
  EXPECT_EQ(probe::answer("/alive", snap, config).status, 400);
  snap.checks_age = 0.1;
  EXPECT_EQ(probe::answer("/startup", snap, config).status, 200);
  EXPECT_EQ(probe::answer("/alive", snap, config).status, 200);
}

TEST(ProbeChecks, StaleResultsFailAsTheCheckerIsStuck) {
  auto snap = started_pod();
  snap.checks = {{state::kLivenessBit, true, "memory", "", 0}};
  auto config = with_checker();
  snap.checks_age = config.stale_after() - 1;
  EXPECT_TRUE(passes(Probe::Liveness, snap, config));
  snap.checks_age = config.stale_after() + 1;
  EXPECT_FALSE(passes(Probe::Liveness, snap, config));
}

TEST(ProbeChecks, WithoutACheckerResultsAreIgnored) {
  auto snap = started_pod();
  snap.checks = {{state::kReadinessBit, false, "db", "down", 0}};
  EXPECT_TRUE(passes(Probe::Readiness, snap, probe::ProbeConfig{}));
}

TEST(ProbeChecks, LivenessFailsForARequestOrHandlerPastTheTimeout) {
  probe::ProbeConfig config;
  config.heartbeat_timeout = 30;
  auto snap = started_pod();
  snap.workers[0].oldest_request = 29;
  EXPECT_TRUE(passes(Probe::Liveness, snap, config));
  snap.workers[0].oldest_request = 31;  // e.g. an AMQP on_message stuck: the master kills it now
  EXPECT_FALSE(passes(Probe::Liveness, snap, config));
  EXPECT_TRUE(passes(Probe::Readiness, snap, config));
}

TEST(ProbeWatch, StartupOnceThenOnlySettledChanges) {
  probe::ProbeWatch watch(100 * kMs);
  auto config = with_checker();
  auto snap = started_pod();
  EXPECT_TRUE(watch.update(snap, config, 0).empty());  // no check run yet: not started
  snap.checks_age = 0.1;
  auto changes = watch.update(snap, config, 10 * kMs);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].probe, Probe::Startup);
  EXPECT_TRUE(watch.update(snap, config, 20 * kMs).empty());  // the baseline sends nothing

  snap.checks = {{state::kReadinessBit, false, "db", "down", 0}};
  EXPECT_TRUE(watch.update(snap, config, 30 * kMs).empty());  // not settled yet
  snap.checks[0].ok = true;
  EXPECT_TRUE(watch.update(snap, config, 60 * kMs).empty());  // a flap: nothing
  snap.checks[0].ok = false;
  EXPECT_TRUE(watch.update(snap, config, 200 * kMs).empty());
  changes = watch.update(snap, config, 310 * kMs);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].probe, Probe::Readiness);
  EXPECT_FALSE(changes[0].ok);
  EXPECT_EQ(changes[0].failed, "db: down\n");
  EXPECT_TRUE(watch.update(snap, config, 500 * kMs).empty());  // reported once

  snap.checks[0].ok = true;
  EXPECT_TRUE(watch.update(snap, config, 600 * kMs).empty());
  changes = watch.update(snap, config, 710 * kMs);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_TRUE(changes[0].ok);

  snap.draining = true;  // SIGTERM: reported without waiting to settle
  changes = watch.update(snap, config, 720 * kMs);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].probe, Probe::Readiness);
  EXPECT_FALSE(changes[0].ok);
}

}  // namespace
}  // namespace squall
