#pragma once
// Why a request was refused: one table of stable ids, each with its status
// and text (in the manner of nginx's NGX_HTTP_PARSE_* codes and Envoy's
// Http1ResponseCodeDetailValues). The id is what /metrics counts
// (squall_http_request_errors_total{reason="<id>"}, docs/metrics.md) and
// never changes once released; the text is the default answer body and log
// line, which a rejection may make more precise (ParseError::reason).
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace squall::http {

// X(enumerator, id, status, text)
#define SQUALL_HTTP_REQUEST_ERRORS(X)                                                                            \
  X(Malformed, "malformed", 400, "malformed request")                                                            \
  X(InvalidFraming, "invalid_framing", 400, "bare CR or LF, obsolete line folding or an overlong chunk size")   \
  X(InvalidTarget, "invalid_target", 400, "invalid request-target")                                              \
  X(UnsupportedVersion, "unsupported_version", 400, "unsupported HTTP version")                                  \
  X(ConnectUnsupported, "connect_unsupported", 400, "CONNECT is not supported")                                  \
  X(UpgradeUnsupported, "upgrade_unsupported", 400, "protocol upgrade is not supported")                         \
  X(InvalidHeaderName, "invalid_header_name", 400, "invalid header field name")                                  \
  X(InvalidHeaderValue, "invalid_header_value", 400, "invalid character in a header field")                      \
  X(MissingHost, "missing_host", 400, "missing Host header")                                                     \
  X(MultipleHost, "multiple_host", 400, "more than one Host header")                                             \
  X(MultipleContentType, "multiple_content_type", 400, "more than one Content-Type header")                      \
  X(ForbiddenTrailerField, "forbidden_trailer_field", 400, "a field not allowed in a trailer section")           \
  X(AsteriskFormMethod, "asterisk_form_method", 400, "asterisk-form request-target on a method other than OPTIONS") \
  X(InvalidContentLength, "invalid_content_length", 400, "invalid or conflicting Content-Length")                \
  X(LengthAndTransferEncoding, "length_and_transfer_encoding", 400, "both Content-Length and Transfer-Encoding") \
  X(TransferEncodingHttp10, "transfer_encoding_http10", 400, "Transfer-Encoding in an HTTP/1.0 request")         \
  X(InvalidTransferEncoding, "invalid_transfer_encoding", 400, "Transfer-Encoding must be exactly 'chunked'")    \
  X(UnsupportedTransferCoding, "unsupported_transfer_coding", 501, "unsupported transfer coding")                \
  X(AmbiguousFraming, "ambiguous_framing", 400, "ambiguous message framing")                                     \
  X(ChunkExtensionTooLong, "chunk_extension_too_long", 400, "chunk extension too long")                          \
  X(DataAfterClose, "data_after_close", 400, "data after the last request of the connection")                    \
  X(RequestLineTooLong, "request_line_too_long", 414, "request line too long")                                   \
  X(HeadTooLarge, "head_too_large", 431, "request head too large")                                               \
  X(TooManyHeaders, "too_many_headers", 431, "too many header fields")                                           \
  X(BodyTooLarge, "body_too_large", 413, "request body too large")                                               \
  X(HeadTimeout, "head_timeout", 408, "request head not received in time")                                       \
  X(BodyTimeout, "body_timeout", 408, "request body not received in time")                                       \
  X(Internal, "internal", 500, "internal error while parsing")

enum class RequestError : std::uint8_t {
#define SQUALL_X(name, id, status, text) name,
  SQUALL_HTTP_REQUEST_ERRORS(SQUALL_X)
#undef SQUALL_X
};

struct RequestErrorInfo {
  std::string_view id;  // stable, snake_case: the metrics label
  int status;
  std::string_view text;
};

inline constexpr RequestErrorInfo kRequestErrors[] = {
#define SQUALL_X(name, id, status, text) {id, status, text},
    SQUALL_HTTP_REQUEST_ERRORS(SQUALL_X)
#undef SQUALL_X
};
inline constexpr std::size_t kRequestErrorCount = std::size(kRequestErrors);

constexpr const RequestErrorInfo& info(RequestError e) { return kRequestErrors[static_cast<std::size_t>(e)]; }

}  // namespace squall::http
