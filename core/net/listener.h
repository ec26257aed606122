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

// Stops a TCP listen socket from starting new handshakes while letting those
// already under way complete: a socket filter drops every SYN without ACK.
// Closing a listen socket resets each connection the kernel has established
// but no accept() has taken yet (Linux, tcp_disconnect → inet_csk_listen_stop),
// so the clean way to stop listening is: refuse new handshakes, accept what
// completes over a round trip or so, then close. A dropped SYN is retried by
// the client and then meets a closed port (refused), which a client or load
// balancer handles as "try another endpoint". Returns false (and changes
// nothing) for a socket that is not TCP or when the filter is refused.
bool refuse_new_handshakes(int listen_fd);

}  // namespace squall::net
