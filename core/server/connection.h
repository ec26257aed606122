#pragma once
// One client connection, owned by the I/O thread. It reads and parses
// requests, hands each complete head to the request queue as an Exchange,
// streams the body to it, writes the response the worker produces, and only
// then parses the next pipelined request, so responses leave in request order
// (RFC 9112 9.3.2).
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>

#include "http/parser.h"
#include "net/address.h"
#include "net/fd.h"
#include "server/context.h"
#include "server/input_buffer.h"
#include "ws/session.h"

namespace squall::server {

class Connection : public http::ParserHandler {
 public:
  Connection(ServerContext& ctx, net::UniqueFd fd, net::Endpoint peer, int local_port);
  ~Connection() override;

  int fd() const { return fd_.get(); }
  bool closed() const { return closed_; }
  void on_events(std::uint32_t events);
  void on_exchange_update(Exchange& exchange);
  void check_timeouts(Clock::time_point now);
  // Draining: close now if nothing is in progress on this connection.
  void close_if_idle();
  // Draining, for a WebSocket: send a close frame with `code` (1001 going
  // away, 1012 service restart) once; the connection ends after the client's.
  void ws_going_away(std::uint16_t code);
  bool websocket() const { return ws_ != nullptr; }
  void close();
  // For the connection gauges (nginx's reading / writing / waiting).
  enum class Activity { Reading, Writing, Waiting };
  Activity activity() const;

  // http::ParserHandler
  void on_head(http::RequestHead&& head) override;
  void on_body(std::string_view data) override;
  void on_message_complete() override;

 private:
  void advance();
  bool parse_some();
  bool read_some();
  bool want_read() const;
  void flush();
  void queue_bytes(std::string bytes);
  void fail(http::RequestError error, std::string_view reason = {});  // counted by id in /metrics
  void exchange_finished();
  void next_message();
  void detach_exchange();
  void start_linger(double seconds);
  void close_idle();
  void on_peer_eof();
  void answer_local();
  bool output_backlogged() const;
  bool check_deadline(Clock::time_point now);  // true: the connection was closed
  void shed(const http::RequestHead& head, const std::string& client);
  void dispatch();  // the exchange goes on the request queue (once)
  // WebSocket mode: after the 101, the socket carries frames (ws::Session).
  void ws_start(const Exchange::WsAccept& accept);
  void ws_read();
  void ws_events(std::vector<ws::Event>& events);
  void ws_write();  // the session's queued bytes -> out_, then flush

  ServerContext& ctx_;
  net::UniqueFd fd_;
  net::Endpoint peer_;
  int local_port_;
  bool peer_trusted_;
  std::unique_ptr<http::Parser> parser_;
  InputBuffer in_;

  std::deque<OutSegment> out_;
  std::size_t out_bytes_ = 0;

  std::shared_ptr<Exchange> exchange_;
  bool readable_ = true;
  bool writable_ = true;
  bool paused_ = false;           // parser stopped after a complete message
  bool reading_body_ = false;     // between a head and its message end
  bool discarding_body_ = false;  // the response is done; drop the rest of the body
  bool exchange_done_ = false;    // the worker finished the response
  bool keep_alive_after_ = false;
  bool response_started_ = false;  // bytes of the current response were queued
  bool dispatch_pending_ = false;  // the exchange waits for its body before the queue
  bool continue_sent_ = false;
  bool close_after_flush_ = false;
  bool lingering_ = false;
  double linger_seconds_ = 0;
  std::uint64_t received_ = 0;  // bytes read over the connection's life
  bool peer_eof_ = false;
  bool closed_ = false;
  // A response the I/O thread makes itself (a probe on the app port, a static
  // file), sent once the request's message is complete.
  struct LocalResponse {
    std::string head;
    OutSegment file;  // no file: head only
    bool close = false;
  };
  std::optional<LocalResponse> local_;

  std::unique_ptr<ws::Session> ws_;
  bool ws_paused_ = false;             // the app has ws_in_cap bytes of messages to take
  Clock::time_point ws_close_sent_{};  // our close frame went out: the client's is awaited
  std::uint16_t ws_end_code_ = 0;      // the first close code sent or received (metrics)

  Clock::time_point last_activity_;
  Clock::time_point head_started_{};
  Clock::time_point waiting_since_{};  // waiting for body bytes or for the socket to drain
};

}  // namespace squall::server
