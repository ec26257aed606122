#pragma once
// Runs one request through a WSGI application (PEP 3333): environ,
// start_response, the response iterable, close(). Call with the GIL.
#include <nanobind/nanobind.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "server/exchange.h"

namespace squall::python {

// The start_response callable handed to the app, and its write() callable.
class StartResponse {
 public:
  explicit StartResponse(server::Exchange* ex) : ex_(ex) {}
  nanobind::object call(nanobind::handle self, nanobind::handle status, nanobind::handle headers,
                        nanobind::handle exc_info);
  void write(nanobind::bytes data);
  bool called() const { return called_; }
  void detach() { ex_ = nullptr; }

  static void bind(nanobind::module_& m);

 private:
  server::Exchange* ex_;
  bool called_ = false;
};

// Everything a Python thread needs to run requests.
struct AppContext {
  nanobind::object app;
  nanobind::object log_error;  // squall.server.log_app_error(message, exc)
  bool access_log = true;
  nanobind::object server_software;  // str: SERVER_SOFTWARE (None: not set)
};

void handle_exchange(const AppContext& ctx, std::shared_ptr<server::Exchange> ex);

// Module-level setup (interned strings, types).
void init_app_call(nanobind::module_& m);

}  // namespace squall::python
