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

}  // namespace squall::http
