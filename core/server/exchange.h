#pragma once
// One request/response in flight, shared by the I/O thread (which owns the
// connection) and the worker thread that runs the application. Everything the
// two threads share is behind `mu_`; the worker side never blocks the I/O
// thread and the I/O thread never waits for a worker.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/request.h"
#include "http/trace_context.h"
#include "net/address.h"
#include "net/fd.h"
#include "ws/handshake.h"

namespace squall::http {
struct ResponseHead;
}

namespace squall::server {

class AppNotify;
class Connection;
class Wakeup;

// A piece of response output: bytes, or a file range sent with sendfile(2).
struct OutSegment {
  std::string bytes;
  net::UniqueFd file;
  off_t offset = 0;
  std::size_t length = 0;
  bool is_file() const { return file.valid(); }
};

enum class BodyRead { Data, End, Wait, Failed };

// The client a trusted proxy (`peer`, allowed by `trusted`) forwarded for:
// in the X-Forwarded-For list (every such field, in order), the right-most
// address that is not itself a trusted proxy; the left-most when all are. A
// client can prepend anything to the list, so nothing left of the first
// untrusted address is believed. `peer` when there is no list.
std::string forwarded_client(const http::RequestHead& head, const std::string& peer, const net::AllowList& trusted);

class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(http::RequestHead head, std::shared_ptr<Wakeup> wakeup);

  // ---- Immutable after dispatch -------------------------------------------
  http::RequestHead head;
  net::Endpoint peer;
  int local_port = 0;
  bool peer_trusted = false;  // may set X-Forwarded-* (--forwarded-allow-ips)
  bool multithread = false;
  bool multiprocess = false;
  // The client: the peer, or from a trusted peer the X-Forwarded-For address
  // forwarded_client() picks (REMOTE_ADDR, the access log).
  std::string client;
  std::chrono::steady_clock::time_point started;
  // Request id and trace context (http/trace_context.h): the response's
  // X-Request-ID, the environ, the access log, the latency exemplars.
  http::TraceContext trace;

  // ---- Deadline ------------------------------------------------------------------
  // Set by the application thread that takes the exchange (RequestQueue::pop);
  // the I/O thread's deadline runs from here. 0: still queued.
  void mark_dispatched();
  std::int64_t dispatched_ns() const { return dispatched_ns_.load(std::memory_order_acquire); }
  enum class Expiry {
    Done,       // the response was already complete, or the client gone: nothing to do
    Answered,   // no head was out: a 504 is queued and the exchange is finished
    MustClose,  // the head was out: the connection must be closed
  };
  // I/O thread, at the deadline. From then on the application side sees the
  // exchange as gone: writes return false, body reads fail, waits return.
  Expiry expire();
  bool deadline_passed() const { return deadline_passed_.load(std::memory_order_acquire); }

  // ---- Worker side: request body ------------------------------------------
  // Moves up to `max` body bytes into `out` without blocking.
  BodyRead take_body(std::string& out, std::size_t max);
  // Blocks until take_body() would not return Wait. Call without the GIL.
  void wait_body();

  // ---- Worker side: response ------------------------------------------------
  // Stores the status and headers; nothing is sent before the first body
  // bytes (PEP 3333) or finish(). Headers were validated by the caller.
  void set_response(int status, std::string reason, std::vector<std::pair<std::string, std::string>> headers);
  bool response_started() const;
  // Queues body bytes. `last` says no more body follows, which lets a
  // response whose length was not declared go out with Content-Length.
  // Returns false once the client is gone.
  bool write(std::string_view data, bool last = false);
  // Queues a file range (the fd is owned by the segment).
  bool send_file(net::UniqueFd file, off_t offset, std::size_t length, bool last);
  // True when the writer should wait_drained() before queueing more.
  bool should_wait_drained() const;
  void wait_drained();  // call without the GIL
  // Ends the response (sends the head if not yet sent).
  void finish();
  // Gives up: the connection is closed without completing the response.
  void abort();
  bool client_gone() const;

  // Facts for the access log, valid after finish().
  int status() const;
  std::uint64_t body_bytes() const { return body_bytes_; }

  // ---- WebSocket (RFC 6455): an Upgrade request under ASGI ---------------------------
  // Set by the I/O thread before dispatch: the request passed the handshake checks.
  std::optional<ws::Upgrade> upgrade;
  struct WsAccept {
    std::string subprotocol;
    std::vector<std::pair<std::string, std::string>> headers;
  };
  struct WsOut {
    enum class Kind { Text, Binary, Close } kind = Kind::Text;
    std::string data;  // the message, or the close reason
    std::uint16_t code = 0;
  };
  struct WsMessage {
    bool text = true;
    std::string data;
  };
  // App side. ws_accept: the 101 goes out (false: the client is gone).
  bool ws_accept(WsAccept accept);
  bool ws_accepted() const;
  // 0 queued, 1 queued but above the high-water mark (arm WantDrain), 2 closed or gone.
  int ws_send(WsOut out);
  enum class WsRecv { Message, Wait, Closed };
  // Closed: `code` and `reason` of the close (1006: the connection ended without one).
  WsRecv ws_receive(WsMessage& msg, std::uint16_t& code, std::string& reason);
  // I/O side: a message from the client; the client's close (or a protocol error's code).
  void ws_push(bool text, std::string data);
  void ws_peer_closed(std::uint16_t code, std::string reason);
  // Messages waiting for the app past this many bytes: the connection stops
  // reading until the app takes some (back-pressure to the client).
  bool ws_in_full(std::size_t cap);

  // ---- Event-loop side (ASGI) -----------------------------------------------------
  // Instead of blocking in wait_body() / wait_drained(), an event loop arms
  // the exchange and is told through `notify` (id `id`) when what it waits
  // for may have happened; it then looks again.
  enum Want : unsigned { WantBody = 1, WantDrain = 2, WantGone = 4 };
  void watch(std::shared_ptr<AppNotify> notify, std::uint64_t id);
  // False when what `want` waits for is already there (look again now).
  bool arm(unsigned want);
  // Tells the event loop to look at this exchange now (its deadline passed).
  void poke_app();
  // The client closed its side while the request was in progress (EPOLLRDHUP
  // with the parser paused): an ASGI app is told http.disconnect.
  bool peer_closed() const;
  // True when the body is complete (or failed) and nothing of it is left unread.
  bool body_exhausted() const;

  // ---- I/O thread side ---------------------------------------------------------
  Connection* conn = nullptr;
  void on_peer_closed();                    // I/O thread only; null once the connection is gone
  void append_body(std::string_view data);  // from the parser
  void end_body(bool failed);               // message complete, or the body can't complete
  std::size_t body_buffered() const;
  // The body buffer is full: ask to be woken when the worker has read some.
  // Returns false when space appeared meanwhile.
  bool request_body_space(std::size_t cap);
  struct Taken {
    std::deque<OutSegment> segments;
    bool finished = false;
    bool keep_alive = false;
    bool continue_wanted = false;  // the app started reading an Expect: 100-continue body
    bool body_space_wanted = false;
    std::optional<WsAccept> ws_accept;  // send the 101 and switch to WebSocket frames
    std::deque<WsOut> ws_out;
    bool ws_resume = false;  // the app took messages: read the socket again
  };
  Taken take_output();
  void report_pending(std::size_t pending_bytes);  // bytes still unsent by the I/O thread
  void connection_lost();                          // connection closed under the exchange
  std::atomic<bool> queued_for_io{false};          // coalesces wake-ups
  // X-Request-ID on a head the app side makes (its own field wins); also the 101.
  void add_request_id(http::ResponseHead& h) const;

 private:
  void send_head_locked(std::optional<std::uint64_t> known_length);
  void enqueue_locked(std::string_view data);
  std::size_t clamp_to_declared_locked(std::size_t n);
  void chunk_size_line_locked(std::size_t n);
  void wake_io();
  void notify_app_locked(unsigned what);

  // Weak: the Wakeup's ready list holds exchanges, so a strong reference
  // here would be a cycle that outlives the server.
  std::weak_ptr<Wakeup> wakeup_;
  std::atomic<std::int64_t> dispatched_ns_{0};
  std::atomic<bool> deadline_passed_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;

  // body (guarded by mu_)
  std::string body_;
  std::size_t body_pos_ = 0;
  bool body_done_ = false;
  bool body_failed_ = false;
  bool continue_wanted_ = false;
  bool body_space_wanted_ = false;
  bool body_waiter_ = false;
  bool peer_closed_ = false;

  // WebSocket (guarded by mu_)
  std::optional<WsAccept> ws_accept_pending_;
  bool ws_accepted_ = false;
  std::deque<WsOut> ws_out_;
  bool ws_close_queued_ = false;
  std::deque<WsMessage> ws_in_;
  std::size_t ws_in_bytes_ = 0;
  bool ws_in_paused_ = false;
  bool ws_resume_ = false;
  bool ws_peer_closed_ = false;
  std::uint16_t ws_close_code_ = 1006;  // RFC 6455 7.1.5: no close frame was received
  std::string ws_close_reason_;

  // event-loop watcher (guarded by mu_)
  std::shared_ptr<AppNotify> notify_;
  std::uint64_t notify_id_ = 0;
  unsigned armed_ = 0;

  // output (guarded by mu_)
  std::deque<OutSegment> out_;
  std::size_t out_bytes_ = 0;
  // Written only by the I/O thread (under mu_), so that thread may also read it
  // without the lock; the worker reads it under mu_.
  std::size_t io_pending_ = 0;
  std::atomic<bool> drain_waiting_{false};  // a writer sleeps in wait_drained()
  bool finished_ = false;
  bool gone_ = false;

  // response framing (worker thread only, except status_ and head_sent_:
  // guarded by mu_, since expire() answers 504 from the I/O thread)
  int status_ = 0;
  std::string reason_;
  std::vector<std::pair<std::string, std::string>> headers_;
  bool head_sent_ = false;
  bool chunked_ = false;
  bool no_body_ = false;  // HEAD, 1xx, 204, 304
  std::optional<std::uint64_t> declared_length_;
  std::uint64_t body_bytes_ = 0;
  bool keep_alive_ = false;
  std::size_t high_water_ = 1024 * 1024;
  std::size_t low_water_ = 256 * 1024;

 public:
  std::atomic<bool>* draining = nullptr;  // server-wide: answer with Connection: close
  void set_watermarks(std::size_t high, std::size_t low) {
    high_water_ = high;
    low_water_ = low;
  }
};

// Wakes the I/O thread (eventfd) and hands it the exchanges that changed.
class Wakeup {
 public:
  Wakeup();
  int fd() const { return fd_.get(); }
  void post(std::shared_ptr<Exchange> exchange);
  std::vector<std::shared_ptr<Exchange>> drain();  // I/O thread

 private:
  net::UniqueFd fd_;
  std::mutex mu_;
  std::vector<std::shared_ptr<Exchange>> ready_;
  bool signalled_ = false;
};

}  // namespace squall::server
