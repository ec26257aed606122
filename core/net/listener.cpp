#include "net/listener.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace squall::net {

UniqueFd open_listener(const ListenOptions& options, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string port = std::to_string(options.port);
  const char* host = options.host.empty() ? nullptr : options.host.c_str();
  if (int rc = getaddrinfo(host, port.c_str(), &hints, &found); rc != 0) {
    error = "cannot resolve " + options.host + ": " + gai_strerror(rc);
    return UniqueFd();
  }
  std::string where = options.host + ":" + port;
  int last_errno = 0;
  for (addrinfo* ai = found; ai; ai = ai->ai_next) {
    UniqueFd fd(socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (!fd.valid()) {
      last_errno = errno;
      continue;
    }
    int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (options.reuse_port) setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd.get(), options.backlog) != 0) {
      last_errno = errno;
      continue;
    }
    freeaddrinfo(found);
    return fd;
  }
  freeaddrinfo(found);
  error = "cannot listen on " + where + ": " + std::strerror(last_errno);
  return UniqueFd();
}

}  // namespace squall::net
