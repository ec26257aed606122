#pragma once
// permessage-deflate's compression (RFC 7692 7.2) over zlib's raw deflate.
// The zlib streams are allocated on first use and, without context takeover,
// freed after each message: an idle connection holds no zlib memory.
#include <cstdint>
#include <string>
#include <string_view>

namespace squall::ws {

class Deflater {
 public:
  // `window_bits` may be below what was negotiated (a smaller window is
  // always readable); zlib's memory is 2^(window_bits+2) + 2^(mem_level+9).
  Deflater(int level, int window_bits, int mem_level, bool no_context_takeover);
  ~Deflater();
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
  // Appends the compressed message to `out`, without the final 00 00 ff ff
  // (RFC 7692 7.2.1). False if zlib fails (out of memory).
  bool compress(std::string_view message, std::string& out);

 private:
  struct State;
  State* z_ = nullptr;
  int level_, window_bits_, mem_level_;
  bool no_context_takeover_;
};

class Inflater {
 public:
  enum class Result { Ok, TooBig, Invalid };
  explicit Inflater(bool no_context_takeover);
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
  // Inflates a piece of a compressed message, appending to `out`; TooBig as
  // soon as `out` would exceed `limit` bytes (a zip bomb stops there).
  Result inflate(std::string_view compressed, std::string& out, std::uint64_t limit);
  // The message ended: inflates the 00 00 ff ff tail (RFC 7692 7.2.2).
  Result finish(std::string& out, std::uint64_t limit);

 private:
  struct State;
  State* z_ = nullptr;
  bool no_context_takeover_;
};

}  // namespace squall::ws
