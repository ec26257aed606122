#pragma once
// The ASGI bridge's native half (docs/asgi.md): one AsgiRequest per HTTP
// request the worker's asyncio loop runs. squall/asgi.py holds the loop and the
// ASGI protocol; this holds what touches the Exchange: the scope (built with
// the C API, like the WSGI environ), body reads that never block, response
// validation and framing through the Exchange (the one response writer), and
// the bookkeeping the probes and the access log read. Call with the GIL.
#include <nanobind/nanobind.h>

#include <cstdint>
#include <memory>

#include "server/exchange.h"
#include "server/server.h"
#include "state/metrics_tables.h"

namespace squall::python {

class AsgiRequest {
 public:
  AsgiRequest(std::shared_ptr<server::Exchange> ex, server::Server* server, metrics::WorkerTables* tables,
              std::uint64_t id);
  ~AsgiRequest();
  AsgiRequest(const AsgiRequest&) = delete;
  AsgiRequest& operator=(const AsgiRequest&) = delete;
  AsgiRequest(AsgiRequest&&) = delete;

  std::uint64_t id() const { return id_; }
  // The HTTP connection scope (ASGI HTTP spec 2.4). `state`: the lifespan
  // state to copy in (None: no lifespan, no "state" key).
  nanobind::object scope(nanobind::handle root_path, nanobind::handle state) const;
  // (status, bytes, more): status 0 data, 1 end of body, 2 nothing yet (arm
  // WantBody and wait), 3 the body cannot complete (client gone).
  nanobind::tuple read(std::size_t max);
  bool arm(unsigned want) { return ex_->arm(want); }
  bool gone() const { return ex_->client_gone(); }
  bool peer_closed() const { return ex_->peer_closed(); }
  bool deadline_passed() const { return ex_->deadline_passed(); }
  bool started() const { return started_; }
  // http.response.start: status and headers validated (ValueError/TypeError
  // with the reason); nothing is sent before the first body message.
  void start(nanobind::handle status, nanobind::handle headers);
  // http.response.body: 0 queued, 1 queued but above the high-water mark
  // (arm WantDrain and wait), 2 the client is gone.
  int send(nanobind::handle body, bool more);
  // The app failed: 500 if no head went out, else the connection closes.
  void fail();
  // The task ended (whatever happened): access log, counters. An accepted
  // WebSocket the app did not close gets close 1000.
  void done();

  // ---- WebSocket scopes (an Upgrade request) ----
  bool websocket() const { return ex_->upgrade.has_value(); }
  // websocket.accept: `subprotocol` must be one the client offered.
  void ws_accept(nanobind::handle subprotocol, nanobind::handle headers);
  // websocket.send (exactly one of text / bytes): 0 queued, 1 above the
  // high-water mark (arm WantDrain), 2 closed or gone.
  int ws_send(nanobind::handle text, nanobind::handle bytes);
  // websocket.close: before accept a 403 (ASGI), after it a close frame.
  int ws_close(int code, nanobind::handle reason);
  // (status, is_text, data, code, reason): 0 a message (str or bytes), 1
  // nothing yet (arm WantBody), 2 closed (code and reason of the close).
  nanobind::tuple ws_receive();

  static void bind(nanobind::module_& m);

 private:
  void stop_waiting();

  std::shared_ptr<server::Exchange> ex_;
  server::Server* server_;
  metrics::WorkerTables* tables_;
  std::uint64_t id_;
  bool started_ = false;   // http.response.start received
  bool waiting_ = true;    // counted in Server::app_waiting
  bool finished_ = false;  // the last body message was sent (or the response failed)
  bool done_ = false;
};

}  // namespace squall::python
