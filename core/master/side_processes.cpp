// The master's side processes (see master.h): the startup process, forked
// once before any worker, and the health-check process ("checker"), kept
// alive while the pod serves. Both run Python, so neither runs in the master.
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>

#include "log/log.h"
#include "master/master.h"

namespace squall::master {
namespace {

constexpr std::int64_t kSecond = 1000000000;

void log(std::string_view level, const std::string& message) { log::log_event(level, "squall.master", message); }

}  // namespace

// Returns false in a freshly forked child (unwind run()).
bool Master::run_side_processes(const ForkFn& fork_fn, std::int64_t now) {
  if (startup_ == Startup::NotNeeded && config_.startup_process) startup_ = Startup::Pending;
  switch (startup_) {
    case Startup::Pending:
      if (shutting_down_) {
        done_ = true;
        return true;
      }
      if (pid_t pid = fork_child(fork_fn, Role::Startup); pid == 0) {
        return false;
      } else if (pid > 0) {
        startup_pid_ = pid;
        startup_ = Startup::Running;
        log("info", "startup process " + std::to_string(pid) + " runs the startup commands; workers start after it");
      } else {
        startup_ = Startup::Failed;
        exit_status_ = 1;
        done_ = true;
      }
      return true;
    case Startup::Running:
      // SIGTERM or SIGINT while the commands run: stop them, then the pod.
      if (shutting_down_ && !workers_signalled_) {
        ::kill(startup_pid_, SIGTERM);
        workers_signalled_ = true;
        give_up_at_ = now + 10 * kSecond;
      }
      if (workers_signalled_ && now > give_up_at_) ::kill(startup_pid_, SIGKILL);
      return true;
    case Startup::Failed: done_ = true; return true;
    default: break;
  }
  // The checker: respawned with a growing delay if it keeps dying.
  if (config_.checker && !checker_pid_ && !shutting_down_ && now >= checker_next_spawn_ns_) {
    pid_t pid = fork_child(fork_fn, Role::Checker);
    if (pid == 0) return false;
    if (pid > 0) {
      checker_pid_ = pid;
      checker_started_ns_ = now;
      log("info", "health-check process " + std::to_string(pid) + " started");
    } else {
      checker_next_spawn_ns_ = now + kSecond;
    }
  }
  return true;
}

bool Master::reap_side_process(pid_t pid, int status, std::int64_t now) {
  if (pid == startup_pid_) {
    startup_pid_ = 0;
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (ok && !shutting_down_) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "startup commands finished after %.2f s; starting the workers",
                    double(now - run_started_ns_) / 1e9);
      log("info", buf);
      startup_ = Startup::Done;
      return true;
    }
    startup_ = Startup::Failed;
    if (shutting_down_) {
      log("info", "startup process " + std::to_string(pid) + " " + describe_status(status) + " (shutdown)");
      return true;
    }
    exit_status_ = 1;
    log("error", "startup failed: the startup process " + describe_status(status) + "; the workers are not started");
    on_startup_failed(state_->startup_error_text());
    return true;
  }
  if (pid == checker_pid_) {
    checker_pid_ = 0;
    state_->checks.repair();
    if (shutting_down_) return true;
    // Dying right after it started is a loop: back off up to 30 s.
    checker_streak_ = now - checker_started_ns_ < 5 * kSecond ? std::min(checker_streak_ + 1, 5) : 0;
    std::int64_t delay = checker_streak_ ? kSecond << checker_streak_ : 0;
    checker_next_spawn_ns_ = now + std::min<std::int64_t>(delay, 30 * kSecond);
    log("warning", "health-check process " + std::to_string(pid) + " " + describe_status(status) +
                       "; restarting it in " + std::to_string(delay / kSecond) + " s");
    return true;
  }
  return false;
}

}  // namespace squall::master
