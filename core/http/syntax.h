#pragma once
// Field syntax, checked in one place for what the parser reads and for what
// the application asks the server to send.
#include <string_view>

namespace squall::http {

// RFC 9110 5.6.2: a token (tchar+), e.g. a field name or a method.
bool is_token(std::string_view s);
// RFC 9110 5.5: field-value octets are VCHAR, SP, HTAB and obs-text: no CR,
// LF, NUL or other control character.
bool is_field_value(std::string_view s);
// RFC 9110 5.6.3: a value without its optional whitespace (SP, HTAB) around it.
std::string_view trim_ows(std::string_view s);
// RFC 9110 7.6.1: fields that describe one connection (hop-by-hop); they are
// the server's to write, never the application's.
bool is_hop_by_hop(std::string_view name);

}  // namespace squall::http
