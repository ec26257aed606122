// Tests of the access-log line (core/server/access_log.cpp): the default line
// is the historical one, chosen fields in order, text quoting, JSON keys.
#include "server/access_log.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace squall;
using server::AccessField;

namespace {

http::RequestHead head_with(std::vector<http::Header> headers) {
  http::RequestHead h;
  h.method = "GET";
  h.target = "/a?b=1";
  h.headers = std::move(headers);
  return h;
}

std::string text(const std::vector<AccessField>& fields, const http::RequestHead& h) {
  return server::format_access(fields, false, "203.0.113.7", h, 200, 1234, 1.5);
}

}  // namespace

TEST(AccessLog, DefaultTextLine) {
  http::TraceContext t = http::make_trace_context(
      head_with({{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}), false);
  t.request_id = "req-1";
  EXPECT_EQ(
      server::format_access(server::kDefaultAccessFields, false, "203.0.113.7", head_with({}), 200, 1234, 1.5, &t),
      "203.0.113.7 \"GET /a?b=1 HTTP/1.1\" 200 1234 1.500ms request_id=req-1 "
      "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=" +
          std::string(t.span()));
  // Without ids (never for a request the server answered): "-".
  EXPECT_EQ(
      text({AccessField::Status, AccessField::RequestId, AccessField::TraceId, AccessField::SpanId}, head_with({})),
      "200 request_id=- trace_id=- span_id=-");
}

TEST(AccessLog, JsonIds) {
  http::TraceContext t = http::new_trace_context();
  std::string line =
      server::format_access({AccessField::Status, AccessField::RequestId, AccessField::TraceId, AccessField::SpanId},
                            true, "203.0.113.7", head_with({}), 200, 0, 1.0, &t);
  EXPECT_NE(line.find("\"status\": 200, \"request_id\": \"" + t.request_id + "\", \"trace_id\": \"" +
                      std::string(t.trace()) + "\", \"span_id\": \"" + std::string(t.span()) + "\"}"),
            std::string::npos)
      << line;
  line = server::format_access({AccessField::TraceId}, true, "203.0.113.7", head_with({}), 200, 0, 1.0);
  EXPECT_NE(line.find("\"trace_id\": null}"), std::string::npos) << line;
}

TEST(AccessLog, ChosenFieldsInOrderWithQuotedHeaders) {
  auto h = head_with({{"Host", "x"}, {"User-Agent", "curl/8 \"quoted\" \\ back"}, {"Referer", "https://r/"}});
  EXPECT_EQ(text({AccessField::Status, AccessField::UserAgent, AccessField::Referer, AccessField::Duration,
                  AccessField::Method, AccessField::Path, AccessField::Protocol, AccessField::Host},
                 h),
            "200 \"curl/8 \\\"quoted\\\" \\\\ back\" \"https://r/\" 1.500ms GET /a?b=1 HTTP/1.1 \"x\"");
  EXPECT_EQ(text({AccessField::UserAgent, AccessField::Referer}, head_with({})), "\"-\" \"-\"");
}

TEST(AccessLog, FieldNames) {
  EXPECT_EQ(server::access_field("user_agent"), AccessField::UserAgent);
  EXPECT_EQ(server::access_field("duration"), AccessField::Duration);
  EXPECT_FALSE(server::access_field("User-Agent"));
  EXPECT_FALSE(server::access_field(""));
}

TEST(AccessLog, JsonKeys) {
  auto h = head_with({{"User-Agent", "ua\"x"}});
  std::string line = server::format_access({AccessField::Client, AccessField::Request, AccessField::Path,
                                            AccessField::UserAgent, AccessField::Referer, AccessField::Duration},
                                           true, "203.0.113.7", h, 404, 0, 2.0);
  EXPECT_TRUE(line.starts_with("{\"time\": \"")) << line;
  const auto fields = line.substr(line.find("\"message\""));
  EXPECT_EQ(fields,
            "\"message\": \"GET /a?b=1\", \"remote_addr\": \"203.0.113.7\", \"method\": \"GET\", \"path\": \"/a?b=1\", "
            "\"protocol\": \"HTTP/1.1\", \"user_agent\": \"ua\\\"x\", \"referer\": null, \"duration_ms\": 2.000}");
}
