#pragma once
// Squall's webhook sender (Hurricane's webhooks: a JSON POST on every
// startup / readiness / liveness change). Driven by the caller's epoll loop
// through one fd, so the master never blocks on a slow or dead receiver.
//
// Not thread-safe: one thread owns a client (the master's loop). The counters
// may be read from any thread.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace squall::webhook {

struct Event {
  std::string type;       // "startup" | "readiness" | "liveness"
  std::string status;     // "succeeded" | "failed" | "warning"
  std::string info;       // e.g. "Startup webhook", "Readiness webhook"
  std::string traceback;  // empty = omitted from the payload
};

struct WebhookConfig {
  std::vector<std::string> urls;
  std::string podname;                 // empty: gethostname()
  std::optional<std::string> version;  // JSON null when unset
  double timeout = 5.0;                // s, per attempt (connect + transfer)
  int retries = 3;                     // retries after the first attempt
  double backoff = 1.0;                // s before the 1st retry, doubled each time
};

// Hurricane's payload, fields in its order: info, type, status, timestamp
// (int, epoch seconds), podname, version (string or null), traceback (only
// when set). Invalid UTF-8 is replaced, never thrown.
std::string payload_json(const Event& event, const WebhookConfig& config, std::int64_t unix_seconds);

class WebhookClient {
 public:
  explicit WebhookClient(WebhookConfig config);
  ~WebhookClient();  // aborts what is in flight, frees everything
  WebhookClient(const WebhookClient&) = delete;
  WebhookClient& operator=(const WebhookClient&) = delete;

  // One fd for the caller's epoll (EPOLLIN, level-triggered): an internal
  // epoll over curl's sockets and a timerfd (curl's timeouts and retries).
  int fd() const;
  // Returns at once: queues one POST per URL (Content-Type: application/json),
  // timestamped now. Per URL, events are delivered in the order given.
  void send(const Event& event);
  // fd() is readable: drive curl, start due retries, handle completions.
  void on_ready();
  // Nothing in flight or waiting for a retry.
  bool idle() const;
  // At exit: drive until idle or timeout_ms elapsed; returns idle().
  bool wait_idle(int timeout_ms);

  // Per (event, URL): delivered with a 2xx, or given up after the retries.
  std::uint64_t delivered() const;
  std::uint64_t failed() const;

 private:
  struct Impl;  // curl stays out of this header
  std::unique_ptr<Impl> impl_;
};

}  // namespace squall::webhook
