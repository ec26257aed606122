// OpenMetrics exemplars on the request-latency histograms: written per bucket
// by the workers into shared memory, the latest across workers rendered by
// the master, in OpenMetrics only.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "metrics/exposition.h"
#include "state/metrics_tables.h"
#include "state/shared_state.h"

using namespace squall;
using namespace squall::metrics;

namespace {

constexpr const char* kTraceA = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr const char* kTraceB = "0af7651916cd43dd8448eb211c80319c";

std::string render_as(state::SharedState& state, Format format) {
  MetricsConfig config;
  ProbeSuccess probes;
  return render(config, {state, probes, -1}, format);
}

// The line of the sample that starts with `prefix`, "" when none.
std::string line_of(const std::string& text, const std::string& prefix) {
  auto at = text.find("\n" + prefix + " ");
  if (at == std::string::npos) return "";
  return text.substr(at + 1, text.find('\n', at + 1) - at - 1);
}

RequestRecord hello(double latency) { return {"hello", "GET", "http", "200", latency, 0, 13, false}; }

}  // namespace

TEST(Exemplars, EachBucketCarriesTheTraceOfItsLatestObservation) {
  state::SharedState* state = state::SharedState::create();
  state->workers[0].pid.store(100);
  WorkerTables& t = state->metrics->workers[0];
  observe_server_duration(t.server, 0.0003, kTraceA);                // le 0.0005 (written 5e-04)
  observe_server_duration(t.server, 0.2, kTraceA);                   // le 0.25
  observe_server_duration(t.server, 0.2, kTraceB);                   // the latest in le 0.25
  observe_server_duration(t.server, 0.004);                          // no trace: no exemplar
  record_request(t, hello(0.3), latency_buckets(nullptr), kTraceB);  // le 0.5

  std::string om = render_as(*state, Format::OpenMetrics);
  std::string line = line_of(om, R"(squall_http_request_duration_seconds_bucket{le="5e-04"})");
  ASSERT_TRUE(
      line.starts_with(std::string(R"(squall_http_request_duration_seconds_bucket{le="5e-04"} 1 # {trace_id=")") +
                       kTraceA + "\"} 3e-04 "))
      << om;
  // The timestamp: seconds since the epoch, with milliseconds, close to now.
  double stamp = std::stod(line.substr(line.rfind(' ') + 1));
  EXPECT_NEAR(stamp, static_cast<double>(time(nullptr)), 5.0);
  EXPECT_NE(line_of(om, R"(squall_http_request_duration_seconds_bucket{le="0.25"})")
                .find(std::string("# {trace_id=\"") + kTraceB + "\"} 0.2 "),
            std::string::npos);
  EXPECT_EQ(line_of(om, R"(squall_http_request_duration_seconds_bucket{le="0.005"})"),
            R"(squall_http_request_duration_seconds_bucket{le="0.005"} 2)");  // 0.004 came without a trace
  EXPECT_NE(
      line_of(om, R"(django_http_requests_latency_seconds_by_view_method_bucket{view="hello",method="GET",le="0.5"})")
          .find(std::string("# {trace_id=\"") + kTraceB + "\"} 0.3 "),
      std::string::npos);
  // The text format 0.0.4 has no exemplars.
  EXPECT_EQ(render_as(*state, Format::Text).find("trace_id"), std::string::npos);
}

TEST(Exemplars, TheLatestAcrossWorkersWinsAndARetiredWorkersGoAway) {
  state::SharedState* state = state::SharedState::create();
  for (int slot : {0, 1}) {
    pid_t child = fork();
    if (child == 0) {
      if (slot == 1) usleep(20000);  // later (CLOCK_REALTIME_COARSE ticks every few ms)
      record_request(state->metrics->workers[slot], hello(0.02), latency_buckets(nullptr),
                     slot == 0 ? kTraceA : kTraceB);
      state->workers[slot].pid.store(getpid());
      pause();
      _exit(0);
    }
    while (state->workers[slot].pid.load() == 0) usleep(1000);
  }
  const std::string bucket =
      R"(django_http_requests_latency_seconds_by_view_method_bucket{view="hello",method="GET",le="0.025"})";
  std::string line = line_of(render_as(*state, Format::OpenMetrics), bucket);
  EXPECT_NE(line.find(std::string("} 2 # {trace_id=\"") + kTraceB + "\"}"), std::string::npos) << line;
  int worker1 = state->workers[1].pid.load();
  kill(worker1, SIGKILL);
  waitpid(worker1, nullptr, 0);
  state->retire(state->workers[1]);
  line = line_of(render_as(*state, Format::OpenMetrics), bucket);
  EXPECT_NE(line.find(std::string("} 2 # {trace_id=\"") + kTraceA + "\"}"), std::string::npos) << line;
  int worker0 = state->workers[0].pid.load();
  kill(worker0, SIGKILL);
  waitpid(worker0, nullptr, 0);
}

TEST(Exemplars, ConcurrentWritersNeverTearAnExemplar) {
  Exemplar e{};
  std::vector<std::thread> writers;
  for (const char* trace : {kTraceA, kTraceB})
    writers.emplace_back([&e, trace] {
      for (int i = 0; i < 200000; ++i) write_exemplar(e, trace, trace == kTraceA ? 0.1 : 0.2);
    });
  for (int i = 0; i < 200000; ++i) {
    Exemplar copy = read_exemplar(e);
    if (copy.seq == 0) continue;
    std::string trace = exemplar_trace_hex(copy);
    ASSERT_TRUE((trace == kTraceA && copy.value_ns == 100000000) || (trace == kTraceB && copy.value_ns == 200000000))
        << trace << " " << copy.value_ns;
  }
  for (auto& w : writers) w.join();
}
