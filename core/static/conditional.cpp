#include "static/conditional.h"

#include "http/request.h"
#include "http/syntax.h"
#include "static/file_info.h"

namespace squall::static_files {
namespace {

// 1*DIGIT, at most 19 of them (no overflow of uint64).
bool parse_digits(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return true;
}

// Calls f(item) for each comma-separated, trimmed, non-empty list element
// (RFC 9110 5.6.1); stops when f returns true. Returns whether it did.
template <typename F>
bool any_item(std::string_view list, F f) {
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    std::string_view item = http::trim_ows(list.substr(0, comma));
    if (!item.empty() && f(item)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// The opaque-tag of an entity-tag and whether it is weak; false if malformed.
bool split_etag(std::string_view tag, std::string_view& opaque, bool& weak) {
  weak = tag.starts_with("W/");
  if (weak) tag.remove_prefix(2);
  if (tag.size() < 2 || tag.front() != '"' || tag.back() != '"') return false;
  opaque = tag;
  return true;
}

}  // namespace

RangeParse parse_range(std::string_view value, std::uint64_t size, ByteRange& out) {
  value = http::trim_ows(value);
  std::size_t eq = value.find('=');
  if (eq == std::string_view::npos || !http::iequals(http::trim_ows(value.substr(0, eq)), "bytes"))
    return RangeParse::Ignore;
  std::string_view spec = http::trim_ows(value.substr(eq + 1));
  if (spec.find(',') != std::string_view::npos) return RangeParse::Ignore;
  std::size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return RangeParse::Ignore;
  std::string_view first_text = spec.substr(0, dash), last_text = spec.substr(dash + 1);
  std::uint64_t first = 0, last = 0;
  if (first_text.empty()) {
    // suffix-range: the last N bytes; N = 0 or an empty file cannot be satisfied.
    if (!parse_digits(last_text, last)) return RangeParse::Ignore;
    if (last == 0 || size == 0) return RangeParse::Unsatisfiable;
    std::uint64_t n = last < size ? last : size;
    out = {size - n, n};
    return RangeParse::Satisfiable;
  }
  if (!parse_digits(first_text, first)) return RangeParse::Ignore;
  if (last_text.empty()) {
    last = size == 0 ? 0 : size - 1;
  } else {
    if (!parse_digits(last_text, last) || last < first) return RangeParse::Ignore;  // invalid: 14.1.1
    if (size > 0 && last >= size) last = size - 1;
  }
  if (first >= size) return RangeParse::Unsatisfiable;
  out = {first, last - first + 1};
  return RangeParse::Satisfiable;
}

bool etag_matches(std::string_view list, std::string_view etag, bool weak_comparison) {
  std::string_view mine;
  bool mine_weak = false;
  if (!split_etag(etag, mine, mine_weak)) return false;
  if (http::trim_ows(list) == "*") return true;
  return any_item(list, [&](std::string_view item) {
    std::string_view theirs;
    bool weak = false;
    if (!split_etag(item, theirs, weak)) return false;
    if (!weak_comparison && (weak || mine_weak)) return false;
    return theirs == mine;
  });
}

Decision evaluate(const RequestConditions& r, std::string_view etag, std::int64_t last_modified, std::uint64_t size) {
  bool get_or_head = r.method == "GET" || r.method == "HEAD";
  // Step 1-2 (RFC 9110 13.2.2): a lost update is refused.
  if (r.if_match) {
    if (!etag_matches(*r.if_match, etag, false)) return {Outcome::PreconditionFailed, {}};
  } else if (r.if_unmodified_since) {
    auto since = parse_http_date(http::trim_ows(*r.if_unmodified_since));
    if (since && last_modified > *since) return {Outcome::PreconditionFailed, {}};
  }
  // Step 3-4: the client's copy is current.
  if (r.if_none_match) {
    if (etag_matches(*r.if_none_match, etag, true))
      return {get_or_head ? Outcome::NotModified : Outcome::PreconditionFailed, {}};
  } else if (r.if_modified_since && get_or_head) {
    auto since = parse_http_date(http::trim_ows(*r.if_modified_since));
    if (since && last_modified <= *since) return {Outcome::NotModified, {}};
  }
  // Step 5: Range, for GET only.
  if (!r.range || r.method != "GET") return {Outcome::Full, {}};
  if (r.if_range) {
    std::string_view validator = http::trim_ows(*r.if_range);
    bool current;
    if (validator.starts_with("W/") || validator.starts_with("\"")) {
      current = etag_matches(validator, etag, false) && validator.find(',') == std::string_view::npos;
    } else {
      auto date = parse_http_date(validator);
      current = date && *date == last_modified;
    }
    if (!current) return {Outcome::Full, {}};  // changed since: the whole new representation
  }
  ByteRange range;
  switch (parse_range(*r.range, size, range)) {
    case RangeParse::Satisfiable: return {Outcome::Partial, range};
    case RangeParse::Unsatisfiable: return {Outcome::RangeNotSatisfiable, {}};
    case RangeParse::Ignore: break;
  }
  return {Outcome::Full, {}};
}

bool accepts_encoding(std::string_view accept, std::string_view coding) {
  // The q-value of `coding` if listed, else that of "*", else not acceptable.
  int named = -1, any = -1;  // q * 1000
  any_item(accept, [&](std::string_view item) {
    std::size_t semi = item.find(';');
    std::string_view name = http::trim_ows(item.substr(0, semi));
    int q = 1000;
    if (semi != std::string_view::npos) {
      std::string_view params = http::trim_ows(item.substr(semi + 1));
      if (params.size() >= 2 && (params[0] == 'q' || params[0] == 'Q') && params[1] == '=') {
        std::string_view v = http::trim_ows(params.substr(2));
        // qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
        q = 0;
        if (!v.empty() && v[0] == '1')
          q = 1000;
        else if (v.size() > 2 && v[0] == '0' && v[1] == '.') {
          int scale = 100;
          for (std::size_t i = 2; i < v.size() && i < 5 && v[i] >= '0' && v[i] <= '9'; ++i, scale /= 10)
            q += (v[i] - '0') * scale;
        }
      }
    }
    if (http::iequals(name, coding))
      named = q;
    else if (name == "*")
      any = q;
    return false;
  });
  return named >= 0 ? named > 0 : any > 0;
}

}  // namespace squall::static_files
