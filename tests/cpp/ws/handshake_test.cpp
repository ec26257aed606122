// The opening handshake and permessage-deflate negotiation (core/ws/handshake.h).
#include <gtest/gtest.h>

#include <string>

#include "http/response.h"
#include "ws/handshake.h"
#include "ws/sha1.h"

using namespace squall;
using namespace squall::ws;

namespace {

std::string hex(const std::array<std::uint8_t, 20>& d) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (auto b : d) {
    s += digits[b >> 4];
    s += digits[b & 15];
  }
  return s;
}

// RFC 6455 1.2's example request.
http::RequestHead rfc_request() {
  http::RequestHead h;
  h.method = "GET";
  h.target = "/chat";
  h.headers = {{"Host", "server.example.com"},   {"Upgrade", "websocket"},
               {"Connection", "Upgrade"},        {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
               {"Origin", "http://example.com"}, {"Sec-WebSocket-Protocol", "chat, superchat"},
               {"Sec-WebSocket-Version", "13"}};
  return h;
}

HandshakeError refusal(const http::RequestHead& h) {
  Upgrade up;
  HandshakeError err;
  EXPECT_FALSE(parse_upgrade(h, up, err));
  return err;
}

void set(http::RequestHead& h, std::string_view name, std::string value) {
  for (auto& f : h.headers)
    if (http::iequals(f.name, name)) {
      f.value = std::move(value);
      return;
    }
  h.headers.push_back({std::string(name), std::move(value)});
}

void drop(http::RequestHead& h, std::string_view name) {
  std::erase_if(h.headers, [&](const http::Header& f) { return http::iequals(f.name, name); });
}

std::optional<DeflateParams> offer(std::string extensions) {
  auto h = rfc_request();
  set(h, "Sec-WebSocket-Extensions", std::move(extensions));
  Upgrade up;
  HandshakeError err;
  EXPECT_TRUE(parse_upgrade(h, up, err)) << err.message;
  return up.deflate;
}

}  // namespace

TEST(Sha1, Rfc3174Vectors) {
  EXPECT_EQ(hex(sha1("")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(hex(sha1("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(hex(sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(hex(sha1(std::string(1000000, 'a'))), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  // 55 and 56 bytes: the length fits in the last block or needs another one.
  EXPECT_EQ(hex(sha1(std::string(55, 'a'))), "c1c8bbdc22796e28c0e15163d20899b65621d65a");
  EXPECT_EQ(hex(sha1(std::string(56, 'a'))), "c2db330f6083854c99d4b5bfb6e8f29f201be699");
}

TEST(Base64, EncodesAndDecodesStrictly) {
  EXPECT_EQ(base64_encode("the sample nonce"), "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_decode("dGhlIHNhbXBsZSBub25jZQ==").value(), "the sample nonce");
  EXPECT_EQ(base64_decode("Zm8=").value(), "fo");
  EXPECT_FALSE(base64_decode("Zm8"));               // unpadded
  EXPECT_FALSE(base64_decode("Zm9=").has_value());  // non-canonical: bits under the padding
  EXPECT_FALSE(base64_decode("Zm 8="));             // not the alphabet
  EXPECT_FALSE(base64_decode("Z=8="));
}

TEST(Handshake, Rfc6455AcceptKey) { EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); }

TEST(Handshake, Rfc6455ExampleIsAcceptedWithItsSubprotocols) {
  auto h = rfc_request();
  EXPECT_TRUE(is_websocket_request(h));
  Upgrade up;
  HandshakeError err;
  ASSERT_TRUE(parse_upgrade(h, up, err)) << err.message;
  EXPECT_EQ(up.subprotocols, (std::vector<std::string>{"chat", "superchat"}));
  EXPECT_FALSE(up.deflate);
  const std::string out = http::serialize(accept_head(up, "chat", std::nullopt));
  EXPECT_EQ(out,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n");
}

TEST(Handshake, TokensAreCaseInsensitiveAndListed) {
  auto h = rfc_request();
  set(h, "Upgrade", "foo, WebSocket");
  set(h, "Connection", "keep-alive, UPGRADE");
  Upgrade up;
  HandshakeError err;
  EXPECT_TRUE(parse_upgrade(h, up, err)) << err.message;
  http::RequestHead plain;
  plain.headers = {{"Upgrade", "h2c"}};
  EXPECT_FALSE(is_websocket_request(plain));
}

TEST(Handshake, EachRefusalHasItsStatusAndReason) {
  auto h = rfc_request();
  h.method = "POST";
  EXPECT_EQ(refusal(h).status, 400);
  h = rfc_request();
  h.version_minor = 0;
  EXPECT_EQ(refusal(h).message, "a WebSocket upgrade needs HTTP/1.1");
  h = rfc_request();
  drop(h, "Host");
  EXPECT_EQ(refusal(h).message, "missing Host header");
  h = rfc_request();
  set(h, "Upgrade", "h2c");
  EXPECT_EQ(refusal(h).message, "Upgrade header does not list websocket");
  h = rfc_request();
  set(h, "Connection", "keep-alive");
  EXPECT_EQ(refusal(h).message, "Connection header does not list upgrade");
  h = rfc_request();
  drop(h, "Sec-WebSocket-Key");
  EXPECT_EQ(refusal(h).message, "missing Sec-WebSocket-Key header");
  h = rfc_request();
  h.headers.push_back({"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="});
  EXPECT_EQ(refusal(h).message, "more than one Sec-WebSocket-Key header");
  for (const char* bad : {"dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZXg=", "not base64!!!!!!!!!!!!==", ""}) {
    h = rfc_request();
    set(h, "Sec-WebSocket-Key", bad);
    EXPECT_EQ(refusal(h).message, "Sec-WebSocket-Key is not 16 bytes in base64") << bad;
  }
  h = rfc_request();
  set(h, "Sec-WebSocket-Protocol", "chat, not a token");
  EXPECT_EQ(refusal(h).status, 400);
}

TEST(Handshake, UnsupportedVersionIs426WithTheSupportedOne) {
  auto h = rfc_request();
  set(h, "Sec-WebSocket-Version", "8");
  const HandshakeError err = refusal(h);
  EXPECT_EQ(err.status, 426);
  const std::string out = reject_response(err);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 426 "));
  EXPECT_NE(out.find("\r\nSec-WebSocket-Version: 13\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\nConnection: close\r\n"), std::string::npos);
  drop(h, "Sec-WebSocket-Version");
  EXPECT_EQ(refusal(h).status, 426);
  const std::string bad = reject_response({400, "missing Host header"});
  EXPECT_TRUE(bad.starts_with("HTTP/1.1 400 Bad Request\r\n"));
  EXPECT_TRUE(bad.ends_with("\r\n\r\nmissing Host header\n"));
}

TEST(Deflate, PlainOfferIsAcceptedAndAnsweredPlainly) {
  auto d = offer("permessage-deflate");
  ASSERT_TRUE(d);
  EXPECT_EQ(deflate_response_value(*d), "permessage-deflate");
  // Browsers' offer: client_max_window_bits without a value.
  d = offer("permessage-deflate; client_max_window_bits");
  ASSERT_TRUE(d);
  EXPECT_EQ(deflate_response_value(*d), "permessage-deflate");
}

TEST(Deflate, ParametersAreEchoedAsNegotiated) {
  auto d = offer(
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; "
      "client_max_window_bits=\"12\"");
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->server_no_context_takeover);
  EXPECT_TRUE(d->client_no_context_takeover);
  EXPECT_EQ(d->server_max_window_bits, 10);
  EXPECT_EQ(d->client_max_window_bits, 12);
  EXPECT_EQ(deflate_response_value(*d),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; "
            "client_max_window_bits=12");
  auto h = rfc_request();
  Upgrade up;
  up.key = "dGhlIHNhbXBsZSBub25jZQ==";
  const std::string out = http::serialize(accept_head(up, "", d));
  EXPECT_NE(out.find("\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover"),
            std::string::npos);
  EXPECT_EQ(out.find("Sec-WebSocket-Protocol"), std::string::npos);
}

TEST(Deflate, OffersWeCannotHonourAreDeclined) {
  EXPECT_FALSE(offer("permessage-deflate; server_max_window_bits=8"));  // zlib has no 256-byte window
  EXPECT_FALSE(offer("permessage-deflate; server_max_window_bits=16"));
  EXPECT_FALSE(offer("permessage-deflate; server_max_window_bits=010"));
  EXPECT_FALSE(offer("permessage-deflate; server_max_window_bits"));
  EXPECT_FALSE(offer("permessage-deflate; client_max_window_bits=7"));
  EXPECT_FALSE(offer("permessage-deflate; server_no_context_takeover=1"));
  EXPECT_FALSE(offer("permessage-deflate; server_no_context_takeover; server_no_context_takeover"));
  EXPECT_FALSE(offer("permessage-deflate; unknown_parameter"));
  EXPECT_FALSE(offer("x-webkit-deflate-frame"));
  // The next offer in preference order is taken.
  auto d = offer("permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=9");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->server_max_window_bits, 9);
  d = offer("foo, permessage-deflate; client_no_context_takeover");
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->client_no_context_takeover);
}

TEST(Deflate, MalformedExtensionHeaderIs400) {
  auto h = rfc_request();
  set(h, "Sec-WebSocket-Extensions", "permessage-deflate; =1");
  EXPECT_EQ(refusal(h).message, "malformed Sec-WebSocket-Extensions header");
}
