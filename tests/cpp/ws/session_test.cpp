// The WebSocket session: framing, reassembly, UTF-8, close, limits and
// permessage-deflate (core/ws/session.h).
#include <gtest/gtest.h>

#include <zlib.h>

#include <string>
#include <vector>

#include "ws/session.h"
#include "ws/utf8.h"

using namespace squall::ws;

namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s += char(c);
  return s;
}

// A client frame (RFC 6455 5.2): masked with `key` unless `masked` is false.
std::string frame(int opcode, std::string_view payload, bool fin = true, int rsv = 0, bool masked = true,
                  const char* key = "\x37\xfa\x21\x3d") {
  std::string f;
  f += char((fin ? 0x80 : 0) | rsv << 4 | opcode);
  const char m = masked ? char(0x80) : 0;
  if (payload.size() < 126) {
    f += char(m | char(payload.size()));
  } else if (payload.size() <= 0xFFFF) {
    f += char(m | 126);
    f += char(payload.size() >> 8);
    f += char(payload.size());
  } else {
    f += char(m | 127);
    for (int i = 7; i >= 0; --i) f += char(std::uint64_t(payload.size()) >> (8 * i));
  }
  if (masked) f.append(key, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) f += masked ? char(payload[i] ^ key[i % 4]) : payload[i];
  return f;
}

std::vector<Event> feed(Session& s, std::string_view data) {
  std::vector<Event> events;
  s.feed(data, events);
  return events;
}

std::vector<Event> feed_bytewise(Session& s, std::string_view data) {
  std::vector<Event> events;
  for (char c : data) s.feed(std::string_view(&c, 1), events);
  return events;
}

// The close code a session answers `input` with (0: no error).
std::uint16_t error_code(std::string_view input, SessionOptions options = {}) {
  Session s(options);
  for (const Event& e : feed(s, input))
    if (e.kind == Event::Kind::Error) {
      EXPECT_TRUE(s.failed());
      EXPECT_TRUE(s.finished());
      // The close frame with that code is what was queued last.
      const std::string_view out = s.pending();
      EXPECT_GE(out.size(), 4u);
      EXPECT_EQ(out.substr(out.size() - 4, 2), bytes({0x88, 0x02}));
      EXPECT_EQ((std::uint8_t(out[out.size() - 2]) << 8 | std::uint8_t(out[out.size() - 1])), e.code);
      return e.code;
    }
  return 0;
}

SessionOptions with_deflate(DeflateParams d = {}, std::size_t min_size = 0) {
  SessionOptions o;
  o.deflate = d;
  o.compress_min_size = min_size;
  return o;
}

// Raw deflate of `data` as a client would send it (00 00 ff ff stripped).
std::string client_deflate(std::string_view data) {
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_SYNC_FLUSH);
  out.resize(out.size() - z.avail_out - 4);
  deflateEnd(&z);
  return out;
}

}  // namespace

// ---- RFC 6455 5.7's examples ------------------------------------------------

TEST(Session, Rfc6455MaskedHello) {
  Session s;
  auto events = feed(s, bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Event::Kind::Message);
  EXPECT_EQ(events[0].type, MessageType::Text);
  EXPECT_EQ(events[0].data, "Hello");
  EXPECT_EQ(s.stats().messages_in, 1u);
  EXPECT_EQ(s.stats().bytes_in, 11u);
}

TEST(Session, Rfc6455ServerFramesAreUnmaskedWithTheShortestLength) {
  Session s;
  ASSERT_TRUE(s.send_text("Hello"));
  EXPECT_EQ(s.pending(), bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
  s.consume(7);
  ASSERT_TRUE(s.send_binary(std::string(256, 'x')));
  EXPECT_EQ(s.pending().substr(0, 4), bytes({0x82, 0x7e, 0x01, 0x00}));
  EXPECT_EQ(s.queued_bytes(), 260u);
  s.consume(260);
  ASSERT_TRUE(s.send_binary(std::string(65536, 'x')));
  EXPECT_EQ(s.pending().substr(0, 10), bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}));
  s.consume(10);
  EXPECT_EQ(s.queued_bytes(), 65536u);
  EXPECT_EQ(s.stats().messages_out, 3u);
}

TEST(Session, Rfc6455FragmentedMessageWithAPingBetween) {
  Session s;
  const std::string input = frame(0x1, "Hel", false) + frame(0x9, "Hello") + frame(0x0, "lo");
  auto events = feed(s, input);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "Hello");
  // The ping was answered at once, unmasked, with its payload (5.5.2, 5.5.3).
  EXPECT_EQ(s.pending(), bytes({0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
  // A pong (masked, as the RFC's example) is dropped.
  EXPECT_TRUE(feed(s, bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58})).empty());
}

TEST(Session, ByteAtATimeGivesTheSameEvents) {
  std::string big(70000, 'b');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = char(i * 7);
  const std::string input = frame(0x1, "κόσ", false) + frame(0x9, "p") + frame(0x0, "με") + frame(0x2, big) +
                            frame(0x2, std::string(300, 'y')) + frame(0x1, "") + frame(0x8, bytes({0x03, 0xe8}) + "ok");
  Session whole, bytewise;
  auto a = feed(whole, input);
  auto b = feed_bytewise(bytewise, input);
  ASSERT_EQ(a.size(), 5u);
  ASSERT_EQ(b.size(), 5u);
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].kind, b[i].kind);
    EXPECT_EQ(a[i].data, b[i].data);
  }
  EXPECT_EQ(a[0].data, "κόσμε");
  EXPECT_EQ(a[1].data, big);
  EXPECT_EQ(a[3].data, "");
  EXPECT_EQ(a[4].kind, Event::Kind::Close);
  EXPECT_EQ(a[4].code, 1000);
  EXPECT_EQ(a[4].reason, "ok");
  EXPECT_EQ(whole.pending(), bytewise.pending());
}

TEST(Session, UnmaskingAtEveryOffsetAndLength) {
  for (std::size_t n = 0; n < 40; ++n) {
    std::string payload;
    for (std::size_t i = 0; i < n; ++i) payload += char(0x20 + i);
    const std::string f = frame(0x2, payload, true, 0, true, "\x01\x82\x43\xc4");
    for (std::size_t split = 0; split <= f.size(); ++split) {
      Session s;
      std::vector<Event> events;
      s.feed(std::string_view(f).substr(0, split), events);
      s.feed(std::string_view(f).substr(split), events);
      ASSERT_EQ(events.size(), 1u);
      ASSERT_EQ(events[0].data, payload) << n << " " << split;
    }
  }
}

// ---- Protocol errors: 1002 ---------------------------------------------------

TEST(SessionErrors, UnmaskedClientFrameIs1002) { EXPECT_EQ(error_code(frame(0x1, "Hello", true, 0, false)), 1002); }

TEST(SessionErrors, ReservedBitsAre1002) {
  EXPECT_EQ(error_code(frame(0x1, "a", true, 1)), 1002);                  // RSV3
  EXPECT_EQ(error_code(frame(0x1, "a", true, 2)), 1002);                  // RSV2
  EXPECT_EQ(error_code(frame(0x1, "a", true, 4)), 1002);                  // RSV1 without permessage-deflate
  EXPECT_EQ(error_code(frame(0x9, "a", true, 4), with_deflate()), 1002);  // RSV1 on a control frame
  EXPECT_EQ(error_code(frame(0x1, client_deflate("a"), false, 4) + frame(0x0, "", true, 4), with_deflate()), 1002);
}

TEST(SessionErrors, ReservedOpcodesAre1002) {
  for (int op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) EXPECT_EQ(error_code(frame(op, "")), 1002) << op;
}

TEST(SessionErrors, ControlFrameRules) {
  EXPECT_EQ(error_code(frame(0x9, std::string(126, 'p'))), 1002);  // over 125 bytes
  EXPECT_EQ(error_code(frame(0x9, std::string(125, 'p'))), 0);
  EXPECT_EQ(error_code(frame(0x9, "p", false)), 1002);  // fragmented
  EXPECT_EQ(error_code(frame(0x8, "\x03")), 1002);      // 1-byte close payload
}

TEST(SessionErrors, ContinuationRules) {
  EXPECT_EQ(error_code(frame(0x0, "x")), 1002);                           // nothing to continue
  EXPECT_EQ(error_code(frame(0x1, "a", false) + frame(0x1, "b")), 1002);  // new text inside a message
  EXPECT_EQ(error_code(frame(0x2, "a", false) + frame(0x2, "b")), 1002);  // new binary inside a message
  EXPECT_EQ(error_code(frame(0x1, "a", false) + frame(0x0, "b", false) + frame(0x0, "c")), 0);
}

TEST(SessionErrors, SixtyFourBitLengthWithTheHighBitIs1002) {
  EXPECT_EQ(error_code(bytes({0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4})), 1002);
}

TEST(SessionErrors, NothingIsReadAfterAnError) {
  Session s;
  auto events = feed(s, frame(0x1, "a", true, 0, false) + frame(0x1, "b"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, "unmasked client frame");
  EXPECT_TRUE(feed(s, frame(0x1, "c")).empty());
  EXPECT_EQ(s.pending(), bytes({0x88, 0x02, 0x03, 0xea}));
  EXPECT_FALSE(s.send_text("late"));
}

// ---- UTF-8: 1007 ------------------------------------------------------------

TEST(Utf8, Tables) {
  for (const std::string& ok : std::initializer_list<std::string>{
           "", "abc", "κόσμε", "\xed\x9f\xbf" /* U+D7FF */, "\xee\x80\x80" /* U+E000 */, "\xef\xbf\xbf" /* U+FFFF */,
           "\xf0\x90\x80\x80" /* U+10000 */, "\xf4\x8f\xbf\xbf" /* U+10FFFF */, "\xc2\x80", "\xdf\xbf"})
    EXPECT_TRUE(valid_utf8(ok)) << ok;
  for (const std::string& bad : std::initializer_list<std::string>{"\xc0\xaf",
                                                                   "\xc1\xbf",
                                                                   "\xe0\x80\xaf",
                                                                   "\xe0\x9f\xbf",
                                                                   "\xf0\x80\x80\xaf",
                                                                   "\xf0\x8f\xbf\xbf",  // overlongs
                                                                   "\xed\xa0\x80",
                                                                   "\xed\xbf\xbf",
                                                                   "\xed\xa0\x80\xed\xb0\x80",  // surrogates
                                                                   "\xf4\x90\x80\x80",
                                                                   "\xf5\x80\x80\x80",
                                                                   "\xf7\xbf\xbf\xbf",
                                                                   "\xfe",
                                                                   "\xff",  // > U+10FFFF
                                                                   "\x80",
                                                                   "a\xbf",
                                                                   "\xc2",
                                                                   "\xe1\x80",
                                                                   "\xf1\x80\x80",
                                                                   "\xc2\x41",
                                                                   "\xe1\x80\xc0",
                                                                   "abcdefghijklmnop\xc3\x28"})
    EXPECT_FALSE(valid_utf8(bad)) << ::testing::PrintToString(bad);
}

TEST(Utf8, InvalidTextIs1007FailingFast) {
  EXPECT_EQ(error_code(frame(0x1, "\xc0\xaf")), 1007);
  EXPECT_EQ(error_code(frame(0x1, "ok\xed\xa0\x80")), 1007);
  // Autobahn 6.4.1: the error is seen in the first fragment, before the message ends.
  Session s;
  auto events = feed(s, frame(0x1, "\xce\xba\xe1\xbd\xb9\xce\xbc\xce\xb5\xf4\x90\x80\x80", false));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].code, 1007);
  // Byte at a time too: the error comes at the first impossible byte.
  Session t;
  const std::string f = frame(0x1, "\xce\xba\xf4\x90\x80\x80 and more", false);
  std::vector<Event> ev;
  std::size_t at = 0;
  for (; at < f.size() && ev.empty(); ++at) t.feed(std::string_view(f).substr(at, 1), ev);
  EXPECT_EQ(at, 6u + 3u + 1u);  // header 6, then ce ba f4, then 90
}

TEST(Utf8, SequencesSplitAcrossFragmentsAreValid) {
  const std::string text = "κόσμε \xf0\x9f\x98\x80 \xef\xbf\xbf";
  for (std::size_t cut = 0; cut <= text.size(); ++cut) {
    Session s;
    auto events = feed(s, frame(0x1, text.substr(0, cut), false) + frame(0x0, text.substr(cut)));
    ASSERT_EQ(events.size(), 1u) << cut;
    EXPECT_EQ(events[0].data, text);
  }
  // A message ending inside a sequence.
  EXPECT_EQ(error_code(frame(0x1, "\xce", false) + frame(0x0, "")), 1007);
  // Binary messages are not checked.
  EXPECT_EQ(error_code(frame(0x2, "\xff\xfe")), 0);
}

// ---- Close handshake ----------------------------------------------------------

TEST(Close, ClientCloseIsReportedAndEchoed) {
  Session s;
  auto events = feed(s, frame(0x8, bytes({0x03, 0xe8}) + "bye") + frame(0x1, "after"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Event::Kind::Close);
  EXPECT_EQ(events[0].code, 1000);
  EXPECT_EQ(events[0].reason, "bye");
  EXPECT_EQ(s.pending(), bytes({0x88, 0x02, 0x03, 0xe8}));
  EXPECT_TRUE(s.close_received());
  EXPECT_TRUE(s.finished());
  EXPECT_FALSE(s.failed());
  EXPECT_FALSE(s.send_text("x"));
  EXPECT_FALSE(s.send_close());
}

TEST(Close, EmptyCloseIs1005AndEchoedEmpty) {
  Session s;
  auto events = feed(s, frame(0x8, ""));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].code, 1005);
  EXPECT_EQ(s.pending(), bytes({0x88, 0x00}));
}

TEST(Close, ServerCloseFirstThenTheClients) {
  Session s;
  ASSERT_TRUE(s.send_close(1001, "going away"));
  EXPECT_EQ(s.pending(), bytes({0x88, 0x0c, 0x03, 0xe9}) + "going away");
  EXPECT_TRUE(s.close_sent());
  EXPECT_FALSE(s.finished());
  EXPECT_FALSE(s.send_text("x"));
  s.consume(s.queued_bytes());
  // Data still in flight from the client is delivered; no pong after our close.
  auto events = feed(s, frame(0x1, "late") + frame(0x9, "") + frame(0x8, bytes({0x03, 0xe9})));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].data, "late");
  EXPECT_EQ(events[1].code, 1001);
  EXPECT_EQ(s.queued_bytes(), 0u);  // no second close
  EXPECT_TRUE(s.finished());
}

TEST(Close, CodesOnTheWire) {
  for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}) {
    EXPECT_TRUE(valid_close_code(std::uint16_t(code))) << code;
    EXPECT_EQ(error_code(frame(0x8, bytes({code >> 8, code & 0xff}))), 0) << code;
    Session s;
    EXPECT_TRUE(s.send_close(std::uint16_t(code)));
  }
  for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    EXPECT_FALSE(valid_close_code(std::uint16_t(code))) << code;
    EXPECT_EQ(error_code(frame(0x8, bytes({code >> 8, code & 0xff}))), 1002) << code;
    Session s;
    EXPECT_FALSE(s.send_close(std::uint16_t(code)));
  }
}

TEST(Close, ReasonMustBeUtf8AndShort) {
  EXPECT_EQ(error_code(frame(0x8, bytes({0x03, 0xe8}) + "\xce\xba\xe1\xbd")), 1007);
  Session s;
  EXPECT_FALSE(s.send_close(1000, std::string(124, 'r')));
  EXPECT_FALSE(s.send_close(1000, "\xff"));
  EXPECT_TRUE(s.send_close(1000, std::string(123, 'r')));
  EXPECT_EQ(s.queued_bytes(), 2u + 125u);
}

// ---- Size limits: 1009 -------------------------------------------------------------

TEST(Limits, MessageOverTheLimitIs1009) {
  SessionOptions o;
  o.max_message_size = 100;
  EXPECT_EQ(error_code(frame(0x2, std::string(100, 'x')), o), 0);
  EXPECT_EQ(error_code(frame(0x2, std::string(101, 'x')), o), 1009);
  // The running total of fragments counts.
  EXPECT_EQ(error_code(frame(0x1, std::string(60, 'x'), false) + frame(0x0, std::string(40, 'x'), false) +
                           frame(0x0, std::string(1, 'x')),
                       o),
            1009);
  // Refused from the header alone: the payload need not arrive.
  Session s(o);
  auto events = feed(s, frame(0x2, std::string(1000, 'x')).substr(0, 8));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].code, 1009);
}

// ---- permessage-deflate (RFC 7692 7.2.3) ------------------------------------------

TEST(Deflate, Rfc7692Examples) {
  struct Case {
    const char* name;
    std::string frames;
  };
  const std::string hello = bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});
  const Case cases[] = {
      {"7.2.3.1 one compressed frame", frame(0x1, hello, true, 4)},
      {"7.2.3.2 fragmented",
       frame(0x1, bytes({0xf2, 0x48, 0xcd}), false, 4) + frame(0x0, bytes({0xc9, 0xc9, 0x07, 0x00}), true)},
      {"7.2.3.3 stored block",
       frame(0x1, bytes({0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}), true, 4)},
      {"7.2.3.4 BFINAL set", frame(0x1, bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}), true, 4)},
      {"7.2.3.5 two blocks",
       frame(0x1, bytes({0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00}), true, 4)},
  };
  for (const Case& c : cases) {
    Session s(with_deflate());
    auto events = feed_bytewise(s, c.frames);
    ASSERT_EQ(events.size(), 1u) << c.name;
    EXPECT_EQ(events[0].data, "Hello") << c.name;
  }
  // 7.2.3.2: the second "Hello" with context takeover refers to the first.
  Session s(with_deflate());
  auto events = feed(s, frame(0x1, hello, true, 4) + frame(0x1, bytes({0xf2, 0x00, 0x11, 0x00, 0x00}), true, 4));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].data, "Hello");
}

TEST(Deflate, ServerCompressesLikeTheRfc) {
  Session s(with_deflate());
  ASSERT_TRUE(s.send_text("Hello"));
  EXPECT_EQ(s.pending(), bytes({0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}));
  // Below compress_min_size: plain frame, RSV1 clear.
  Session t(with_deflate({}, 64));
  ASSERT_TRUE(t.send_text("Hello"));
  EXPECT_EQ(t.pending(), bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
}

TEST(Deflate, RoundTripWithAndWithoutContextTakeover) {
  for (bool no_takeover : {false, true}) {
    DeflateParams d;
    d.server_no_context_takeover = no_takeover;
    d.server_max_window_bits = 10;
    Session server(with_deflate(d));
    std::string text;
    for (int i = 0; i < 3000; ++i) text += "message " + std::to_string(i % 17) + " ";
    for (int round = 0; round < 3; ++round) ASSERT_TRUE(server.send_text(text));
    // Decode the server's frames with zlib like a client.
    z_stream z{};
    inflateInit2(&z, -10);
    std::string_view out = server.pending();
    for (int round = 0; round < 3; ++round) {
      ASSERT_EQ(std::uint8_t(out[0]), 0xc1);
      ASSERT_EQ(std::uint8_t(out[1]), 126);
      const std::size_t len = std::uint8_t(out[2]) << 8 | std::uint8_t(out[3]);
      std::string in(out.substr(4, len));
      in += bytes({0, 0, 0xff, 0xff});
      out.remove_prefix(4 + len);
      std::string plain(text.size() + 16, '\0');
      z.next_in = reinterpret_cast<Bytef*>(in.data());
      z.avail_in = static_cast<uInt>(in.size());
      z.next_out = reinterpret_cast<Bytef*>(plain.data());
      z.avail_out = static_cast<uInt>(plain.size());
      ASSERT_EQ(inflate(&z, Z_SYNC_FLUSH), Z_OK);
      plain.resize(plain.size() - z.avail_out);
      EXPECT_EQ(plain, text) << no_takeover << round;
      if (no_takeover) inflateReset(&z);
    }
    inflateEnd(&z);
  }
}

TEST(Deflate, CompressedTextIsValidatedAfterInflating) {
  EXPECT_EQ(error_code(frame(0x1, client_deflate("ok \xed\xa0\x80"), true, 4), with_deflate()), 1007);
  EXPECT_EQ(error_code(frame(0x2, bytes({0xff, 0xff, 0xff, 0xff}), true, 4), with_deflate()), 1007);  // not deflate
  Session s(with_deflate());
  auto events = feed(s, frame(0x1, client_deflate("κόσμε"), true, 4));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "κόσμε");
}

TEST(Deflate, ZipBombStopsAtTheLimit) {
  // 64 MiB of zeros deflate to about 64 KiB; the limit is 1 MiB.
  const std::string bomb = client_deflate(std::string(64 << 20, '\0'));
  ASSERT_LT(bomb.size(), 128u << 10);
  SessionOptions o = with_deflate();
  o.max_message_size = 1 << 20;
  Session s(o);
  std::vector<Event> events;
  std::size_t fed = 0;
  const std::string f = frame(0x2, bomb, true, 4);
  // Fed in 4 KiB reads: the error comes long before the input ends.
  for (; fed < f.size() && events.empty(); fed += 4096) s.feed(std::string_view(f).substr(fed, 4096), events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].code, 1009);
  EXPECT_LT(fed, f.size() / 8);
  // Exactly at the limit is fine.
  Session t(o);
  auto ok = feed(t, frame(0x2, client_deflate(std::string(1 << 20, 'z')), true, 4));
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].data.size(), 1u << 20);
}

TEST(Outbound, ConsumeInPieces) {
  Session s;
  ASSERT_TRUE(s.send_binary(std::string(200000, 'q')));
  const std::size_t total = s.queued_bytes();
  EXPECT_EQ(total, 200010u);
  std::string written;
  while (s.queued_bytes() > 0) {
    const std::size_t n = std::min<std::size_t>(s.queued_bytes(), 70001);
    written.append(s.pending().substr(0, n));
    s.consume(n);
  }
  EXPECT_EQ(written.size(), total);
  EXPECT_EQ(written.substr(10), std::string(200000, 'q'));
  EXPECT_EQ(s.stats().bytes_out, total);
}
