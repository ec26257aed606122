#pragma once
#include <string>

#include "net/fd.h"

namespace squall::net {

struct ListenOptions {
  std::string host = "0.0.0.0";
  int port = 8000;
  int backlog = 1024;
  bool reuse_port = false;
};

// Binds and listens (non-blocking, close-on-exec). On failure returns an
// invalid fd and sets `error` to a one-line reason naming the address.
UniqueFd open_listener(const ListenOptions& options, std::string& error);

}  // namespace squall::net
