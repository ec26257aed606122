// squall_ws_echo: a WebSocket echo server on core/ws (ws::Session) for the
// conformance runs (Autobahn|Testsuite's fuzzingclient, tests/test_ws_conformance.py).
// A test tool, not part of the engine: blocking sockets, a thread per
// connection. Every text or binary message is sent back as it came.
//
//   squall_ws_echo [--port N] [--max-message BYTES] [--no-deflate]
//
// Prints "listening on PORT" once it accepts (port 0: an ephemeral one).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "http/parser.h"
#include "ws/session.h"

using namespace squall;

namespace {

struct Options {
  int port = 9001;
  std::uint64_t max_message = 64ull << 20;
  bool deflate = true;
};

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(std::size_t(n));
  }
  return true;
}

struct HeadCatcher final : http::ParserHandler {
  std::optional<http::RequestHead> head;
  void on_head(http::RequestHead&& h) override { head = std::move(h); }
  void on_body(std::string_view) override {}
  void on_message_complete() override {}
};

void serve(int fd, Options options) {
  HeadCatcher catcher;
  auto parser = http::make_parser(http::Limits{}, catcher);
  std::string rest;
  char buf[65536];
  // The opening handshake.
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return ::close(fd), void();
    const auto r = parser->feed(std::string_view(buf, std::size_t(n)));
    if (r.state == http::FeedResult::State::Error) {
      write_all(fd, http::simple_response(r.error.status, r.error.reason, true));
      return ::close(fd), void();
    }
    if (r.state == http::FeedResult::State::MessageComplete) {
      rest.assign(buf + r.consumed, std::size_t(n) - r.consumed);
      break;
    }
  }
  ws::Upgrade upgrade;
  ws::HandshakeError error;
  if (!ws::parse_upgrade(*catcher.head, upgrade, error)) {
    write_all(fd, ws::reject_response(error));
    return ::close(fd), void();
  }
  ws::SessionOptions so;
  so.max_message_size = options.max_message;
  if (options.deflate) so.deflate = upgrade.deflate;
  write_all(fd, http::serialize(ws::accept_head(upgrade, "", so.deflate)));
  ws::Session session(so);
  std::vector<ws::Event> events;
  std::string_view input = rest;
  for (;;) {
    events.clear();
    session.feed(input, events);
    for (ws::Event& e : events) {
      if (e.kind != ws::Event::Kind::Message) continue;
      if (e.type == ws::MessageType::Text)
        session.send_text(e.data);
      else
        session.send_binary(e.data);
    }
    if (!write_all(fd, session.pending())) break;
    session.consume(session.queued_bytes());
    if (session.finished()) break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    input = std::string_view(buf, std::size_t(n));
  }
  // RFC 6455 7.1.1: the server closes the TCP connection first; read what the
  // client still sends so that it sees a FIN, not a reset.
  ::shutdown(fd, SHUT_WR);
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  while (::recv(fd, buf, sizeof buf, 0) > 0) {
  }
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--port" && i + 1 < argc) {
      options.port = std::atoi(argv[++i]);
    } else if (a == "--max-message" && i + 1 < argc) {
      options.max_message = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--no-deflate") {
      options.deflate = false;
    } else {
      std::fprintf(stderr, "usage: %s [--port N] [--max-message BYTES] [--no-deflate]\n", argv[0]);
      return 2;
    }
  }
  std::signal(SIGPIPE, SIG_IGN);
  const int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(std::uint16_t(options.port));
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(lfd, 128) != 0) {
    std::perror("squall_ws_echo: bind/listen");
    return 1;
  }
  socklen_t len = sizeof addr;
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::printf("listening on %d\n", ntohs(addr.sin_port));
  std::fflush(stdout);
  for (;;) {
    const int fd = ::accept(lfd, nullptr, nullptr);
    if (fd < 0) continue;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::thread(serve, fd, options).detach();
  }
}
