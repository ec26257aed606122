#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "metrics/exposition.h"
#include "metrics/families.h"
#include "state/metrics_tables.h"
#include "state/shared_state.h"

using namespace squall;
using namespace squall::metrics;

namespace {

std::string render_text(state::SharedState& state, Format format = Format::Text) {
  MetricsConfig config;
  config.info = {{"version", "1.2.3"}};
  ProbeSuccess probes;
  return render(config, {state, probes, -1}, format);
}

// The value of the first sample line starting with `prefix` (name{labels}).
std::string value_of(const std::string& text, const std::string& prefix) {
  auto at = text.find("\n" + prefix + " ");
  if (at == std::string::npos) return "<none>";
  auto start = at + prefix.size() + 2;
  return text.substr(start, text.find('\n', start) - start);
}

RequestRecord hello(double latency = 0.02) { return {"hello", "GET", "http", "200", latency, 0, 13, false}; }

}  // namespace

TEST(MetricsBuckets, MatchDjangoPrometheus) {
  EXPECT_EQ(bucket_index(kLatencyBuckets, std::size(kLatencyBuckets), 0.01), 0u);  // le is inclusive
  EXPECT_EQ(bucket_index(kLatencyBuckets, std::size(kLatencyBuckets), 0.011), 1u);
  EXPECT_EQ(bucket_index(kLatencyBuckets, std::size(kLatencyBuckets), 100), std::size(kLatencyBuckets));
  EXPECT_EQ(body_bucket_index(0), 0u);
  EXPECT_EQ(body_bucket_index(1), 1u);
  EXPECT_EQ(body_bucket_index(3), 3u);  // le 4
  EXPECT_EQ(body_bucket(3), 4.0);
  EXPECT_EQ(body_bucket_index(std::uint64_t{1} << 40), kBodyBucketCount);
}

TEST(MetricsTables, WorkersWriteTheMasterSumsAcrossFork) {
  state::SharedState* state = state::SharedState::create();
  for (int slot : {0, 1}) {
    pid_t child = fork();
    if (child == 0) {
      state->workers[slot].pid.store(getpid());
      for (int i = 0; i < 3; ++i) record_request(state->metrics->workers[slot], hello());
      record_request(state->metrics->workers[slot], {"<unnamed view>", "GET", "http", "404", 0.001, 0, 9, false});
      pause();  // alive until the parent has read
      _exit(0);
    }
    while (state->workers[slot].pid.load() == 0) usleep(1000);
  }
  // Give the children a moment to record (they record before pausing).
  for (int i = 0; i < 1000 && load(state->metrics->workers[1].series.used) < 2; ++i) usleep(1000);
  std::string text = render_text(*state);
  EXPECT_EQ(
      value_of(
          text,
          R"(django_http_requests_total_by_view_transport_method_total{view="hello",transport="http",method="GET"})"),
      "6");
  EXPECT_EQ(value_of(text, R"(django_http_responses_total_by_status_total{status="404"})"), "2");
  EXPECT_EQ(
      value_of(text,
               R"(django_http_requests_latency_seconds_by_view_method_bucket{view="hello",method="GET",le="0.025"})"),
      "6");
  EXPECT_EQ(
      value_of(text,
               R"(django_http_requests_latency_seconds_by_view_method_bucket{view="hello",method="GET",le="0.01"})"),
      "0");
  EXPECT_EQ(value_of(text, R"(squall_info{version="1.2.3"})"), "1");
  for (int slot : {0, 1}) {
    kill(state->workers[slot].pid.load(), SIGKILL);
    waitpid(state->workers[slot].pid.load(), nullptr, 0);
  }
}

TEST(MetricsTables, RetiringAWorkerKeepsEveryCounter) {
  state::SharedState* state = state::SharedState::create();
  state->workers[0].pid.store(100);
  state->workers[1].pid.store(101);
  record_request(state->metrics->workers[0], hello());
  record_request(state->metrics->workers[1], hello());
  record_db_execute(state->metrics->workers[1], "default", "sqlite", false, 0.002, "OperationalError");
  bump(state->metrics->workers[1].server.requests, 5);
  std::string before = render_text(*state);
  state->retire(state->workers[1]);
  EXPECT_EQ(load(state->metrics->workers[1].series.used), 0u);  // the slot is clean for the next worker
  std::string after = render_text(*state);
  for (const char* sample :
       {R"(django_http_requests_total_by_method_total{method="GET"})", R"(squall_http_requests_total)",
        R"(django_db_execute_total{alias="default",vendor="sqlite"})",
        R"(django_db_errors_total{alias="default",vendor="sqlite",type="OperationalError"})",
        R"(django_http_requests_latency_seconds_by_view_method_count{view="hello",method="GET"})"})
    EXPECT_EQ(value_of(after, sample), value_of(before, sample)) << sample;
  EXPECT_EQ(value_of(after, "django_http_requests_total_by_method_total{method=\"GET\"}"), "2");
  // A new worker in the slot adds to the folded totals.
  state->workers[1].pid.store(102);
  record_request(state->metrics->workers[1], hello());
  EXPECT_EQ(value_of(render_text(*state), "django_http_requests_total_by_method_total{method=\"GET\"}"), "3");
}

TEST(MetricsTables, TheCapOnLabelSetsIsCounted) {
  state::SharedState* state = state::SharedState::create();
  state->workers[0].pid.store(100);
  WorkerTables& t = state->metrics->workers[0];
  std::size_t limit = SeriesTable<kWorkerSeries>::kLimit;
  for (std::size_t i = 0; i < limit + 10; ++i) {
    std::string view = "view" + std::to_string(i);
    record_request(t, {view, "GET", "http", "200", 0.01, 0, 0, false});
  }
  EXPECT_EQ(load(t.series.used), limit);
  EXPECT_EQ(load(t.django.series_dropped), 10u);
  // Known label sets still count once the table is full.
  record_request(t, {"view0", "GET", "http", "200", 0.01, 0, 0, false});
  std::string text = render_text(*state);
  EXPECT_EQ(value_of(text, "squall_metrics_series_dropped_total"), "10");
  EXPECT_EQ(
      value_of(
          text,
          R"(django_http_requests_total_by_view_transport_method_total{view="view0",transport="http",method="GET"})"),
      "2");
}

TEST(MetricsLabels, LongAndOddValuesAreCutAndEscaped) {
  state::SharedState* state = state::SharedState::create();
  state->workers[0].pid.store(100);
  std::string long_view(500, 'v');
  record_request(state->metrics->workers[0], {long_view, "GET", "http", "200", 0.01, 0, 0, false});
  record_exception(state->metrics->workers[0], "Value\"Error\\\n", "x");
  std::string text = render_text(*state);
  EXPECT_NE(text.find(R"(django_http_exceptions_total_by_type_total{type="Value\"Error\\\n"} 1)"), std::string::npos);
  EXPECT_EQ(text.find(long_view), std::string::npos);
  EXPECT_NE(text.find(std::string(40, 'v')), std::string::npos);
  LabelKey cut(Kind::Request, {std::string(300, 'a') + "\xc3\xa9", "GET"});
  EXPECT_LE(cut.len, kLabelBytes);
}

TEST(MetricsExposition, NegotiatesOpenMetricsLikePrometheusAsks) {
  EXPECT_EQ(negotiate(""), Format::Text);
  EXPECT_EQ(negotiate("*/*"), Format::Text);
  EXPECT_EQ(negotiate("text/plain;version=0.0.4"), Format::Text);
  EXPECT_EQ(negotiate("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
                      "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
            Format::OpenMetrics);
  EXPECT_EQ(negotiate("application/openmetrics-text"), Format::OpenMetrics);
  EXPECT_EQ(negotiate("application/openmetrics-text;version=0.0.1"), Format::Text);  // only 1.0.0 is served
  EXPECT_EQ(negotiate("application/openmetrics-text;q=0.2,text/plain"), Format::Text);
}

TEST(MetricsExposition, OpenMetricsCountersAndEof) {
  state::SharedState* state = state::SharedState::create();
  state->workers[0].pid.store(100);
  record_request(state->metrics->workers[0], hello());
  std::string om = render_text(*state, Format::OpenMetrics);
  EXPECT_TRUE(om.ends_with("\n# EOF\n"));
  EXPECT_NE(om.find("# TYPE django_http_requests_total_by_method counter\n"), std::string::npos);
  EXPECT_NE(om.find("django_http_requests_total_by_method_total{method=\"GET\"} 1\n"), std::string::npos);
  std::string text = render_text(*state);
  EXPECT_NE(text.find("# TYPE django_http_requests_total_by_method_total counter\n"), std::string::npos);
  EXPECT_EQ(text.find("# EOF"), std::string::npos);
  EXPECT_NE(text.find("le=\"1.0\""), std::string::npos);  // canonical numbers
  EXPECT_NE(text.find("le=\"+Inf\""), std::string::npos);
}

TEST(MetricsExposition, OnlyTheMetricsPathAndGetOrHead) {
  MetricsConfig config;
  EXPECT_TRUE(is_metrics_target("/metrics", config));
  EXPECT_TRUE(is_metrics_target("/metrics/?x=1", config));
  EXPECT_FALSE(is_metrics_target("/metricsx", config));
  config.path = "";
  EXPECT_FALSE(is_metrics_target("/metrics", config));
  state::SharedState* state = state::SharedState::create();
  ProbeSuccess probes;
  MetricsConfig on;
  std::string r = response_bytes(on, {*state, probes, -1}, "POST", "", true);
  EXPECT_TRUE(r.starts_with("HTTP/1.1 405"));
  EXPECT_NE(r.find("Allow: GET, HEAD\r\n"), std::string::npos);
  std::string head = response_bytes(on, {*state, probes, -1}, "HEAD", "", true);
  EXPECT_NE(head.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos);
  EXPECT_TRUE(head.ends_with("\r\n\r\n"));
}

TEST(MetricsAmqp, ConsumerFamiliesOnlyForAConsumerAndKeptWhenItExits) {
  state::SharedState* state = state::SharedState::create();
  state->workers[0].pid.store(100);
  WorkerTables& t = state->metrics->workers[0];
  for (int i = 0; i < 3; ++i) record_amqp(t, "orders.created", kAmqpReceived);
  record_amqp(t, "orders.created", kAmqpAcked);
  record_amqp(t, "orders.created", kAmqpAcked);
  record_amqp(t, "orders.created", kAmqpNacked);
  observe_amqp_handler(t, "orders.created", 0.02, false);
  observe_amqp_handler(t, "orders.created", 3.0, true);
  record_amqp_connection(t, kAmqpReconnects);
  EXPECT_EQ(render_text(*state).find("squall_amqp_"), std::string::npos);  // an HTTP pod has none

  state->amqp.store(1);
  state->workers[0].amqp_state.store(2);
  std::string text = render_text(*state);
  EXPECT_EQ(value_of(text, R"(squall_amqp_messages_received_total{routing_key="orders.created"})"), "3");
  EXPECT_EQ(value_of(text, R"(squall_amqp_messages_acked_total{routing_key="orders.created"})"), "2");
  EXPECT_EQ(value_of(text, R"(squall_amqp_messages_nacked_total{routing_key="orders.created"})"), "1");
  EXPECT_EQ(value_of(text, R"(squall_amqp_messages_failed_total{routing_key="orders.created"})"), "1");
  EXPECT_EQ(value_of(text, R"(squall_amqp_handler_duration_seconds_bucket{routing_key="orders.created",le="0.025"})"),
            "1");
  EXPECT_EQ(value_of(text, R"(squall_amqp_handler_duration_seconds_count{routing_key="orders.created"})"), "2");
  EXPECT_EQ(value_of(text, "squall_amqp_reconnects_total"), "1");
  EXPECT_EQ(value_of(text, R"(squall_amqp_connection_state{state="consuming"})"), "1");
  EXPECT_EQ(value_of(text, "squall_amqp_connected"), "1");

  state->retire(state->workers[0]);  // the consumer exited: counters stay, the state goes
  text = render_text(*state);
  EXPECT_EQ(value_of(text, R"(squall_amqp_messages_acked_total{routing_key="orders.created"})"), "2");
  EXPECT_EQ(value_of(text, "squall_amqp_reconnects_total"), "1");
  EXPECT_EQ(value_of(text, "squall_amqp_connected"), "0");
}

TEST(MetricsServer, RefusedRequestsByReasonSurviveTheWorker) {
  state::SharedState* state = state::SharedState::create();
  state->workers[0].pid.store(100);
  auto missing_host = static_cast<std::size_t>(squall::http::RequestError::MissingHost);
  bump(state->metrics->workers[0].server.request_errors[missing_host], 2);
  std::string text = render_text(*state);
  EXPECT_NE(text.find("# TYPE squall_http_request_errors_total counter\n"), std::string::npos);
  EXPECT_EQ(value_of(text, R"(squall_http_request_errors_total{reason="missing_host"})"), "2");
  EXPECT_EQ(value_of(text, R"(squall_http_request_errors_total{reason="body_too_large"})"), "0");
  state->retire(state->workers[0]);
  std::string om = render_text(*state, Format::OpenMetrics);
  EXPECT_EQ(value_of(om, R"(squall_http_request_errors_total{reason="missing_host"})"), "2");
}

TEST(MetricsFamilies, DeclaredOnceAndEachRenderedFromTheTable) {
  for (std::size_t i = 0; i < kFamilyCount; ++i)
    for (std::size_t j = i + 1; j < kFamilyCount; ++j) EXPECT_NE(kFamilies[i].name, kFamilies[j].name);
  state::SharedState* state = state::SharedState::create();
  state->amqp.store(1);  // the consumer families too
  std::string text = render_text(*state);
  for (const FamilyInfo& f : kFamilies) {
    if (f.name.starts_with("squall_listen_queue")) continue;  // only with a listen socket
    std::string meta(f.name);
    if (f.type == Type::Counter) meta += "_total";
    EXPECT_NE(text.find("# HELP " + meta + " " + std::string(f.help) + "\n"), std::string::npos) << f.name;
  }
}

TEST(MetricsHealthChecks, OneSeriesPerSubsetAndCheck) {
  // The same backend in the readiness and liveness subsets: two results.
  state::SharedState* state = state::SharedState::create();
  state->checks.publish({{state::kReadinessBit, true, "db", "", 0.25},
                         {state::kLivenessBit, false, "db", "down", 0.5},
                         {state::kStartupBit, true, "migrations", "", 0.125}});
  std::string text = render_text(*state);
  EXPECT_EQ(value_of(text, R"(squall_health_check_success{subset="readiness",check="db"})"), "1");
  EXPECT_EQ(value_of(text, R"(squall_health_check_success{subset="liveness",check="db"})"), "0");
  EXPECT_EQ(value_of(text, R"(squall_health_check_success{subset="startup",check="migrations"})"), "1");
  EXPECT_EQ(value_of(text, R"(squall_health_check_duration_seconds{subset="liveness",check="db"})"), "0.5");
  EXPECT_EQ(text.find("squall_health_check_success{check="), std::string::npos);
}

TEST(MetricsDjangoPrometheus, CountingRulesOfItsMiddlewareAndCursor) {
  state::SharedState* state = state::SharedState::create();
  state->workers[0].pid.store(100);
  WorkerTables& t = state->metrics->workers[0];
  // An unknown method: <invalid method> in the counters, as sent in the latency histogram.
  RequestRecord propfind{"hello", "PROPFIND", "http", "200", 0.02, 0, 5, false, "utf-8", "", true, true};
  record_request(t, propfind);
  RequestRecord unresolved{"<unnamed view>", "GET", "http", "404", 0.01, 0, 5, false, "utf-8", "", false, false};
  record_request(t, unresolved);
  RequestRecord page{"page", "GET", "http", "200", 0.01, 0, 5, false, "utf-8", "['a.html', 'b.html']", false, true};
  record_request(t, page);
  record_db_execute(t, "default", "sqlite", true, 0.002, "", 3);  // executemany of 3 rows
  record_db_execute(t, "default", "sqlite", false, 0.002, "");
  record_cache(t, "locmem", kCacheGet);
  record_cache(t, "locmem", kCacheMisses);
  record_model(t, "item", kModelInserts);
  record_model(t, "dog", kModelDeletes, 0);  // created at 0
  std::string text = render_text(*state);
  EXPECT_EQ(value_of(text, R"(django_http_requests_total_by_method_total{method="<invalid method>"})"), "1");
  EXPECT_EQ(
      value_of(text, R"(django_http_requests_latency_seconds_by_view_method_count{view="hello",method="PROPFIND"})"),
      "1");
  // Counted in process_view only: the unresolved 404 is not there.
  EXPECT_EQ(
      value_of(
          text,
          R"(django_http_requests_total_by_view_transport_method_total{view="<unnamed view>",transport="http",method="GET"})"),
      "<none>");
  EXPECT_EQ(value_of(text, R"(django_http_responses_total_by_status_total{status="404"})"), "1");
  EXPECT_EQ(value_of(text, R"(django_http_responses_total_by_charset_total{charset="utf-8"})"), "3");
  EXPECT_EQ(value_of(text, R"(django_http_responses_total_by_templatename_total{templatename="['a.html', 'b.html']"})"),
            "1");
  EXPECT_EQ(value_of(text, "django_http_ajax_requests_total"), "1");
  EXPECT_EQ(value_of(text, R"(django_db_execute_total{alias="default",vendor="sqlite"})"), "4");
  EXPECT_EQ(value_of(text, R"(django_db_execute_many_total{alias="default",vendor="sqlite"})"), "3");
  EXPECT_EQ(value_of(text, R"(django_db_query_duration_seconds_bucket{alias="default",vendor="sqlite",le="0.01"})"),
            "2");
  EXPECT_EQ(value_of(text, R"(django_db_query_duration_seconds_bucket{alias="default",vendor="sqlite",le="75.0"})"),
            "2");
  EXPECT_EQ(value_of(text, R"(django_cache_get_total{backend="locmem"})"), "1");
  EXPECT_EQ(value_of(text, R"(django_cache_get_misses_total{backend="locmem"})"), "1");
  EXPECT_EQ(value_of(text, R"(django_cache_get_hits_total{backend="locmem"})"), "0");
  EXPECT_EQ(value_of(text, R"(django_model_inserts_total{model="item"})"), "1");
  EXPECT_EQ(value_of(text, R"(django_model_deletes_total{model="dog"})"), "0");
  // prometheus_client's spelling of large bounds (floatToGoString).
  EXPECT_EQ(value_of(text, R"(django_http_responses_body_total_bytes_bucket{le="1.048576e+06"})"), "3");
}

TEST(MetricsDjangoPrometheus, NamespaceAndLatencyBuckets) {
  state::SharedState* state = state::SharedState::create();
  state->workers[0].pid.store(100);
  const double bounds[] = {0.5, 1.0};
  set_latency_buckets(*state->metrics, bounds, 2);
  record_request(state->metrics->workers[0], hello(0.7), latency_buckets(state->metrics));
  MetricsConfig config;
  config.django_namespace = "shop";
  std::string text = render(config, {*state, ProbeSuccess{}, -1}, Format::Text);
  EXPECT_EQ(
      value_of(
          text,
          R"(shop_django_http_requests_latency_seconds_by_view_method_bucket{view="hello",method="GET",le="0.5"})"),
      "0");
  EXPECT_EQ(
      value_of(
          text,
          R"(shop_django_http_requests_latency_seconds_by_view_method_bucket{view="hello",method="GET",le="1.0"})"),
      "1");
  EXPECT_EQ(text.find("\ndjango_"), std::string::npos);
  EXPECT_NE(text.find("\nsquall_requests_total "), std::string::npos);  // Squall's own names stay
}

TEST(MetricsAppSamples, SummedAcrossWorkersCountersFoldedGaugesDie) {
  state::SharedState* state = state::SharedState::create();
  auto sample = [&](int slot, const char* family, const char* type, const char* name, bool counter, double v,
                    std::initializer_list<std::string_view> labels = {}) {
    std::vector<std::string_view> key{family, type, name};
    key.insert(key.end(), labels);
    LabelKey packed(counter ? Kind::AppCounter : Kind::AppGauge, key.data(), key.size(), true);
    return set_app_sample(state->metrics->workers[slot], counter, packed, v);
  };
  for (int slot : {0, 1}) {
    state->workers[slot].pid.store(100 + slot);
    EXPECT_TRUE(sample(slot, "jobs", "counter", "jobs_total", true, 1.5 + slot, {"kind", "a"}));
    EXPECT_TRUE(sample(slot, "busy", "gauge", "busy", false, 2));
    EXPECT_TRUE(sample(slot, "size", "histogram", "size_bucket", true, 1, {"le", "10.0"}));
    EXPECT_TRUE(sample(slot, "size", "histogram", "size_bucket", true, 3, {"le", "+Inf"}));
    EXPECT_TRUE(sample(slot, "size", "histogram", "size_bucket", true, 1, {"le", "2.0"}));
    EXPECT_TRUE(sample(slot, "size", "histogram", "size_count", true, 3));
    EXPECT_TRUE(sample(slot, "size", "histogram", "size_sum", true, 40));
  }
  std::string text = render_text(*state);
  EXPECT_EQ(value_of(text, R"(jobs_total{kind="a"})"), "4.0");
  EXPECT_EQ(value_of(text, "busy"), "4.0");
  EXPECT_NE(text.find("# TYPE jobs_total counter\n"), std::string::npos);
  // Buckets in `le` order, then _count and _sum (OpenMetrics requires it).
  auto le2 = text.find(R"(size_bucket{le="2.0"})"), le10 = text.find(R"(size_bucket{le="10.0"})"),
       inf = text.find(R"(size_bucket{le="+Inf"})"), count = text.find("size_count");
  EXPECT_TRUE(le2 < le10 && le10 < inf && inf < count) << text;
  state->retire(state->workers[1]);
  text = render_text(*state);
  EXPECT_EQ(value_of(text, R"(jobs_total{kind="a"})"), "4.0");  // folded
  EXPECT_EQ(value_of(text, "busy"), "2.0");                     // the exited worker's gauge is gone
  // Names that do not fit are refused whole, and counted.
  std::string family(300, 'x');
  EXPECT_FALSE(sample(0, family.c_str(), "gauge", family.c_str(), false, 1));
  EXPECT_EQ(value_of(render_text(*state), "squall_metrics_series_dropped_total"), "1");
}
