#pragma once
#include <cstddef>
#include <cstdint>

namespace squall::http {

// Every limit is a named option (see squall/options.py for the documented defaults).
struct Limits {
  std::size_t max_request_line = 8190;          // request line incl. URI -> 414
  std::size_t max_header_bytes = 64 * 1024;     // whole head (request line + headers) -> 431
  std::size_t max_header_count = 100;           // number of header fields -> 431
  std::uint64_t max_body_bytes = 100ull << 20;  // declared or streamed body -> 413
};

}  // namespace squall::http
