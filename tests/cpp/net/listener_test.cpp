#include "net/listener.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "net/address.h"

using squall::net::UniqueFd;

namespace {

UniqueFd listen_on_loopback(int& port) {
  std::string error;
  UniqueFd fd = squall::net::open_listener({.host = "127.0.0.1", .port = 0, .backlog = 16}, error);
  EXPECT_TRUE(fd.valid()) << error;
  port = squall::net::local_endpoint(fd.get()).value().port;
  return fd;
}

// Starts a non-blocking connect to 127.0.0.1:port.
UniqueFd start_connect(int port) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to);
  EXPECT_TRUE(rc == 0 || errno == EINPROGRESS);
  return fd;
}

bool connected_within(int fd, int ms) {
  pollfd p{fd, POLLOUT, 0};
  if (poll(&p, 1, ms) != 1) return false;
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  return err == 0;
}

}  // namespace

TEST(Listener, RefusingNewHandshakesKeepsTheEstablishedOnesAcceptable) {
  int port = 0;
  UniqueFd listener = listen_on_loopback(port);
  UniqueFd before = start_connect(port);
  ASSERT_TRUE(connected_within(before.get(), 1000));

  ASSERT_TRUE(squall::net::refuse_new_handshakes(listener.get()));
  UniqueFd after = start_connect(port);
  // Its SYN is dropped: the connect stays in progress (the client's retry,
  // one second later, would meet whatever the socket has become by then).
  EXPECT_FALSE(connected_within(after.get(), 300));

  // The connection established before is still in the queue, and only it.
  UniqueFd accepted(accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  ASSERT_TRUE(accepted.valid());
  ASSERT_EQ(write(before.get(), "x", 1), 1);
  pollfd p{accepted.get(), POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 1000), 1);
  char c = 0;
  EXPECT_EQ(read(accepted.get(), &c, 1), 1);
  EXPECT_EQ(c, 'x');
  EXPECT_LT(accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK), 0);
  EXPECT_EQ(errno, EAGAIN);
}

TEST(Listener, RefusingHandshakesAppliesOnlyToTcp) {
  UniqueFd udp(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  EXPECT_FALSE(squall::net::refuse_new_handshakes(udp.get()));
  UniqueFd unix_stream(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_FALSE(squall::net::refuse_new_handshakes(unix_stream.get()));
}
