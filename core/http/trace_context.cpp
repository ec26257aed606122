#include "http/trace_context.h"

#include <pthread.h>
#include <sys/random.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <ctime>
#include <mutex>

namespace squall::http {
namespace {

// ---- ids ---------------------------------------------------------------------------

// Bumped in every child of fork(2): a thread's generator state is copied by
// fork, so a child must not go on with its parent's sequence.
std::atomic<std::uint64_t> g_fork_generation{1};

void after_fork_in_child() { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }

std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// xoshiro256** (Blackman & Vigna): fast, 256 bits of state, never all zero
// once seeded from getrandom. Ids need uniqueness, not secrecy.
struct Generator {
  std::uint64_t s[4] = {};
  std::uint64_t generation = 0;

  void seed() {
    static std::once_flag registered;
    std::call_once(registered, [] { pthread_atfork(nullptr, nullptr, after_fork_in_child); });
    std::size_t got = 0;
    auto* bytes = reinterpret_cast<unsigned char*>(s);
    while (got < sizeof s) {
      ssize_t n = getrandom(bytes + got, sizeof s - got, 0);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    if (got < sizeof s) {
      // No entropy source: time and addresses still differ across workers.
      timespec ts{};
      clock_gettime(CLOCK_REALTIME, &ts);
      s[0] ^= static_cast<std::uint64_t>(ts.tv_nsec) * 0x9E3779B97F4A7C15ull;
      s[1] ^= static_cast<std::uint64_t>(ts.tv_sec) ^ reinterpret_cast<std::uintptr_t>(this);
      s[2] ^= static_cast<std::uint64_t>(getpid()) << 32;
      s[3] |= 1;
    }
    generation = g_fork_generation.load(std::memory_order_relaxed);
  }

  std::uint64_t next() {
    if (generation != g_fork_generation.load(std::memory_order_relaxed)) seed();
    const std::uint64_t result = rotl(s[1] * 5, 7) * 9;
    const std::uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }
};

thread_local Generator t_generator;

constexpr char kHex[] = "0123456789abcdef";

bool is_lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool all_zero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

int hex_digit(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

// A random id that is not all zeros (an all-zero trace-id or span-id is
// invalid, W3C Trace Context 3.2.2.3 and 3.2.2.4).
void random_id(char* out, std::size_t digits) {
  do random_hex(out, digits);
  while (all_zero(std::string_view(out, digits)));
}

// W3C Trace Context 3.3.1.5: a combined tracestate is propagated up to 512
// characters; past that, list members are dropped from the end.
constexpr std::size_t kMaxTracestate = 512;

}  // namespace

void random_hex(char* out, std::size_t digits) {
  std::uint64_t bits = 0;
  for (std::size_t i = 0; i < digits; ++i) {
    if (i % 16 == 0) bits = t_generator.next();
    out[i] = kHex[bits & 0xF];
    bits >>= 4;
  }
}

std::string TraceContext::traceparent() const {
  std::string out;
  out.reserve(55);
  out += "00-";
  out.append(trace_id, kTraceIdHex);
  out += '-';
  out.append(span_id, kSpanIdHex);
  out += '-';
  out += kHex[flags >> 4];
  out += kHex[flags & 0xF];
  return out;
}

// W3C Trace Context 3.2: version "-" trace-id "-" parent-id "-" trace-flags,
// lowercase hex only (3.2.2: "Vendors MUST ... fail parsing" on uppercase).
bool parse_traceparent(std::string_view v, char (&trace_id)[kTraceIdHex], char (&parent_id)[kSpanIdHex],
                       std::uint8_t& flags) {
  constexpr std::size_t kLength = 55;  // 2 + 1 + 32 + 1 + 16 + 1 + 2
  if (v.size() < kLength || v[2] != '-' || v[35] != '-' || v[52] != '-') return false;
  std::string_view version = v.substr(0, 2), trace = v.substr(3, 32), parent = v.substr(36, 16), flag = v.substr(53, 2);
  if (!is_lower_hex(version) || version == "ff") return false;  // 3.2.2.2: ff is invalid
  // Version 00 is exactly 55 characters; a later version may append fields
  // after a "-" (3.2.4: parse what this version knows).
  if (version == "00" ? v.size() != kLength : (v.size() > kLength && v[kLength] != '-')) return false;
  if (!is_lower_hex(trace) || !is_lower_hex(parent) || !is_lower_hex(flag)) return false;
  if (all_zero(trace) || all_zero(parent)) return false;
  std::memcpy(trace_id, trace.data(), kTraceIdHex);
  std::memcpy(parent_id, parent.data(), kSpanIdHex);
  // Only "sampled" is defined for version 00; other bits are not passed on.
  flags = static_cast<std::uint8_t>((hex_digit(flag[0]) << 4 | hex_digit(flag[1])) & 0x01);
  return true;
}

bool valid_request_id(std::string_view v) {
  if (v.empty() || v.size() > kMaxRequestId) return false;
  for (char c : v) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.' || c == ':' || c == '+' || c == '/' || c == '=' || c == '@';
    if (!ok) return false;
  }
  return true;
}

TraceContext new_trace_context() {
  TraceContext t;
  t.request_id.resize(kTraceIdHex);
  random_hex(t.request_id.data(), kTraceIdHex);
  random_id(t.trace_id, kTraceIdHex);
  random_id(t.span_id, kSpanIdHex);
  // A trace started here is recorded (the access log has it): sampled.
  t.flags = 0x01;
  return t;
}

TraceContext make_trace_context(const RequestHead& head, bool trusted) {
  const Header* request_id = nullptr;
  const Header* traceparent = nullptr;
  int request_ids = 0, traceparents = 0;
  for (const Header& h : head.headers) {
    if (iequals(h.name, "X-Request-ID")) {
      request_id = &h;
      ++request_ids;
    } else if (iequals(h.name, "traceparent")) {
      traceparent = &h;
      ++traceparents;
    }
  }
  TraceContext t;
  if (trusted && request_ids == 1 && valid_request_id(request_id->value)) {
    t.request_id = request_id->value;
  } else {
    t.request_id.resize(kTraceIdHex);
    random_hex(t.request_id.data(), kTraceIdHex);
  }
  t.has_parent = traceparents == 1 && parse_traceparent(traceparent->value, t.trace_id, t.parent_id, t.flags);
  if (t.has_parent) {
    // 3.3.1: tracestate may come in several fields, combined in order.
    for (const Header& h : head.headers) {
      if (!iequals(h.name, "tracestate") || h.value.empty()) continue;
      if (!t.tracestate.empty()) t.tracestate += ',';
      t.tracestate += h.value;
    }
    while (t.tracestate.size() > kMaxTracestate) {
      auto comma = t.tracestate.rfind(',');
      t.tracestate.resize(comma == std::string::npos ? 0 : comma);
    }
  } else {
    // 3.3: a tracestate without a valid traceparent is not propagated; the
    // trace starts here.
    random_id(t.trace_id, kTraceIdHex);
    t.flags = 0x01;
  }
  random_id(t.span_id, kSpanIdHex);
  return t;
}

}  // namespace squall::http
