// Conditional and range requests (core/static/conditional.h), RFC 9110 13-14.
#include "static/conditional.h"

#include <gtest/gtest.h>

#include <string>

using namespace squall::static_files;

namespace {

constexpr std::int64_t kModified = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
constexpr const char* kTag = "\"abc\"";

Decision decide(RequestConditions r, std::uint64_t size = 1000) { return evaluate(r, kTag, kModified, size); }

ByteRange range_of(const char* value, std::uint64_t size, RangeParse expected = RangeParse::Satisfiable) {
  ByteRange out;
  EXPECT_EQ(parse_range(value, size, out), expected) << value;
  return out;
}

}  // namespace

TEST(StaticRange, Forms) {
  ByteRange r = range_of("bytes=0-499", 1000);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.length, 500u);
  r = range_of("bytes=500-", 1000);
  EXPECT_EQ(r.first, 500u);
  EXPECT_EQ(r.length, 500u);
  r = range_of("bytes=-100", 1000);
  EXPECT_EQ(r.first, 900u);
  EXPECT_EQ(r.length, 100u);
  r = range_of("bytes=-5000", 1000);  // a suffix longer than the file: all of it
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.length, 1000u);
  r = range_of("bytes=990-5000", 1000);  // last-pos clipped
  EXPECT_EQ(r.length, 10u);
  r = range_of("BYTES = 1-1", 1000);  // the unit is case-insensitive
  EXPECT_EQ(r.length, 1u);
}

TEST(StaticRange, Unsatisfiable) {
  range_of("bytes=1000-", 1000, RangeParse::Unsatisfiable);
  range_of("bytes=1000-2000", 1000, RangeParse::Unsatisfiable);
  range_of("bytes=-0", 1000, RangeParse::Unsatisfiable);
  range_of("bytes=0-", 0, RangeParse::Unsatisfiable);
  range_of("bytes=-1", 0, RangeParse::Unsatisfiable);
}

TEST(StaticRange, IgnoredMeansTheWholeFile) {
  for (const char* v : {"bytes=5-1", "items=0-1", "bytes=a-b", "bytes=0-1,5-6", "bytes=", "bytes", "bytes=--1",
                        "bytes=99999999999999999999-", "bytes=1-2-3"})
    range_of(v, 1000, RangeParse::Ignore);
}

TEST(StaticEtag, Comparison) {
  EXPECT_TRUE(etag_matches("\"abc\"", kTag, false));
  EXPECT_TRUE(etag_matches("\"x\", \"abc\"", kTag, false));
  EXPECT_TRUE(etag_matches("*", kTag, false));
  EXPECT_FALSE(etag_matches("W/\"abc\"", kTag, false));  // strong comparison: weak never matches
  EXPECT_TRUE(etag_matches("W/\"abc\"", kTag, true));    // weak comparison
  EXPECT_FALSE(etag_matches("\"abcd\"", kTag, true));
  EXPECT_FALSE(etag_matches("abc", kTag, true));  // not quoted: not an entity-tag
  EXPECT_FALSE(etag_matches("", kTag, true));
}

TEST(StaticConditional, IfNoneMatchGivesNotModified) {
  RequestConditions r;
  r.if_none_match = "\"abc\"";
  EXPECT_EQ(decide(r).outcome, Outcome::NotModified);
  r.method = "HEAD";
  EXPECT_EQ(decide(r).outcome, Outcome::NotModified);
  r.if_none_match = "\"old\"";
  EXPECT_EQ(decide(r).outcome, Outcome::Full);
}

TEST(StaticConditional, IfNoneMatchWinsOverIfModifiedSince) {
  // RFC 9110 13.1.3: If-Modified-Since is ignored when If-None-Match is present.
  RequestConditions r;
  r.if_none_match = "\"old\"";
  r.if_modified_since = "Sun, 06 Nov 1994 08:49:37 GMT";
  EXPECT_EQ(decide(r).outcome, Outcome::Full);
}

TEST(StaticConditional, IfModifiedSince) {
  RequestConditions r;
  r.if_modified_since = "Sun, 06 Nov 1994 08:49:37 GMT";
  EXPECT_EQ(decide(r).outcome, Outcome::NotModified);
  r.if_modified_since = "Sunday, 06-Nov-94 08:49:38 GMT";  // RFC 850
  EXPECT_EQ(decide(r).outcome, Outcome::NotModified);
  r.if_modified_since = "Sun Nov  6 08:49:36 1994";  // asctime, one second earlier
  EXPECT_EQ(decide(r).outcome, Outcome::Full);
  r.if_modified_since = "yesterday";  // invalid: ignored
  EXPECT_EQ(decide(r).outcome, Outcome::Full);
}

TEST(StaticConditional, Preconditions) {
  RequestConditions r;
  r.if_match = "\"other\"";
  EXPECT_EQ(decide(r).outcome, Outcome::PreconditionFailed);
  r.if_match = "\"abc\"";
  EXPECT_EQ(decide(r).outcome, Outcome::Full);
  RequestConditions u;
  u.if_unmodified_since = "Sun, 06 Nov 1994 08:49:36 GMT";
  EXPECT_EQ(decide(u).outcome, Outcome::PreconditionFailed);
}

TEST(StaticConditional, RangeAndIfRange) {
  RequestConditions r;
  r.range = "bytes=10-19";
  Decision d = decide(r);
  EXPECT_EQ(d.outcome, Outcome::Partial);
  EXPECT_EQ(d.range.first, 10u);
  EXPECT_EQ(d.range.length, 10u);
  r.if_range = "\"abc\"";
  EXPECT_EQ(decide(r).outcome, Outcome::Partial);
  r.if_range = "\"changed\"";  // the client's copy is stale: send the whole new file
  EXPECT_EQ(decide(r).outcome, Outcome::Full);
  r.if_range = "W/\"abc\"";  // weak tags never validate a range
  EXPECT_EQ(decide(r).outcome, Outcome::Full);
  r.if_range = "Sun, 06 Nov 1994 08:49:37 GMT";
  EXPECT_EQ(decide(r).outcome, Outcome::Partial);
  r.if_range = "Sun, 06 Nov 1994 08:49:38 GMT";
  EXPECT_EQ(decide(r).outcome, Outcome::Full);
  RequestConditions head;
  head.method = "HEAD";  // RFC 9110 14.2: Range is defined for GET only
  head.range = "bytes=0-1";
  EXPECT_EQ(decide(head).outcome, Outcome::Full);
  RequestConditions bad;
  bad.range = "bytes=2000-";
  EXPECT_EQ(decide(bad).outcome, Outcome::RangeNotSatisfiable);
  bad.if_none_match = "\"abc\"";  // a current copy: 304 before the range is looked at
  EXPECT_EQ(decide(bad).outcome, Outcome::NotModified);
}

TEST(StaticEncoding, AcceptEncoding) {
  EXPECT_TRUE(accepts_encoding("gzip, deflate, br", "br"));
  EXPECT_TRUE(accepts_encoding("GZIP", "gzip"));
  EXPECT_FALSE(accepts_encoding("gzip", "br"));
  EXPECT_FALSE(accepts_encoding("br;q=0, gzip", "br"));
  EXPECT_FALSE(accepts_encoding("br; q=0.000", "br"));
  EXPECT_TRUE(accepts_encoding("br;q=0.001", "br"));
  EXPECT_TRUE(accepts_encoding("*", "br"));
  EXPECT_FALSE(accepts_encoding("*, br;q=0", "br"));
  EXPECT_FALSE(accepts_encoding("*;q=0", "gzip"));
  EXPECT_FALSE(accepts_encoding("", "gzip"));
  EXPECT_FALSE(accepts_encoding("identity", "gzip"));
}
