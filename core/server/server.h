#pragma once
// The I/O side of a worker process: one epoll loop that accepts, reads,
// parses and writes, plus the queue that feeds complete requests to the
// application threads. The loop never runs application code and never takes
// the GIL; application threads block only in next_exchange() and in the
// Exchange back-pressure calls.
#include <sys/types.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "net/fd.h"
#include "net/listener.h"
#include "net/signal_pipe.h"
#include "server/config.h"
#include "server/context.h"
#include "server/request_queue.h"
#include "state/shared_state.h"

namespace squall::server {

class Server {
 public:
  explicit Server(ServerConfig config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Opens the listen socket. False with a one-line `error` on failure.
  bool listen(const net::ListenOptions& options, std::string& error);
  // Serves on a listen socket opened by the master (this server owns `fd`).
  void adopt_listener(net::UniqueFd fd);
  // Worker of a master: report heartbeat, load and readiness in `slot`, and
  // follow the pod-wide draining flag of `state`.
  void attach(state::SharedState* state, state::WorkerSlot* slot);
  state::WorkerSlot* slot() const { return slot_; }
  int port() const { return port_; }

  // Takes SIGTERM (drain), SIGINT and SIGQUIT (stop now) for this loop.
  // Without it (tests embedding the engine) signals keep their dispositions.
  void handle_signals();

  // Runs the loop in the calling thread until shutdown. Returns the exit status.
  int run();
  // Thread-safe: ask the loop to stop (graceful: drain in-flight requests first).
  void request_stop(bool graceful);

  // For application threads: the next request, or nullptr when shutting down.
  std::shared_ptr<Exchange> next_exchange() { return queue_.pop(); }
  std::shared_ptr<Exchange> try_next_exchange() { return queue_.try_pop(); }
  bool queue_closed() const { return queue_.closed(); }

  // ASGI: one event loop takes the requests instead of --threads threads. It
  // is woken through the returned notifier (call before run()), and reports
  // its tasks for the probes and fair accept: `app_waiting` ones (no response
  // started yet) count as queued, like requests waiting for a thread.
  std::shared_ptr<AppNotify> enable_app_notify();
  std::atomic<std::uint32_t> app_tasks{0};
  std::atomic<std::uint32_t> app_waiting{0};
  const ServerConfig& config() const { return config_; }

  // Called by the I/O thread for an exchange past --timeout (ServerContext::on_deadline).
  // Set before run().
  void set_deadline_handler(std::function<void(const std::shared_ptr<Exchange>&)> handler) {
    ctx_.on_deadline = std::move(handler);
  }
  // Fair accept: true when this worker should leave new connections to
  // another worker (its queue holds --threads requests, another worker has an
  // idle thread). Reads shared memory only.
  bool should_defer_accept() const;

 private:
  void accept_all(std::size_t limit);
  void on_signal();
  void on_control();
  void on_tick();
  void begin_drain();
  void close_websockets();
  void close_listener();
  void close_all();
  void reap_closed();

  ServerConfig config_;
  RequestQueue queue_;
  ServerContext ctx_;
  net::UniqueFd epoll_, listener_, timer_, control_;
  std::unique_ptr<net::SignalPipe> signals_;
  int port_ = 0;
  bool listener_paused_ = false;
  bool listener_deferred_ = false;  // fair accept: out of the epoll set while busy
  void update_fair_accept();
  bool draining_ = false;
  bool stopping_ = false;
  Clock::time_point drain_deadline_{};
  Clock::time_point listener_close_at_{};  // draining: when the listen socket closes
  std::atomic<int> stop_request_{0};       // 1 graceful, 2 fast
  state::SharedState* shared_ = nullptr;
  state::WorkerSlot* slot_ = nullptr;
  pid_t master_pid_ = 0;
  std::shared_ptr<AppNotify> app_notify_;
  std::size_t waiting() const { return queue_.size() + app_waiting.load(std::memory_order_relaxed); }
  void publish_state();
  std::string who() const;  // "worker PID: " in a worker, for log lines
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
};

}  // namespace squall::server
