#include "master/master.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>

#include "log/log.h"

namespace squall::master {
namespace {

constexpr std::int64_t kSecond = 1000000000;
constexpr long kTickMillis = 100;
// A worker that dies this soon after it started counts toward a crash loop.
constexpr std::int64_t kCrashLoopWindow = 2 * kSecond;
constexpr std::int64_t kMaxBackoff = 10 * kSecond;

std::int64_t ns(double seconds) { return static_cast<std::int64_t>(seconds * 1e9); }

void log(std::string_view level, const std::string& message) { log::log_event(level, "squall.master", message); }

// Resident set size of a process, in MiB (/proc/PID/statm, field 2, in pages).
std::uint64_t rss_mib(pid_t pid) {
  std::ifstream statm("/proc/" + std::to_string(pid) + "/statm");
  std::uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)) >> 20;
}

}  // namespace

std::string_view role_name(Role role) {
  static constexpr std::string_view names[] = {
#define SQUALL_X(e, name) name,
      SQUALL_ROLES(SQUALL_X)
#undef SQUALL_X
  };
  return names[static_cast<std::size_t>(role)];
}

std::string_view Master::why_name(Why why) {
  // count() indexes the respawn counters with why - Crash.
  static_assert(int(Why::Crash) == 1 && int(Why::Scale) == 1 + int(state::kRespawnReasonCount));
  if (why == Why::None) return "none";
  if (why == Why::Scale) return "scale";
  if (why == Why::Shutdown) return "shutdown";
  return state::kRespawnReasons[int(why) - int(Why::Crash)];
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return std::string("killed by SIG") + (name ? name : std::to_string(WTERMSIG(status)).c_str());
  }
  return "stopped";
}

Master::Master(MasterConfig config, state::SharedState* state, net::UniqueFd listener)
    : config_(config), state_(state), listener_(std::move(listener)) {}

Master::~Master() = default;

void Master::set_probe(net::UniqueFd listener) {
  probe_ = std::make_unique<probe::ProbeServer>(config_.probe, state_, std::move(listener),
                                                config_.metrics ? &*config_.metrics : nullptr, listener_.get());
}

// Hurricane's webhook events: startup once, then readiness and liveness changes.
void Master::notify_changes(std::int64_t now) {
  if (!webhooks_) return;
  static const char* kind[] = {"startup", "readiness", "liveness"};
  static const char* info[] = {"Startup webhook", "Readiness webhook", "Liveness webhook"};
  for (const auto& change : watch_.update(state::snapshot(*state_), config_.probe, now)) {
    int k = static_cast<int>(change.probe);
    webhooks_->send({kind[k], change.ok ? "succeeded" : "failed", info[k], change.failed});
  }
}

void Master::on_startup_failed(const std::string& why) {
  if (webhooks_) webhooks_->send({"startup", "failed", "Startup webhook", why.empty() ? "startup failed" : why});
}

void Master::on_probe_event(int fd) {
  if (fd == probe_->listen_fd()) {
    for (int conn : probe_->accept_all()) {
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;  // EPOLLOUT: a large /metrics answer
      ev.data.fd = conn;
      epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, conn, &ev);
    }
  } else {
    probe_->on_event(fd);
  }
}

std::unique_ptr<net::SignalPipe> Master::install_signals() {
  return std::make_unique<net::SignalPipe>(
      std::vector<int>{SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGTTIN, SIGTTOU, SIGCHLD});
}

RunResult Master::run(const ForkFn& fork_fn) {
  self_ = getpid();
  state_->master_pid.store(self_);
  state_->master_started_ns.store(state::monotonic_ns());
  state_->amqp.store(config_.amqp ? 1 : 0);
  target_ = std::max(1, std::min<int>(config_.workers, static_cast<int>(state::kMaxWorkers)));
  epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!signals_) signals_ = install_signals();
  timer_.reset(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  itimerspec tick{};
  tick.it_interval.tv_nsec = kTickMillis * 1000000;
  tick.it_value = tick.it_interval;
  timerfd_settime(timer_.get(), 0, &tick, nullptr);
  run_started_ns_ = state::monotonic_ns();
  if (!config_.webhooks.urls.empty()) webhooks_ = std::make_unique<webhook::WebhookClient>(config_.webhooks);
  std::vector<int> watched{signals_->fd(), timer_.get()};
  if (probe_) watched.push_back(probe_->listen_fd());
  if (webhooks_) watched.push_back(webhooks_->fd());
  for (int fd : watched) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
  }

  while (!done_) {
    supervise(fork_fn);
    if (child_) break;
    if (done_) break;
    epoll_event events[4];
    int n = epoll_wait(epoll_.get(), events, 4, -1);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (signals_ && fd == signals_->fd()) {
        on_signals();
      } else if (probe_ && (fd == probe_->listen_fd() || probe_->owns(fd))) {
        on_probe_event(fd);
      } else if (webhooks_ && fd == webhooks_->fd()) {
        webhooks_->on_ready();
      } else if (fd == timer_.get()) {
        if (probe_) probe_->close_stale();
        notify_changes(state::monotonic_ns());
        std::uint64_t expirations;
        ssize_t rc = ::read(timer_.get(), &expirations, sizeof expirations);
        (void)rc;
      }
    }
  }
  RunResult result;
  if (child_) {
    result.role = child_role_;
    result.slot = child_slot_;
    if (child_role_ == Role::Worker)
      result.listen_fd = listener_.release();
    else
      listener_.reset();  // only workers hold the app socket: it must close when they stop
    return result;
  }
  // Last webhooks (the startup failure, readiness on SIGTERM): a bounded wait.
  if (webhooks_ && !webhooks_->wait_idle(exit_status_ ? 30000 : 3000))
    log("warning", "exiting with webhooks still undelivered");
  log("info", "all workers stopped; exiting");
  result.exit_status = exit_status_;
  return result;
}

// ---- spawning -----------------------------------------------------------------

int Master::free_slot() const {
  for (std::size_t i = 0; i < state::kMaxWorkers; ++i) {
    if (state_->workers[i].pid.load() != 0) continue;
    bool taken = std::any_of(workers_.begin(), workers_.end(), [&](const Worker& w) { return w.slot == int(i); });
    if (!taken) return static_cast<int>(i);
  }
  return -1;
}

bool Master::spawn(const ForkFn& fork_fn) {
  int slot = free_slot();
  if (slot < 0) {
    log("error", "no free worker slot (at most " + std::to_string(state::kMaxWorkers) + " workers)");
    return true;
  }
  state::WorkerSlot& ws = state_->workers[slot];
  ws.reset();
  std::int64_t now = state::monotonic_ns();
  pid_t pid = fork_child(fork_fn, Role::Worker);
  if (pid < 0) {
    next_spawn_ns_ = now + kSecond;
    return true;
  }
  if (pid == 0) {
    child_slot_ = slot;
    ws.pid.store(getpid());
    ws.started_ns.store(now);
    return false;
  }
  ws.pid.store(pid);
  ws.started_ns.store(now);
  Worker w;
  w.slot = slot;
  w.pid = pid;
  w.started_ns = now;
  if (config_.max_requests > 0) {
    static std::mt19937_64 rng{std::random_device{}()};
    std::uint64_t jitter = config_.max_requests_jitter ? rng() % (config_.max_requests_jitter + 1) : 0;
    w.request_limit = config_.max_requests + jitter;
  }
  workers_.push_back(w);
  log("info", "booting worker " + std::to_string(pid) + " (slot " + std::to_string(slot) + ")");
  return true;
}

pid_t Master::fork_child(const ForkFn& fork_fn, Role role) {
  pid_t pid = fork_fn();
  if (pid < 0) {
    log("error", std::string("fork failed: ") + std::strerror(errno));
    return -1;
  }
  if (pid == 0) {
    // The child: leave the master's loop; die with the master.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != self_) _exit(0);  // the master died before prctl
    child_ = true;
    child_role_ = role;
    epoll_.reset();
    signals_.reset();  // back to the dispositions the child will replace
    timer_.reset();
    probe_.reset();  // the probe port is the master's
    // The master's webhook requests: dropped without curl's cleanup, which
    // could write to (e.g. close a TLS session on) sockets the master still uses.
    (void)webhooks_.release();
  }
  return pid;
}

std::size_t Master::serving_count() const {
  return static_cast<std::size_t>(
      std::count_if(workers_.begin(), workers_.end(), [](const Worker& w) { return w.retiring == Why::None; }));
}

// ---- signals and exits ------------------------------------------------------------

void Master::on_signals() {
  for (const auto& sig : signals_->drain()) {
    switch (sig.signo) {
      case SIGCHLD: reap(); break;
      case SIGTERM: begin_shutdown(false); break;
      case SIGINT:
      case SIGQUIT: begin_shutdown(true); break;
      case SIGHUP:
        if (shutting_down_) break;
        log("info", "SIGHUP: replacing every worker, one at a time");
        for (auto& w : workers_) w.replace_on_reload = w.retiring == Why::None;
        break;
      case SIGTTIN:
        if (shutting_down_ || target_ >= int(state::kMaxWorkers)) break;
        ++target_;
        log("info", "SIGTTIN: " + std::to_string(target_) + " workers");
        break;
      case SIGTTOU:
        if (shutting_down_ || target_ <= 1) break;
        --target_;
        log("info", "SIGTTOU: " + std::to_string(target_) + " workers");
        break;
      default: break;
    }
  }
}

void Master::reap() {
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    if (reap_side_process(pid, status, state::monotonic_ns())) continue;
    auto it = std::find_if(workers_.begin(), workers_.end(), [&](const Worker& w) { return w.pid == pid; });
    if (it == workers_.end()) continue;
    std::int64_t now = state::monotonic_ns();
    Why why = it->retiring;
    bool planned = why != Why::None;
    if (!planned) why = Why::Crash;
    std::string message = "worker " + std::to_string(pid) + " " + describe_status(status);
    if (planned) message += " (" + std::string(why_name(why)) + ")";
    log(planned ? "info" : "warning", message);
    if (why != Why::Shutdown && why != Why::Scale) count(why);
    // The worker said the application refused to start (an ASGI lifespan
    // startup that failed): no replacement would do better, so the pod stops
    // with status 1, its startup probe never having passed.
    if (!planned && !shutting_down_ && state_->workers[it->slot].app_startup_failed.load()) {
      log("error", "the application could not start in worker " + std::to_string(pid) + ": stopping");
      exit_status_ = 1;
      state_->retire(state_->workers[it->slot]);
      workers_.erase(it);
      begin_shutdown(true);
      continue;
    }
    if (!planned && config_.exit_with_worker && !shutting_down_) {
      log("error", "the worker exited by itself: stopping (" + message + ")");
      exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
      state_->retire(state_->workers[it->slot]);
      workers_.erase(it);
      begin_shutdown(true);
      continue;
    }
    if (why == Why::Crash) {
      // A worker dying right after it started is a crash loop: back off.
      if (now - it->started_ns < kCrashLoopWindow) {
        crash_streak_ = std::min(crash_streak_ + 1, 10);
        next_spawn_ns_ = now + std::min<std::int64_t>(kMaxBackoff, (kSecond / 10) << crash_streak_);
        log("warning", "a worker died within 2 s of starting; next one in " +
                           std::to_string((next_spawn_ns_ - now) / 1000000) + " ms");
      } else {
        crash_streak_ = 0;
      }
    }
    state_->retire(state_->workers[it->slot]);
    workers_.erase(it);
  }
}

void Master::count(Why why) {
  // In shared memory: /metrics may be answered by a worker (--probe-port = --port).
  int index = int(why) - int(Why::Crash);
  if (index >= 0 && std::size_t(index) < state::kRespawnReasonCount) state_->respawns[index].fetch_add(1);
}

void Master::stop(Worker& w, int sig, std::int64_t now) {
  ::kill(w.pid, sig);
  w.stop_sent_ns = now;
  w.signal_pending = false;
}

void Master::retire(Worker& w, Why why, int sig) {
  w.retiring = why;
  stop(w, sig, state::monotonic_ns());
}

// SIGTERM: readiness fails now (shared `draining`); workers keep accepting for
// the shutdown delay, because Kubernetes removes the pod from its endpoints
// asynchronously; then they stop accepting and finish in-flight requests.
void Master::begin_shutdown(bool fast) {
  std::int64_t now = state::monotonic_ns();
  if (shutting_down_ && (!fast || fast_)) return;
  state_->draining.store(1);
  if (fast) {
    log("info", "fast shutdown: stopping workers now");
    fast_ = true;
    workers_signalled_ = false;
    stop_workers_at_ = now;
  } else {
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "SIGTERM: readiness now fails; accepting for %.1f s more, then draining "
                  "(graceful timeout %.1f s)",
                  config_.shutdown_delay, config_.graceful_timeout);
    log("info", buf);
    stop_workers_at_ = now + ns(config_.shutdown_delay);
  }
  shutting_down_ = true;
  notify_changes(now);  // readiness failed: sent now, the pod may be gone before the next tick
}

// ---- supervision (every tick and after every event) ----------------------------------

// A worker is stuck when its I/O loop stopped heartbeating for --timeout, or
// when a request is still running --timeout-grace after its deadline: the
// worker answered 504 and raised RequestTimeout in the thread at --timeout,
// and the thread did not unwind (blocked in C, in a socket without timeout).
bool Master::check_stuck(Worker& w, std::int64_t now) {
  if (w.retiring == Why::Timeout || w.retiring == Why::Shutdown) return false;
  const state::WorkerSlot& ws = state_->workers[w.slot];
  std::int64_t limit = ns(config_.timeout);
  // An AMQP handler has no deadline of its own: its consumer is replaced at --timeout.
  double grace = config_.amqp ? 0.0 : config_.timeout_grace;
  std::int64_t request_limit = limit + ns(grace);
  std::uint64_t past = 0;  // requests past their deadline and grace
  std::int64_t heartbeat = ws.heartbeat_ns.load();
  std::string reason;
  char buf[256];
  if (heartbeat == 0) {
    // Still importing the app (--no-preload) or starting: allow more.
    if (now - w.started_ns > std::max(limit, 60 * kSecond)) reason = "did not start serving in time";
  } else if (now - heartbeat > limit) {
    std::snprintf(buf, sizeof buf, "I/O loop stopped heartbeating %.1f s ago", double(now - heartbeat) / 1e9);
    reason = buf;
  } else {
    std::uint32_t threads = std::min<std::uint32_t>(ws.threads.load(), state::kMaxThreads);
    for (std::uint32_t t = 0; t < threads; ++t) {
      const state::ThreadSlot& ts = ws.thread_slots[t];
      std::int64_t started = ts.request_started_ns.load(std::memory_order_acquire);
      if (started == 0 || now - started <= request_limit) continue;
      ++past;
      if (!reason.empty()) continue;
      // seq is odd while the worker rewrites method/path: read them only
      // when it is even and unchanged (else retry at the next tick).
      std::uint32_t seq = ts.seq.load(std::memory_order_acquire);
      char method[sizeof ts.method], path[sizeof ts.path];
      std::memcpy(method, ts.method, sizeof method);
      std::memcpy(path, ts.path, sizeof path);
      if (seq % 2 || ts.seq.load(std::memory_order_acquire) != seq ||
          ts.request_started_ns.load(std::memory_order_acquire) != started)
        continue;
      method[sizeof method - 1] = path[sizeof path - 1] = '\0';
      std::snprintf(buf, sizeof buf, "request %s %s has run for %.1f s", method, path, double(now - started) / 1e9);
      reason = buf;
    }
  }
  if (reason.empty()) return false;
  char tail[96];
  if (past > 0 && grace > 0)
    std::snprintf(tail, sizeof tail, " (--timeout %g s + --timeout-grace %g s); killing it", config_.timeout, grace);
  else
    std::snprintf(tail, sizeof tail, " (--timeout %g s); killing it", config_.timeout);
  log("error", "worker " + std::to_string(w.pid) + ": " + reason + tail);
  state_->timeouts_replaced.fetch_add(past, std::memory_order_relaxed);
  w.retiring = Why::Timeout;
  return true;
}

Master::Why Master::recycle_reason(const Worker& w, std::int64_t now) const {
  const state::WorkerSlot& ws = state_->workers[w.slot];
  if (!ws.ready.load()) return Why::None;
  if (w.replace_on_reload) return Why::Reload;
  if (w.request_limit && ws.requests.load() >= w.request_limit) return Why::MaxRequests;
  if (config_.max_lifetime > 0 && now - w.started_ns > ns(config_.max_lifetime)) return Why::MaxLifetime;
  if (config_.max_memory_mib && rss_mib(w.pid) > config_.max_memory_mib) return Why::MaxMemory;
  return Why::None;
}

// Capacity never drops: the old worker is stopped only once its replacement
// accepts connections.
bool Master::start_replacement(Worker& old, Why why, const ForkFn& fork_fn) {
  pid_t old_pid = old.pid;
  old.retiring = why;
  old.signal_pending = true;
  log("info", "recycling worker " + std::to_string(old_pid) + " (" + std::string(why_name(why)) + ")");
  std::size_t before = workers_.size();
  if (!spawn(fork_fn)) return false;  // in the child
  auto it = std::find_if(workers_.begin(), workers_.end(), [&](const Worker& w) { return w.pid == old_pid; });
  if (it != workers_.end()) it->replacement_slot = workers_.size() > before ? workers_.back().slot : -1;
  return true;
}

void Master::supervise(const ForkFn& fork_fn) {
  reap();
  std::int64_t now = state::monotonic_ns();
  if (!run_side_processes(fork_fn, now)) return;                            // in the child
  if (startup_ != Startup::NotNeeded && startup_ != Startup::Done) return;  // no workers yet
  if (!state_->started.load() && !shutting_down_ && serving_count() >= std::size_t(target_) &&
      std::all_of(workers_.begin(), workers_.end(),
                  [&](const Worker& w) { return w.retiring != Why::None || state_->workers[w.slot].ready.load(); })) {
    // Startup probe: done once every worker accepts connections.
    state_->started_after_us.store((now - run_started_ns_) / 1000);
    state_->started.store(1);
    char buf[96];
    std::snprintf(buf, sizeof buf, "startup finished after %.2f s: %d worker(s) accepting",
                  double(now - run_started_ns_) / 1e9, target_);
    log("info", buf);
  }

  if (shutting_down_) {
    if (!workers_signalled_ && now >= stop_workers_at_) {
      for (auto& w : workers_) {
        w.retiring = Why::Shutdown;
        stop(w, fast_ ? SIGINT : SIGTERM, now);
      }
      listener_.reset();  // the socket closes once the last worker closes its copy
      if (probe_) probe_->set_app_listen_fd(-1);
      if (checker_pid_) ::kill(checker_pid_, SIGTERM);
      workers_signalled_ = true;
      give_up_at_ = now + (fast_ ? 5 * kSecond : ns(config_.graceful_timeout) + 2 * kSecond);
    }
    if (workers_signalled_ && now <= give_up_at_) {
      // Again every second: a worker forked just before the shutdown may get
      // the signal before it installs its own handlers (the master's, which
      // it inherited, record it where the worker never looks), and would
      // then serve on until the SIGKILL below. Harmless for the others:
      // drain and stop are idempotent.
      for (auto& w : workers_)
        if (now - w.stop_sent_ns > kSecond) stop(w, fast_ ? SIGINT : SIGTERM, now);
    }
    if (workers_signalled_ && now > give_up_at_) {
      for (auto& w : workers_) ::kill(w.pid, SIGKILL);
      if (checker_pid_) ::kill(checker_pid_, SIGKILL);
    }
    if (workers_signalled_ && workers_.empty() && !checker_pid_) done_ = true;
    return;
  }

  for (std::size_t i = 0; i < workers_.size(); ++i) {
    if (!check_stuck(workers_[i], now)) continue;
    // Its replacement is forked first (capacity never drops), then SIGABRT:
    // the worker's faulthandler prints every thread's traceback.
    pid_t stuck = workers_[i].pid;
    if (now >= next_spawn_ns_ && !spawn(fork_fn)) return;  // in the child
    auto it = std::find_if(workers_.begin(), workers_.end(), [&](const Worker& w) { return w.pid == stuck; });
    if (it == workers_.end()) continue;
    it->abort_sent = true;
    stop(*it, SIGABRT, now);
  }
  for (auto& w : workers_) {
    // Escalate: a stuck worker that ignored SIGABRT, or a retiring one past
    // the graceful timeout, is killed.
    if (w.stop_sent_ns && !w.signal_pending) {
      std::int64_t grace = w.abort_sent ? ns(config_.kill_grace) : ns(config_.graceful_timeout) + 2 * kSecond;
      if (now - w.stop_sent_ns > grace) {
        ::kill(w.pid, SIGKILL);
        w.stop_sent_ns = now;
      }
    }
  }

  // Retiring workers whose replacement is ready (or gone) get their SIGTERM.
  for (auto& w : workers_) {
    if (!w.signal_pending) continue;
    bool ready = w.replacement_slot < 0 || state_->workers[w.replacement_slot].ready.load() ||
                 state_->workers[w.replacement_slot].pid.load() == 0;
    if (ready) stop(w, SIGTERM, now);
  }

  // One recycle at a time.
  bool recycling = std::any_of(workers_.begin(), workers_.end(), [](const Worker& w) {
    return w.retiring == Why::Reload || w.retiring == Why::MaxRequests || w.retiring == Why::MaxLifetime ||
           w.retiring == Why::MaxMemory;
  });
  if (!recycling) {
    for (auto& w : workers_) {
      if (w.retiring != Why::None) continue;
      Why why = recycle_reason(w, now);
      if (why == Why::None) continue;
      if (!start_replacement(w, why, fork_fn)) return;  // child
      break;
    }
  }

  // Keep the target count (crashes, SIGTTIN/SIGTTOU).
  while (serving_count() < std::size_t(target_) && now >= next_spawn_ns_) {
    std::size_t before = workers_.size();
    if (!spawn(fork_fn)) return;  // child
    if (workers_.size() == before) break;
  }
  while (serving_count() > std::size_t(target_)) {
    auto newest =
        std::find_if(workers_.rbegin(), workers_.rend(), [](const Worker& w) { return w.retiring == Why::None; });
    if (newest == workers_.rend()) break;
    retire(*newest, Why::Scale, SIGTERM);
  }
}

}  // namespace squall::master
