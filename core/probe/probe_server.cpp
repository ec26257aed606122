#include "probe/probe_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "http/response.h"
#include "probe/routes.h"

namespace squall::probe {
namespace {

constexpr std::int64_t kProbeConnectionNs = 2'000'000'000;
// A metrics answer can be large: a slow scraper gets longer to read it.
constexpr std::int64_t kMetricsConnectionNs = 10'000'000'000;

}  // namespace

// ---- server ---------------------------------------------------------------------

struct ProbeServer::Connection : http::ParserHandler {
  net::UniqueFd fd;
  std::unique_ptr<http::Parser> parser;
  http::RequestHead head;
  bool complete = false;
  bool answered = false;
  std::string out;  // the response, from out_pos on still to send
  std::size_t out_pos = 0;
  std::int64_t opened_ns = 0;
  std::int64_t deadline_ns = kProbeConnectionNs;
  void on_head(http::RequestHead&& h) override { head = std::move(h); }
  void on_body(std::string_view) override {}
  void on_message_complete() override { complete = true; }
};

ProbeServer::ProbeServer(ProbeConfig config, const state::SharedState* state, net::UniqueFd listener,
                         const metrics::MetricsConfig* metrics, int app_listen_fd)
    : config_(std::move(config)),
      state_(state),
      listener_(std::move(listener)),
      metrics_(metrics),
      app_listen_fd_(app_listen_fd) {}

ProbeServer::~ProbeServer() = default;

std::vector<int> ProbeServer::accept_all() {
  std::vector<int> accepted;
  for (;;) {
    int fd = accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) break;
    auto conn = std::make_unique<Connection>();
    conn->fd.reset(fd);
    http::Limits limits;  // probes are tiny: refuse anything large
    limits.max_request_line = 2048;
    limits.max_header_bytes = 8192;
    limits.max_header_count = 50;
    limits.max_body_bytes = kMaxProbeBodyBytes;  // read and discarded
    conn->parser = http::make_parser(limits, *conn);
    conn->opened_ns = state::monotonic_ns();
    connections_[fd] = std::move(conn);
    accepted.push_back(fd);
  }
  return accepted;
}

void ProbeServer::on_event(int fd) {
  auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  Connection& c = *it->second;
  if (c.answered) return flush(fd, c);  // only writing is left (edge-triggered EPOLLOUT)
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return finish(fd);
    if (n < 0) return;  // wait for more
    http::FeedResult r = c.parser->feed({buf, static_cast<std::size_t>(n)});
    if (r.state == http::FeedResult::State::Error) {
      c.out = http::simple_response(r.error.status, r.error.reason + "\n", true);
    } else if (c.complete) {
      // One connection, one answer: always Connection: close.
      Routes routes{state_, &config_, metrics_, app_listen_fd_, nullptr};
      if (auto a = route(routes, c.head, true)) {
        if (a->kind == LocalAnswer::Kind::Metrics) c.deadline_ns = kMetricsConnectionNs;
        c.out = std::move(a->bytes);
      } else {  // not a probe path: 404
        c.out = response_bytes(answer(c.head.target, state::snapshot(*state_), config_), true,
                               c.head.version_minor, c.head.method == "HEAD");
      }
    } else {
      continue;
    }
    c.answered = true;
    return flush(fd, c);
  }
}

void ProbeServer::flush(int fd, Connection& c) {
  while (c.out_pos < c.out.size()) {
    ssize_t sent = ::send(fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // EPOLLOUT resumes
    if (sent <= 0) return finish(fd);
    c.out_pos += static_cast<std::size_t>(sent);
  }
  finish(fd);
}

void ProbeServer::finish(int fd) { connections_.erase(fd); }  // closing removes it from epoll

void ProbeServer::close_stale() {
  std::int64_t now = state::monotonic_ns();
  for (auto it = connections_.begin(); it != connections_.end();)
    it = now - it->second->opened_ns > it->second->deadline_ns ? connections_.erase(it) : std::next(it);
}

}  // namespace squall::probe
