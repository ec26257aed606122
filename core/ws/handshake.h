#pragma once
// The WebSocket opening handshake, server side (RFC 6455 4.2) and the
// permessage-deflate negotiation (RFC 7692 7.1). Pure functions over the
// parsed request head: no sockets.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/request.h"
#include "http/response.h"

namespace squall::ws {

// Negotiated permessage-deflate parameters (RFC 7692 7.1). Window bits are
// LZ77 window sizes as base-2 logarithms, 9..15 (8 is declined: zlib's raw
// deflate cannot produce a 256-byte window).
struct DeflateParams {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  int server_max_window_bits = 15;           // our deflater's window
  int client_max_window_bits = 15;           // the client's (our inflater uses 15: accepts any)
  bool client_max_window_bits_sent = false;  // echo the parameter in the response
};

// An upgrade request that passed RFC 6455 4.2.1's checks.
struct Upgrade {
  std::string key;                        // Sec-WebSocket-Key, as sent
  std::vector<std::string> subprotocols;  // Sec-WebSocket-Protocol, in the client's order
  std::optional<DeflateParams> deflate;   // the first permessage-deflate offer we support
};

// Why an upgrade request is refused: the status to answer (400, or 426 for
// an unsupported Sec-WebSocket-Version) and a precise text.
struct HandshakeError {
  int status = 400;
  std::string message;
};

// True when the request asks for a WebSocket (an Upgrade field listing the
// "websocket" token); such a request is then checked by parse_upgrade.
bool is_websocket_request(const http::RequestHead& head);

// Checks an upgrade request (GET, HTTP/1.1 or later, Upgrade: websocket,
// Connection: upgrade, Sec-WebSocket-Version: 13, Sec-WebSocket-Key of 16
// base64 bytes, Sec-WebSocket-Protocol tokens) and negotiates
// permessage-deflate. Returns false and fills `error` on a refusal.
bool parse_upgrade(const http::RequestHead& head, Upgrade& out, HandshakeError& error);

// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")) (RFC 6455 4.2.2).
std::string accept_key(std::string_view key);

// The 101 Switching Protocols head: Upgrade, Connection, Sec-WebSocket-Accept,
// the chosen subprotocol (empty: none; it must be one the client offered) and,
// when `deflate` is set, the Sec-WebSocket-Extensions answer. The caller may
// add fields (an ASGI app's headers) before http::serialize.
http::ResponseHead accept_head(const Upgrade& upgrade, std::string_view subprotocol,
                               const std::optional<DeflateParams>& deflate);

// The refusal, head and text body, Connection: close; a 426 carries
// Sec-WebSocket-Version: 13 (RFC 6455 4.2.2).
std::string reject_response(const HandshakeError& error);

// The Sec-WebSocket-Extensions value answering `params` (RFC 7692 7.1).
std::string deflate_response_value(const DeflateParams& params);

}  // namespace squall::ws
