// The engine end to end, without Python: a Server on an ephemeral port, its
// loop on one thread and a C++ "application" on another, driven by raw
// sockets. Built with ASan+UBSan too, so the I/O-thread / worker hand-off is
// checked for races on memory lifetime.
#include "server/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

using namespace squall;
using namespace std::chrono_literals;

namespace {

std::atomic<bool> g_release{false};  // ends /block

// Echoes the method, target and body: "GET /x\n<body>". /hang runs until the
// exchange is gone (its deadline); /block until g_release.
void echo_app(server::Server& srv) {
  while (auto ex = srv.next_exchange()) {
    if (ex->head.target == "/hang") {
      while (!ex->client_gone()) std::this_thread::sleep_for(5ms);
      ex->set_response(500, "Internal Server Error", {});
      ex->write("too late", true);
      ex->finish();
      continue;
    }
    if (ex->head.target == "/block") {
      while (!g_release.load()) std::this_thread::sleep_for(5ms);
    }
    std::string body;
    for (;;) {
      auto r = ex->take_body(body, 1 << 16);
      if (r == server::BodyRead::Wait) {
        ex->wait_body();
        continue;
      }
      if (r != server::BodyRead::Data) break;
    }
    if (ex->head.target == "/stream") {
      ex->set_response(200, "OK", {{"Content-Type", "text/plain"}});
      ex->write("one,");
      ex->write("two");
      ex->finish();
      continue;
    }
    ex->set_response(200, "OK", {{"Content-Type", "text/plain"}});
    ex->write(ex->head.method + " " + ex->head.target + "\n" + body, true);
    ex->finish();
  }
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override { start(server::ServerConfig{}); }
  void TearDown() override { stop(); }

  void start(server::ServerConfig config) { start_with(std::move(config), nullptr); }
  void start_with(server::ServerConfig config, void (*setup)(server::Server&, std::atomic<int>&)) {
    config.access_log = false;
    srv_ = std::make_unique<server::Server>(std::move(config));
    if (setup) setup(*srv_, deadline_calls_);
    std::string error;
    ASSERT_TRUE(srv_->listen({"127.0.0.1", 0, 64, false}, error)) << error;
    loop_ = std::thread([this] { srv_->run(); });
    app_ = std::thread([this] { echo_app(*srv_); });
  }
  void stop() {
    if (!srv_) return;
    srv_->request_stop(false);
    loop_.join();
    app_.join();
    srv_.reset();
  }

  int connect_client() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(srv_->port()));
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    return fd;
  }
  static void send_all(int fd, const std::string& data) {
    ASSERT_EQ(send(fd, data.data(), data.size(), MSG_NOSIGNAL), static_cast<ssize_t>(data.size()));
  }
  // Reads until `count` occurrences of `marker` arrived, or EOF.
  static std::string read_until(int fd, const std::string& marker, int count = 1) {
    std::string got;
    char buf[4096];
    for (;;) {
      int seen = 0;
      for (auto pos = got.find(marker); pos != std::string::npos; pos = got.find(marker, pos + 1)) ++seen;
      if (seen >= count) return got;
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return got;
      got.append(buf, static_cast<std::size_t>(n));
    }
  }
  static std::string read_to_eof(int fd) {
    std::string got;
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) got.append(buf, static_cast<std::size_t>(n));
    return got;
  }

  std::unique_ptr<server::Server> srv_;
  std::thread loop_, app_;
  std::atomic<int> deadline_calls_{0};
};

}  // namespace

TEST_F(EngineTest, AnswersAndKeepsTheConnectionAlive) {
  int fd = connect_client();
  send_all(fd, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string first = read_until(fd, "GET /a\n");
  EXPECT_TRUE(first.starts_with("HTTP/1.1 200 OK\r\n"));
  send_all(fd, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(read_until(fd, "GET /b\n").find("GET /b\n"), std::string::npos);
  close(fd);
}

TEST_F(EngineTest, PipelinedResponsesComeBackInOrder) {
  int fd = connect_client();
  send_all(fd,
           "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string all = read_until(fd, "GET /3\n");
  auto p1 = all.find("GET /1\n"), p2 = all.find("GET /2\n"), p3 = all.find("GET /3\n");
  ASSERT_NE(p3, std::string::npos);
  EXPECT_LT(p1, p2);
  EXPECT_LT(p2, p3);
  close(fd);
}

TEST_F(EngineTest, ChunkedRequestBodyReachesTheApp) {
  int fd = connect_client();
  send_all(fd, "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
  std::this_thread::sleep_for(20ms);
  send_all(fd, "6\r\n world\r\n0\r\n\r\n");
  EXPECT_NE(read_until(fd, "hello world").find("POST /up\nhello world"), std::string::npos);
  close(fd);
}

TEST_F(EngineTest, ExpectContinueGetsAnInterimResponseWhenTheAppReads) {
  int fd = connect_client();
  send_all(fd, "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  std::string interim = read_until(fd, "\r\n\r\n");
  EXPECT_TRUE(interim.starts_with("HTTP/1.1 100 Continue\r\n\r\n")) << interim;
  send_all(fd, "data");
  EXPECT_NE(read_until(fd, "POST /c\ndata").find("200 OK"), std::string::npos);
  close(fd);
}

TEST_F(EngineTest, StreamedResponseIsChunked) {
  int fd = connect_client();
  send_all(fd, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string got = read_until(fd, "0\r\n\r\n");
  EXPECT_NE(got.find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_NE(got.find("4\r\none,\r\n3\r\ntwo\r\n0\r\n\r\n"), std::string::npos);
  close(fd);
}

TEST_F(EngineTest, MalformedRequestGets400AndCloseAndNothingSmuggled) {
  int fd = connect_client();
  send_all(fd,
           "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
           "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string got = read_to_eof(fd);
  EXPECT_TRUE(got.starts_with("HTTP/1.1 400 ")) << got;
  EXPECT_NE(got.find("Connection: close"), std::string::npos);
  EXPECT_EQ(got.find("/smuggled"), std::string::npos);
  close(fd);
}

TEST_F(EngineTest, HeaderTimeoutAnswers408) {
  stop();
  server::ServerConfig config;
  config.header_timeout = 0.3;
  start(config);
  int fd = connect_client();
  send_all(fd, "GET / HTTP/1.1\r\nHo");
  auto t0 = std::chrono::steady_clock::now();
  std::string got = read_to_eof(fd);
  EXPECT_TRUE(got.starts_with("HTTP/1.1 408 ")) << got;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  close(fd);
}

TEST_F(EngineTest, IdleKeepAliveConnectionIsClosed) {
  stop();
  server::ServerConfig config;
  config.keepalive_timeout = 0.3;
  start(config);
  int fd = connect_client();
  send_all(fd, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string got = read_to_eof(fd);  // returns when the server closes
  EXPECT_NE(got.find("GET /a\n"), std::string::npos);
  close(fd);
}

TEST_F(EngineTest, APastDeadlineIsAnswered504AndTheHandlerCalledOnce) {
  stop();
  server::ServerConfig config;
  config.timeout = 0.3;
  start_with(config, [](server::Server& srv, std::atomic<int>& calls) {
    srv.set_deadline_handler([&calls](const std::shared_ptr<server::Exchange>& ex) {
      EXPECT_EQ(ex->head.target, "/hang");
      EXPECT_TRUE(ex->deadline_passed());
      ++calls;
    });
  });
  int fd = connect_client();
  auto t0 = std::chrono::steady_clock::now();
  send_all(fd, "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string got = read_to_eof(fd);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(got.starts_with("HTTP/1.1 504 Gateway Timeout\r\n")) << got;
  EXPECT_EQ(got.find("too late"), std::string::npos);
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 2s);
  close(fd);
  // The same server goes on serving, and a quick request has no deadline.
  fd = connect_client();
  send_all(fd, "GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(read_until(fd, "GET /after\n").find("200 OK"), std::string::npos);
  close(fd);
  EXPECT_EQ(deadline_calls_.load(), 1);
}

TEST_F(EngineTest, PastMaxQueueA503WithRetryAfterComesAtOnce) {
  stop();
  server::ServerConfig config;
  config.max_queue = 1;
  g_release = false;
  start(config);
  int busy = connect_client();
  send_all(busy, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n");  // the one app thread
  std::this_thread::sleep_for(100ms);
  int queued = connect_client();
  send_all(queued, "GET /queued HTTP/1.1\r\nHost: x\r\n\r\n");  // waits: the queue is full
  std::this_thread::sleep_for(100ms);
  int shed = connect_client();
  send_all(shed, "GET /shed HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string got = read_to_eof(shed);
  EXPECT_TRUE(got.starts_with("HTTP/1.1 503 Service Unavailable\r\n")) << got;
  EXPECT_NE(got.find("Retry-After: 1\r\n"), std::string::npos) << got;
  EXPECT_NE(got.find("Connection: close\r\n"), std::string::npos) << got;
  g_release = true;
  EXPECT_NE(read_until(busy, "GET /block\n").find("200 OK"), std::string::npos);
  EXPECT_NE(read_until(queued, "GET /queued\n").find("200 OK"), std::string::npos);
  close(busy);
  close(queued);
  close(shed);
}

TEST_F(EngineTest, GracefulStopFinishesTheLoop) {
  int fd = connect_client();
  send_all(fd, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  read_until(fd, "GET /a\n");
  srv_->request_stop(true);
  // The idle keep-alive connection is closed by the drain.
  EXPECT_EQ(read_to_eof(fd), "");
  loop_.join();
  app_.join();
  srv_.reset();
  close(fd);
}

// Fair accept: a worker whose queue holds --threads requests leaves new
// connections to a worker with an idle thread, and only then.
TEST(FairAccept, DefersOnlyWhileBusyAndAnotherWorkerIsIdle) {
  state::SharedState* shared = state::SharedState::create(false);
  server::ServerConfig config;
  config.threads = 1;
  config.access_log = false;
  server::Server srv(config);
  std::string error;
  ASSERT_TRUE(srv.listen({"127.0.0.1", 0, 64, false}, error)) << error;
  state::WorkerSlot& mine = shared->workers[0];
  state::WorkerSlot& other = shared->workers[1];
  mine.pid.store(getpid());
  srv.attach(shared, &mine);
  std::thread loop([&] { srv.run(); });     // no application thread: requests stay queued
  EXPECT_FALSE(srv.should_defer_accept());  // nothing queued

  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(srv.port()));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string req = "GET /q HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (mine.queued.load() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(mine.queued.load(), 1u);

  EXPECT_FALSE(srv.should_defer_accept());  // queue full, but no other worker
  other.pid.store(1);
  other.threads.store(2);
  other.ready.store(1);
  EXPECT_TRUE(srv.should_defer_accept());  // the other one has idle threads
  other.busy_threads.store(2);
  EXPECT_FALSE(srv.should_defer_accept());  // ... not any more
  other.busy_threads.store(1);
  other.queued.store(3);
  EXPECT_FALSE(srv.should_defer_accept());  // an idle thread, but requests wait there
  other.queued.store(0);
  other.ready.store(0);
  EXPECT_FALSE(srv.should_defer_accept());  // not accepting (starting, draining)

  srv.request_stop(false);
  loop.join();
  close(fd);
}
