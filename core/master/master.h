#pragma once
// The master process: forks the workers, supervises them and runs the pod's
// lifecycle (signals, recycling, graceful shutdown). It runs C++ only; the
// only Python it touches is the fork itself (through `ForkFn`, which runs
// CPython's before/after-fork hooks with the GIL, uncontended in the master).
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/exposition.h"
#include "net/fd.h"
#include "net/signal_pipe.h"
#include "probe/probe_server.h"
#include "probe/probe_watch.h"
#include "state/shared_state.h"
#include "webhook/webhook_client.h"

#include <memory>
#include <optional>

namespace squall::master {

struct MasterConfig {
  int workers = 1;
  double timeout = 30.0;       // s: heartbeat older than this -> kill; a request: its deadline (the worker answers 504)
  double timeout_grace = 5.0;  // s: a request still running at timeout + this -> kill (AMQP handlers: at timeout)
  std::uint64_t max_requests = 0;  // 0 = off
  std::uint64_t max_requests_jitter = 0;
  double max_lifetime = 0;           // s, 0 = off
  std::uint64_t max_memory_mib = 0;  // 0 = off
  double shutdown_delay = 5.0;       // s, SIGTERM: keep accepting while readiness fails
  double graceful_timeout = 20.0;    // s, then in-flight requests get this long
  double kill_grace = 3.0;           // s between SIGABRT and SIGKILL for a stuck worker
  bool startup_process = false;      // fork a startup process first; workers only after it exits 0
  bool checker = false;              // fork (and keep alive) the health-check process
  bool exit_with_worker =
      false;                 // a worker exiting by itself stops the pod with its status (consume without --reconnect)
  bool amqp = false;         // the workers are AMQP consumers: /metrics adds squall_amqp_*
  probe::ProbeConfig probe;  // what the probes (and so the webhooks) check
  webhook::WebhookConfig webhooks;                // no URLs: no webhooks
  std::optional<metrics::MetricsConfig> metrics;  // /metrics on the probe port; none: --no-metrics
};

// What a process is when run() returns: the master at the end, or a child
// the master just forked, which must run its role and never return to run().
#define SQUALL_ROLES(X) \
  X(Master, "master")   \
  X(Worker, "worker")   \
  X(Startup, "startup") \
  X(Checker, "checker")
enum class Role {
#define SQUALL_X(e, name) e,
  SQUALL_ROLES(SQUALL_X)
#undef SQUALL_X
};
// "master", "worker", ...: what Master.run() tells Python (squall/_core.pyi).
std::string_view role_name(Role role);

using ForkFn = std::function<pid_t()>;

// "exited with status 1", "killed by SIGKILL": a waitpid() status for the log.
std::string describe_status(int status);

struct RunResult {
  Role role = Role::Master;
  int slot = -1;        // worker: its shared-memory slot
  int listen_fd = -1;   // worker: the shared listen socket, now owned by the caller
  int exit_status = 0;  // master: the process exit status
};

class Master {
 public:
  // Takes the listen socket; the workers inherit it across fork.
  Master(MasterConfig config, state::SharedState* state, net::UniqueFd listener);
  ~Master();

  // Supervises until shutdown (returns in the master) or until a fork (returns
  // in the child, with in_worker set; the child must not return to run()).
  RunResult run(const ForkFn& fork_fn);

  // Serve the Kubernetes probes (config.probe) on `listener` from this loop.
  void set_probe(net::UniqueFd listener);

  // The master's signal handlers (TERM, INT, QUIT, HUP, TTIN, TTOU, CHLD),
  // installed as early as the caller can: a signal that arrives before run()
  // (say, right after "Listening on" is logged) waits in the pipe for the
  // loop instead of meeting the default disposition. run() installs them
  // itself when none were adopted.
  static std::unique_ptr<net::SignalPipe> install_signals();
  void adopt_signals(std::unique_ptr<net::SignalPipe> signals) { signals_ = std::move(signals); }

 private:
  // Why a worker stops: the respawn reasons (state::RespawnReason, counted),
  // or a planned stop that replaces nobody.
  enum class Why {
    None,
#define SQUALL_X(e, name) e,
    SQUALL_RESPAWN_REASONS(SQUALL_X)
#undef SQUALL_X
        Scale,
    Shutdown
  };
  static std::string_view why_name(Why why);
  struct Worker {
    int slot = -1;
    pid_t pid = 0;
    std::int64_t started_ns = 0;
    std::uint64_t request_limit = 0;  // max_requests + this worker's jitter; 0 = none
    Why retiring = Why::None;         // why it was asked to stop, if it was
    std::int64_t stop_sent_ns = 0;
    bool abort_sent = false;
    bool signal_pending = false;  // retiring, waiting for its replacement to be ready
    int replacement_slot = -1;
    bool replace_on_reload = false;  // SIGHUP: to be replaced by a fresh worker
  };

  bool spawn(const ForkFn& fork_fn);                                 // false in the child
  pid_t fork_child(const ForkFn& fork_fn, Role role);                // 0 in the child, -1 on error
  bool run_side_processes(const ForkFn& fork_fn, std::int64_t now);  // false in the child
  bool reap_side_process(pid_t pid, int status, std::int64_t now);   // true: it was one
  void on_signals();
  void reap();
  void supervise(const ForkFn& fork_fn);
  bool check_stuck(Worker& w, std::int64_t now);  // true: stuck, retiring set, not signalled yet
  Why recycle_reason(const Worker& w, std::int64_t now) const;
  void retire(Worker& w, Why why, int sig);
  void stop(Worker& w, int sig, std::int64_t now);
  bool start_replacement(Worker& old, Why why, const ForkFn& fork_fn);  // false in the child
  void begin_shutdown(bool fast);
  void count(Why why);
  int free_slot() const;
  std::size_t serving_count() const;  // workers not asked to stop

  MasterConfig config_;
  state::SharedState* state_;
  net::UniqueFd listener_;
  net::UniqueFd epoll_, timer_;
  std::unique_ptr<net::SignalPipe> signals_;
  std::unique_ptr<probe::ProbeServer> probe_;
  std::int64_t run_started_ns_ = 0;
  void on_probe_event(int fd);
  void notify_changes(std::int64_t now);           // webhooks for probe changes
  void on_startup_failed(const std::string& why);  // the startup-failed webhook
  std::unique_ptr<webhook::WebhookClient> webhooks_;
  probe::ProbeWatch watch_;
  std::vector<Worker> workers_;
  int target_ = 1;
  pid_t self_ = 0;
  bool child_ = false;  // set in a forked child: unwind run()
  Role child_role_ = Role::Master;
  int child_slot_ = -1;
  int exit_status_ = 0;

  // Side processes (core/master/side_processes.cpp): the startup process runs
  // --command and the migrations check once, before any worker; the checker
  // runs the health checks for the probes, respawned if it dies.
  enum class Startup { NotNeeded, Pending, Running, Done, Failed };
  Startup startup_ = Startup::NotNeeded;
  pid_t startup_pid_ = 0;
  pid_t checker_pid_ = 0;
  std::int64_t checker_started_ns_ = 0;
  std::int64_t checker_next_spawn_ns_ = 0;
  int checker_streak_ = 0;

  // lifecycle
  bool shutting_down_ = false;
  bool fast_ = false;
  bool workers_signalled_ = false;
  std::int64_t stop_workers_at_ = 0;  // end of the shutdown delay
  std::int64_t give_up_at_ = 0;       // graceful timeout passed: SIGKILL
  bool done_ = false;

  // respawn backoff after crashes in a loop
  int crash_streak_ = 0;
  std::int64_t next_spawn_ns_ = 0;
};

}  // namespace squall::master
