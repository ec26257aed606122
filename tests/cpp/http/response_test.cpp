// The one response-head serializer (core/http/response.h).
#include <gtest/gtest.h>

#include <string>

#include "http/response.h"

using namespace squall::http;

namespace {

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST(ResponseHead, StatusLineServerDateLengthInOrder) {
  ResponseHead h;
  h.add("Content-Type", "text/plain");
  h.content_length = 5;
  std::string out = serialize(h);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer: squall\r\nDate: "));
  EXPECT_TRUE(out.ends_with("\r\nContent-Length: 5\r\n\r\n"));
  EXPECT_FALSE(has(out, "Connection:"));
}

TEST(ResponseHead, TheApplicationsServerAndDateWin) {
  ResponseHead h;
  h.add("server", "mine");
  h.add("Date", "then");
  std::string out = serialize(h);
  EXPECT_FALSE(has(out, "Server: squall"));
  EXPECT_EQ(out.find("Date:"), out.rfind("Date:"));
}

TEST(ResponseHead, Http10IsAnsweredInKindAndToldAboutKeepAlive) {
  ResponseHead h;
  h.version_minor = 0;
  h.content_length = 0;
  EXPECT_TRUE(serialize(h).starts_with("HTTP/1.0 200 OK\r\n"));
  EXPECT_TRUE(has(serialize(h), "Connection: keep-alive\r\n"));
  h.keep_alive = false;
  EXPECT_TRUE(has(serialize(h), "Connection: close\r\n"));
  EXPECT_FALSE(has(serialize(h), "keep-alive"));
}

TEST(ResponseHead, ChunkedOnlyWithoutALength) {
  ResponseHead h;
  h.chunked = true;
  EXPECT_TRUE(has(serialize(h), "Transfer-Encoding: chunked\r\n"));
  h.content_length = 3;
  EXPECT_FALSE(has(serialize(h), "Transfer-Encoding"));
}

TEST(ResponseHead, InterimIsTheStatusLineOnly) {
  ResponseHead h;
  h.status = 100;
  EXPECT_EQ(serialize(h), "HTTP/1.1 100 Continue\r\n\r\n");
}

TEST(ResponseHead, OwnReasonPhraseOrTheRegisteredOne) {
  ResponseHead h;
  h.status = 299;
  EXPECT_TRUE(serialize(h).starts_with("HTTP/1.1 299 Unknown\r\n"));
  h.reason = "Fine";
  EXPECT_TRUE(serialize(h).starts_with("HTTP/1.1 299 Fine\r\n"));
}

TEST(TextResponse, HeadKeepsTheLengthWithoutTheBody) {
  std::string get = text_response(text_head(404, 10, 1, true), "not found\n");
  std::string head = text_response(text_head(404, 10, 1, true), "not found\n", true);
  EXPECT_TRUE(get.ends_with("Content-Length: 10\r\n\r\nnot found\n"));
  EXPECT_TRUE(head.ends_with("Content-Length: 10\r\n\r\n"));
  EXPECT_TRUE(has(simple_response(400, "bad\n", true), "Connection: close\r\n"));
}

TEST(FieldSyntax, TokensAndValues) {
  EXPECT_TRUE(is_token("X-Custom_1"));
  EXPECT_FALSE(is_token(""));
  EXPECT_FALSE(is_token("a b"));
  EXPECT_FALSE(is_token("a:b"));
  EXPECT_TRUE(is_field_value("a\tb \x80"));
  EXPECT_FALSE(is_field_value("a\r\nb"));
  EXPECT_FALSE(is_field_value(std::string("a\0b", 3)));
  EXPECT_FALSE(is_field_value("\x7f"));
}
