#include "ws/frame.h"

#include <cstring>

namespace squall::ws {

void unmask(char* p, std::size_t n, const std::uint8_t key[4], std::uint64_t offset) {
  std::uint8_t k[4];
  for (int i = 0; i < 4; ++i) k[i] = key[(offset + i) & 3];
  std::size_t i = 0;
  if (n >= 8) {
    // The key repeated over a 64-bit word, in memory order: byte j of the
    // word XORs byte i + j of the payload, i a multiple of 4.
    std::uint8_t k8[8] = {k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]};
    std::uint64_t m;
    std::memcpy(&m, k8, 8);
    for (; i + 8 <= n; i += 8) {
      std::uint64_t w;
      std::memcpy(&w, p + i, 8);
      w ^= m;
      std::memcpy(p + i, &w, 8);
    }
  }
  for (; i < n; ++i) p[i] = char(std::uint8_t(p[i]) ^ k[i & 3]);
}

void append_frame_header(std::string& out, bool fin, bool rsv1, std::uint8_t opcode, std::uint64_t length) {
  char h[10];
  std::size_t n = 2;
  h[0] = char((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0x0F));
  if (length < 126) {
    h[1] = char(length);
  } else if (length <= 0xFFFF) {
    h[1] = 126;
    h[2] = char(length >> 8);
    h[3] = char(length);
    n = 4;
  } else {
    h[1] = 127;
    for (int i = 0; i < 8; ++i) h[2 + i] = char(length >> (56 - 8 * i));
    n = 10;
  }
  out.append(h, n);
}

}  // namespace squall::ws
