#include "server/server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "log/log.h"
#include "server/access_log.h"
#include "server/connection.h"

namespace squall::server {
namespace {

// epoll user data for the loop's own fds; connections use their address.
enum Tag : std::uint64_t { kListener = 1, kWakeup, kTimer, kSignals, kControl };
// EPOLLEXCLUSIVE: of the workers sharing the listen socket, only one is woken
// per new connection (no thundering herd).
constexpr long kTickMillis = 100;
// Workers share one listen socket. Taking one connection per loop turn (the
// socket stays readable, level-triggered, for the rest) lets the other
// workers' wake-ups take their share: accepting until EAGAIN made the first
// worker take nearly every connection of a burst.
constexpr std::size_t kAcceptPerTurn = 1;
// How long a stopping pod's workers keep accepting the handshakes that were
// under way when they refused new ones: many round trips, even across nodes.
constexpr auto kHandshakeSettle = std::chrono::milliseconds(100);

void watch(int epoll, int fd, std::uint32_t events, std::uint64_t data) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = data;
  epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev);
}

}  // namespace

Server::Server(ServerConfig config)
    : config_(std::move(config)),
      ctx_{config_, queue_, std::make_shared<Wakeup>()},
      epoll_(epoll_create1(EPOLL_CLOEXEC)),
      timer_(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)),
      control_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  set_access_log_fields(config_.access_log_fields);
  itimerspec tick{};
  tick.it_interval.tv_nsec = kTickMillis * 1000000;
  tick.it_value = tick.it_interval;
  timerfd_settime(timer_.get(), 0, &tick, nullptr);
  watch(epoll_.get(), ctx_.wakeup->fd(), EPOLLIN, kWakeup);
  watch(epoll_.get(), timer_.get(), EPOLLIN, kTimer);
  watch(epoll_.get(), control_.get(), EPOLLIN, kControl);
}

Server::~Server() {
  queue_.close();
  ctx_.wakeup->drain();  // drop references to exchanges posted after the loop ended
}

void Server::handle_signals() {
  // TERM: drain; INT, QUIT: stop now. HUP, TTIN, TTOU are the master's: a
  // worker takes them only so a terminal's or process group's copy is
  // harmless (their default action would end the process).
  signals_ = std::make_unique<net::SignalPipe>(std::vector<int>{SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGTTIN, SIGTTOU});
  watch(epoll_.get(), signals_->fd(), EPOLLIN, kSignals);
}

bool Server::listen(const net::ListenOptions& options, std::string& error) {
  net::UniqueFd fd = net::open_listener(options, error);
  if (!fd.valid()) return false;
  adopt_listener(std::move(fd));
  return true;
}

void Server::adopt_listener(net::UniqueFd fd) {
  listener_ = std::move(fd);
  ctx_.routes.listen_fd = listener_.get();
  port_ = net::local_endpoint(listener_.get()).value_or(net::Endpoint{}).port;
  watch(epoll_.get(), listener_.get(), EPOLLIN | EPOLLEXCLUSIVE, kListener);
}

void Server::attach(state::SharedState* state, state::WorkerSlot* slot) {
  shared_ = state;
  ctx_.routes.state = state;
  slot_ = slot;
  master_pid_ = getppid();
  slot_->threads.store(static_cast<std::uint32_t>(config_.threads));
  ctx_.who = who();
  if (state->metrics) ctx_.metrics = &state->metrics->workers[slot - state->workers].server;
}

// Every tick: the master reads these to supervise (heartbeat) and, later,
// to answer probes and metrics.
std::shared_ptr<AppNotify> Server::enable_app_notify() {
  if (!app_notify_) {
    app_notify_ = std::make_shared<AppNotify>();
    queue_.set_notify(app_notify_);
  }
  return app_notify_;
}

void Server::publish_state() {
  if (!slot_) return;
  slot_->heartbeat_ns.store(state::monotonic_ns(), std::memory_order_release);
  slot_->in_flight.store(static_cast<std::uint32_t>(ctx_.active_exchanges), std::memory_order_relaxed);
  slot_->queued.store(static_cast<std::uint32_t>(waiting()), std::memory_order_relaxed);
  // The event loop is one application thread, busy while it runs any task.
  if (app_notify_) slot_->busy_threads.store(app_tasks.load(std::memory_order_relaxed) > 0 ? 1 : 0);
  if (ctx_.metrics) {
    std::uint64_t count[3] = {};
    for (const auto& [raw, conn] : connections_)
      if (!conn->closed()) ++count[static_cast<int>(conn->activity())];
    metrics::set(ctx_.metrics->reading, count[0]);
    metrics::set(ctx_.metrics->writing, count[1]);
    metrics::set(ctx_.metrics->waiting, count[2]);
    metrics::set(ctx_.metrics->active, count[0] + count[1] + count[2]);
    std::uint64_t websockets = 0;
    for (const auto& [raw, conn] : connections_) websockets += !conn->closed() && conn->websocket();
    metrics::set(ctx_.metrics->ws_connections, websockets);
  }
  // The master's SIGTERM: keep serving, but end keep-alive connections.
  if (shared_->draining.load(std::memory_order_relaxed)) ctx_.draining.store(true);
}

void Server::request_stop(bool graceful) {
  int want = graceful ? 1 : 2;
  int seen = stop_request_.load();
  while (seen < want && !stop_request_.compare_exchange_weak(seen, want)) {
  }
  std::uint64_t one = 1;
  ssize_t rc = ::write(control_.get(), &one, sizeof one);
  (void)rc;
}

int Server::run() {
  epoll_event events[256];
  publish_state();
  if (slot_) slot_->ready.store(1, std::memory_order_release);
  while (!stopping_) {
    int n = epoll_wait(epoll_.get(), events, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      log::log_event("error", "squall", std::string("epoll_wait failed: ") + std::strerror(errno));
      return 1;
    }
    ctx_.now = Clock::now();
    for (int i = 0; i < n; ++i) {
      std::uint64_t data = events[i].data.u64;
      switch (data) {
        case kListener: accept_all(kAcceptPerTurn); break;
        case kWakeup:
          for (auto& ex : ctx_.wakeup->drain())
            if (ex->conn) ex->conn->on_exchange_update(*ex);
          break;
        case kTimer: on_tick(); break;
        case kSignals: on_signal(); break;
        case kControl: on_control(); break;
        default: reinterpret_cast<Connection*>(data)->on_events(events[i].events); break;
      }
    }
    queue_.wake_sleepers();
    update_fair_accept();
    reap_closed();
    if (draining_ && !listener_.valid() && connections_.empty()) stopping_ = true;
  }
  close_all();
  queue_.close();
  return 0;
}

void Server::accept_all(std::size_t limit) {
  if (listener_paused_ || !listener_.valid()) return;
  for (std::size_t n = 0; n < limit; ++n) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    int fd = accept4(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: stop accepting until the next tick instead of spinning.
        log::log_event("warning", "squall", std::string("accept: ") + std::strerror(errno) + "; pausing accepts");
        epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener_.get(), nullptr);
        listener_paused_ = true;
        return;
      }
      log::log_event("error", "squall", std::string("accept: ") + std::strerror(errno));
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (ctx_.metrics) metrics::bump(ctx_.metrics->accepted);
    auto conn = std::make_unique<Connection>(ctx_, net::UniqueFd(fd), net::endpoint_from(addr), port_);
    Connection* raw = conn.get();
    connections_.emplace(raw, std::move(conn));
    watch(epoll_.get(), fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, reinterpret_cast<std::uint64_t>(raw));
  }
}

// Fair accept. Workers share one listen socket and the kernel wakes one of
// them per connection (EPOLLEXCLUSIVE), whatever its load: a worker with every
// thread busy and as many requests again waiting would make a new client wait
// behind them while another worker has a thread free. Such a worker takes its
// listen socket out of its epoll set until its queue is shorter or no other
// worker has an idle thread; the kernel then wakes the others. Checked after
// every loop batch: the queue length is one lock, the other slots are read
// only while this worker is that busy.
bool Server::should_defer_accept() const {
  if (!config_.fair_accept || !shared_ || !slot_) return false;
  std::size_t threads = static_cast<std::size_t>(std::max(config_.threads, 1));
  if (waiting() < threads) return false;
  for (const state::WorkerSlot& w : shared_->workers) {
    if (&w == slot_ || w.pid.load(std::memory_order_relaxed) == 0 || !w.ready.load(std::memory_order_relaxed)) continue;
    std::uint32_t n = w.threads.load(std::memory_order_relaxed);
    if (w.busy_threads.load(std::memory_order_relaxed) < n && w.queued.load(std::memory_order_relaxed) == 0)
      return true;
  }
  return false;
}

void Server::update_fair_accept() {
  if (!listener_.valid() || listener_paused_) return;
  bool defer = should_defer_accept();
  if (defer == listener_deferred_) return;
  listener_deferred_ = defer;
  if (defer)
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener_.get(), nullptr);
  else
    watch(epoll_.get(), listener_.get(), EPOLLIN | EPOLLEXCLUSIVE, kListener);
}

void Server::on_signal() {
  for (const auto& sig : signals_->drain()) {
    if (sig.signo == SIGTERM) {
      // A worker drains when its master says so (the master first waits out
      // --shutdown-delay). A SIGTERM sent to the whole process group (timeout(1),
      // some supervisors) reaches the master too, which decides.
      if (master_pid_ > 0 && sig.sender != master_pid_ && sig.sender != 0) continue;
      if (!draining_) log::log_event("info", "squall", who() + "SIGTERM: finishing in-flight requests, then exiting");
      begin_drain();
    } else if (sig.signo == SIGINT || sig.signo == SIGQUIT) {
      log::log_event("info", "squall", who() + strsignal(sig.signo) + ": exiting now");
      stopping_ = true;
    }
  }
}

std::string Server::who() const { return slot_ ? "worker " + std::to_string(getpid()) + ": " : std::string(); }

void Server::on_control() {
  std::uint64_t value;
  ssize_t rc = ::read(control_.get(), &value, sizeof value);
  (void)rc;
  int request = stop_request_.load();
  if (request == 2)
    stopping_ = true;
  else if (request == 1)
    begin_drain();
}

// Graceful stop: no new connections, keep-alive connections close after their
// current response, in-flight requests get --graceful-timeout to finish.
void Server::begin_drain() {
  if (draining_) return;
  draining_ = true;
  if (slot_) slot_->ready.store(0);
  ctx_.draining.store(true);
  drain_deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(config_.graceful_timeout));
  // When the pod stops, the workers hold the last copies of the listen
  // socket: refuse new handshakes first and keep accepting until those under
  // way have landed, so that closing it resets no established connection. A
  // worker recycled alone just drops its copy: the others keep listening.
  bool last_copies = !shared_ || shared_->draining.load(std::memory_order_relaxed);
  if (listener_.valid() && last_copies && net::refuse_new_handshakes(listener_.get()))
    listener_close_at_ = ctx_.now + kHandshakeSettle;
  else
    close_listener();
  for (auto& [raw, conn] : connections_) conn->close_if_idle();
  close_websockets();
}

// Draining: open WebSockets get a close frame, 1001 (going away) when the pod
// shuts down (the master set the shared draining flag), 1012 (service
// restart) when only this worker is replaced (recycling, SIGHUP).
void Server::close_websockets() {
  bool pod = !shared_ || shared_->draining.load(std::memory_order_relaxed);
  for (auto& [raw, conn] : connections_) conn->ws_going_away(pod ? 1001 : 1012);
}

void Server::close_listener() {
  if (!listener_.valid()) return;
  // Take what is already queued first: closing the last copy of the socket
  // would reset those connections.
  accept_all(SIZE_MAX);
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener_.get(), nullptr);
  listener_.reset();
  ctx_.routes.listen_fd = -1;
}

void Server::on_tick() {
  std::uint64_t expirations;
  ssize_t rc = ::read(timer_.get(), &expirations, sizeof expirations);
  (void)rc;
  auto now = ctx_.now;
  publish_state();
  for (auto& [raw, conn] : connections_) conn->check_timeouts(now);
  if (draining_) {
    if (now >= listener_close_at_) close_listener();
    for (auto& [raw, conn] : connections_) conn->close_if_idle();
    close_websockets();
    if (now > drain_deadline_) {
      log::log_event("warning", "squall",
                     std::to_string(ctx_.active_exchanges) + " request(s) still running at the graceful timeout");
      stopping_ = true;
    }
  }
  if (listener_paused_ && listener_.valid()) {
    listener_paused_ = false;
    listener_deferred_ = false;
    watch(epoll_.get(), listener_.get(), EPOLLIN | EPOLLEXCLUSIVE, kListener);
  }
}

void Server::reap_closed() {
  for (Connection* c : ctx_.closed) connections_.erase(c);
  ctx_.closed.clear();
}

void Server::close_all() {
  for (auto& [raw, conn] : connections_) conn->close();
  ctx_.closed.clear();
  connections_.clear();
}

}  // namespace squall::server
