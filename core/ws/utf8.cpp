#include "ws/utf8.h"

#include <cstring>

namespace squall::ws {

bool Utf8Validator::feed(std::string_view bytes) {
  if (!ok_) return false;
  const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
  const auto* end = p + bytes.size();
  while (p < end) {
    if (need_ == 0) {
      // ASCII runs eight bytes at a time.
      while (end - p >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        if (w & 0x8080808080808080ULL) break;
        p += 8;
      }
      if (p == end) break;
      const std::uint8_t b = *p++;
      if (b < 0x80) continue;
      lo_ = 0x80;
      hi_ = 0xBF;
      // RFC 3629 4: no overlongs (C0, C1, E0 80-9F, F0 80-8F), no surrogates
      // (ED A0-BF), nothing past U+10FFFF (F4 90-, F5-FF).
      if (b >= 0xC2 && b <= 0xDF) {
        need_ = 1;
      } else if (b >= 0xE0 && b <= 0xEF) {
        need_ = 2;
        if (b == 0xE0) lo_ = 0xA0;
        if (b == 0xED) hi_ = 0x9F;
      } else if (b >= 0xF0 && b <= 0xF4) {
        need_ = 3;
        if (b == 0xF0) lo_ = 0x90;
        if (b == 0xF4) hi_ = 0x8F;
      } else {
        ok_ = false;
        return false;
      }
    } else {
      const std::uint8_t b = *p++;
      if (b < lo_ || b > hi_) {
        ok_ = false;
        return false;
      }
      --need_;
      lo_ = 0x80;
      hi_ = 0xBF;
    }
  }
  return true;
}

}  // namespace squall::ws
