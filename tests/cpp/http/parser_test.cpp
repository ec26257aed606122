// Tests of the HTTP/1.1 request parser (core/http/parser.cpp): one test per
// rejected vector, valid requests, limits, and the feed/resume contract.
#include "http/parser.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace squall::http {
namespace {

using State = FeedResult::State;

// Records every handler call.
struct Recorder final : ParserHandler {
  std::vector<RequestHead> heads;
  std::vector<std::string> bodies;  // one per head
  int completed = 0;

  void on_head(RequestHead&& head) override {
    heads.push_back(std::move(head));
    bodies.emplace_back();
  }
  void on_body(std::string_view data) override {
    EXPECT_FALSE(data.empty());
    ASSERT_FALSE(bodies.empty()) << "on_body before on_head";
    bodies.back().append(data);
  }
  void on_message_complete() override { ++completed; }

  bool saw_target(std::string_view target) const {
    for (const auto& h : heads) {
      if (h.target == target) return true;
    }
    return false;
  }
};

struct Outcome {
  Recorder rec;
  FeedResult last;
};

constexpr std::size_t kWhole = SIZE_MAX;

// Feeds `bytes` like a connection would, `piece` bytes per read, calling
// resume() after each message, until an error or the end of the input.
Outcome parse_all(std::string_view bytes, Limits limits = {}, std::size_t piece = kWhole) {
  Outcome out;
  auto parser = make_parser(limits, out.rec);
  std::string pending;
  std::size_t offset = 0;
  for (;;) {
    if (pending.empty()) {
      if (offset == bytes.size()) break;
      const std::size_t n = std::min(piece, bytes.size() - offset);
      pending.assign(bytes.substr(offset, n));
      offset += n;
    }
    out.last = parser->feed(pending);
    if (out.last.state == State::Error) break;
    pending.erase(0, out.last.consumed);
    if (out.last.state == State::MessageComplete) parser->resume();
  }
  return out;
}

constexpr std::string_view kSmuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";

// A rejected vector: the expected status, whole and byte by byte, the broken
// message never completes, and a request following it is never parsed.
void expect_rejected(const std::string& raw, int status, const Limits& limits = {}) {
  for (std::size_t piece : {kWhole, std::size_t{1}}) {
    SCOPED_TRACE(piece == 1 ? "fed byte by byte" : "fed in one buffer");
    Outcome o = parse_all(raw + std::string(kSmuggled), limits, piece);
    EXPECT_EQ(o.last.state, State::Error);
    EXPECT_EQ(o.last.error.status, status) << o.last.error.reason;
    EXPECT_FALSE(o.last.error.reason.empty());
    EXPECT_EQ(o.rec.completed, 0);
    EXPECT_FALSE(o.rec.saw_target("/smuggled")) << "smuggled request reached on_head";
  }
}

std::string post_chunked(std::string_view chunks) {
  return "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(chunks);
}

std::string get_with(std::string_view header_lines) {
  return "GET / HTTP/1.1\r\nHost: a\r\n" + std::string(header_lines) + "\r\n";
}

// ---- framing: Content-Length and Transfer-Encoding ---------------------------

TEST(ParserSmuggling, ContentLengthWithTransferEncoding) {
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
}

TEST(ParserSmuggling, TransferEncodingWithContentLength) {
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400);
}

TEST(ParserSmuggling, DuplicateContentLengthDiffering) {
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400);
}

TEST(ParserSmuggling, DuplicateContentLengthIdenticalIsRejected) {
  // Allowed by RFC 9112 6.3 but refused (llhttp strict); rejecting is the safe side.
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400);
}

TEST(ParserSmuggling, ContentLengthListDiffering) {
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello!", 400);
}

TEST(ParserSmuggling, TransferEncodingGzipOnly) {
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n", 501);
}

TEST(ParserSmuggling, TransferEncodingChunkedNotFinal) {
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400);
}

TEST(ParserSmuggling, TransferEncodingUnknownBeforeChunked) {
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501);
}

TEST(ParserSmuggling, TransferEncodingChunkedTwice) {
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                  400);
}

TEST(ParserSmuggling, TransferEncodingEmpty) {
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n0\r\n\r\n", 400);
}

TEST(ParserSmuggling, TransferEncodingInHttp10) {
  expect_rejected("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
}

// ---- line structure -----------------------------------------------------------

TEST(ParserSmuggling, ObsFold) { expect_rejected(get_with("X-A: b\r\n c\r\n"), 400); }

TEST(ParserSmuggling, ObsFoldWithTab) { expect_rejected(get_with("X-A: b\r\n\tc\r\n"), 400); }

TEST(ParserSmuggling, ObsFoldAfterEmptyValue) { expect_rejected(get_with("X-A:\r\n c\r\n"), 400); }

TEST(ParserSmuggling, WhitespaceBeforeFirstHeader) {
  expect_rejected("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400);
}

TEST(ParserSmuggling, BareCrInHeaderValue) { expect_rejected(get_with("X-A: b\rc\r\n"), 400); }

TEST(ParserSmuggling, BareCrAsLineTerminator) { expect_rejected("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400); }

TEST(ParserSmuggling, BareLfAfterRequestLine) { expect_rejected("GET / HTTP/1.1\nHost: a\r\n\r\n", 400); }

TEST(ParserSmuggling, BareLfAfterHeader) { expect_rejected("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400); }

TEST(ParserSmuggling, BareLfEndsHead) { expect_rejected("GET / HTTP/1.1\r\nHost: a\r\n\n", 400); }

TEST(ParserSmuggling, SpaceBeforeColon) { expect_rejected("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400); }

TEST(ParserSmuggling, TabBeforeColon) { expect_rejected("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400); }

// ---- characters -----------------------------------------------------------------

TEST(ParserSmuggling, NulInHeaderValue) { expect_rejected(get_with(std::string("X: b\0c\r\n", 8)), 400); }

TEST(ParserSmuggling, ControlCharInHeaderValue) { expect_rejected(get_with("X: b\x01" "c\r\n"), 400); }

TEST(ParserSmuggling, DelInHeaderValue) { expect_rejected(get_with("X: b\x7f" "c\r\n"), 400); }

TEST(ParserSmuggling, NulInHeaderName) { expect_rejected(get_with(std::string("X\0Y: b\r\n", 8)), 400); }

TEST(ParserSmuggling, ControlCharInTarget) { expect_rejected("GET /a\x01" "b HTTP/1.1\r\nHost: a\r\n\r\n", 400); }

TEST(ParserSmuggling, NulInTarget) { expect_rejected(std::string("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n", 31), 400); }

TEST(ParserSmuggling, NonTokenHeaderName) { expect_rejected(get_with("X(y): b\r\n"), 400); }

TEST(ParserSmuggling, EmptyHeaderName) { expect_rejected(get_with(": b\r\n"), 400); }

// ---- chunk framing --------------------------------------------------------------

TEST(ParserSmuggling, ChunkMissingCrlfAfterData) { expect_rejected(post_chunked("3\r\nabcX\r\n0\r\n\r\n"), 400); }

TEST(ParserSmuggling, ChunkBareLfAfterData) { expect_rejected(post_chunked("3\r\nabc\n0\r\n\r\n"), 400); }

TEST(ParserSmuggling, ChunkBareLfAfterSize) { expect_rejected(post_chunked("3\nabc\r\n0\r\n\r\n"), 400); }

TEST(ParserSmuggling, ChunkBareLfAfterLastChunk) { expect_rejected(post_chunked("3\r\nabc\r\n0\n\n"), 400); }

TEST(ParserSmuggling, ChunkBareLfEndsTrailerSection) { expect_rejected(post_chunked("3\r\nabc\r\n0\r\n\n"), 400); }

TEST(ParserSmuggling, ObsFoldInTrailer) { expect_rejected(post_chunked("0\r\nX: 1\r\n 2\r\n\r\n"), 400); }

TEST(ParserSmuggling, ChunkSizeOverflow) { expect_rejected(post_chunked("10000000000000000\r\nabc\r\n0\r\n\r\n"), 400); }

TEST(ParserSmuggling, ChunkSizeTooManyDigits) {
  expect_rejected(post_chunked("00000000000000003\r\nabc\r\n0\r\n\r\n"), 400);
}

TEST(ParserSmuggling, LastChunkTooManyDigits) { expect_rejected(post_chunked("00000000000000000\r\n\r\n"), 400); }

TEST(ParserSmuggling, ChunkSizeNonHex) { expect_rejected(post_chunked("3g\r\nabc\r\n0\r\n\r\n"), 400); }

TEST(ParserSmuggling, ChunkSizeHexPrefix) { expect_rejected(post_chunked("0x3\r\nabc\r\n0\r\n\r\n"), 400); }

TEST(ParserSmuggling, ChunkSizeNegative) { expect_rejected(post_chunked("-3\r\nabc\r\n0\r\n\r\n"), 400); }

TEST(ParserSmuggling, ChunkSizeTrailingSpace) { expect_rejected(post_chunked("3 \r\nabc\r\n0\r\n\r\n"), 400); }

// ---- Content-Length syntax ------------------------------------------------------

TEST(ParserSmuggling, ContentLengthPlusSign) {
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", 400);
}

TEST(ParserSmuggling, ContentLengthMinusSign) {
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\nhello", 400);
}

TEST(ParserSmuggling, ContentLengthOverflow) {
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\nhello", 400);
}

TEST(ParserSmuggling, ContentLengthNonDigit) {
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5a\r\n\r\nhello", 400);
}

TEST(ParserSmuggling, ContentLengthHex) {
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello", 400);
}

TEST(ParserSmuggling, ContentLengthEmpty) {
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\nhello", 400);
}

// ---- versions, Host, methods ----------------------------------------------------

TEST(ParserValidation, Http12Rejected) { expect_rejected("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 400); }

TEST(ParserValidation, Http20Rejected) { expect_rejected("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 400); }

TEST(ParserValidation, Http09Rejected) { expect_rejected("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 400); }

TEST(ParserValidation, MissingVersionRejected) { expect_rejected("GET /\r\n\r\n", 400); }

TEST(ParserValidation, MissingHostInHttp11) { expect_rejected("GET / HTTP/1.1\r\nX: y\r\n\r\n", 400); }

TEST(ParserValidation, TwoHostHeaders) { expect_rejected("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400); }

TEST(ParserValidation, ConnectRejected) { expect_rejected("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 400); }

TEST(ParserValidation, UnknownMethodRejected) { expect_rejected("FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 400); }

TEST(ParserValidation, EmptyHostAllowedInHttp11) {
  Outcome o = parse_all("GET / HTTP/1.1\r\nHost:\r\n\r\n");
  ASSERT_EQ(o.rec.completed, 1);
  ASSERT_NE(o.rec.heads[0].find("host"), nullptr);
  EXPECT_EQ(o.rec.heads[0].find("host")->value, "");
}

TEST(ParserValidation, MissingHostAllowedInHttp10) {
  Outcome o = parse_all("GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(o.rec.completed, 1);
}

TEST(ParserValidation, CommonMethodsAccepted) {
  for (std::string method : {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"}) {
    Outcome o = parse_all(method + " /x HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_EQ(o.rec.completed, 1) << method;
    EXPECT_EQ(o.rec.heads[0].method, method);
  }
}

TEST(ParserValidation, AbsoluteFormTargetPassesThrough) {
  Outcome o = parse_all("GET http://a.example/b?c=1 HTTP/1.1\r\nHost: a.example\r\n\r\n");
  ASSERT_EQ(o.rec.completed, 1);
  EXPECT_EQ(o.rec.heads[0].target, "http://a.example/b?c=1");
}

// ---- limits -----------------------------------------------------------------------

Limits small_limits() {
  Limits l;
  l.max_request_line = 64;
  l.max_header_bytes = 256;
  l.max_header_count = 4;
  l.max_body_bytes = 10;
  return l;
}

// Feeds `prefix` then `filler` forever (up to a bound): the error must come as
// soon as the limit is passed, within the piece that passes it.
void expect_endless_rejected(const std::string& prefix, char filler, std::size_t limit, int status) {
  Recorder rec;
  auto parser = make_parser(small_limits(), rec);
  FeedResult r = parser->feed(prefix);
  ASSERT_EQ(r.state, State::NeedMore);
  std::size_t fed = prefix.size();
  const std::string piece(16, filler);
  while (r.state == State::NeedMore && fed < 100 * limit) {
    r = parser->feed(piece);
    fed += piece.size();
  }
  EXPECT_EQ(r.state, State::Error);
  EXPECT_EQ(r.error.status, status) << r.error.reason;
  EXPECT_LE(fed, limit + piece.size());
  EXPECT_EQ(rec.completed, 0);
}

TEST(ParserLimits, RequestLineTooLong) {
  expect_rejected("GET /" + std::string(60, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", 414, small_limits());
}

TEST(ParserLimits, RequestLineAtLimitAccepted) {
  const std::string line = "GET /" + std::string(64 - 14, 'a') + " HTTP/1.1";  // exactly 64 bytes
  ASSERT_EQ(line.size(), 64u);
  for (std::size_t piece : {kWhole, std::size_t{1}}) {
    Outcome o = parse_all(line + "\r\nHost: a\r\n\r\n", small_limits(), piece);
    EXPECT_EQ(o.rec.completed, 1) << o.last.error.reason;
  }
}

TEST(ParserLimits, RequestLineOneOverLimitCountsTheVersion) {
  // 65 bytes only because of " HTTP/1.1": the version is part of the line.
  const std::string line = "GET /" + std::string(64 - 13, 'a') + " HTTP/1.1";
  ASSERT_EQ(line.size(), 65u);
  expect_rejected(line + "\r\nHost: a\r\n\r\n", 414, small_limits());
}

TEST(ParserLimits, EndlessRequestLineRejectedEarly) { expect_endless_rejected("GET /", 'a', 64, 414); }

TEST(ParserLimits, HeadTooLarge) {
  expect_rejected(get_with("X: " + std::string(250, 'v') + "\r\n"), 431, small_limits());
}

// A head of exactly `size` bytes.
std::string head_of_size(std::size_t size) {
  const std::size_t base = get_with("X: \r\n").size();
  return get_with("X: " + std::string(size - base, 'v') + "\r\n");
}

TEST(ParserLimits, HeadAtLimitAccepted) {
  ASSERT_EQ(head_of_size(256).size(), 256u);
  for (std::size_t piece : {kWhole, std::size_t{1}}) {
    Outcome o = parse_all(head_of_size(256), small_limits(), piece);
    EXPECT_EQ(o.rec.completed, 1) << o.last.error.reason;
    EXPECT_EQ(parse_all(head_of_size(257), small_limits(), piece).last.error.status, 431);
  }
}

TEST(ParserLimits, EndlessHeaderValueRejectedEarly) {
  expect_endless_rejected("GET / HTTP/1.1\r\nHost: a\r\nX: ", 'v', 256, 431);
}

TEST(ParserLimits, EndlessWhitespaceBeforeValueRejectedEarly) {
  expect_endless_rejected("GET / HTTP/1.1\r\nHost: a\r\nX:", ' ', 256, 431);
}

TEST(ParserLimits, EndlessHeaderNameRejectedEarly) {
  expect_endless_rejected("GET / HTTP/1.1\r\nHost: a\r\n", 'n', 256, 431);
}

TEST(ParserLimits, TooManyHeaders) {
  expect_rejected(get_with("A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n"), 431, small_limits());
}

TEST(ParserLimits, HeaderCountAtLimitAccepted) {
  Outcome o = parse_all(get_with("A: 1\r\nB: 2\r\nC: 3\r\n"), small_limits());
  EXPECT_EQ(o.rec.completed, 1) << o.last.error.reason;
}

TEST(ParserLimits, ContentLengthOverLimit) {
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n" + std::string(11, 'b'), 413,
                  small_limits());
}

TEST(ParserLimits, ChunkedBodyOverLimit) {
  expect_rejected(post_chunked("6\r\nabcdef\r\n5\r\nghijk\r\n0\r\n\r\n"), 413, small_limits());
}

TEST(ParserLimits, HugeChunkSizeRejectedBeforeData) {
  expect_rejected(post_chunked("ffffffffffffffff\r\nabc"), 413, small_limits());
}

TEST(ParserLimits, ContentLengthBodyAtLimitAccepted) {
  Outcome o = parse_all("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789", small_limits());
  ASSERT_EQ(o.rec.completed, 1) << o.last.error.reason;
  EXPECT_EQ(o.rec.bodies[0], "0123456789");
}

TEST(ParserLimits, ChunkedBodyAtLimitAccepted) {
  for (std::size_t piece : {kWhole, std::size_t{1}}) {
    Outcome o = parse_all(post_chunked("6\r\nabcdef\r\n4\r\nghij\r\n0\r\n\r\n"), small_limits(), piece);
    ASSERT_EQ(o.rec.completed, 1) << o.last.error.reason;
    EXPECT_EQ(o.rec.bodies[0], "abcdefghij");
  }
}

TEST(ParserLimits, EndlessTrailerRejectedEarly) {
  expect_endless_rejected(post_chunked("0\r\nT:"), ' ', 256 + 64, 431);
}

TEST(ParserLimits, TrailerSectionTooLarge) {
  // Mostly whitespace, which llhttp skips without a callback: the size is still exact.
  const std::string trailer = "T:" + std::string(250, ' ') + "v\r\n\r\n";
  expect_rejected(post_chunked("0\r\n" + trailer), 431, small_limits());
}

TEST(ParserLimits, TooManyTrailers) {
  expect_rejected(post_chunked("0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n"), 431, small_limits());
}

TEST(ParserLimits, EndlessChunkExtensionRejected) {
  Recorder rec;
  auto parser = make_parser(Limits{}, rec);
  FeedResult r = parser->feed(post_chunked("3;ext="));
  std::size_t fed = 0;
  while (r.state == State::NeedMore && fed < 1'000'000) {
    r = parser->feed(std::string(64, 'x'));
    fed += 64;
  }
  EXPECT_EQ(r.state, State::Error);
  EXPECT_EQ(r.error.status, 400);
}

// ---- valid requests -----------------------------------------------------------------

TEST(ParserValid, SimpleGet) {
  Recorder rec;
  auto parser = make_parser(Limits{}, rec);
  EXPECT_TRUE(parser->idle());
  EXPECT_FALSE(parser->reading_head());
  const std::string req = "GET /a%20b?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
  FeedResult r = parser->feed(req);
  ASSERT_EQ(r.state, State::MessageComplete) << r.error.reason;
  EXPECT_EQ(r.consumed, req.size());
  ASSERT_EQ(rec.heads.size(), 1u);
  const RequestHead& h = rec.heads[0];
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.target, "/a%20b?x=1");
  EXPECT_EQ(h.version_major, 1);
  EXPECT_EQ(h.version_minor, 1);
  ASSERT_EQ(h.headers.size(), 2u);
  EXPECT_EQ(h.headers[0].name, "Host");
  EXPECT_EQ(h.headers[0].value, "example.com");
  EXPECT_TRUE(h.keep_alive);
  EXPECT_FALSE(h.has_body());
  EXPECT_FALSE(h.content_length.has_value());
  EXPECT_EQ(rec.completed, 1);
  EXPECT_TRUE(rec.bodies[0].empty());
}

TEST(ParserValid, IdleAndReadingHeadFollowTheMessage) {
  Recorder rec;
  auto parser = make_parser(Limits{}, rec);
  EXPECT_EQ(parser->feed("GE").state, State::NeedMore);
  EXPECT_FALSE(parser->idle());
  EXPECT_TRUE(parser->reading_head());
  EXPECT_EQ(parser->feed("T / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n").state, State::NeedMore);
  EXPECT_FALSE(parser->reading_head());
  EXPECT_FALSE(parser->idle());
  EXPECT_EQ(parser->feed("ok").state, State::MessageComplete);
  EXPECT_FALSE(parser->idle());
  parser->resume();
  EXPECT_TRUE(parser->idle());
  EXPECT_FALSE(parser->reading_head());
}

TEST(ParserValid, Pipelined) {
  const std::string first = "POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
  const std::string second = "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
  Recorder rec;
  auto parser = make_parser(Limits{}, rec);
  const std::string both = first + second;
  FeedResult r = parser->feed(both);
  ASSERT_EQ(r.state, State::MessageComplete);
  EXPECT_EQ(r.consumed, first.size());
  EXPECT_EQ(rec.heads.size(), 1u);
  parser->resume();
  r = parser->feed(std::string_view(both).substr(r.consumed));
  ASSERT_EQ(r.state, State::MessageComplete);
  EXPECT_EQ(r.consumed, second.size());
  ASSERT_EQ(rec.heads.size(), 2u);
  EXPECT_EQ(rec.heads[0].target, "/1");
  EXPECT_EQ(rec.bodies[0], "abc");
  EXPECT_EQ(rec.heads[1].target, "/2");
  EXPECT_EQ(rec.completed, 2);
}

TEST(ParserValid, ChunkedPostByteByByteGivesSameBody) {
  const std::string req = post_chunked("5\r\nhello\r\n1;a=b\r\n \r\n6\r\nworld!\r\n0\r\n\r\n");
  Outcome whole = parse_all(req);
  Outcome bytes = parse_all(req, Limits{}, 1);
  ASSERT_EQ(whole.rec.completed, 1) << whole.last.error.reason;
  ASSERT_EQ(bytes.rec.completed, 1) << bytes.last.error.reason;
  EXPECT_EQ(whole.rec.bodies[0], "hello world!");
  EXPECT_EQ(bytes.rec.bodies[0], "hello world!");
  EXPECT_TRUE(whole.rec.heads[0].chunked);
}

TEST(ParserValid, ChunkSizeWithSixteenDigits) {
  Outcome o = parse_all(post_chunked("0000000000000003\r\nabc\r\n0000000000000000\r\n\r\n"), Limits{}, 1);
  ASSERT_EQ(o.rec.completed, 1) << o.last.error.reason;
  EXPECT_EQ(o.rec.bodies[0], "abc");
}

TEST(ParserValid, HexLikeTrailerNameAccepted) {
  Outcome o = parse_all(post_chunked("0\r\nDeadBeefCafeBabeFace: 1\r\n\r\n"));
  EXPECT_EQ(o.rec.completed, 1) << o.last.error.reason;
}

TEST(ParserValid, ChunkExtensionsIgnored) {
  // llhttp 8.1 refuses a second extension after one with a value ("1;a=b;c=d"): not tested here.
  Outcome o = parse_all(post_chunked("3;foo=bar\r\nabc\r\n2;q=\"x y\"\r\nde\r\n1;a;b=c\r\nf\r\n0;last\r\n\r\n"));
  ASSERT_EQ(o.rec.completed, 1) << o.last.error.reason;
  EXPECT_EQ(o.rec.bodies[0], "abcdef");
}

TEST(ParserValid, TrailersAcceptedAndNotInHead) {
  Outcome o = parse_all(post_chunked("3\r\nabc\r\n0\r\nX-Checksum: 1\r\nX-More: 2\r\n\r\n") + std::string(kSmuggled));
  ASSERT_EQ(o.rec.completed, 2) << o.last.error.reason;
  EXPECT_EQ(o.rec.bodies[0], "abc");
  EXPECT_EQ(o.rec.heads[0].find("X-Checksum"), nullptr);
  EXPECT_EQ(o.rec.heads[1].target, "/smuggled");  // a legitimate second request here
}

TEST(ParserValid, Http10KeepAliveRules) {
  EXPECT_FALSE(parse_all("GET / HTTP/1.0\r\n\r\n").rec.heads.at(0).keep_alive);
  EXPECT_TRUE(parse_all("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").rec.heads.at(0).keep_alive);
  EXPECT_FALSE(parse_all("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").rec.heads.at(0).keep_alive);
  EXPECT_TRUE(parse_all("GET / HTTP/1.1\r\nHost: a\r\n\r\n").rec.heads.at(0).keep_alive);
  EXPECT_FALSE(parse_all("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n").rec.heads.at(0).keep_alive);
}

TEST(ParserValid, Http10KeepAlivePipelined) {
  Outcome o = parse_all("GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n");
  ASSERT_EQ(o.rec.completed, 2) << o.last.error.reason;
  EXPECT_TRUE(o.rec.heads[0].keep_alive);
  EXPECT_FALSE(o.rec.heads[1].keep_alive);
}

TEST(ParserValid, DataAfterConnectionCloseIsNotParsed) {
  Outcome o = parse_all("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" + std::string(kSmuggled));
  EXPECT_EQ(o.rec.completed, 1);
  EXPECT_FALSE(o.rec.heads.at(0).keep_alive);
  EXPECT_FALSE(o.rec.saw_target("/smuggled"));
  EXPECT_EQ(o.last.state, State::Error);
}

TEST(ParserValid, HeaderCasePreservedAndFindIgnoresCase) {
  Outcome o = parse_all(get_with("X-MiXeD-CaSe: Value\r\n"));
  ASSERT_EQ(o.rec.completed, 1);
  const RequestHead& h = o.rec.heads[0];
  EXPECT_EQ(h.headers[1].name, "X-MiXeD-CaSe");
  ASSERT_NE(h.find("x-mixed-case"), nullptr);
  EXPECT_EQ(h.find("X-MIXED-CASE")->value, "Value");
  EXPECT_EQ(h.find("X-Mixed"), nullptr);
}

TEST(ParserValid, HeaderValuesTrimmed) {
  Outcome o = parse_all(get_with("X:  \t a b \t \r\nY:\r\nZ:\t\r\n"));
  ASSERT_EQ(o.rec.completed, 1) << o.last.error.reason;
  EXPECT_EQ(o.rec.heads[0].find("X")->value, "a b");
  EXPECT_EQ(o.rec.heads[0].find("Y")->value, "");
  EXPECT_EQ(o.rec.heads[0].find("Z")->value, "");
}

TEST(ParserValid, ObsTextInValueAccepted) {
  Outcome o = parse_all(get_with("X: caf\xc3\xa9\r\n"));
  ASSERT_EQ(o.rec.completed, 1) << o.last.error.reason;
  EXPECT_EQ(o.rec.heads[0].find("X")->value, "caf\xc3\xa9");
}

TEST(ParserValid, ExpectContinue) {
  EXPECT_TRUE(parse_all("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx")
                  .rec.heads.at(0)
                  .expect_continue);
  EXPECT_FALSE(parse_all("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx")
                   .rec.heads.at(0)
                   .expect_continue);
  EXPECT_FALSE(parse_all("GET / HTTP/1.1\r\nHost: a\r\n\r\n").rec.heads.at(0).expect_continue);
}

TEST(ParserValid, ContentLengthBody) {
  Outcome o = parse_all("PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length:  5 \r\n\r\nhello", Limits{}, 2);
  ASSERT_EQ(o.rec.completed, 1) << o.last.error.reason;
  EXPECT_EQ(o.rec.heads[0].content_length, 5u);
  EXPECT_TRUE(o.rec.heads[0].has_body());
  EXPECT_EQ(o.rec.bodies[0], "hello");
}

TEST(ParserValid, TransferEncodingCaseInsensitiveWithEmptyListElements) {
  Outcome o = parse_all("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , Chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n");
  ASSERT_EQ(o.rec.completed, 1) << o.last.error.reason;
  EXPECT_EQ(o.rec.bodies[0], "hi");
}

TEST(ParserValid, UpgradeIsIgnored) {
  Outcome o = parse_all(get_with("Connection: upgrade\r\nUpgrade: websocket\r\n") + std::string(kSmuggled));
  ASSERT_EQ(o.rec.completed, 2) << o.last.error.reason;
}

TEST(ParserValid, LeadingEmptyLinesIgnored) {
  Outcome o = parse_all("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(o.rec.completed, 1) << o.last.error.reason;
}

// ---- the feed contract ------------------------------------------------------------------

TEST(ParserContract, ErrorIsSticky) {
  Recorder rec;
  auto parser = make_parser(Limits{}, rec);
  FeedResult r = parser->feed("GET / HTTP/1.1\r\nHost : a\r\n\r\n");
  ASSERT_EQ(r.state, State::Error);
  parser->resume();
  FeedResult again = parser->feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(again.state, State::Error);
  EXPECT_EQ(again.error.status, r.error.status);
  EXPECT_EQ(again.error.reason, r.error.reason);
  EXPECT_TRUE(rec.heads.empty());
}

TEST(ParserContract, NoBodyCallbackForEmptyBody) {
  Outcome o = parse_all("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", Limits{}, 1);
  ASSERT_EQ(o.rec.completed, 1);
  EXPECT_EQ(o.rec.bodies[0], "");
}

TEST(ParserContract, HandlerExceptionBecomesError) {
  struct Throwing final : ParserHandler {
    void on_head(RequestHead&&) override { throw std::runtime_error("boom"); }
    void on_body(std::string_view) override {}
    void on_message_complete() override {}
  } handler;
  auto parser = make_parser(Limits{}, handler);
  FeedResult r = parser->feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(r.state, State::Error);
  EXPECT_EQ(r.error.status, 500);
}

}  // namespace
}  // namespace squall::http

namespace squall::http {

// Every refusal names its reason from the one table (core/http/errors.h).
TEST(ParserErrors, EachRefusalHasItsStableIdAndTheTablesStatus) {
  struct Case {
    std::string raw;
    RequestError id;
  };
  for (const Case& c : std::vector<Case>{
           {"GET / HTTP/1.1\r\n\r\n", RequestError::MissingHost},
           {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", RequestError::MultipleHost},
           {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            RequestError::LengthAndTransferEncoding},
           {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", RequestError::UnsupportedTransferCoding},
           {"GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n", RequestError::InvalidHeaderValue},
           {"GET / HTTP/1.1\r\nHost: a\r\nX y: z\r\n\r\n", RequestError::InvalidHeaderName},
           {"GET / HTTP/9.1\r\nHost: a\r\n\r\n", RequestError::UnsupportedVersion},
           {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n", RequestError::InvalidContentLength},
       }) {
    SCOPED_TRACE(c.raw);
    Outcome o = parse_all(c.raw);
    ASSERT_EQ(o.last.state, State::Error);
    EXPECT_EQ(o.last.error.id, c.id) << o.last.error.reason << " (" << info(o.last.error.id).id << ")";
    EXPECT_EQ(o.last.error.status, info(c.id).status);
  }
  // Ids are unique, snake_case and never empty: they are metric label values.
  for (std::size_t i = 0; i < kRequestErrorCount; ++i) {
    EXPECT_FALSE(kRequestErrors[i].id.empty());
    EXPECT_EQ(kRequestErrors[i].id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_"), std::string_view::npos);
    for (std::size_t j = i + 1; j < kRequestErrorCount; ++j) EXPECT_NE(kRequestErrors[i].id, kRequestErrors[j].id);
  }
}

}  // namespace squall::http

namespace squall::http {

// ---- peers' corpora: singletons, trailers, asterisk-form, obs-text -----------

namespace {

// Rejected with this id, whole and byte by byte (see expect_rejected).
void expect_refused_as(const std::string& raw, RequestError id) {
  expect_rejected(raw, info(id).status);
  for (std::size_t piece : {kWhole, std::size_t{1}}) {
    EXPECT_EQ(parse_all(raw, {}, piece).last.error.id, id) << info(id).id;
  }
}

}  // namespace

TEST(ParserSingletons, TwoContentTypesRejected) {
  expect_refused_as("POST / HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Type: application/json\r\n"
                    "Content-Length: 2\r\n\r\n{}",
                    RequestError::MultipleContentType);
  // The same value twice is refused too: only list-based fields may repeat (RFC 9110 5.3).
  expect_refused_as(get_with("content-type: a/b\r\nContent-Type: a/b\r\n"), RequestError::MultipleContentType);
}

TEST(ParserSingletons, OneContentTypeAccepted) {
  Outcome o = parse_all(get_with("Content-Type: text/plain\r\n"));
  EXPECT_EQ(o.rec.completed, 1) << o.last.error.reason;
}

TEST(ParserTrailers, ForbiddenFieldsRejected) {
  for (std::string name : {"Content-Length", "content-length", "Host", "Transfer-Encoding", "Content-Type",
                           "Content-Encoding", "Content-Range", "Trailer", "Authorization", "Proxy-Authorization",
                           "Cookie", "Cache-Control", "Expect", "Range", "If-None-Match", "Max-Forwards",
                           "Connection", "TE"}) {
    SCOPED_TRACE(name);
    expect_refused_as(post_chunked("3\r\nabc\r\n0\r\n" + name + ": 1\r\n\r\n"), RequestError::ForbiddenTrailerField);
  }
}

TEST(ParserTrailers, ForbiddenFieldAfterAllowedOneRejected) {
  expect_refused_as(post_chunked("0\r\nX-Checksum: 1\r\nHost: b\r\n\r\n"), RequestError::ForbiddenTrailerField);
}

TEST(ParserTrailers, ForbiddenNamesAreFineInTheHead) {
  Outcome o = parse_all("POST / HTTP/1.1\r\nHost: a\r\nContent-Type: a/b\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(o.rec.completed, 1) << o.last.error.reason;
}

TEST(ParserTarget, AsteriskFormOnlyForOptions) {
  for (std::string method : {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "TRACE"}) {
    SCOPED_TRACE(method);
    expect_refused_as(method + " * HTTP/1.1\r\nHost: a\r\n\r\n", RequestError::AsteriskFormMethod);
  }
  Outcome o = parse_all("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_EQ(o.rec.completed, 1) << o.last.error.reason;
  EXPECT_EQ(o.rec.heads[0].target, "*");
}

TEST(ParserTarget, ObsTextInTargetAcceptedAsItsBytes) {
  const std::string target = "/caf\xc3\xa9/\xe2\x98\x83?q=\xc3\xbc";
  for (std::size_t piece : {kWhole, std::size_t{1}, std::size_t{7}}) {
    SCOPED_TRACE(piece);
    Outcome o = parse_all("GET " + target + " HTTP/1.1\r\nHost: a\r\n\r\n" + std::string(kSmuggled), {}, piece);
    ASSERT_EQ(o.rec.completed, 2) << o.last.error.reason;
    EXPECT_EQ(o.rec.heads[0].target, target);
    EXPECT_EQ(o.rec.heads[0].method, "GET");
    EXPECT_EQ(o.rec.heads[1].target, "/smuggled");
  }
}

TEST(ParserTarget, ObsTextInPipelinedRequestsAndBodies) {
  // Only the request line is masked for llhttp: a body's bytes arrive as sent.
  const std::string body = "\xff\x80" "x\r\n";
  Outcome o = parse_all("POST /\xc3\xa9 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n" + body +
                        "GET /\xe2\x82\xac HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_EQ(o.rec.completed, 2) << o.last.error.reason;
  EXPECT_EQ(o.rec.bodies[0], body);
  EXPECT_EQ(o.rec.heads[1].target, "/\xe2\x82\xac");
}

TEST(ParserTarget, ObsTextOutsideTheTargetRejected) {
  expect_rejected("G\xc3\x89T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
  expect_rejected("GET\xc2\xa0/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
  expect_rejected("GET / HTTP/1.\xb1\r\nHost: a\r\n\r\n", 400);
  expect_rejected("GET / \xc3\x89TTP/1.1\r\nHost: a\r\n\r\n", 400);
}

TEST(ParserTarget, ControlsAndDelStillRejected) {
  expect_refused_as("GET /a\x7f" "b HTTP/1.1\r\nHost: a\r\n\r\n", RequestError::InvalidTarget);
}

// ---- a lower body limit for one request (probe paths) ---------------------------

namespace {

// Lowers the body limit of requests to /probe from on_head, as a connection does.
struct Limiting final : ParserHandler {
  Parser* parser = nullptr;
  std::vector<std::string> targets;
  std::string body;
  int completed = 0;
  void on_head(RequestHead&& head) override {
    if (head.target == "/probe") parser->limit_body(4);
    targets.push_back(head.target);
  }
  void on_body(std::string_view data) override { body.append(data); }
  void on_message_complete() override { ++completed; }
};

FeedResult feed_all(Parser& parser, std::string input) {
  FeedResult r;
  while (!input.empty()) {
    r = parser.feed(input);
    if (r.state == FeedResult::State::Error) return r;
    input.erase(0, r.consumed);
    if (r.state == FeedResult::State::MessageComplete) parser.resume();
  }
  return r;
}

}  // namespace

TEST(ParserBodyLimit, DeclaredLengthAboveTheLoweredLimitIs413) {
  Limiting h;
  auto parser = make_parser({}, h);
  h.parser = parser.get();
  FeedResult r = feed_all(*parser, "POST /probe HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(r.state, FeedResult::State::Error);
  EXPECT_EQ(r.error.id, RequestError::BodyTooLarge);
  EXPECT_EQ(r.error.status, 413);
  EXPECT_EQ(r.error.reason, "request body larger than 4 bytes");
}

TEST(ParserBodyLimit, ChunkedBodyPastTheLoweredLimitIs413) {
  Limiting h;
  auto parser = make_parser({}, h);
  h.parser = parser.get();
  FeedResult r = feed_all(*parser, "POST /probe HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n");
  EXPECT_EQ(r.error.id, RequestError::BodyTooLarge);
  EXPECT_EQ(h.completed, 0);
}

TEST(ParserBodyLimit, WithinTheLoweredLimitAndBackToTheLimitsAfter) {
  Limiting h;
  auto parser = make_parser({}, h);
  h.parser = parser.get();
  FeedResult r = feed_all(*parser, "POST /probe HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nabcd"
                                   "POST /app HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789");
  EXPECT_NE(r.state, FeedResult::State::Error) << r.error.reason;
  EXPECT_EQ(h.completed, 2);
  EXPECT_EQ(h.body, "abcd0123456789");
}

}  // namespace squall::http
