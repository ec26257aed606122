#include "webhook/webhook_client.h"

#include <curl/curl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "log/log.h"
#include "net/fd.h"

namespace squall::webhook {
namespace {

constexpr std::int64_t kNever = INT64_MAX;
constexpr std::size_t kBodyLogChars = 200;    // a receiver's error page is not our log
constexpr std::size_t kMaxQueuedPerUrl = 64;  // a dead receiver must not grow memory without bound

std::int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

// URLs may carry credentials (https://user:token@host/...): keep them out of logs.
std::string without_userinfo(const std::string& url) {
  std::size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  std::size_t start = scheme + 3;
  std::size_t end = url.find_first_of("/?#", start);
  std::size_t at = url.rfind('@', end == std::string::npos ? url.size() : end);
  if (at == std::string::npos || at < start) return url;
  return url.substr(0, start) + "***@" + url.substr(at + 1);
}

// One log line per event: control characters in a receiver's body would split it.
std::string printable(const std::string& s) {
  std::string out = s.substr(0, kBodyLogChars);
  for (auto& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  if (s.size() > kBodyLogChars) out += "...";
  return out;
}

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", s);
  return buf;
}

void log(std::string_view level, const std::string& message) { log::log_event(level, "squall.webhook", message); }

}  // namespace

std::string payload_json(const Event& event, const WebhookConfig& config, std::int64_t unix_seconds) {
  nlohmann::ordered_json j;
  j["info"] = event.info;
  j["type"] = event.type;
  j["status"] = event.status;
  j["timestamp"] = unix_seconds;
  j["podname"] = config.podname;
  if (config.version) {
    j["version"] = *config.version;
  } else {
    j["version"] = nullptr;
  }
  if (!event.traceback.empty()) j["traceback"] = event.traceback;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

struct WebhookClient::Impl {
  struct Job {
    std::string payload;
    std::string what;  // "startup webhook (succeeded)", for the log
  };
  // One receiver: its queue is sent strictly in order, one request at a time.
  struct Target {
    std::string url;
    std::string shown;      // url for the log
    std::deque<Job> queue;  // front: in flight or waiting for its retry
    CURL* easy = nullptr;   // the front's transfer, while in flight
    int attempts = 0;       // made for the front
    std::int64_t retry_at_ns = kNever;
    std::string body;  // start of the response, for the log
    char error[CURL_ERROR_SIZE] = {};
  };

  WebhookConfig config;
  pid_t owner = getpid();
  net::UniqueFd epoll;
  net::UniqueFd timer;
  CURLM* multi = nullptr;
  curl_slist* headers = nullptr;
  std::vector<std::unique_ptr<Target>> targets;  // pointers stay put: curl holds them
  std::set<int> sockets;                         // curl's sockets in our epoll
  std::int64_t curl_deadline_ns = kNever;
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> failed{0};

  explicit Impl(WebhookConfig c) : config(std::move(c)) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    if (config.podname.empty()) config.podname = hostname();
    config.retries = std::max(0, config.retries);
    config.backoff = std::max(0.0, config.backoff);
    epoll.reset(epoll_create1(EPOLL_CLOEXEC));
    timer.reset(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = timer.get();
    epoll_ctl(epoll.get(), EPOLL_CTL_ADD, timer.get(), &ev);
    if (!epoll.valid() || !timer.valid())
      log("error", std::string("webhook: no epoll/timerfd, deliveries will fail: ") + std::strerror(errno));

    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &Impl::on_socket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &Impl::on_timer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    // curl would wait up to 1 s for "100 Continue" before sending a body of
    // more than 1 KiB (a long traceback).
    headers = curl_slist_append(headers, "Expect:");
    for (const auto& url : config.urls) {
      auto t = std::make_unique<Target>();
      t->url = url;
      t->shown = without_userinfo(url);
      targets.push_back(std::move(t));
    }
  }

  ~Impl() {
    if (getpid() != owner) {
      // A forked child (a worker) must not touch curl's state: a resolver
      // thread it would join does not exist here. Close our copies of the
      // sockets so the parent's close really ends those connections, and
      // leave the memory to exec/exit.
      for (int s : sockets) ::close(s);
      return;
    }
    for (auto& t : targets) {
      if (t->easy) {
        curl_multi_remove_handle(multi, t->easy);
        curl_easy_cleanup(t->easy);
        t->easy = nullptr;
      }
    }
    if (multi) curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
  }

  // ---- curl callbacks (no curl_multi_* calls allowed from these) ----------

  static int on_socket(CURL*, curl_socket_t s, int what, void* userp, void*) {
    auto* self = static_cast<Impl*>(userp);
    if (what == CURL_POLL_REMOVE) {
      epoll_ctl(self->epoll.get(), EPOLL_CTL_DEL, s, nullptr);  // EBADF if curl closed it first: fine
      self->sockets.erase(s);
      return 0;
    }
    epoll_event ev{};
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    ev.data.fd = s;
    int op = self->sockets.count(s) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(self->epoll.get(), op, s, &ev) != 0) {
      log("error", std::string("webhook: epoll_ctl on curl's socket: ") + std::strerror(errno));
      return -1;  // curl fails this transfer: it is retried
    }
    self->sockets.insert(s);
    return 0;
  }

  static int on_timer(CURLM*, long timeout_ms, void* userp) {
    auto* self = static_cast<Impl*>(userp);
    self->curl_deadline_ns = timeout_ms < 0 ? kNever : monotonic_ns() + std::int64_t(timeout_ms) * 1000000;
    self->arm();
    return 0;
  }

  static size_t on_body(char* data, size_t size, size_t n, void* userp) {
    auto* t = static_cast<Target*>(userp);
    std::size_t len = size * n;
    if (t->body.size() <= kBodyLogChars) t->body.append(data, std::min(len, kBodyLogChars + 1 - t->body.size()));
    return len;  // read and drop the rest
  }

  // ---- the timerfd: earliest of curl's timeout and the pending retries ----

  void arm() {
    std::int64_t at = curl_deadline_ns;
    for (const auto& t : targets) at = std::min(at, t->retry_at_ns);
    itimerspec spec{};  // zero disarms
    if (at != kNever) {
      at = std::max<std::int64_t>(at, 1);  // an absolute time in the past fires at once
      spec.it_value.tv_sec = at / 1000000000;
      spec.it_value.tv_nsec = at % 1000000000;
    }
    timerfd_settime(timer.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
  }

  // ---- transfers ------------------------------------------------------------

  void start(Target& t) {
    t.retry_at_ns = kNever;
    t.attempts += 1;
    t.body.clear();
    t.error[0] = '\0';
    const Job& job = t.queue.front();
    CURL* e = curl_easy_init();
    if (!e) {
      finish(t, CURLE_OUT_OF_MEMORY, 0);
      return;
    }
    long timeout_ms = std::max(1L, std::lround(config.timeout * 1000.0));
    curl_easy_setopt(e, CURLOPT_URL, t.url.c_str());
    curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(job.payload.size()));
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, job.payload.c_str());
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);  // other threads, our own signal handlers
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    // Events are rare: no idle connection kept open (for forked workers to
    // inherit, or for the receiver to close under us).
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "squall-webhook");
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.error);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Impl::on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
    if (curl_multi_add_handle(multi, e) != CURLM_OK) {
      curl_easy_cleanup(e);
      finish(t, CURLE_FAILED_INIT, 0);
      return;
    }
    t.easy = e;  // curl's timer callback asks for a kick at once: the transfer starts in on_ready()
  }

  void finish(Target& t, CURLcode rc, long status) {
    const Job& job = t.queue.front();
    int total = config.retries + 1;
    std::string attempt = "attempt " + std::to_string(t.attempts) + "/" + std::to_string(total);
    if (rc == CURLE_OK && status >= 200 && status < 300) {
      delivered.fetch_add(1);
      log("info", job.what + " delivered to " + t.shown + " (HTTP " + std::to_string(status) + ", " + attempt + ")");
      next(t);
      return;
    }
    std::string reason;
    if (rc != CURLE_OK) {
      reason = t.error[0] ? t.error : curl_easy_strerror(rc);
    } else {
      reason = "HTTP " + std::to_string(status);
      if (!t.body.empty()) reason += ": " + printable(t.body);
    }
    if (t.attempts < total) {
      double delay = config.backoff * std::ldexp(1.0, t.attempts - 1);
      log("warning", job.what + " to " + t.shown + " failed (" + attempt + "): " + reason + "; retrying in " +
                         seconds_text(delay));
      t.retry_at_ns = monotonic_ns() + static_cast<std::int64_t>(delay * 1e9);
      return;
    }
    log("warning", job.what + " to " + t.shown + " failed (" + attempt + "): " + reason);
    log("error", job.what + " to " + t.shown + " given up after " + std::to_string(total) + " attempts");
    failed.fetch_add(1);
    next(t);
  }

  void next(Target& t) {
    t.queue.pop_front();
    t.attempts = 0;
    t.retry_at_ns = kNever;
    if (!t.queue.empty()) start(t);
  }

  void reap() {
    CURLMsg* msg;
    int left = 0;
    while ((msg = curl_multi_info_read(multi, &left)) != nullptr) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* e = msg->easy_handle;
      CURLcode rc = msg->data.result;  // msg is invalid once the handle is removed
      Target* t = nullptr;
      long status = 0;
      curl_easy_getinfo(e, CURLINFO_PRIVATE, &t);
      curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
      curl_multi_remove_handle(multi, e);
      curl_easy_cleanup(e);
      t->easy = nullptr;
      finish(*t, rc, status);
    }
  }

  void on_ready() {
    int running = 0;
    epoll_event events[16];
    int n = epoll_wait(epoll.get(), events, 16, 0);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == timer.get()) {
        std::uint64_t expirations;
        ssize_t rc = ::read(fd, &expirations, sizeof expirations);
        (void)rc;
        continue;
      }
      int mask = 0;
      if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) mask |= CURL_CSELECT_IN;
      if (events[i].events & EPOLLOUT) mask |= CURL_CSELECT_OUT;
      if (events[i].events & EPOLLERR) mask |= CURL_CSELECT_ERR;
      curl_multi_socket_action(multi, fd, mask, &running);
    }
    std::int64_t now = monotonic_ns();
    if (curl_deadline_ns <= now) {
      curl_deadline_ns = kNever;  // curl sets the next one through on_timer
      curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    for (auto& t : targets) {
      if (t->retry_at_ns <= now && !t->queue.empty() && !t->easy) start(*t);
    }
    reap();
    arm();
  }

  bool idle() const {
    return std::all_of(targets.begin(), targets.end(), [](const auto& t) { return t->queue.empty(); });
  }
};

WebhookClient::WebhookClient(WebhookConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

WebhookClient::~WebhookClient() = default;

int WebhookClient::fd() const { return impl_->epoll.get(); }

void WebhookClient::send(const Event& event) {
  Impl& s = *impl_;
  auto unix_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  Impl::Job job{payload_json(event, s.config, unix_seconds), event.type + " webhook (" + event.status + ")"};
  for (auto& t : s.targets) {
    if (t->queue.size() >= kMaxQueuedPerUrl) {
      s.failed.fetch_add(1);
      log("error",
          job.what + " to " + t->shown + " dropped: " + std::to_string(kMaxQueuedPerUrl) + " events already waiting");
      continue;
    }
    t->queue.push_back(job);
    if (t->queue.size() == 1) s.start(*t);
  }
  s.arm();
}

void WebhookClient::on_ready() { impl_->on_ready(); }

bool WebhookClient::idle() const { return impl_->idle(); }

bool WebhookClient::wait_idle(int timeout_ms) {
  auto deadline = monotonic_ns() + std::int64_t(std::max(0, timeout_ms)) * 1000000;
  while (!idle()) {
    std::int64_t left_ms = (deadline - monotonic_ns()) / 1000000;
    if (left_ms <= 0) break;
    pollfd p{fd(), POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left_ms, INT_MAX)));
    if (n < 0 && errno != EINTR) break;
    if (n > 0) on_ready();
  }
  return idle();
}

std::uint64_t WebhookClient::delivered() const { return impl_->delivered.load(); }

std::uint64_t WebhookClient::failed() const { return impl_->failed.load(); }

}  // namespace squall::webhook
