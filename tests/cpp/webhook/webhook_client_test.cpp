#include "webhook/webhook_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "net/fd.h"

using squall::net::UniqueFd;
using squall::webhook::Event;
using squall::webhook::payload_json;
using squall::webhook::WebhookClient;
using squall::webhook::WebhookConfig;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Request {
  std::string method, path, body;
  std::map<std::string, std::string> headers;  // names lowercased
};

// A plain-socket HTTP receiver on 127.0.0.1, port 0, in its own thread.
// Answer: the i-th request gets statuses[min(i, size - 1)], then the
// connection closes. Hang: connections are accepted and never answered.
class Receiver {
 public:
  enum class Mode { Answer, Hang };

  explicit Receiver(std::vector<int> statuses = {200}, Mode mode = Mode::Answer)
      : statuses_(std::move(statuses)), mode_(mode) {
    listen_.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(listen_.get(), 16), 0);
    socklen_t len = sizeof addr;
    getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~Receiver() {
    stop_ = true;
    thread_.join();
  }

  std::string url(const std::string& path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::vector<Request> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::size_t connections() const { return connections_.load(); }

 private:
  void loop() {
    std::vector<UniqueFd> held;
    while (!stop_) {
      pollfd p{listen_.get(), POLLIN, 0};
      if (poll(&p, 1, 20) != 1) continue;
      UniqueFd conn(accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!conn.valid()) continue;
      connections_ += 1;
      if (mode_ == Mode::Hang) {
        held.push_back(std::move(conn));
        continue;
      }
      timeval tv{2, 0};
      setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      Request req;
      if (!read_request(conn.get(), req)) continue;
      int status;
      {
        std::lock_guard lock(mu_);
        status = statuses_[std::min(requests_.size(), statuses_.size() - 1)];
        requests_.push_back(req);
      }
      std::string body = status == 200 ? "ok" : "boom\n<html>" + std::string(500, 'x');
      std::string resp = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " + std::to_string(body.size()) +
                         "\r\nConnection: close\r\n\r\n" + body;
      ssize_t n = ::send(conn.get(), resp.data(), resp.size(), MSG_NOSIGNAL);
      (void)n;
    }
  }

  static bool read_request(int fd, Request& req) {
    std::string data;
    char buf[4096];
    std::size_t head_end;
    while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return false;
      data.append(buf, static_cast<std::size_t>(n));
    }
    std::size_t line_end = data.find("\r\n");
    std::string line = data.substr(0, line_end);
    std::size_t sp1 = line.find(' '), sp2 = line.find(' ', sp1 + 1);
    req.method = line.substr(0, sp1);
    req.path = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::size_t pos = line_end + 2;
    while (pos < head_end) {
      std::size_t eol = data.find("\r\n", pos);
      std::string h = data.substr(pos, eol - pos);
      std::size_t colon = h.find(':');
      std::string value = h.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      req.headers[lower(h.substr(0, colon))] = value;
      pos = eol + 2;
    }
    std::size_t length = req.headers.count("content-length") ? std::stoul(req.headers["content-length"]) : 0;
    req.body = data.substr(head_end + 4);
    while (req.body.size() < length) {
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return false;
      req.body.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }

  std::vector<int> statuses_;
  Mode mode_;
  UniqueFd listen_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> connections_{0};
  mutable std::mutex mu_;
  std::vector<Request> requests_;
  std::thread thread_;
};

// Drives the client the way the master does: its fd() in our own epoll.
bool drive_until(WebhookClient& client, const std::function<bool()>& done, int timeout_ms = 5000) {
  UniqueFd ep(epoll_create1(EPOLL_CLOEXEC));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = client.fd();
  EXPECT_EQ(epoll_ctl(ep.get(), EPOLL_CTL_ADD, client.fd(), &ev), 0);
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    epoll_event out;
    // Short waits: some conditions are met by the receiver's thread.
    if (epoll_wait(ep.get(), &out, 1, 20) == 1) client.on_ready();
  }
  return true;
}

bool drive_until_idle(WebhookClient& client, int timeout_ms = 5000) {
  return drive_until(
      client, [&] { return client.idle(); }, timeout_ms);
}

// A port nobody listens on: bound, never listened to, then closed.
int closed_port() {
  UniqueFd s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(s.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

Event startup_event() { return Event{"startup", "succeeded", "Startup webhook", ""}; }

WebhookConfig config_for(std::vector<std::string> urls) {
  WebhookConfig c;
  c.urls = std::move(urls);
  c.podname = "pod-1";
  c.timeout = 2.0;
  c.backoff = 0.05;
  return c;
}

}  // namespace

TEST(webhook_payload, HurricanesFieldsAndTypes) {
  WebhookConfig config;
  config.podname = "web-7f9c";
  std::string text = payload_json(startup_event(), config, 1700000000);
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j.size(), 6u);
  EXPECT_EQ(j["info"], "Startup webhook");
  EXPECT_EQ(j["type"], "startup");
  EXPECT_EQ(j["status"], "succeeded");
  ASSERT_TRUE(j["timestamp"].is_number_integer());
  EXPECT_EQ(j["timestamp"].get<std::int64_t>(), 1700000000);
  EXPECT_EQ(j["podname"], "web-7f9c");
  EXPECT_TRUE(j["version"].is_null());
  EXPECT_FALSE(j.contains("traceback"));
  EXPECT_EQ(text.rfind("{\"info\":", 0), 0u) << text;  // Hurricane's field order
}

TEST(webhook_payload, VersionAndTracebackWhenSet) {
  WebhookConfig config;
  config.version = "1.4.2";
  Event e{"readiness", "failed", "Readiness webhook", "Traceback (most recent call last):\n  \"x\"\n"};
  auto j = nlohmann::json::parse(payload_json(e, config, 5));
  EXPECT_EQ(j["version"], "1.4.2");
  EXPECT_EQ(j["traceback"], e.traceback);
  EXPECT_EQ(j["type"], "readiness");
  EXPECT_EQ(j["status"], "failed");
}

TEST(webhook_payload, InvalidUtf8IsReplacedNotThrown) {
  Event e{"liveness", "warning", "bad \xff byte", ""};
  std::string text = payload_json(e, WebhookConfig{}, 0);
  EXPECT_NO_THROW(nlohmann::json::parse(text));
}

TEST(webhook_client, OneJsonPostPerUrl) {
  Receiver rx;
  WebhookConfig config = config_for({rx.url("/a"), rx.url("/b")});
  config.podname.clear();  // -> gethostname()
  config.version = "2.0";
  WebhookClient client(config);
  EXPECT_TRUE(client.idle());
  client.send(startup_event());
  EXPECT_FALSE(client.idle());
  ASSERT_TRUE(drive_until_idle(client));
  EXPECT_EQ(client.delivered(), 2u);
  EXPECT_EQ(client.failed(), 0u);

  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 2u);
  std::set<std::string> paths;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  for (const auto& r : reqs) {
    paths.insert(r.path);
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.headers.at("content-type"), "application/json");
    EXPECT_EQ(r.headers.count("expect"), 0u);
    auto j = nlohmann::json::parse(r.body);
    EXPECT_EQ(j["type"], "startup");
    EXPECT_EQ(j["status"], "succeeded");
    EXPECT_EQ(j["info"], "Startup webhook");
    EXPECT_EQ(j["podname"], host);
    EXPECT_EQ(j["version"], "2.0");
    ASSERT_TRUE(j["timestamp"].is_number_integer());
    EXPECT_NEAR(j["timestamp"].get<double>(), double(time(nullptr)), 5.0);
  }
  EXPECT_EQ(paths, (std::set<std::string>{"/a", "/b"}));
}

TEST(webhook_client, SendReturnsAtOnceWhenTheReceiverNeverAnswers) {
  Receiver rx({200}, Receiver::Mode::Hang);
  WebhookClient client(config_for({rx.url()}));
  auto t0 = Clock::now();
  client.send(startup_event());
  EXPECT_LT(seconds_since(t0), 0.010);
  ASSERT_TRUE(drive_until(client, [&] { return rx.connections() == 1; }));
  t0 = Clock::now();
  client.send(Event{"readiness", "succeeded", "Readiness webhook", ""});  // queued behind the hanging one
  EXPECT_LT(seconds_since(t0), 0.010);
  EXPECT_FALSE(client.idle());
}

TEST(webhook_client, RetriesA500UntilItIsDelivered) {
  Receiver rx({500, 500, 200});
  WebhookClient client(config_for({rx.url()}));
  client.send(startup_event());
  ASSERT_TRUE(drive_until_idle(client));
  EXPECT_EQ(rx.requests().size(), 3u);
  EXPECT_EQ(client.delivered(), 1u);
  EXPECT_EQ(client.failed(), 0u);
}

TEST(webhook_client, AReceiverThatNeverAnswersTimesOutThenIsGivenUp) {
  Receiver rx({200}, Receiver::Mode::Hang);
  WebhookConfig config = config_for({rx.url()});
  config.timeout = 0.2;
  config.retries = 1;
  config.backoff = 0.1;
  WebhookClient client(config);
  auto t0 = Clock::now();
  client.send(startup_event());
  ASSERT_TRUE(drive_until_idle(client, 3000));
  double took = seconds_since(t0);
  EXPECT_EQ(client.failed(), 1u);
  EXPECT_EQ(client.delivered(), 0u);
  EXPECT_EQ(rx.connections(), 2u);
  EXPECT_GE(took, 0.45);  // 0.2 + 0.1 + 0.2
  EXPECT_LT(took, 1.5);
}

TEST(webhook_client, ConnectionRefusedIsRetriedThenGivenUp) {
  WebhookConfig config = config_for({"http://127.0.0.1:" + std::to_string(closed_port()) + "/hook"});
  config.retries = 2;
  WebhookClient client(config);
  auto t0 = Clock::now();
  client.send(startup_event());
  ASSERT_TRUE(drive_until_idle(client));
  EXPECT_EQ(client.failed(), 1u);
  EXPECT_EQ(client.delivered(), 0u);
  EXPECT_GE(seconds_since(t0), 0.05 + 0.1);  // both backoffs were waited
}

TEST(webhook_client, EventsReachEachUrlInOrderEvenAcrossRetries) {
  Receiver rx({500, 200});
  WebhookClient client(config_for({rx.url()}));
  client.send(startup_event());
  client.send(Event{"readiness", "failed", "Readiness webhook", ""});
  client.send(Event{"liveness", "warning", "Liveness webhook", ""});
  ASSERT_TRUE(drive_until_idle(client));
  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 4u);
  std::vector<std::string> types;
  for (const auto& r : reqs) types.push_back(nlohmann::json::parse(r.body)["type"]);
  EXPECT_EQ(types, (std::vector<std::string>{"startup", "startup", "readiness", "liveness"}));
  EXPECT_EQ(client.delivered(), 3u);
}

TEST(webhook_client, ALongTracebackIsNotDelayedByExpectContinue) {
  Receiver rx;
  WebhookClient client(config_for({rx.url()}));
  Event e{"startup", "failed", "Startup webhook", std::string(20000, 't')};
  auto t0 = Clock::now();
  client.send(e);
  ASSERT_TRUE(drive_until_idle(client));
  EXPECT_LT(seconds_since(t0), 0.5);  // curl waits 1 s for "100 Continue" otherwise
  ASSERT_EQ(rx.requests().size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(rx.requests()[0].body)["traceback"], e.traceback);
}

TEST(webhook_client, WaitIdleDeliversOrTimesOut) {
  {
    Receiver rx;
    WebhookClient client(config_for({rx.url()}));
    client.send(startup_event());
    EXPECT_TRUE(client.wait_idle(3000));
    EXPECT_EQ(client.delivered(), 1u);
  }
  Receiver rx({200}, Receiver::Mode::Hang);
  WebhookClient client(config_for({rx.url()}));
  client.send(startup_event());
  auto t0 = Clock::now();
  EXPECT_FALSE(client.wait_idle(200));
  double took = seconds_since(t0);
  EXPECT_GE(took, 0.19);
  EXPECT_LT(took, 1.0);
  EXPECT_FALSE(client.idle());
}

TEST(webhook_client, DestroyedWithTransfersInFlightAndRetriesWaiting) {
  Receiver hang({200}, Receiver::Mode::Hang);
  Receiver fails({500});
  WebhookConfig config = config_for({hang.url(), fails.url()});
  config.backoff = 30.0;
  auto client = std::make_unique<WebhookClient>(config);
  client->send(startup_event());
  client->send(Event{"readiness", "succeeded", "Readiness webhook", ""});
  ASSERT_TRUE(drive_until(*client, [&] { return hang.connections() == 1 && fails.requests().size() == 1; }));
  EXPECT_FALSE(client->idle());
  client.reset();  // ASan: nothing leaked, nothing used after free
}

// The master forks workers while a webhook may be in flight; a worker drops
// its copy without touching curl (whose resolver threads it does not have).
TEST(webhook_client, AForkedChildDropsItsCopyWithoutTouchingCurl) {
  Receiver hang({200}, Receiver::Mode::Hang);
  Receiver rx;
  auto client = std::make_unique<WebhookClient>(config_for({hang.url()}));
  client->send(startup_event());
  ASSERT_TRUE(drive_until(*client, [&] { return hang.connections() == 1; }));
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    client.reset();
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // The parent's transfer is untouched; a new client still delivers.
  EXPECT_FALSE(client->idle());
  client.reset();
  WebhookClient again(config_for({rx.url()}));
  again.send(startup_event());
  EXPECT_TRUE(again.wait_idle(3000));
  EXPECT_EQ(again.delivered(), 1u);
}

TEST(webhook_client, NoUrlsMeansNothingToDo) {
  WebhookClient client(WebhookConfig{});
  client.send(startup_event());
  EXPECT_TRUE(client.idle());
  EXPECT_TRUE(client.wait_idle(0));
  EXPECT_EQ(client.delivered() + client.failed(), 0u);
}
