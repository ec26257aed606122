#include "net/listener.h"

#include <linux/filter.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <iterator>

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

bool refuse_new_handshakes(int listen_fd) {
  int type = 0, protocol = 0;
  socklen_t len = sizeof type;
  if (getsockopt(listen_fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) return false;
  len = sizeof protocol;
  if (getsockopt(listen_fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) != 0 || protocol != IPPROTO_TCP) return false;
  // A TCP socket's filter sees the segment from its TCP header on: byte 13
  // holds the flags (RFC 9293 §3.1). Drop SYN-without-ACK, keep the rest
  // (the handshakes' final ACKs, and nothing else reaches a listener).
  constexpr std::uint32_t kSyn = 0x02, kAck = 0x10;
  // clang-format off
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),            // A = flags
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, kSyn | kAck),  // A &= SYN|ACK
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kSyn, 0, 1),   // a bare SYN?
      BPF_STMT(BPF_RET | BPF_K, 0),                      //   drop it
      BPF_STMT(BPF_RET | BPF_K, 0xFFFFFFFFu),            // keep the whole segment
  };
  // clang-format on
  sock_fprog program{static_cast<unsigned short>(std::size(code)), code};
  return setsockopt(listen_fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) == 0;
}

}  // namespace squall::net
