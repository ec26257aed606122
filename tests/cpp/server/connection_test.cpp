// Tests of one Connection (core/server/connection.cpp) driven by hand: no
// event loop, so a request can be made to sit unread in the socket exactly
// when the idle timer fires.
#include "server/connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <string>

using namespace squall;
using namespace std::chrono_literals;

namespace {

// A connected TCP pair on loopback: `client` and the accepted `server` end.
struct TcpPair {
  int client = -1;
  net::UniqueFd server;
  net::Endpoint peer;

  TcpPair() {
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(listener, 1);
    socklen_t len = sizeof addr;
    getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{5, 0};
    setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    EXPECT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    sockaddr_storage from{};
    socklen_t from_len = sizeof from;
    server.reset(accept4(listener, reinterpret_cast<sockaddr*>(&from), &from_len, SOCK_NONBLOCK | SOCK_CLOEXEC));
    peer = net::endpoint_from(from);
    close(listener);
  }
  ~TcpPair() { close(client); }
};

class ConnectionTest : public ::testing::Test {
 protected:
  ConnectionTest() : ctx_(config_, queue_, std::make_shared<server::Wakeup>()) {}

  std::unique_ptr<server::Connection> open(TcpPair& pair) {
    ctx_.now = server::Clock::now();
    return std::make_unique<server::Connection>(ctx_, std::move(pair.server), pair.peer, 8000);
  }
  // The idle timer fires: the connection has been idle for longer than
  // --keepalive-timeout (events the loop has not delivered yet are not seen).
  void idle_timer_fires(server::Connection& conn, std::chrono::duration<double> later) {
    ctx_.now += std::chrono::duration_cast<server::Clock::duration>(later);
    conn.check_timeouts(ctx_.now);
  }
  // What the I/O loop does when the application answered.
  void answer(server::Connection& conn, const std::string& body) {
    auto ex = queue_.try_pop();
    ASSERT_TRUE(ex) << "no request reached the queue";
    ex->set_response(200, "OK", {{"Content-Type", "text/plain"}});
    ex->write(body, true);
    ex->finish();
    conn.on_exchange_update(*ex);
  }
  static std::string receive(int fd, int* error = nullptr) {
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (error) *error = n < 0 ? errno : 0;
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }

  server::ServerConfig config_ = [] {
    server::ServerConfig c;
    c.keepalive_timeout = 1.0;
    c.access_log = false;
    return c;
  }();
  server::RequestQueue queue_;
  server::ServerContext ctx_;
};

}  // namespace

TEST_F(ConnectionTest, RequestUnreadWhenTheIdleTimerFiresIsServed) {
  TcpPair pair;
  auto conn = open(pair);
  // The request is in the socket, but its readiness event has not been handled.
  std::string request = "GET /late HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(pair.client, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  usleep(20'000);  // loopback delivery
  idle_timer_fires(*conn, 2s);
  ASSERT_FALSE(conn->closed());
  answer(*conn, "late but served");
  int error = 0;
  std::string got = receive(pair.client, &error);
  EXPECT_EQ(error, 0) << "the request was reset";
  EXPECT_TRUE(got.starts_with("HTTP/1.1 200 OK\r\n")) << got;
  EXPECT_NE(got.find("late but served"), std::string::npos);
  EXPECT_FALSE(conn->closed());  // the connection stays: the client gets its full idle time again
}

TEST_F(ConnectionTest, IdleConnectionIsHalfClosedSoALateRequestIsNotReset) {
  TcpPair pair;
  auto conn = open(pair);
  idle_timer_fires(*conn, 2s);
  ASSERT_FALSE(conn->closed());  // lingering: our write side is closed, reads go on
  int error = 0;
  EXPECT_EQ(receive(pair.client, &error), "");  // FIN
  EXPECT_EQ(error, 0);
  // A request that crossed our FIN: read and dropped, never a reset.
  std::string request = "GET /crossed HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(pair.client, request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()));
  usleep(20'000);
  conn->on_events(EPOLLIN);
  EXPECT_EQ(queue_.size(), 0u);
  EXPECT_EQ(receive(pair.client, &error), "");
  EXPECT_EQ(error, 0) << "the request was reset";
  // The linger is bounded.
  idle_timer_fires(*conn, 0.3s);
  EXPECT_FALSE(conn->closed());
  idle_timer_fires(*conn, 1s);
  EXPECT_TRUE(conn->closed());
}

TEST_F(ConnectionTest, PeerCloseEndsTheLingerAtOnce) {
  TcpPair pair;
  auto conn = open(pair);
  idle_timer_fires(*conn, 2s);
  ASSERT_FALSE(conn->closed());
  shutdown(pair.client, SHUT_WR);
  usleep(20'000);
  conn->on_events(EPOLLIN | EPOLLRDHUP);
  EXPECT_TRUE(conn->closed());
}
