#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace squall::http {

struct Header {
  std::string name;   // as received (case preserved)
  std::string value;  // leading/trailing OWS stripped (RFC 9110 5.5)
};

// A complete, validated request head.
struct RequestHead {
  std::string method;
  std::string target;  // raw request-target, e.g. "/a%20b?x=1"
  int version_major = 1;
  int version_minor = 1;
  std::vector<Header> headers;
  bool keep_alive = true;  // after Connection / version rules (RFC 9112 9.3)
  bool chunked = false;    // Transfer-Encoding: chunked
  std::optional<std::uint64_t> content_length;
  bool expect_continue = false;  // Expect: 100-continue (RFC 9110 10.1.1)

  bool has_body() const { return chunked || (content_length && *content_length > 0); }
  // First header with this name, compared case-insensitively; nullptr if absent.
  const Header* find(std::string_view name) const;
};

bool iequals(std::string_view a, std::string_view b);

}  // namespace squall::http
