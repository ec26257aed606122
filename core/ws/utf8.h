#pragma once
// Incremental UTF-8 validation (RFC 3629 4): a text message is checked as
// its bytes arrive, across fragments, and fails on the first byte that no
// valid continuation could follow (RFC 6455 8.1: fail fast, 1007).
#include <cstdint>
#include <string_view>

namespace squall::ws {

class Utf8Validator {
 public:
  // False as soon as the bytes so far cannot start valid UTF-8; sticky.
  bool feed(std::string_view bytes);
  // True when the bytes so far are complete, valid UTF-8.
  bool complete() const { return ok_ && need_ == 0; }
  void reset() { *this = Utf8Validator(); }

 private:
  bool ok_ = true;
  std::uint8_t need_ = 0;               // continuation bytes still expected
  std::uint8_t lo_ = 0x80, hi_ = 0xBF;  // range of the next continuation byte
};

inline bool valid_utf8(std::string_view s) {
  Utf8Validator v;
  return v.feed(s) && v.complete();
}

}  // namespace squall::ws
