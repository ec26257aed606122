#pragma once
// The request-header rules of a static response, pure and unit-tested:
// conditional requests (RFC 9110 13), range requests (RFC 9110 14) and the
// choice of a content coding (RFC 9110 12.5.3).
#include <cstdint>
#include <optional>
#include <string_view>

namespace squall::static_files {

struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t length = 0;
};

enum class RangeParse {
  Ignore,         // absent, not "bytes", malformed or several ranges: send it all (RFC 9110 14.2)
  Satisfiable,    // one range within the representation
  Unsatisfiable,  // 416 (RFC 9110 15.5.17)
};

// RFC 9110 14.1.2: "bytes=0-499", "bytes=500-", "bytes=-500". A last-pos
// past the end is clipped. Several ranges are answered in full: one sendfile
// and no multipart/byteranges body (the RFC lets a server ignore Range).
RangeParse parse_range(std::string_view value, std::uint64_t size, ByteRange& out);

// RFC 9110 8.8.3.2: does the list of entity-tags ("*", or "a", W/"b", ...)
// hold `etag`? The weak comparison ignores W/ (If-None-Match); the strong one
// needs both tags strong (If-Match, If-Range).
bool etag_matches(std::string_view list, std::string_view etag, bool weak_comparison);

struct RequestConditions {
  std::string_view method = "GET";
  std::optional<std::string_view> if_match;
  std::optional<std::string_view> if_none_match;
  std::optional<std::string_view> if_modified_since;
  std::optional<std::string_view> if_unmodified_since;
  std::optional<std::string_view> range;
  std::optional<std::string_view> if_range;
};

enum class Outcome { Full, Partial, NotModified, PreconditionFailed, RangeNotSatisfiable };

struct Decision {
  Outcome outcome = Outcome::Full;
  ByteRange range;  // Partial only
};

// RFC 9110 13.2.2, in its order: If-Match, else If-Unmodified-Since (412);
// If-None-Match, else If-Modified-Since (304 for GET and HEAD); then Range,
// honoured for GET only (RFC 9110 14.2) and only when If-Range is absent or
// names the current validator (RFC 9110 13.1.5).
Decision evaluate(const RequestConditions& request, std::string_view etag, std::int64_t last_modified,
                  std::uint64_t size);

// RFC 9110 12.5.3: is `coding` ("br", "gzip") acceptable in this
// Accept-Encoding value? Names are case-insensitive, "q=0" refuses, "*"
// stands for any coding not listed.
bool accepts_encoding(std::string_view accept_encoding, std::string_view coding);

}  // namespace squall::static_files
