// Response framing decided by Exchange (RFC 9112 6.3, 7.1), read back as the
// bytes the I/O thread would send.
#include "server/exchange.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

using namespace squall;
using server::Exchange;

namespace {

std::shared_ptr<Exchange> make(std::string method = "GET", int minor = 1, bool keep_alive = true) {
  http::RequestHead head;
  head.method = std::move(method);
  head.target = "/";
  head.version_minor = minor;
  head.keep_alive = keep_alive;
  return std::make_shared<Exchange>(std::move(head), std::make_shared<server::Wakeup>());
}

std::string output(Exchange& ex) {
  std::string out;
  for (auto& seg : ex.take_output().segments) out += seg.bytes;
  return out;
}

bool has(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

}  // namespace

TEST(ExchangeFraming, WholeBodyKnownGetsContentLength) {
  auto ex = make();
  ex->set_response(200, "OK", {{"Content-Type", "text/plain"}});
  ex->write("Hello", true);
  ex->finish();
  std::string out = output(*ex);
  EXPECT_TRUE(has(out, "HTTP/1.1 200 OK\r\n"));
  EXPECT_TRUE(has(out, "Content-Length: 5\r\n"));
  EXPECT_FALSE(has(out, "chunked"));
  EXPECT_TRUE(has(out, "Server: squall\r\n"));
  EXPECT_TRUE(has(out, "Date: "));
  EXPECT_TRUE(out.ends_with("\r\n\r\nHello"));
}

TEST(ExchangeFraming, StreamedBodyIsChunkedOnHttp11) {
  auto ex = make();
  ex->set_response(200, "OK", {});
  ex->write("ab");
  ex->write("cde");
  ex->finish();
  std::string out = output(*ex);
  EXPECT_TRUE(has(out, "Transfer-Encoding: chunked\r\n"));
  EXPECT_TRUE(out.ends_with("\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"));
}

TEST(ExchangeFraming, StreamedBodyOnHttp10IsCloseDelimited) {
  auto ex = make("GET", 0, true);
  ex->set_response(200, "OK", {});
  ex->write("ab");
  ex->finish();
  auto taken = ex->take_output();
  std::string out;
  for (auto& seg : taken.segments) out += seg.bytes;
  EXPECT_TRUE(has(out, "HTTP/1.0 200 OK\r\n"));
  EXPECT_TRUE(has(out, "Connection: close\r\n"));
  EXPECT_FALSE(taken.keep_alive);
}

TEST(ExchangeFraming, HeadSendsNoBodyButKeepsLength) {
  auto ex = make("HEAD");
  ex->set_response(200, "OK", {});
  ex->write("Hello", true);
  ex->finish();
  std::string out = output(*ex);
  EXPECT_TRUE(has(out, "Content-Length: 5\r\n"));
  EXPECT_TRUE(out.ends_with("\r\n\r\n"));
}

TEST(ExchangeFraming, NoContentStatusesHaveNoFraming) {
  auto ex = make();
  ex->set_response(204, "No Content", {});
  ex->finish();
  std::string out = output(*ex);
  EXPECT_FALSE(has(out, "Content-Length"));
  EXPECT_FALSE(has(out, "Transfer-Encoding"));
}

TEST(ExchangeFraming, BodyLongerThanDeclaredLengthIsCutAndClosed) {
  auto ex = make();
  ex->set_response(200, "OK", {{"Content-Length", "3"}});
  ex->write("abcdef");
  ex->finish();
  auto taken = ex->take_output();
  std::string out;
  for (auto& seg : taken.segments) out += seg.bytes;
  EXPECT_TRUE(out.ends_with("\r\n\r\nabc"));
  EXPECT_FALSE(taken.keep_alive);
}

TEST(ExchangeFraming, BodyShorterThanDeclaredLengthClosesTheConnection) {
  auto ex = make();
  ex->set_response(200, "OK", {{"Content-Length", "10"}});
  ex->write("abc");
  ex->finish();
  EXPECT_FALSE(ex->take_output().keep_alive);
}

TEST(ExchangeFraming, ConnectionCloseRequestIsHonoured) {
  auto ex = make("GET", 1, false);
  ex->set_response(200, "OK", {});
  ex->write("x", true);
  ex->finish();
  auto taken = ex->take_output();
  std::string out;
  for (auto& seg : taken.segments) out += seg.bytes;
  EXPECT_TRUE(has(out, "Connection: close\r\n"));
  EXPECT_FALSE(taken.keep_alive);
}

TEST(ExchangeFraming, AbortBeforeHeadSends500) {
  auto ex = make();
  ex->abort();
  std::string out = output(*ex);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 500 "));
  EXPECT_EQ(ex->status(), 500);
}

TEST(ExchangeBody, StreamsBodyAndReportsEnd) {
  http::RequestHead head;
  head.method = "POST";
  head.content_length = 6;
  auto ex = std::make_shared<Exchange>(std::move(head), std::make_shared<server::Wakeup>());
  std::string got;
  EXPECT_EQ(ex->take_body(got, 100), server::BodyRead::Wait);
  ex->append_body("abc");
  EXPECT_EQ(ex->take_body(got, 2), server::BodyRead::Data);
  EXPECT_EQ(got, "ab");
  ex->append_body("def");
  ex->end_body(false);
  EXPECT_EQ(ex->take_body(got, 100), server::BodyRead::Data);
  EXPECT_EQ(got, "abcdef");
  EXPECT_EQ(ex->take_body(got, 100), server::BodyRead::End);
}

TEST(ExchangeBody, LostConnectionFailsReadsAndWrites) {
  http::RequestHead head;
  head.method = "POST";
  head.content_length = 6;
  auto ex = std::make_shared<Exchange>(std::move(head), std::make_shared<server::Wakeup>());
  ex->connection_lost();
  std::string got;
  EXPECT_EQ(ex->take_body(got, 10), server::BodyRead::Failed);
  EXPECT_FALSE(ex->write("x"));
  EXPECT_TRUE(ex->client_gone());
}

// ---- X-Forwarded-For from a trusted proxy ----------------------------------------

namespace {

std::string client_of(std::vector<std::string> xff, std::vector<std::string> trusted) {
  http::RequestHead head;
  head.headers.push_back({"Host", "x"});
  for (auto& v : xff) head.headers.push_back({"X-Forwarded-For", std::move(v)});
  net::AllowList allow;
  std::string bad;
  EXPECT_TRUE(allow.parse(trusted, bad)) << bad;
  return server::forwarded_client(head, "127.0.0.1", allow);
}

}  // namespace

TEST(ForwardedClient, RightMostUntrustedAddress) {
  const std::vector<std::string> proxies = {"127.0.0.1", "10.0.0.0/8"};
  EXPECT_EQ(client_of({"6.6.6.6, 198.51.100.9, 10.1.2.3"}, proxies), "198.51.100.9");
  EXPECT_EQ(client_of({"198.51.100.9"}, proxies), "198.51.100.9");
  EXPECT_EQ(client_of({"6.6.6.6,198.51.100.9", "10.0.0.1, 10.0.0.2"}, proxies), "198.51.100.9");
  EXPECT_EQ(client_of({"  203.0.113.1 ,  , 10.0.0.9 "}, proxies), "203.0.113.1");
}

TEST(ForwardedClient, AllTrustedGivesTheLeftMostAndNoneGivesThePeer) {
  EXPECT_EQ(client_of({"10.0.0.5, 10.9.9.9"}, {"10.0.0.0/8"}), "10.0.0.5");
  EXPECT_EQ(client_of({}, {"10.0.0.0/8"}), "127.0.0.1");
  EXPECT_EQ(client_of({""}, {"10.0.0.0/8"}), "127.0.0.1");
}

TEST(ForwardedClient, Ipv6NetworksAndAnything) {
  EXPECT_EQ(client_of({"2001:db8:1::5, 2001:db8::1"}, {"2001:db8::/48"}), "2001:db8:1::5");
  EXPECT_EQ(client_of({"1.1.1.1, 2.2.2.2"}, {"*"}), "1.1.1.1");
}
