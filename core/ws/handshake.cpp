#include "ws/handshake.h"

#include <charconv>

#include "http/syntax.h"
#include "ws/sha1.h"

namespace squall::ws {

namespace {

using http::iequals;

// Calls f(element) for each non-empty element of every `name` field's
// comma-separated list (RFC 9110 5.6.1: empty elements are ignored).
template <class F>
void for_each_element(const http::RequestHead& head, std::string_view name, F&& f) {
  for (const auto& h : head.headers) {
    if (!iequals(h.name, name)) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      std::string_view item = http::trim_ows(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      if (!item.empty()) f(item);
    }
  }
}

bool has_token(const http::RequestHead& head, std::string_view name, std::string_view token) {
  bool found = false;
  for_each_element(head, name, [&](std::string_view item) { found = found || iequals(item, token); });
  return found;
}

int count_fields(const http::RequestHead& head, std::string_view name) {
  int n = 0;
  for (const auto& h : head.headers) n += iequals(h.name, name);
  return n;
}

// One extension of Sec-WebSocket-Extensions (RFC 6455 9.1): a token and
// parameters, each a token with an optional token or quoted-string value.
struct Param {
  std::string name;
  std::optional<std::string> value;
};

// Splits "name; a; b=1; c=\"2\"" into the name and its parameters; false when
// the syntax is wrong. Commas inside quoted strings are not allowed by 9.1's
// grammar (the unquoted value must be a token), so a plain split on ',' is
// enough for the list itself.
bool parse_extension(std::string_view text, std::string& name, std::vector<Param>& params) {
  std::size_t semi = text.find(';');
  name = std::string(http::trim_ows(text.substr(0, semi)));
  if (!http::is_token(name)) return false;
  while (semi != std::string_view::npos) {
    text = text.substr(semi + 1);
    semi = text.find(';');
    std::string_view item = http::trim_ows(text.substr(0, semi));
    const std::size_t eq = item.find('=');
    Param p;
    p.name = std::string(http::trim_ows(item.substr(0, eq)));
    if (!http::is_token(p.name)) return false;
    if (eq != std::string_view::npos) {
      std::string_view v = http::trim_ows(item.substr(eq + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      if (!http::is_token(v)) return false;
      p.value = std::string(v);
    }
    params.push_back(std::move(p));
  }
  return true;
}

// RFC 7692 7.1.2: 8..15 in the offer; 8 is declined (see DeflateParams).
bool window_bits(const std::optional<std::string>& v, int& bits) {
  if (!v || v->empty() || v->size() > 2 || (*v)[0] == '0') return false;
  int n = 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || ptr != v->data() + v->size() || n < 8 || n > 15) return false;
  bits = n;
  return true;
}

// One permessage-deflate offer; nullopt when it must be declined (RFC 7692
// 7.1: unknown or repeated parameter, invalid value, or a configuration we
// do not support).
std::optional<DeflateParams> negotiate_deflate(const std::vector<Param>& params) {
  DeflateParams d;
  bool seen[4] = {};
  for (const Param& p : params) {
    int which;
    if (iequals(p.name, "server_no_context_takeover")) {
      which = 0;
      if (p.value) return std::nullopt;
      d.server_no_context_takeover = true;
    } else if (iequals(p.name, "client_no_context_takeover")) {
      which = 1;
      if (p.value) return std::nullopt;
      d.client_no_context_takeover = true;
    } else if (iequals(p.name, "server_max_window_bits")) {
      which = 2;
      if (!window_bits(p.value, d.server_max_window_bits)) return std::nullopt;
      // zlib's raw deflate has no 256-byte window (it would use 512).
      if (d.server_max_window_bits == 8) return std::nullopt;
    } else if (iequals(p.name, "client_max_window_bits")) {
      which = 3;
      // Without a value: the client may take a limit from us; we set none.
      if (p.value && !window_bits(p.value, d.client_max_window_bits)) return std::nullopt;
      d.client_max_window_bits_sent = p.value.has_value();
    } else {
      return std::nullopt;
    }
    if (seen[which]) return std::nullopt;
    seen[which] = true;
  }
  return d;
}

HandshakeError refuse(int status, std::string message) { return {status, std::move(message)}; }

}  // namespace

bool is_websocket_request(const http::RequestHead& head) { return has_token(head, "Upgrade", "websocket"); }

bool parse_upgrade(const http::RequestHead& head, Upgrade& out, HandshakeError& error) {
  // RFC 6455 4.2.1, in its order.
  if (head.method != "GET") {
    error = refuse(400, "a WebSocket upgrade must be a GET request");
    return false;
  }
  if (head.version_major != 1 || head.version_minor < 1) {
    error = refuse(400, "a WebSocket upgrade needs HTTP/1.1");
    return false;
  }
  if (!head.find("Host")) {
    error = refuse(400, "missing Host header");
    return false;
  }
  if (!has_token(head, "Upgrade", "websocket")) {
    error = refuse(400, "Upgrade header does not list websocket");
    return false;
  }
  if (!has_token(head, "Connection", "upgrade")) {
    error = refuse(400, "Connection header does not list upgrade");
    return false;
  }
  const int keys = count_fields(head, "Sec-WebSocket-Key");
  if (keys != 1) {
    error = refuse(400, keys == 0 ? "missing Sec-WebSocket-Key header" : "more than one Sec-WebSocket-Key header");
    return false;
  }
  const std::string& key = head.find("Sec-WebSocket-Key")->value;
  const auto nonce = base64_decode(key);
  if (!nonce || nonce->size() != 16) {
    error = refuse(400, "Sec-WebSocket-Key is not 16 bytes in base64");
    return false;
  }
  const http::Header* version = head.find("Sec-WebSocket-Version");
  if (!version) {
    error = refuse(426, "missing Sec-WebSocket-Version header");
    return false;
  }
  if (count_fields(head, "Sec-WebSocket-Version") != 1 || version->value != "13") {
    error = refuse(426, "unsupported Sec-WebSocket-Version (13 is)");
    return false;
  }
  Upgrade up;
  up.key = key;
  bool protocols_ok = true;
  for_each_element(head, "Sec-WebSocket-Protocol", [&](std::string_view p) {
    protocols_ok = protocols_ok && http::is_token(p);
    up.subprotocols.emplace_back(p);
  });
  if (!protocols_ok) {
    error = refuse(400, "Sec-WebSocket-Protocol lists a value that is not a token");
    return false;
  }
  bool extensions_ok = true;
  for_each_element(head, "Sec-WebSocket-Extensions", [&](std::string_view item) {
    std::string name;
    std::vector<Param> params;
    if (!parse_extension(item, name, params)) {
      extensions_ok = false;
      return;
    }
    // The first permessage-deflate offer we support wins (RFC 7692 5:
    // offers are in order of preference); others are declined silently.
    if (!up.deflate && iequals(name, "permessage-deflate")) up.deflate = negotiate_deflate(params);
  });
  if (!extensions_ok) {
    error = refuse(400, "malformed Sec-WebSocket-Extensions header");
    return false;
  }
  out = std::move(up);
  return true;
}

std::string accept_key(std::string_view key) {
  std::string input(key);
  input += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  const auto digest = sha1(input);
  return base64_encode(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

std::string deflate_response_value(const DeflateParams& d) {
  std::string v = "permessage-deflate";
  if (d.server_no_context_takeover) v += "; server_no_context_takeover";
  if (d.client_no_context_takeover) v += "; client_no_context_takeover";
  if (d.server_max_window_bits != 15) v += "; server_max_window_bits=" + std::to_string(d.server_max_window_bits);
  if (d.client_max_window_bits_sent) v += "; client_max_window_bits=" + std::to_string(d.client_max_window_bits);
  return v;
}

http::ResponseHead accept_head(const Upgrade& upgrade, std::string_view subprotocol,
                               const std::optional<DeflateParams>& deflate) {
  http::ResponseHead h;
  h.status = 101;
  h.add("Upgrade", "websocket");
  h.add("Connection", "Upgrade");
  h.add("Sec-WebSocket-Accept", accept_key(upgrade.key));
  if (!subprotocol.empty()) h.add("Sec-WebSocket-Protocol", subprotocol);
  if (deflate) h.add("Sec-WebSocket-Extensions", deflate_response_value(*deflate));
  return h;
}

std::string reject_response(const HandshakeError& error) {
  std::string body = error.message + "\n";
  http::ResponseHead h = http::text_head(error.status, body.size(), 1, false);
  if (error.status == 426) {
    h.add("Sec-WebSocket-Version", "13");
    h.add("Upgrade", "websocket");
  }
  return http::text_response(std::move(h), body);
}

}  // namespace squall::ws
