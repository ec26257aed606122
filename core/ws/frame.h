#pragma once
// RFC 6455 5.2 base framing: opcodes, the server's (unmasked) frame header
// and the client's masking (5.3).
#include <cstddef>
#include <cstdint>
#include <string>

namespace squall::ws {

enum Opcode : std::uint8_t {
  kOpContinuation = 0x0,
  kOpText = 0x1,
  kOpBinary = 0x2,
  kOpClose = 0x8,
  kOpPing = 0x9,
  kOpPong = 0xA,
};

inline bool is_control(std::uint8_t opcode) { return opcode & 0x8; }

// XORs `n` bytes at `p` with the 4-byte masking key, starting `offset` bytes
// into the frame's payload (a payload arrives in pieces). Word at a time.
void unmask(char* p, std::size_t n, const std::uint8_t key[4], std::uint64_t offset);

// Appends a server frame header (FIN, RSV1, opcode, unmasked, the shortest
// length encoding RFC 6455 5.2 requires).
void append_frame_header(std::string& out, bool fin, bool rsv1, std::uint8_t opcode, std::uint64_t length);

}  // namespace squall::ws
