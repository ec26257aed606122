// The HTTP/1.1 request parser: llhttp (strict mode) for the grammar, plus the
// framing and limit checks llhttp leaves to its user, each next to its RFC.
//
// llhttp is paused at three points so that every decision is taken at an exact
// byte position: after the head (limits, validation, then on_head), after the
// last-chunk line (start of the trailer section) and after the message.
#include "http/parser.h"
#include "http/syntax.h"

#include <cstring>

#include <llhttp.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace squall::http {

namespace {

// Chunk extensions are parsed and ignored; this bounds them per chunk line.
constexpr std::size_t kMaxChunkExtensionBytes = 4096;

std::string larger_than(const char* what, std::uint64_t limit) {
  return std::string(what) + " larger than " + std::to_string(limit) + " bytes";
}

bool is_obs_text(char c) { return static_cast<unsigned char>(c) >= 0x80; }

// request-target octets: no SP, CTL or DEL (RFC 9112 3.2). obs-text (0x80-0xFF,
// RFC 9110 5.5) is accepted as nginx, gunicorn and Django do: a path in raw
// UTF-8 reaches PATH_INFO as its bytes (PEP 3333: latin-1 decoded).
bool is_target(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c > 0x20 && c != 0x7f;
  });
}

// RFC 9110 6.5.1: fields a sender must not put in a trailer section, as a
// recipient would act on them too late or wrongly: message framing, routing,
// request modifiers (controls, conditionals, Range), authentication, response
// control data, and how to process the content.
bool is_forbidden_trailer(std::string_view name) {
  static constexpr std::string_view kForbidden[] = {
      // framing and connection management (RFC 9112 6, 9; RFC 9110 7.6.1)
      "Transfer-Encoding", "Content-Length", "Connection", "Keep-Alive", "Upgrade", "TE", "Trailer",
      // routing (RFC 9110 7.2)
      "Host",
      // request modifiers: controls and conditionals (RFC 9110 10.1, 13; RFC 9111 5)
      "Expect", "Max-Forwards", "Range", "If-Match", "If-None-Match", "If-Modified-Since",
      "If-Unmodified-Since", "If-Range", "Cache-Control", "Pragma",
      // authentication (RFC 9110 11; RFC 6265)
      "Authorization", "Proxy-Authorization", "Cookie",
      // how to process the content (RFC 9110 8.3-8.4, 14.4)
      "Content-Encoding", "Content-Type", "Content-Range"};
  return std::any_of(std::begin(kForbidden), std::end(kForbidden),
                     [&](std::string_view f) { return iequals(f, name); });
}

std::string_view trim_ows(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

// Calls f on each non-empty element of a comma-separated list (RFC 9110 5.6.1).
template <typename F>
void for_each_element(std::string_view list, F&& f) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    const auto element = trim_ows(list.substr(0, comma));
    if (!element.empty()) f(element);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// 1*DIGIT without sign, without overflow (RFC 9110 8.6).
std::optional<std::uint64_t> parse_decimal(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Checks the line structure of a message's non-body bytes (head, chunk framing,
// trailers) as they arrive. llhttp 8.1 tolerates bare LF and obs-fold there.
class LineChecker {
 public:
  // Returns nullptr if the bytes are fine, else the reason. `chunk_lines`: the
  // bytes are chunk framing, where a line starting with hex digits is a chunk-size.
  const char* scan(const char* p, const char* end, bool chunk_lines) {
    for (; p < end; ++p) {
      const char c = *p;
      // RFC 9112 2.2: a bare CR is invalid outside content.
      if (prev_ == '\r' && c != '\n') return "bare CR in the message framing";
      // RFC 9112 2.2: we do not accept a bare LF as a line terminator (smuggling risk).
      if (c == '\n' && prev_ != '\r') return "bare LF as line terminator";
      // RFC 9112 5.2: obs-fold is rejected (also whitespace before the first field, RFC 9112 2.2).
      if (prev_ == '\n' && (c == ' ' || c == '\t')) return "obsolete line folding (obs-fold)";
      prev_ = c;
      if (c == '\n') {
        in_prefix_ = true, hex_run_ = 0;
      } else if (in_prefix_ && is_hex(c)) {
        // RFC 9112 7.1: chunk-size is 1*HEXDIG; more than 16 digits (even zeros) is refused.
        if (++hex_run_ > 16 && chunk_lines) return "chunk size with more than 16 hex digits";
      } else {
        in_prefix_ = false;
      }
    }
    return nullptr;
  }
  // Body bytes are skipped: the next framing byte starts a fresh sequence.
  void gap() { prev_ = 0, in_prefix_ = false; }

 private:
  char prev_ = 0;
  bool in_prefix_ = true;    // only hex digits since the last LF
  std::size_t hex_run_ = 0;  // how many
};

class LlhttpParser final : public Parser {
 public:
  LlhttpParser(const Limits& limits, ParserHandler& handler) : limits_(limits), handler_(handler) {
    llhttp_init(&llhttp_, HTTP_REQUEST, &settings());
    llhttp_.data = this;
  }
  LlhttpParser(const LlhttpParser&) = delete;
  LlhttpParser& operator=(const LlhttpParser&) = delete;

  FeedResult feed(std::string_view data) override;
  void resume() override;
  bool reading_head() const override { return phase_ == Phase::RequestLine || phase_ == Phase::Headers; }
  bool idle() const override { return phase_ == Phase::Idle; }
  void limit_body(std::uint64_t max_bytes) override { body_limit_ = std::min(body_limit_, max_bytes); }

 private:
  enum class Phase { Idle, RequestLine, Headers, Body, Trailers, Complete, Failed };
  enum class Pause { None, Head, LastChunk, Message };

  // llhttp callbacks: 0 to go on, HPE_PAUSED at the pause points, HPE_USER after reject().
  int on_url(const char* at, std::size_t n);
  int on_version_complete();
  int on_header_field(const char* at, std::size_t n);
  int on_header_field_complete();
  int on_header_value(const char* at, std::size_t n);
  int on_header_value_complete();
  int on_headers_complete();
  int on_chunk_header();
  int on_chunk_extension(const char* at, std::size_t n);
  int on_body(const char* at, std::size_t n);
  int on_message_complete();

  FeedResult feed_unguarded(std::string_view data);
  bool after_pause(const char* stop);
  bool deliver_head(const char* stop);
  bool validate_head();
  bool check_version_and_method();
  bool check_singletons();
  bool check_host();
  bool check_content_length();
  bool check_transfer_encoding();
  bool check_framing_agrees_with_llhttp();
  void set_connection_semantics();
  bool within_limits(std::uint64_t pos);
  bool scan_framing(const char* to);
  bool reject(RequestError id, std::string reason = {});
  ParseError llhttp_error(llhttp_errno_t err) const;
  FeedResult failed(std::size_t consumed) const { return {FeedResult::State::Error, consumed, error_}; }
  std::uint64_t pos(const char* p) const { return fed_before_ + static_cast<std::uint64_t>(p - buf_); }
  static int verdict(bool ok) { return ok ? 0 : HPE_USER; }

  template <int (LlhttpParser::*M)(const char*, std::size_t)>
  static int data_cb(llhttp_t* p, const char* at, std::size_t n) noexcept {
    auto& self = *static_cast<LlhttpParser*>(p->data);
    try {
      return (self.*M)(at, n);
    } catch (...) {
      self.reject(RequestError::Internal);
      return HPE_USER;
    }
  }
  template <int (LlhttpParser::*M)()>
  static int event_cb(llhttp_t* p) noexcept {
    auto& self = *static_cast<LlhttpParser*>(p->data);
    try {
      return (self.*M)();
    } catch (...) {
      self.reject(RequestError::Internal);
      return HPE_USER;
    }
  }
  static const llhttp_settings_t& settings();

  const Limits limits_;
  ParserHandler& handler_;
  llhttp_t llhttp_{};
  Phase phase_ = Phase::Idle;
  Pause pause_ = Pause::None;
  ParseError error_;

  // Position bookkeeping: bytes of the current message fed before this buffer.
  std::uint64_t fed_before_ = 0;
  const char* buf_ = nullptr;
  const char* scan_pos_ = nullptr;  // framing bytes before this were checked
  LineChecker lines_;

  // The message being parsed.
  RequestHead head_;
  bool chunked_ = false;  // head_.chunked, kept after head_ is handed over
  std::string name_, value_;
  std::size_t field_count_ = 0;
  std::uint64_t trailer_start_ = 0;
  std::uint64_t body_bytes_ = 0;
  std::uint64_t body_limit_ = limits_.max_body_bytes;  // this message's (limit_body)
  std::size_t chunk_ext_bytes_ = 0;

  // obs-text in the request line (feed_unguarded): llhttp reads `masked_`,
  // the target is copied from `original_` at the same offsets.
  std::string masked_;
  const char* original_ = nullptr;
};

const llhttp_settings_t& LlhttpParser::settings() {
  static const llhttp_settings_t s = [] {
    llhttp_settings_t x;
    llhttp_settings_init(&x);
    x.on_url = data_cb<&LlhttpParser::on_url>;
    x.on_version_complete = event_cb<&LlhttpParser::on_version_complete>;
    x.on_header_field = data_cb<&LlhttpParser::on_header_field>;
    x.on_header_field_complete = event_cb<&LlhttpParser::on_header_field_complete>;
    x.on_header_value = data_cb<&LlhttpParser::on_header_value>;
    x.on_header_value_complete = event_cb<&LlhttpParser::on_header_value_complete>;
    x.on_headers_complete = event_cb<&LlhttpParser::on_headers_complete>;
    x.on_chunk_header = event_cb<&LlhttpParser::on_chunk_header>;
    x.on_chunk_extension_name = data_cb<&LlhttpParser::on_chunk_extension>;
    x.on_chunk_extension_value = data_cb<&LlhttpParser::on_chunk_extension>;
    x.on_body = data_cb<&LlhttpParser::on_body>;
    x.on_message_complete = event_cb<&LlhttpParser::on_message_complete>;
    return x;
  }();
  return s;
}

// ---- feeding ---------------------------------------------------------------

FeedResult LlhttpParser::feed(std::string_view data) {
  if (phase_ == Phase::Failed) return failed(0);
  // Misuse (feed without resume() after MessageComplete): nothing is consumed.
  if (phase_ == Phase::Complete) return {FeedResult::State::MessageComplete, 0, {}};
  if (data.empty()) return {};
  try {
    return feed_unguarded(data);
  } catch (...) {  // a handler threw from on_head / on_message_complete
    reject(RequestError::Internal, "internal error while handling the request");
    return failed(0);
  }
}

FeedResult LlhttpParser::feed_unguarded(std::string_view data) {
  if (phase_ == Phase::Idle) phase_ = Phase::RequestLine;
  original_ = nullptr;
  if (phase_ == Phase::RequestLine) {
    // llhttp's strict mode refuses obs-text in the request-target, which we
    // accept (is_target). It reads a copy in which those bytes of the request
    // line are 'x': a valid target byte, never part of a valid method or
    // version, so the grammar is checked as before; on_url copies the target
    // from the original bytes.
    const std::string_view line = data.substr(0, data.find('\n'));
    if (std::any_of(line.begin(), line.end(), is_obs_text)) {
      masked_.assign(data);
      std::replace_if(masked_.begin(), masked_.begin() + static_cast<std::ptrdiff_t>(line.size()), is_obs_text, 'x');
      original_ = data.data();
      data = masked_;
    }
  }
  buf_ = data.data();
  scan_pos_ = buf_;
  const char* const end = buf_ + data.size();
  const char* cur = buf_;
  for (;;) {
    pause_ = Pause::None;
    const llhttp_errno_t err = llhttp_execute(&llhttp_, cur, static_cast<std::size_t>(end - cur));
    const char* stop = err == HPE_OK ? end : llhttp_get_error_pos(&llhttp_);
    const auto consumed = static_cast<std::size_t>(stop - buf_);
    if (phase_ == Phase::Failed) return failed(consumed);  // one of our checks
    if (err != HPE_OK && err != HPE_PAUSED) {
      ParseError e = llhttp_error(err);
      reject(e.id, std::move(e.reason));
      return failed(consumed);
    }
    if (!scan_framing(stop)) return failed(consumed);
    if (err == HPE_OK) {
      if (!within_limits(pos(end))) return failed(consumed);
      fed_before_ += data.size();
      return {FeedResult::State::NeedMore, data.size(), {}};
    }
    if (pause_ == Pause::Message) {
      if (!within_limits(pos(stop))) return failed(consumed);  // exact size of the trailer section
      phase_ = Phase::Complete;
      handler_.on_message_complete();
      return {FeedResult::State::MessageComplete, consumed, {}};
    }
    if (!after_pause(stop)) return failed(consumed);
    llhttp_resume(&llhttp_);
    cur = stop;
  }
}

bool LlhttpParser::after_pause(const char* stop) {
  switch (pause_) {
    case Pause::Head:
      return deliver_head(stop);
    case Pause::LastChunk:
      phase_ = Phase::Trailers;
      trailer_start_ = pos(stop);
      field_count_ = 0;
      return true;
    default:
      return reject(RequestError::Internal, "parser paused unexpectedly");
  }
}

bool LlhttpParser::deliver_head(const char* stop) {
  if (!within_limits(pos(stop))) return false;  // exact size of the whole head
  phase_ = Phase::Body;
  chunked_ = head_.chunked;
  const std::uint64_t declared = head_.content_length.value_or(0);
  handler_.on_head(std::move(head_));
  // RFC 9110 15.5.14: the handler may have lowered the limit for this request (limit_body).
  if (declared > body_limit_) return reject(RequestError::BodyTooLarge, larger_than("request body", body_limit_));
  return true;
}

void LlhttpParser::resume() {
  if (phase_ != Phase::Complete) return;
  llhttp_resume(&llhttp_);
  phase_ = Phase::Idle;
  fed_before_ = 0;
  lines_ = LineChecker{};
  head_ = RequestHead{};
  chunked_ = false;
  name_.clear();
  value_.clear();
  field_count_ = 0;
  trailer_start_ = 0;
  body_bytes_ = 0;
  body_limit_ = limits_.max_body_bytes;
  chunk_ext_bytes_ = 0;
}

bool LlhttpParser::scan_framing(const char* to) {
  const bool chunk_lines = phase_ == Phase::Body && chunked_;
  if (const char* reason = lines_.scan(scan_pos_, to, chunk_lines)) return reject(RequestError::InvalidFraming, reason);
  scan_pos_ = to;
  return true;
}

// Limits are checked at every span end and at the end of every buffer, so an
// endless line is refused once the limit is passed, not when it ends.
bool LlhttpParser::within_limits(std::uint64_t p) {
  switch (phase_) {
    case Phase::RequestLine:
      if (p > limits_.max_request_line) {
        return reject(RequestError::RequestLineTooLong, larger_than("request line", limits_.max_request_line));
      }
      [[fallthrough]];
    case Phase::Headers:
      if (p > limits_.max_header_bytes) {
        return reject(RequestError::HeadTooLarge, larger_than("request head", limits_.max_header_bytes));
      }
      return true;
    case Phase::Trailers:
      if (p - trailer_start_ > limits_.max_header_bytes) {
        return reject(RequestError::HeadTooLarge, larger_than("trailer section", limits_.max_header_bytes));
      }
      return true;
    default:
      return true;
  }
}

bool LlhttpParser::reject(RequestError id, std::string reason) {
  if (phase_ != Phase::Failed) {
    const RequestErrorInfo& e = info(id);
    error_ = ParseError{id, e.status, reason.empty() ? std::string(e.text) : std::move(reason)};
    phase_ = Phase::Failed;
  }
  return false;
}

// Only `id` and `reason` matter: reject() takes the status from the table.
ParseError LlhttpParser::llhttp_error(llhttp_errno_t err) const {
  if (err == HPE_CLOSED_CONNECTION) return {RequestError::DataAfterClose, 0, {}};
  if (err == HPE_PAUSED_UPGRADE) return {RequestError::UpgradeUnsupported, 0, {}};
  const char* reason = llhttp_get_error_reason(&llhttp_);
  std::string text = std::string("malformed request: ") + (reason ? reason : llhttp_errno_name(err));
  RequestError id = RequestError::Malformed;
  switch (err) {
    case HPE_LF_EXPECTED:
    case HPE_CR_EXPECTED:
    case HPE_INVALID_CHUNK_SIZE: id = RequestError::InvalidFraming; break;
    case HPE_INVALID_URL: id = RequestError::InvalidTarget; break;
    case HPE_INVALID_VERSION: id = RequestError::UnsupportedVersion; break;
    case HPE_INVALID_CONTENT_LENGTH: id = RequestError::InvalidContentLength; break;
    case HPE_UNEXPECTED_CONTENT_LENGTH: id = RequestError::LengthAndTransferEncoding; break;
    case HPE_INVALID_TRANSFER_ENCODING: id = RequestError::InvalidTransferEncoding; break;
    case HPE_INVALID_HEADER_TOKEN:  // llhttp says which: "Invalid header value char" or "... token"
      id = text.find("value") != std::string::npos ? RequestError::InvalidHeaderValue : RequestError::InvalidHeaderName;
      break;
    default: break;
  }
  return {id, 0, std::move(text)};
}

// ---- llhttp callbacks --------------------------------------------------------

int LlhttpParser::on_url(const char* at, std::size_t n) {
  if (!within_limits(pos(at + n))) return HPE_USER;
  head_.target.append(original_ ? original_ + (at - buf_) : at, n);
  return 0;
}

int LlhttpParser::on_version_complete() {
  // The request line ends with the version: method SP target SP "HTTP/x.y"
  // (RFC 9112 3). Count it whole, whatever the read boundaries were.
  std::size_t line = std::strlen(llhttp_method_name(static_cast<llhttp_method_t>(llhttp_.method))) + 1 +
                     head_.target.size() + 1 + 8;
  if (line > limits_.max_request_line)
    return verdict(reject(RequestError::RequestLineTooLong, larger_than("request line", limits_.max_request_line)));
  if (phase_ == Phase::RequestLine) phase_ = Phase::Headers;
  return 0;
}

int LlhttpParser::on_header_field(const char* at, std::size_t n) {
  if (!within_limits(pos(at + n))) return HPE_USER;
  name_.append(at, n);
  return 0;
}

int LlhttpParser::on_header_field_complete() {
  // Limits: the number of fields in the head, and in the trailer section.
  if (++field_count_ > limits_.max_header_count) {
    return verdict(reject(RequestError::TooManyHeaders, "more than " + std::to_string(limits_.max_header_count) + " header fields"));
  }
  // Decided on the name, before llhttp reads the value (it has opinions on some, e.g. Transfer-Encoding).
  if (phase_ == Phase::Trailers && is_forbidden_trailer(name_)) {
    return verdict(reject(RequestError::ForbiddenTrailerField, "field '" + name_ + "' is not allowed in a trailer section"));
  }
  return 0;
}

int LlhttpParser::on_header_value(const char* at, std::size_t n) {
  if (!within_limits(pos(at + n))) return HPE_USER;
  value_.append(at, n);
  return 0;
}

int LlhttpParser::on_header_value_complete() {
  // RFC 9110 5.1: a field name is a token (llhttp checks too; this also refuses an empty name).
  if (!is_token(name_)) return verdict(reject(RequestError::InvalidHeaderName));
  // RFC 9110 5.5: no NUL, CR, LF or other CTL in a field value (llhttp checks too).
  if (!is_field_value(value_)) {
    return verdict(reject(RequestError::InvalidHeaderValue, "invalid character in header field '" + name_ + "'"));
  }
  // RFC 9110 5.5: leading and trailing OWS is not part of the value. Trailer fields are dropped.
  if (phase_ == Phase::Headers) head_.headers.push_back({std::move(name_), std::string(trim_ows(value_))});
  name_.clear();
  value_.clear();
  return 0;
}

int LlhttpParser::on_headers_complete() {
  // RFC 9110 7.8: a server may ignore Upgrade; the request is served as plain HTTP/1.1.
  llhttp_.upgrade = 0;
  head_.method = llhttp_method_name(static_cast<llhttp_method_t>(llhttp_.method));
  head_.version_major = llhttp_.http_major;
  head_.version_minor = llhttp_.http_minor;
  if (!validate_head()) return HPE_USER;
  pause_ = Pause::Head;
  return HPE_PAUSED;
}

int LlhttpParser::on_chunk_header() {
  chunk_ext_bytes_ = 0;
  const std::uint64_t size = llhttp_.content_length;
  // RFC 9110 15.5.14: refuse a chunk that would take the body past the limit (413).
  if (size > body_limit_ - body_bytes_) {
    return verdict(reject(RequestError::BodyTooLarge, larger_than("request body", body_limit_)));
  }
  if (size > 0) return 0;
  pause_ = Pause::LastChunk;  // RFC 9112 7.1: last-chunk, the trailer section follows
  return HPE_PAUSED;
}

int LlhttpParser::on_chunk_extension(const char*, std::size_t n) {
  // RFC 9112 7.1.1: extensions are ignored, but their size must be bounded.
  chunk_ext_bytes_ += n;
  if (chunk_ext_bytes_ > kMaxChunkExtensionBytes) return verdict(reject(RequestError::ChunkExtensionTooLong));
  return 0;
}

int LlhttpParser::on_body(const char* at, std::size_t n) {
  // Chunk framing between body pieces is checked before the piece is delivered.
  if (!scan_framing(at)) return HPE_USER;
  lines_.gap();
  scan_pos_ = at + n;
  body_bytes_ += n;
  // RFC 9110 15.5.14: the body limit is counted as bytes arrive (413).
  if (body_bytes_ > body_limit_) {
    return verdict(reject(RequestError::BodyTooLarge, larger_than("request body", body_limit_)));
  }
  handler_.on_body(std::string_view(at, n));
  return 0;
}

int LlhttpParser::on_message_complete() {
  pause_ = Pause::Message;
  return HPE_PAUSED;
}

// ---- head validation ---------------------------------------------------------

bool LlhttpParser::validate_head() {
  if (!check_version_and_method()) return false;
  // RFC 9112 3.2: the request-target has no whitespace or CTL (llhttp checks too).
  if (!is_target(head_.target)) return reject(RequestError::InvalidTarget);
  // RFC 9112 3.2.4: the asterisk-form is only for a server-wide OPTIONS.
  if (head_.target == "*" && head_.method != "OPTIONS") return reject(RequestError::AsteriskFormMethod);
  if (!check_singletons()) return false;
  if (!check_host() || !check_content_length() || !check_transfer_encoding()) return false;
  if (!check_framing_agrees_with_llhttp()) return false;
  set_connection_semantics();
  return true;
}

bool LlhttpParser::check_version_and_method() {
  // RFC 9112 2.3: this is an HTTP/1.x server; 0.9, 1.2+ and 2.0 are refused.
  if (head_.version_major != 1 || head_.version_minor > 1) {
    return reject(RequestError::UnsupportedVersion, "unsupported HTTP version " + std::to_string(head_.version_major) + "." +
                           std::to_string(head_.version_minor));
  }
  // RFC 9110 9.3.6: CONNECT is for proxies; an origin server does not tunnel.
  if (head_.method == "CONNECT") return reject(RequestError::ConnectUnsupported);
  return true;
}

bool LlhttpParser::check_singletons() {
  // RFC 9110 5.3: only a list-based field may be repeated. Content-Type is a
  // singleton (RFC 9110 8.3) that decides how the body is read: two of them
  // are ambiguous (a proxy may have used the other one).
  const auto types = std::count_if(head_.headers.begin(), head_.headers.end(),
                                   [](const Header& h) { return iequals(h.name, "Content-Type"); });
  if (types > 1) return reject(RequestError::MultipleContentType);
  return true;
}

bool LlhttpParser::check_host() {
  const auto hosts = std::count_if(head_.headers.begin(), head_.headers.end(),
                                   [](const Header& h) { return iequals(h.name, "Host"); });
  // RFC 9112 3.2: more than one Host field is a 400.
  if (hosts > 1) return reject(RequestError::MultipleHost);
  // RFC 9112 3.2: an HTTP/1.1 request without Host is a 400 (an empty one is allowed).
  if (hosts == 0 && head_.version_minor == 1) return reject(RequestError::MissingHost);
  return true;
}

bool LlhttpParser::check_content_length() {
  std::optional<std::uint64_t> length;
  for (const Header& h : head_.headers) {
    if (!iequals(h.name, "Content-Length")) continue;
    bool ok = true, any = false;
    for_each_element(h.value, [&](std::string_view element) {
      any = true;
      const auto v = parse_decimal(element);  // RFC 9110 8.6: 1*DIGIT, no sign, no overflow
      // RFC 9112 6.3 (5): differing lengths make the framing ambiguous.
      if (!v || (length && *length != *v)) ok = false;
      if (v) length = v;
    });
    if (!ok || !any) return reject(RequestError::InvalidContentLength);
  }
  // RFC 9110 15.5.14: a declared body above the limit is refused before it is read (413).
  if (length && *length > limits_.max_body_bytes) {
    return reject(RequestError::BodyTooLarge, larger_than("request body", limits_.max_body_bytes));
  }
  head_.content_length = length;
  return true;
}

bool LlhttpParser::check_transfer_encoding() {
  std::vector<std::string_view> codings;
  bool present = false;
  for (const Header& h : head_.headers) {
    if (!iequals(h.name, "Transfer-Encoding")) continue;
    present = true;
    for_each_element(h.value, [&](std::string_view c) { codings.push_back(c); });
  }
  if (!present) return true;
  // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 request means faulty framing.
  if (head_.version_minor == 0) return reject(RequestError::TransferEncodingHttp10);
  // RFC 9112 6.1 / 6.3 (3): Content-Length with Transfer-Encoding is a smuggling vector (llhttp checks too).
  if (head_.content_length) return reject(RequestError::LengthAndTransferEncoding);
  for (std::string_view c : codings) {
    // RFC 9112 6.1: a transfer coding we do not implement gets 501.
    if (!iequals(c, "chunked")) return reject(RequestError::UnsupportedTransferCoding, "unsupported transfer coding '" + std::string(c) + "'");
  }
  // RFC 9112 6.1 / 6.3 (4): chunked exactly once and as the final coding.
  if (codings.size() != 1) return reject(RequestError::InvalidTransferEncoding);
  head_.chunked = true;
  return true;
}

bool LlhttpParser::check_framing_agrees_with_llhttp() {
  // RFC 9112 6.3: the body length is decided once; llhttp must read it the same way.
  const bool llhttp_chunked = (llhttp_.flags & F_CHUNKED) != 0;
  const bool same_length = head_.chunked || head_.content_length.value_or(0) == llhttp_.content_length;
  if (head_.chunked != llhttp_chunked || !same_length) return reject(RequestError::AmbiguousFraming);
  return true;
}

void LlhttpParser::set_connection_semantics() {
  bool close = false, keep_alive = false;
  for (const Header& h : head_.headers) {
    if (!iequals(h.name, "Connection")) continue;
    for_each_element(h.value, [&](std::string_view option) {
      close = close || iequals(option, "close");
      keep_alive = keep_alive || iequals(option, "keep-alive");
    });
  }
  // RFC 9112 9.3: 1.1 persists unless "close"; 1.0 only with "keep-alive".
  const bool persist = head_.version_minor == 1 ? !close : (keep_alive && !close);
  // llhttp refuses data after a message it considers final; never promise more than it allows.
  head_.keep_alive = persist && llhttp_should_keep_alive(&llhttp_) != 0;
  // RFC 9110 10.1.1: 100-continue is meaningful from HTTP/1.1 clients.
  const Header* expect = head_.find("Expect");
  head_.expect_continue = head_.version_minor == 1 && expect && iequals(expect->value, "100-continue");
}

}  // namespace

std::unique_ptr<Parser> make_parser(const Limits& limits, ParserHandler& handler) {
  return std::make_unique<LlhttpParser>(limits, handler);
}

}  // namespace squall::http
