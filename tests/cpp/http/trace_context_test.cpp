// Tests of the request id and W3C Trace Context rules (core/http/trace_context.cpp),
// with the spec's own examples (https://www.w3.org/TR/trace-context/).
#include "http/trace_context.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>

using namespace squall;

namespace {

constexpr const char* kValid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

http::RequestHead head_with(std::vector<http::Header> headers) {
  http::RequestHead h;
  h.method = "GET";
  h.target = "/";
  h.headers = std::move(headers);
  return h;
}

bool parses(std::string_view v) {
  char trace[http::kTraceIdHex], parent[http::kSpanIdHex];
  std::uint8_t flags = 0xff;
  return http::parse_traceparent(v, trace, parent, flags);
}

bool is_hex(std::string_view s) { return s.find_first_not_of("0123456789abcdef") == std::string_view::npos; }

}  // namespace

TEST(TraceContext, ParsesTheSpecExample) {
  char trace[http::kTraceIdHex], parent[http::kSpanIdHex];
  std::uint8_t flags = 0;
  ASSERT_TRUE(http::parse_traceparent(kValid, trace, parent, flags));
  EXPECT_EQ(std::string(trace, 32), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(std::string(parent, 16), "00f067aa0ba902b7");
  EXPECT_EQ(flags, 1);
  ASSERT_TRUE(http::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", trace, parent, flags));
  EXPECT_EQ(flags, 0);
  // Bits other than "sampled" are not passed on.
  ASSERT_TRUE(http::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff", trace, parent, flags));
  EXPECT_EQ(flags, 1);
}

TEST(TraceContext, RefusesWhatTheSpecCallsInvalid) {
  EXPECT_FALSE(parses(""));
  EXPECT_FALSE(parses("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));  // uppercase
  EXPECT_FALSE(parses("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01"));
  EXPECT_FALSE(parses("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A"));
  EXPECT_FALSE(parses("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));  // all-zero trace-id
  EXPECT_FALSE(parses("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));  // all-zero parent-id
  EXPECT_FALSE(parses("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));  // version ff
  EXPECT_FALSE(parses("0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parses("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"));    // short trace-id
  EXPECT_FALSE(parses("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-"));  // v00: exactly 55
  EXPECT_FALSE(parses("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011"));
  EXPECT_FALSE(parses("00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01"));
  EXPECT_FALSE(parses("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bg-01"));
  // A later version: its first four fields, then "-" and whatever it adds.
  EXPECT_TRUE(parses("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes"));
  EXPECT_TRUE(parses("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parses("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"));
}

TEST(TraceContext, ContinuesAValidTraceWithANewSpan) {
  auto t = http::make_trace_context(
      head_with(
          {{"traceparent", kValid}, {"tracestate", "congo=t61rcWkgMzE"}, {"TraceState", "rojo=00f067aa0ba902b7"}}),
      false);
  EXPECT_TRUE(t.has_parent);
  EXPECT_EQ(t.trace(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(t.parent(), "00f067aa0ba902b7");
  EXPECT_NE(t.span(), "00f067aa0ba902b7");
  EXPECT_TRUE(is_hex(t.span()));
  EXPECT_EQ(t.tracestate, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
  EXPECT_EQ(t.traceparent(), "00-4bf92f3577b34da6a3ce929d0e0e4736-" + std::string(t.span()) + "-01");
}

TEST(TraceContext, StartsANewTraceWhenTheTraceparentIsMissingOrInvalid) {
  for (auto headers :
       {std::vector<http::Header>{},
        std::vector<http::Header>{{"traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"},
                                  {"tracestate", "congo=t61rcWkgMzE"}},
        // Two traceparent fields: which one is the caller? Neither.
        std::vector<http::Header>{{"traceparent", kValid}, {"traceparent", kValid}}}) {
    auto t = http::make_trace_context(head_with(headers), false);
    EXPECT_FALSE(t.has_parent);
    EXPECT_EQ(t.parent(), "");
    EXPECT_NE(t.trace(), "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_TRUE(is_hex(t.trace()) && is_hex(t.span()));
    EXPECT_EQ(t.tracestate, "");  // not propagated without its traceparent
    EXPECT_EQ(t.flags, 1);
  }
}

TEST(TraceContext, TracestateIsCutAtAMemberBoundaryPast512Characters) {
  std::string state;
  for (int i = 0; i < 40; ++i) state += (i ? "," : "") + std::string("vendor") + std::to_string(i) + "=abcdefgh";
  auto t = http::make_trace_context(head_with({{"traceparent", kValid}, {"tracestate", state}}), false);
  EXPECT_LE(t.tracestate.size(), 512u);
  EXPECT_TRUE(state.starts_with(t.tracestate + ","));
}

TEST(TraceContext, RequestIdComesFromATrustedPeerOnlyAndIsChecked) {
  EXPECT_EQ(http::make_trace_context(head_with({{"X-Request-ID", "abc-123"}}), true).request_id, "abc-123");
  auto untrusted = http::make_trace_context(head_with({{"X-Request-ID", "abc-123"}}), false).request_id;
  EXPECT_EQ(untrusted.size(), 32u);
  EXPECT_TRUE(is_hex(untrusted));
  for (std::string bad : {std::string(""), std::string(129, 'a'), std::string("a b"), std::string("a\"b"),
                          std::string("<script>"), std::string("a;b")}) {
    auto id = http::make_trace_context(head_with({{"X-Request-ID", bad}}), true).request_id;
    EXPECT_TRUE(id.size() == 32 && is_hex(id)) << bad;
  }
  EXPECT_TRUE(http::valid_request_id(std::string(128, 'a')));
  EXPECT_TRUE(http::valid_request_id("Root=1-67891233-abcdef012345678912345678"));  // an AWS ALB trace id
  EXPECT_TRUE(http::valid_request_id("f058ebd6-02f7-4d3f-942e-904344e8cde5"));
  auto two = http::make_trace_context(head_with({{"X-Request-ID", "a"}, {"X-Request-ID", "b"}}), true).request_id;
  EXPECT_EQ(two.size(), 32u);
}

TEST(TraceContext, IdsAreUniqueAndDifferAcrossFork) {
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) seen.insert(http::new_trace_context().request_id);
  EXPECT_EQ(seen.size(), 10000u);
  // The child inherits this thread's generator: it must not repeat our next ids.
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  pid_t pid = fork();
  if (pid == 0) {
    std::string id = http::new_trace_context().request_id;
    ssize_t n = write(pipefd[1], id.data(), id.size());
    _exit(n == 32 ? 0 : 1);
  }
  char buf[32];
  ASSERT_EQ(read(pipefd[0], buf, sizeof buf), 32);
  int status = 0;
  waitpid(pid, &status, 0);
  close(pipefd[0]);
  close(pipefd[1]);
  EXPECT_NE(std::string(buf, 32), http::new_trace_context().request_id);
}
