#pragma once
// SHA-1 (RFC 3174) and base64 (RFC 4648 4) for the handshake's
// Sec-WebSocket-Accept; SHA-1 is used there as a checksum, not for security.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace squall::ws {

std::array<std::uint8_t, 20> sha1(std::string_view data);
std::string base64_encode(std::string_view bytes);
// Strict: padded, canonical alphabet, no whitespace; nullopt otherwise.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace squall::ws
