#include "server/exchange.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

#include "http/response.h"
#include "server/app_notify.h"

namespace squall::server {

namespace {

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string forwarded_client(const http::RequestHead& head, const std::string& peer, const net::AllowList& trusted) {
  // Fields are walked from the last one, each list from its right end.
  std::string_view chosen;
  for (auto h = head.headers.rbegin(); h != head.headers.rend(); ++h) {
    if (!http::iequals(h->name, "X-Forwarded-For")) continue;
    std::string_view list = h->value;
    while (!list.empty()) {
      const auto comma = list.rfind(',');
      const std::string_view item = trim_ows(comma == std::string_view::npos ? list : list.substr(comma + 1));
      list = comma == std::string_view::npos ? std::string_view() : list.substr(0, comma);
      if (item.empty()) continue;
      chosen = item;
      if (!trusted.allows(item)) return std::string(chosen);
    }
  }
  return chosen.empty() ? peer : std::string(chosen);
}

Exchange::Exchange(http::RequestHead h, std::shared_ptr<Wakeup> wakeup)
    : head(std::move(h)), wakeup_(std::move(wakeup)) {
  if (!head.has_body()) body_done_ = true;
}

void Exchange::wake_io() {
  if (queued_for_io.exchange(true)) return;
  if (auto wakeup = wakeup_.lock()) wakeup->post(shared_from_this());
}

// ---- request body -------------------------------------------------------------

BodyRead Exchange::take_body(std::string& out, std::size_t max) {
  std::lock_guard lock(mu_);
  std::size_t available = body_.size() - body_pos_;
  if (available > 0) {
    std::size_t n = std::min(available, max);
    out.append(body_, body_pos_, n);
    body_pos_ += n;
    if (body_pos_ == body_.size()) {
      body_.clear();
      body_pos_ = 0;
    }
    if (body_space_wanted_) {
      body_space_wanted_ = false;
      wake_io();
    }
    return BodyRead::Data;
  }
  if (body_failed_ || gone_) return BodyRead::Failed;
  if (body_done_) return BodyRead::End;
  if (head.expect_continue && !continue_wanted_) {
    // RFC 9110 10.1.1: send 100 Continue only once the app asks for the body.
    continue_wanted_ = true;
    wake_io();
  }
  return BodyRead::Wait;
}

void Exchange::wait_body() {
  std::unique_lock lock(mu_);
  body_waiter_ = true;
  cv_.wait(lock, [&] { return body_.size() > body_pos_ || body_done_ || body_failed_ || gone_; });
  body_waiter_ = false;
}

void Exchange::append_body(std::string_view data) {
  std::lock_guard lock(mu_);
  body_.append(data);
  if (body_waiter_) cv_.notify_all();
  notify_app_locked(WantBody);
}

void Exchange::end_body(bool failed) {
  std::lock_guard lock(mu_);
  body_done_ = true;
  body_failed_ = body_failed_ || failed;
  if (body_waiter_) cv_.notify_all();
  notify_app_locked(WantBody);
}

bool Exchange::request_body_space(std::size_t cap) {
  std::lock_guard lock(mu_);
  if (body_.size() - body_pos_ < cap) return false;
  body_space_wanted_ = true;
  return true;
}

std::size_t Exchange::body_buffered() const {
  std::lock_guard lock(mu_);
  return body_.size() - body_pos_;
}

// ---- response -------------------------------------------------------------------

void Exchange::set_response(int status, std::string reason, std::vector<std::pair<std::string, std::string>> headers) {
  std::lock_guard lock(mu_);
  if (head_sent_ || gone_) return;  // the deadline answered 504, or the client left
  status_ = status;
  reason_ = std::move(reason);
  headers_ = std::move(headers);
}

// Every response the application side writes names its request (unless the
// application set the field itself).
void Exchange::add_request_id(http::ResponseHead& h) const {
  if (trace.request_id.empty()) return;
  for (const auto& [name, value] : h.fields)
    if (http::iequals(name, http::kRequestIdHeader)) return;
  h.add(http::kRequestIdHeader, trace.request_id);
}

// Decides the framing (RFC 9112 6.3, 7.1) and queues the head.
void Exchange::send_head_locked(std::optional<std::uint64_t> known_length) {
  head_sent_ = true;
  no_body_ = head.method == "HEAD" || http::status_has_no_body(status_);
  for (const auto& [name, value] : headers_) {
    if (http::iequals(name, "content-length")) {
      std::uint64_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec == std::errc() && p == value.data() + value.size()) declared_length_ = n;
    }
  }
  bool add_length = false;
  bool close_delimited = false;
  if (!declared_length_ && !http::status_has_no_body(status_)) {
    if (known_length) {
      add_length = true;  // the whole body is known: no need for chunked
    } else if (head.method == "HEAD") {
      // no body will be sent and its length is unknown: send neither header
    } else if (head.version_minor >= 1) {
      chunked_ = true;
    } else {
      close_delimited = true;  // HTTP/1.0 client: the end of the body is the close
    }
  }
  bool unread_body = !body_done_ && !body_failed_ && head.has_body();
  keep_alive_ = head.keep_alive && !close_delimited && !gone_ &&
                !(draining && draining->load(std::memory_order_relaxed)) &&
                // RFC 9110 10.1.1: the client may never send a body we did not ask for.
                !(unread_body && head.expect_continue && !continue_wanted_);

  http::ResponseHead h;
  h.status = status_;
  h.reason = std::move(reason_);
  h.version_minor = head.version_minor;
  h.fields = std::move(headers_);  // not needed after the head
  add_request_id(h);
  if (add_length) h.content_length = *known_length;
  h.chunked = chunked_;
  h.keep_alive = keep_alive_;
  enqueue_locked(http::serialize(h));
}

void Exchange::enqueue_locked(std::string_view data) {
  if (data.empty()) return;
  out_bytes_ += data.size();
  if (!out_.empty() && !out_.back().is_file() && out_.back().bytes.size() < 64 * 1024) {
    out_.back().bytes.append(data);
  } else {
    OutSegment seg;
    seg.bytes.assign(data);
    out_.push_back(std::move(seg));
  }
}

// Never send more than the declared Content-Length (RFC 9112 6.3): cut the
// excess and close the connection after the response.
std::size_t Exchange::clamp_to_declared_locked(std::size_t n) {
  if (!declared_length_) return n;
  std::uint64_t room = *declared_length_ - std::min(*declared_length_, body_bytes_);
  if (n <= room) return n;
  keep_alive_ = false;
  return static_cast<std::size_t>(room);
}

// RFC 9112 7.1: chunk-size in hex, CRLF.
void Exchange::chunk_size_line_locked(std::size_t n) {
  char size[20];
  auto [end, ec] = std::to_chars(size, size + sizeof size, n, 16);
  (void)ec;
  enqueue_locked(std::string_view(size, static_cast<std::size_t>(end - size)));
  enqueue_locked("\r\n");
}

bool Exchange::write(std::string_view data, bool last) {
  std::lock_guard lock(mu_);
  if (gone_) return false;
  if (data.empty() && !last) return true;  // PEP 3333: empty strings do not send the head
  if (!head_sent_) send_head_locked(last ? std::optional<std::uint64_t>(data.size()) : std::nullopt);
  if (!no_body_ && !data.empty()) {
    data = data.substr(0, clamp_to_declared_locked(data.size()));
    if (chunked_ && !data.empty()) {
      chunk_size_line_locked(data.size());
      enqueue_locked(data);
      enqueue_locked("\r\n");
    } else {
      enqueue_locked(data);
    }
    body_bytes_ += data.size();
  }
  wake_io();
  return true;
}

bool Exchange::send_file(net::UniqueFd file, off_t offset, std::size_t length, bool last) {
  std::lock_guard lock(mu_);
  if (gone_) return false;
  if (!head_sent_) send_head_locked(last ? std::optional<std::uint64_t>(length) : std::nullopt);
  if (no_body_ || length == 0) {
    wake_io();
    return true;
  }
  length = clamp_to_declared_locked(length);
  if (length == 0) {  // the declared length is already reached
    wake_io();
    return true;
  }
  if (chunked_) chunk_size_line_locked(length);
  OutSegment seg;
  seg.file = std::move(file);
  seg.offset = offset;
  seg.length = length;
  out_.push_back(std::move(seg));
  if (chunked_) enqueue_locked("\r\n");
  body_bytes_ += length;
  wake_io();
  return true;
}

bool Exchange::should_wait_drained() const {
  std::lock_guard lock(mu_);
  return !gone_ && out_bytes_ + io_pending_ > high_water_;
}

void Exchange::wait_drained() {
  std::unique_lock lock(mu_);
  drain_waiting_.store(true, std::memory_order_release);
  cv_.wait(lock, [&] { return gone_ || out_bytes_ + io_pending_ <= low_water_; });
  drain_waiting_.store(false, std::memory_order_release);
}

void Exchange::finish() {
  std::lock_guard lock(mu_);
  if (finished_) return;
  if (!head_sent_ && !gone_) send_head_locked(std::optional<std::uint64_t>(0));
  if (chunked_) enqueue_locked("0\r\n\r\n");  // RFC 9112 7.1: last-chunk, no trailers
  // A body shorter than its declared Content-Length cannot be repaired: close.
  if (declared_length_ && !no_body_ && body_bytes_ < *declared_length_) keep_alive_ = false;
  finished_ = true;
  wake_io();
}

void Exchange::abort() {
  std::lock_guard lock(mu_);
  if (finished_) return;
  if (!head_sent_ && !gone_) {
    status_ = 500;
    head_sent_ = true;
    std::string_view body = "Internal Server Error\n";
    http::ResponseHead h = http::text_head(500, body.size(), head.version_minor, false);
    add_request_id(h);
    enqueue_locked(http::text_response(std::move(h), body, head.method == "HEAD"));
  }
  keep_alive_ = false;
  finished_ = true;
  wake_io();
}

bool Exchange::response_started() const {
  std::lock_guard lock(mu_);
  return head_sent_;
}

int Exchange::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

void Exchange::mark_dispatched() {
  dispatched_ns_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_release);
}

Exchange::Expiry Exchange::expire() {
  std::lock_guard lock(mu_);
  if (finished_ || gone_) return Expiry::Done;
  deadline_passed_.store(true, std::memory_order_release);
  // The application side sees the client as gone from now on: its writes
  // return false, wsgi.input raises, and a thread waiting in wait_body() or
  // wait_drained() returns, so nothing of ours keeps it from unwinding.
  gone_ = true;
  keep_alive_ = false;
  cv_.notify_all();
  notify_app_locked(WantBody | WantDrain | WantGone);
  if (head_sent_) {
    out_.clear();
    out_bytes_ = 0;
    return Expiry::MustClose;  // an incomplete response: only a close ends it honestly
  }
  // RFC 9110 15.6.5: 504 Gateway Timeout, the server acting for the
  // application did not get its answer in time. The connection closes: the
  // request body may be unread and the thread is still unwinding.
  head_sent_ = true;
  status_ = 504;
  std::string_view body = "Gateway Timeout: the request took longer than --timeout\n";
  http::ResponseHead h = http::text_head(504, body.size(), head.version_minor, false);
  add_request_id(h);
  enqueue_locked(http::text_response(std::move(h), body, head.method == "HEAD"));
  finished_ = true;
  return Expiry::Answered;
}

bool Exchange::client_gone() const {
  std::lock_guard lock(mu_);
  return gone_;
}

// ---- I/O thread ---------------------------------------------------------------------

Exchange::Taken Exchange::take_output() {
  std::lock_guard lock(mu_);
  queued_for_io.store(false);
  Taken t;
  t.segments.swap(out_);
  io_pending_ += out_bytes_;
  out_bytes_ = 0;
  t.finished = finished_;
  t.keep_alive = keep_alive_ && finished_;
  t.continue_wanted = continue_wanted_;
  t.body_space_wanted = body_space_wanted_;
  if (ws_accept_pending_) {
    t.ws_accept = std::move(ws_accept_pending_);
    ws_accept_pending_.reset();
  }
  t.ws_out.swap(ws_out_);
  t.ws_resume = ws_resume_;
  ws_resume_ = false;
  return t;
}

void Exchange::report_pending(std::size_t pending_bytes) {
  // Unchanged and nobody waiting: skip the lock (this runs after every flush).
  if (pending_bytes == io_pending_ && !drain_waiting_.load(std::memory_order_acquire)) return;
  std::lock_guard lock(mu_);
  io_pending_ = pending_bytes;
  if (drain_waiting_.load(std::memory_order_relaxed) && out_bytes_ + io_pending_ <= low_water_) {
    cv_.notify_all();
    notify_app_locked(WantDrain);
  }
}

void Exchange::connection_lost() {
  std::lock_guard lock(mu_);
  gone_ = true;
  out_.clear();
  out_bytes_ = 0;
  cv_.notify_all();
  notify_app_locked(WantBody | WantDrain | WantGone);
}

void Exchange::on_peer_closed() {
  std::lock_guard lock(mu_);
  peer_closed_ = true;
  notify_app_locked(WantGone);
}

// ---- WebSocket ---------------------------------------------------------------------------

bool Exchange::ws_accept(WsAccept accept) {
  std::lock_guard lock(mu_);
  if (gone_ || ws_accepted_ || head_sent_) return false;
  ws_accepted_ = true;
  head_sent_ = true;  // no HTTP response may follow the 101
  status_ = 101;
  ws_accept_pending_ = std::move(accept);
  wake_io();
  return true;
}

bool Exchange::ws_accepted() const {
  std::lock_guard lock(mu_);
  return ws_accepted_;
}

int Exchange::ws_send(WsOut out) {
  std::lock_guard lock(mu_);
  if (gone_ || ws_close_queued_ || ws_peer_closed_ || !ws_accepted_) return 2;
  if (out.kind == WsOut::Kind::Close) ws_close_queued_ = true;
  std::size_t n = out.data.size();
  out_bytes_ += n;  // counted with the bytes the I/O thread has not written yet
  body_bytes_ += n;
  ws_out_.push_back(std::move(out));
  wake_io();
  return out_bytes_ + io_pending_ > high_water_ ? 1 : 0;
}

Exchange::WsRecv Exchange::ws_receive(WsMessage& msg, std::uint16_t& code, std::string& reason) {
  std::lock_guard lock(mu_);
  if (!ws_in_.empty()) {
    msg = std::move(ws_in_.front());
    ws_in_.pop_front();
    ws_in_bytes_ -= msg.data.size();
    if (ws_in_paused_ && ws_in_.empty()) {
      ws_in_paused_ = false;
      ws_resume_ = true;
      wake_io();
    }
    return WsRecv::Message;
  }
  if (ws_peer_closed_ || gone_) {
    code = ws_close_code_;
    reason = ws_close_reason_;
    return WsRecv::Closed;
  }
  return WsRecv::Wait;
}

void Exchange::ws_push(bool text, std::string data) {
  std::lock_guard lock(mu_);
  ws_in_bytes_ += data.size();
  ws_in_.push_back({text, std::move(data)});
  notify_app_locked(WantBody);
}

void Exchange::ws_peer_closed(std::uint16_t code, std::string reason) {
  std::lock_guard lock(mu_);
  if (ws_peer_closed_) return;
  ws_peer_closed_ = true;
  ws_close_code_ = code;
  ws_close_reason_ = std::move(reason);
  notify_app_locked(WantBody | WantGone | WantDrain);
}

bool Exchange::ws_in_full(std::size_t cap) {
  std::lock_guard lock(mu_);
  if (ws_in_bytes_ < cap) return false;
  ws_in_paused_ = true;
  return true;
}

// ---- event loop ------------------------------------------------------------------------

void Exchange::watch(std::shared_ptr<AppNotify> notify, std::uint64_t id) {
  std::lock_guard lock(mu_);
  notify_ = std::move(notify);
  notify_id_ = id;
}

bool Exchange::arm(unsigned want) {
  std::lock_guard lock(mu_);
  bool ready = gone_ || ((want & WantBody) && upgrade && (!ws_in_.empty() || ws_peer_closed_)) ||
               ((want & WantBody) && !upgrade && (body_.size() > body_pos_ || body_done_ || body_failed_)) ||
               ((want & WantDrain) && ws_peer_closed_) ||
               ((want & WantDrain) && out_bytes_ + io_pending_ <= low_water_) || ((want & WantGone) && peer_closed_);
  if (ready) return false;
  armed_ |= want;
  // report_pending() skips the lock unless someone waits for the drain.
  if (want & WantDrain) drain_waiting_.store(true, std::memory_order_release);
  return true;
}

void Exchange::poke_app() {
  std::lock_guard lock(mu_);
  if (notify_) notify_->post(notify_id_);
}

void Exchange::notify_app_locked(unsigned what) {
  if (!notify_ || !(armed_ & what)) return;
  armed_ = 0;
  drain_waiting_.store(false, std::memory_order_release);
  notify_->post(notify_id_);
}

bool Exchange::peer_closed() const {
  std::lock_guard lock(mu_);
  return peer_closed_;
}

bool Exchange::body_exhausted() const {
  std::lock_guard lock(mu_);
  return (body_done_ || body_failed_ || gone_) && body_.size() == body_pos_;
}

// ---- Wakeup ---------------------------------------------------------------------------

Wakeup::Wakeup() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

void Wakeup::post(std::shared_ptr<Exchange> exchange) {
  bool signal;
  {
    std::lock_guard lock(mu_);
    ready_.push_back(std::move(exchange));
    signal = !signalled_;
    signalled_ = true;
  }
  if (signal) {
    std::uint64_t one = 1;
    ssize_t rc = ::write(fd_.get(), &one, sizeof one);
    (void)rc;
  }
}

std::vector<std::shared_ptr<Exchange>> Wakeup::drain() {
  std::uint64_t value;
  ssize_t rc = ::read(fd_.get(), &value, sizeof value);
  (void)rc;
  std::vector<std::shared_ptr<Exchange>> out;
  std::lock_guard lock(mu_);
  out.swap(ready_);
  signalled_ = false;
  return out;
}

}  // namespace squall::server
