#include "server/connection.h"

#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "http/response.h"
#include "log/log.h"
#include "server/access_log.h"
#include "ws/handshake.h"

namespace squall::server {
namespace {

constexpr double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}
constexpr std::size_t kMaxIov = 64;
constexpr double kLingerSeconds = 2.0;
// After closing an idle connection's write side: long enough for a request
// already on its way to arrive and be dropped instead of reset.
constexpr double kIdleLingerSeconds = 0.5;
constexpr double kDrainIdleSeconds = 1.0;
// RFC 6455 7.1.1: after our close frame, the client's is awaited this long.
constexpr double kWsCloseSeconds = 5.0;

}  // namespace

Connection::Connection(ServerContext& ctx, net::UniqueFd fd, net::Endpoint peer, int local_port)
    : ctx_(ctx),
      fd_(std::move(fd)),
      peer_(std::move(peer)),
      local_port_(local_port),
      peer_trusted_(ctx.config.forwarded_allow.allows(peer_.raw)),
      parser_(http::make_parser(ctx.config.limits, *this)),
      last_activity_(ctx_.now) {}

Connection::~Connection() {
  if (exchange_) {
    exchange_->conn = nullptr;
    exchange_->connection_lost();
  }
}

// ---- events -------------------------------------------------------------------

void Connection::on_events(std::uint32_t events) {
  if (closed_) return;
  if (ws_) {
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable_ = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) writable_ = true;
    ws_read();
    return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable_ = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) writable_ = true;
  // The parser is paused, so nothing reads the socket until the response is
  // done; tell the exchange the client closed (an ASGI app gets http.disconnect).
  if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && exchange_ && !exchange_done_ && paused_)
    exchange_->on_peer_closed();
  if (events & EPOLLOUT) flush();
  advance();
}

void Connection::on_exchange_update(Exchange& ex) {
  if (closed_ || exchange_.get() != &ex) return;
  Exchange::Taken taken = ex.take_output();
  if (taken.ws_accept && !ws_) ws_start(*taken.ws_accept);
  if (ws_) {
    for (Exchange::WsOut& out : taken.ws_out) {
      switch (out.kind) {
        case Exchange::WsOut::Kind::Text:
        case Exchange::WsOut::Kind::Binary:
          if (out.kind == Exchange::WsOut::Kind::Text ? ws_->send_text(out.data) : ws_->send_binary(out.data)) {
            if (ctx_.metrics) {
              metrics::bump(ctx_.metrics->ws_messages_out);
              metrics::bump(ctx_.metrics->ws_bytes_out, out.data.size());
            }
          }
          break;
        case Exchange::WsOut::Kind::Close:
          if (ws_->send_close(out.code, out.data)) {
            ws_close_sent_ = ctx_.now;
            if (!ws_end_code_) ws_end_code_ = out.code;
          }
          break;
      }
    }
    if (taken.ws_resume) ws_paused_ = false;
    ws_read();  // writes what was queued; reads again if the app made room
    return;
  }
  if (taken.body_space_wanted) waiting_since_ = Clock::time_point{};
  // RFC 9110 10.1.1: the interim 100 goes out before any final response byte.
  if (taken.continue_wanted && !continue_sent_ && !response_started_ && taken.segments.empty()) {
    http::ResponseHead interim;
    interim.status = 100;  // only ever sent to HTTP/1.1 requests (the parser ignores Expect in 1.0)
    queue_bytes(http::serialize(interim));
  }
  continue_sent_ = continue_sent_ || taken.continue_wanted;  // asked once: never again
  for (auto& seg : taken.segments) {
    out_bytes_ += seg.is_file() ? seg.length : seg.bytes.size();
    out_.push_back(std::move(seg));
    response_started_ = true;
  }
  if (taken.finished && !exchange_done_) {
    exchange_done_ = true;
    keep_alive_after_ = taken.keep_alive;
  }
  flush();
  if (closed_) return;
  if (exchange_done_)
    exchange_finished();
  else
    advance();  // the worker may have made room for more body
}

// ---- input --------------------------------------------------------------------

bool Connection::want_read() const {
  if (lingering_) return true;
  if (peer_eof_ || paused_ || close_after_flush_) return false;
  if (in_.size() >= ctx_.config.read_chunk) return false;
  // A pipelining client that does not read its responses gets no more parsing.
  if (!exchange_ && out_bytes_ > ctx_.config.output_high_water) return false;
  return true;
}

// A pipelining client that does not read what we answer locally (files, probes)
// gets no more parsing: each file response holds a descriptor.
bool Connection::output_backlogged() const {
  if (exchange_ || out_.empty()) return false;
  if (out_bytes_ > ctx_.config.output_high_water) return true;
  constexpr std::size_t kMaxQueuedFiles = 16;
  std::size_t files = 0;
  for (const auto& seg : out_)
    if (seg.is_file() && ++files >= kMaxQueuedFiles) return true;
  return false;
}

void Connection::advance() {
  while (!closed_) {
    bool progressed = false;
    if (!lingering_ && !paused_ && !close_after_flush_ && in_.size() > 0 && !output_backlogged())
      progressed = parse_some();
    if (closed_) return;
    if (!progressed && readable_ && want_read()) progressed = read_some();
    if (!progressed) break;
  }
  if (!closed_ && exchange_ && reading_body_ && !discarding_body_) {
    // Waiting for the client's body bytes: the body timeout runs.
    if (waiting_since_ == Clock::time_point{}) waiting_since_ = ctx_.now;
  }
}

bool Connection::parse_some() {
  std::string_view input = in_.unread();
  if (exchange_ && reading_body_ && !discarding_body_) {
    // Bound the body buffered ahead of the application (back-pressure to the client).
    std::size_t cap = ctx_.config.body_buffer;
    std::size_t buffered = exchange_->body_buffered();
    if (buffered >= cap) {
      if (exchange_->request_body_space(cap)) return false;
      buffered = exchange_->body_buffered();
    }
    if (input.size() > cap - buffered) input = input.substr(0, cap - buffered);
  }
  bool was_idle = parser_->idle();
  http::FeedResult result = parser_->feed(input);
  in_.consume(result.consumed);
  if (was_idle && result.consumed > 0) head_started_ = ctx_.now;
  switch (result.state) {
    case http::FeedResult::State::Error: fail(result.error.id, result.error.reason); return true;
    case http::FeedResult::State::MessageComplete:
      paused_ = true;
      if (local_)
        answer_local();
      else if (exchange_done_)
        next_message();  // the response went out before the body ended
      return true;
    case http::FeedResult::State::NeedMore: return result.consumed > 0;
  }
  return false;
}

bool Connection::read_some() {
  char* buf = in_.prepare(ctx_.config.read_chunk);
  ssize_t n = ::recv(fd_.get(), buf, ctx_.config.read_chunk, 0);
  if (n > 0) {
    if (lingering_) return true;  // discarded
    received_ += static_cast<std::uint64_t>(n);
    in_.commit(static_cast<std::size_t>(n));
    if (ctx_.metrics) metrics::bump(ctx_.metrics->bytes_received, static_cast<std::uint64_t>(n));
    last_activity_ = ctx_.now;
    waiting_since_ = Clock::time_point{};
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    readable_ = false;
    return false;
  }
  if (n < 0 && errno == EINTR) return true;
  readable_ = false;
  if (n == 0) {
    on_peer_eof();
  } else {
    close();
  }
  return false;
}

void Connection::on_peer_eof() {
  peer_eof_ = true;
  if (lingering_ || reading_body_) {
    close();  // nothing to answer, or a body that can never complete
    return;
  }
  // The client half-closed after a complete request: deliver the response
  // (next_message() closes once it is out), or what is left of the last one.
  if (exchange_) return;
  if (out_.empty()) {
    close();
    return;
  }
  close_after_flush_ = true;
  flush();
}

// ---- parser callbacks -----------------------------------------------------------

void Connection::on_head(http::RequestHead&& head) {
  if (ctx_.metrics) metrics::bump(ctx_.metrics->requests);
  // Local routes: probes and /metrics (--probe-port = --port), static and
  // media files, answered here from shared memory or the file system.
  bool close = !head.keep_alive || ctx_.draining.load();
  std::string client = peer_trusted_ ? forwarded_client(head, peer_.host, ctx_.config.forwarded_allow) : peer_.host;
  if (auto a = probe::route(ctx_.routes, head, close)) {
    // A probe's or /metrics' body is read and dropped, up to a small bound.
    if (a->kind != probe::LocalAnswer::Kind::File) parser_->limit_body(probe::kMaxProbeBodyBytes);
    if (a->kind == probe::LocalAnswer::Kind::File && ctx_.config.access_log) {
      // The file is sent after this line is written. Its ids are the log's
      // only: the head is already serialized (docs/tracing.md).
      http::TraceContext trace = http::make_trace_context(head, peer_trusted_);
      server::log_access(client, head, a->status, a->length,
                         std::chrono::duration<double, std::milli>(Clock::now() - ctx_.now).count(), &trace);
    }
    local_ = LocalResponse{std::move(a->bytes), {}, close};
    if (a->file.valid()) {
      local_->file.file = std::move(a->file);
      local_->file.offset = a->offset;
      local_->file.length = a->length;
    }
    return;
  }
  std::optional<ws::Upgrade> upgrade;
  if (ctx_.config.websockets && ws::is_websocket_request(head)) {
    // RFC 6455 4.2.1: refused here, precisely, before any application code.
    ws::Upgrade checked;
    ws::HandshakeError error;
    if (!ws::parse_upgrade(head, checked, error)) {
      if (ctx_.metrics) metrics::bump(ctx_.metrics->ws_handshake_failures);
      log::log_event("info", "squall.http", peer_.host + ": WebSocket handshake refused: " + error.message);
      local_ = LocalResponse{ws::reject_response(error), {}, true};
      return;
    }
    upgrade = std::move(checked);
  }
  if (ctx_.config.max_queue > 0 && ctx_.queue.size() >= ctx_.config.max_queue) {
    shed(head, client);
    return;
  }
  http::TraceContext trace = http::make_trace_context(head, peer_trusted_);
  auto ex = std::make_shared<Exchange>(std::move(head), ctx_.wakeup);
  ex->upgrade = std::move(upgrade);
  ex->trace = std::move(trace);
  ex->peer = peer_;
  ex->local_port = local_port_;
  ex->peer_trusted = peer_trusted_;
  ex->multithread = ctx_.config.threads > 1;
  ex->multiprocess = ctx_.config.multiprocess;
  ex->client = std::move(client);
  ex->draining = &ctx_.draining;
  ex->set_watermarks(ctx_.config.output_high_water, ctx_.config.output_low_water);
  ex->conn = this;
  ex->started = ctx_.now;
  reading_body_ = ex->head.has_body();
  exchange_ = ex;
  exchange_done_ = false;
  response_started_ = false;
  continue_sent_ = false;
  ++ctx_.active_exchanges;
  // A body is read before the request goes to a thread (up to body_buffer):
  // a client trickling its body costs a buffer, never a thread. Not with
  // Expect: 100-continue, whose body comes only once the app asks for it
  // (RFC 9110 10.1.1).
  dispatch_pending_ = exchange_->head.has_body() && !exchange_->head.expect_continue;
  if (!dispatch_pending_) ctx_.queue.push(std::move(ex));
}

void Connection::dispatch() {
  if (!dispatch_pending_ || !exchange_) return;
  dispatch_pending_ = false;
  ctx_.queue.push(exchange_);
}

// Overload: --max-queue requests already wait for an application thread. The
// I/O thread answers at once, without Python: RFC 9110 15.6.4 503 with
// Retry-After (10.2.3, delay-seconds), and closes, so that the client's retry
// opens a new connection, which another worker may take. The body, if any, is
// read and dropped first (as for every local answer).
void Connection::shed(const http::RequestHead& head, const std::string& client) {
  constexpr std::string_view kRetryAfterSeconds = "1";
  const http::RequestErrorInfo& e = http::info(http::RequestError::Overloaded);
  if (ctx_.metrics)
    metrics::bump(ctx_.metrics->request_errors[static_cast<std::size_t>(http::RequestError::Overloaded)]);
  std::string body(e.text);
  body += "\n";
  http::ResponseHead h = http::text_head(e.status, body.size(), head.version_minor, false);
  h.add("Retry-After", kRetryAfterSeconds);
  http::TraceContext trace = http::make_trace_context(head, peer_trusted_);
  h.add(http::kRequestIdHeader, trace.request_id);
  local_ = LocalResponse{http::text_response(std::move(h), body, head.method == "HEAD"), {}, true};
  if (ctx_.config.access_log)
    server::log_access(client, head, e.status, body.size(),
                       std::chrono::duration<double, std::milli>(Clock::now() - ctx_.now).count(), &trace);
}

void Connection::on_body(std::string_view data) {
  if (exchange_ && !discarding_body_) {
    exchange_->append_body(data);
    if (dispatch_pending_ && exchange_->body_buffered() >= ctx_.config.body_buffer) dispatch();
  }
}

void Connection::on_message_complete() {
  if (exchange_ && reading_body_ && !discarding_body_) exchange_->end_body(false);
  dispatch();
  reading_body_ = false;
  waiting_since_ = Clock::time_point{};
}

void Connection::answer_local() {
  LocalResponse r = std::move(*local_);
  local_.reset();
  queue_bytes(std::move(r.head));
  if (r.file.is_file()) {
    out_bytes_ += r.file.length;
    out_.push_back(std::move(r.file));
  }
  if (r.close) {
    close_after_flush_ = true;
    flush();
  } else {
    flush();
    if (!closed_) next_message();
  }
}

// ---- exchange lifecycle ------------------------------------------------------------

void Connection::exchange_finished() {
  if (ctx_.metrics && exchange_)
    metrics::observe_server_duration(
        *ctx_.metrics, std::chrono::duration<double>(ctx_.now - exchange_->started).count(), exchange_->trace.trace());
  // The head decided keep-alive or close (draining included); honour what the
  // client was told. A drained keep-alive connection closes once idle.
  if (!keep_alive_after_) {
    detach_exchange();
    close_after_flush_ = true;
    flush();
    return;
  }
  if (reading_body_) {
    // The app answered without reading the whole body: read and drop the rest
    // (bounded by --max-body-size and the body timeout), then go on.
    discarding_body_ = true;
    advance();
    return;
  }
  if (paused_) next_message();
}

void Connection::detach_exchange() {
  dispatch_pending_ = false;
  if (!exchange_) return;
  exchange_->conn = nullptr;
  if (!exchange_done_) exchange_->connection_lost();
  exchange_.reset();
  --ctx_.active_exchanges;
}

void Connection::next_message() {
  detach_exchange();
  discarding_body_ = false;
  exchange_done_ = false;
  paused_ = false;
  head_started_ = Clock::time_point{};
  last_activity_ = ctx_.now;
  parser_->resume();
  if (peer_eof_) {
    close_after_flush_ = true;
    flush();
    return;
  }
  advance();
}

// A request we refuse: a precise status, then close (never parse past it, so
// nothing smuggled after it reaches the app).
void Connection::fail(http::RequestError error, std::string_view reason) {
  const http::RequestErrorInfo& e = http::info(error);
  int status = e.status;
  if (reason.empty()) reason = e.text;
  if (ctx_.metrics) metrics::bump(ctx_.metrics->request_errors[static_cast<std::size_t>(error)]);
  paused_ = true;
  local_.reset();
  if (exchange_) {
    exchange_->end_body(true);
    bool answered = response_started_;
    exchange_->connection_lost();
    exchange_done_ = true;
    detach_exchange();
    if (answered) {
      close();
      return;
    }
    out_.clear();
    out_bytes_ = 0;
  }
  if (status >= 400 && status < 500 && status != 408) {
    log::log_event("info", "squall.http", peer_.host + ": " + std::to_string(status) + " " + std::string(reason));
  }
  std::string body(reason);
  body += "\n";
  // No head to take an id from: a new one, so the client can still quote it.
  http::ResponseHead h = http::text_head(status, body.size(), 1, false);
  h.add(http::kRequestIdHeader, http::new_trace_context().request_id);
  queue_bytes(http::text_response(std::move(h), body));
  close_after_flush_ = true;
  flush();
}

// ---- output ----------------------------------------------------------------------

void Connection::queue_bytes(std::string bytes) {
  out_bytes_ += bytes.size();
  OutSegment seg;
  seg.bytes = std::move(bytes);
  out_.push_back(std::move(seg));
}

void Connection::flush() {
  while (!closed_ && writable_ && !out_.empty()) {
    OutSegment& front = out_.front();
    ssize_t n;
    if (front.is_file()) {
      std::size_t chunk = std::min<std::size_t>(front.length, 1 << 20);
      n = ::sendfile(fd_.get(), front.file.get(), &front.offset, chunk);
      if (n == 0) {
        // The file shrank under us: the promised length can't be met; closing
        // is the only honest end of this response.
        log::log_event("warning", "squall.http", "file truncated while being sent; closing the connection");
        close();
        return;
      }
      if (n > 0) {
        if (ctx_.metrics) metrics::bump(ctx_.metrics->bytes_sent, static_cast<std::uint64_t>(n));
        front.length -= static_cast<std::size_t>(n);
        out_bytes_ -= static_cast<std::size_t>(n);
        if (front.length == 0) out_.pop_front();
      }
    } else {
      iovec iov[kMaxIov];
      std::size_t count = 0;
      auto it = out_.begin();
      for (; it != out_.end() && count < kMaxIov && !it->is_file(); ++it, ++count) {
        iov[count].iov_base = it->bytes.data();
        iov[count].iov_len = it->bytes.size();
      }
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = count;
      // A file follows (a static file, wsgi.file_wrapper): MSG_MORE lets the
      // head leave in the same segment as the file's first bytes instead of
      // a small packet of its own (what nginx's tcp_nopush does).
      int flags = MSG_NOSIGNAL | (it != out_.end() && it->is_file() ? MSG_MORE : 0);
      n = ::sendmsg(fd_.get(), &msg, flags);
      if (n > 0) {
        if (ctx_.metrics) metrics::bump(ctx_.metrics->bytes_sent, static_cast<std::uint64_t>(n));
        std::size_t left = static_cast<std::size_t>(n);
        out_bytes_ -= left;
        while (left > 0) {
          OutSegment& seg = out_.front();
          if (left >= seg.bytes.size()) {
            left -= seg.bytes.size();
            out_.pop_front();
          } else {
            seg.bytes.erase(0, left);
            left = 0;
          }
        }
      }
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        writable_ = false;
        if (waiting_since_ == Clock::time_point{}) waiting_since_ = ctx_.now;
      } else if (errno != EINTR) {
        close();  // EPIPE, ECONNRESET: the client is gone
        return;
      }
    } else {
      last_activity_ = ctx_.now;
      if (!reading_body_) waiting_since_ = Clock::time_point{};
    }
  }
  if (closed_) return;
  if (exchange_) exchange_->report_pending(out_bytes_);
  if (out_.empty() && close_after_flush_ && !lingering_) start_linger(kLingerSeconds);
}

// Lingering close (RFC 9112 9.6): stop sending, then read and drop what the
// client still sends for a moment, so a reset does not destroy the response
// in flight.
void Connection::start_linger(double seconds) {
  detach_exchange();
  if (peer_eof_) {
    close();
    return;
  }
  ::shutdown(fd_.get(), SHUT_WR);
  lingering_ = true;
  linger_seconds_ = seconds;
  last_activity_ = ctx_.now;
  advance();
}

// Closing an idle persistent connection races the client's next request
// (RFC 9112 9.3.1, 9.6): it may already sit unread in the socket, or be on its
// way. What already arrived is read and served (the connection then stays);
// otherwise the connection is half-closed and lingers, so a request that
// crosses our FIN is dropped, not answered with a reset, and the client sees
// an orderly close on which it can retry (RFC 9110 9.2.2).
void Connection::close_idle() {
  const std::uint64_t before = received_;
  readable_ = true;  // the timer, not an event, brought us here: look
  advance();
  if (closed_ || received_ != before) return;
  close_after_flush_ = true;
  start_linger(kIdleLingerSeconds);
}

// ---- timers -----------------------------------------------------------------------

// --timeout: the application thread has run this exchange too long. The
// client gets its answer now (504, or a close once the head is out), whether
// or not the thread ever unwinds; the deadline handler then interrupts it.
bool Connection::check_deadline(Clock::time_point now) {
  if (!exchange_ || exchange_done_ || exchange_->deadline_passed()) return false;
  std::int64_t dispatched = exchange_->dispatched_ns();
  if (dispatched == 0) return false;  // still queued
  double ran = std::chrono::duration<double>(now.time_since_epoch() - Clock::duration(dispatched)).count();
  if (ran <= ctx_.config.timeout) return false;
  std::shared_ptr<Exchange> ex = exchange_;
  Exchange::Expiry expiry = ex->expire();
  if (expiry == Exchange::Expiry::Done) return false;
  char secs[64];
  std::snprintf(secs, sizeof secs, "%.1f s (--timeout %g s)", ran, ctx_.config.timeout);
  log::log_event(
      "warning", "squall.timeout",
      ctx_.who + "request " + ex->head.method + " " + ex->head.target + " has run for " + secs + ": " +
          (expiry == Exchange::Expiry::Answered ? "answered 504" : "response incomplete, connection closed") +
          "; interrupting its thread");
  if (ctx_.on_deadline) ctx_.on_deadline(ex);
  if (expiry == Exchange::Expiry::MustClose) {
    close();
    return true;
  }
  on_exchange_update(*ex);  // the 504 goes out now
  return closed_;
}

void Connection::check_timeouts(Clock::time_point now) {
  if (closed_) return;
  const auto& cfg = ctx_.config;
  if (ws_) {
    // A WebSocket lives as long as both sides want: no deadline, no idle
    // timeout. Our close frame waits kWsCloseSeconds for the client's; a
    // client that stops reading is dropped after --body-timeout.
    bool stalled = !out_.empty() && !writable_ && waiting_since_ != Clock::time_point{} &&
                   seconds_between(waiting_since_, now) > cfg.body_timeout;
    bool close_unanswered =
        ws_close_sent_ != Clock::time_point{} && seconds_between(ws_close_sent_, now) > kWsCloseSeconds;
    if (stalled || close_unanswered) close();
    return;
  }
  if (cfg.timeout > 0 && check_deadline(now)) return;
  if (lingering_) {
    if (seconds_between(last_activity_, now) > linger_seconds_) close();
    return;
  }
  if (!exchange_ && !paused_ && !parser_->idle() && head_started_ != Clock::time_point{} &&
      seconds_between(head_started_, now) > cfg.header_timeout) {
    fail(http::RequestError::HeadTimeout);
    return;
  }
  if (!exchange_ && parser_->idle() && out_.empty() && !paused_ &&
      seconds_between(last_activity_, now) > cfg.keepalive_timeout) {
    close_idle();
    return;
  }
  bool waiting_body = exchange_ && reading_body_ && !readable_ && want_read() &&
                      (discarding_body_ || exchange_->body_buffered() < cfg.body_buffer);
  bool waiting_write = !out_.empty() && !writable_;
  if ((waiting_body || waiting_write) && waiting_since_ != Clock::time_point{} &&
      seconds_between(waiting_since_, now) > cfg.body_timeout) {
    if (waiting_body && !response_started_) {
      fail(http::RequestError::BodyTimeout);
    } else {
      close();
    }
  }
}

// Draining: a keep-alive connection is closed once it has been idle for a
// moment. Closing it at once would race a client that is sending its next
// request right now (it would see a reset, not a response); a request that
// arrives meanwhile is answered with Connection: close instead.
void Connection::close_if_idle() {
  if (closed_ || lingering_ || exchange_ || !out_.empty()) return;
  if (!parser_->idle() && !paused_) return;  // a request head is arriving: answer it
  if (seconds_between(last_activity_, ctx_.now) < kDrainIdleSeconds) return;
  close_idle();
}

Connection::Activity Connection::activity() const {
  if (exchange_ || !out_.empty()) return Activity::Writing;
  if (!lingering_ && !parser_->idle()) return Activity::Reading;
  return Activity::Waiting;
}

// ---- WebSocket -------------------------------------------------------------------

// The app accepted (websocket.accept): the 101 goes out and the socket carries
// frames from now on (RFC 6455 4.2.2), read and written by a ws::Session.
void Connection::ws_start(const Exchange::WsAccept& accept) {
  const ws::Upgrade& upgrade = *exchange_->upgrade;
  http::ResponseHead h = ws::accept_head(upgrade, accept.subprotocol, upgrade.deflate);
  for (const auto& [name, value] : accept.headers) h.add(name, value);
  exchange_->add_request_id(h);  // as on every other answer the app side makes
  queue_bytes(http::serialize(h));
  response_started_ = true;
  ws::SessionOptions options;
  options.max_message_size = ctx_.config.ws_max_message_size;
  options.deflate = upgrade.deflate;
  ws_ = std::make_unique<ws::Session>(options);
  if (ctx_.metrics) metrics::bump(ctx_.metrics->ws_opened);
  // Frames the client sent right behind its handshake.
  std::vector<ws::Event> events;
  if (in_.size() > 0) {
    ws_->feed(in_.unread(), events);
    ws_events(events);
  }
  // From now on reads go through one buffer shared by the loop's WebSockets
  // (ws_read): an idle WebSocket holds no read buffer of its own.
  in_.release();
}

void Connection::ws_read() {
  std::vector<ws::Event> events;
  // The I/O thread's one read buffer for every WebSocket (a session copies what it keeps).
  static thread_local std::unique_ptr<char[]> scratch;
  static thread_local std::size_t scratch_size = 0;
  if (scratch_size < ctx_.config.read_chunk) {
    scratch = std::make_unique<char[]>(ctx_.config.read_chunk);
    scratch_size = ctx_.config.read_chunk;
  }
  while (!closed_ && readable_ && !ws_paused_ && !ws_->finished() && !ws_->close_received()) {
    char* buf = scratch.get();
    ssize_t n = ::recv(fd_.get(), buf, ctx_.config.read_chunk, 0);
    if (n > 0) {
      received_ += static_cast<std::uint64_t>(n);
      if (ctx_.metrics) metrics::bump(ctx_.metrics->bytes_received, static_cast<std::uint64_t>(n));
      last_activity_ = ctx_.now;
      events.clear();
      ws_->feed(std::string_view(buf, static_cast<std::size_t>(n)), events);
      ws_events(events);
      // Messages the app has not taken yet are bounded: stop reading (the
      // client's TCP window fills) until it takes some.
      if (exchange_ && exchange_->ws_in_full(ctx_.config.ws_max_message_size + ctx_.config.read_chunk))
        ws_paused_ = true;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      readable_ = false;
      break;
    }
    if (n < 0 && errno == EINTR) continue;
    // EOF or an error without a close frame: 1006 (RFC 6455 7.1.5).
    if (exchange_) exchange_->ws_peer_closed(ws::kCloseAbnormal, {});
    close();
    return;
  }
  ws_write();
}

void Connection::ws_events(std::vector<ws::Event>& events) {
  for (ws::Event& e : events) {
    switch (e.kind) {
      case ws::Event::Kind::Message:
        if (ctx_.metrics) {
          metrics::bump(ctx_.metrics->ws_messages_in);
          metrics::bump(ctx_.metrics->ws_bytes_in, e.data.size());
        }
        if (exchange_) exchange_->ws_push(e.type == ws::MessageType::Text, std::move(e.data));
        break;
      case ws::Event::Kind::Close:
        if (!ws_end_code_) ws_end_code_ = e.code;
        if (exchange_) exchange_->ws_peer_closed(e.code, std::move(e.reason));
        break;
      case ws::Event::Kind::Error:
        // The session queued the close frame with the code (1002, 1007, 1009).
        if (!ws_end_code_) ws_end_code_ = e.code;
        log::log_event("info", "squall.http",
                       peer_.host + ": WebSocket closed with " + std::to_string(e.code) + ": " + e.reason);
        if (exchange_) exchange_->ws_peer_closed(e.code, std::move(e.reason));
        break;
    }
  }
}

void Connection::ws_write() {
  if (closed_) return;
  std::string_view pending = ws_->pending();
  if (!pending.empty()) {
    queue_bytes(std::string(pending));
    ws_->consume(pending.size());
  }
  flush();
  // RFC 6455 7.1.1: once both close frames are exchanged, the server closes the TCP connection.
  if (!closed_ && ws_->finished() && out_.empty()) close();
}

void Connection::ws_going_away(std::uint16_t code) {
  if (closed_ || !ws_ || ws_->close_sent()) return;
  if (ws_->send_close(code, code == ws::kCloseGoingAway ? "server shutting down" : "server restarting")) {
    ws_close_sent_ = ctx_.now;
    if (!ws_end_code_) ws_end_code_ = code;
  }
  ws_write();
}

void Connection::close() {
  if (closed_) return;
  closed_ = true;
  if (ctx_.metrics) metrics::bump(ctx_.metrics->handled);
  if (ws_ && ctx_.metrics) metrics::count_ws_close(*ctx_.metrics, ws_end_code_ ? ws_end_code_ : ws::kCloseAbnormal);
  if (exchange_) {
    exchange_done_ = false;
    detach_exchange();
  }
  out_.clear();
  out_bytes_ = 0;
  fd_.reset();
  ctx_.closed.push_back(this);
}

}  // namespace squall::server
