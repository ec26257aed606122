#pragma once
// Signals for an epoll loop: sigaction handlers that record the signal and
// its sender and wake an eventfd the loop watches.
//
// Why not a blocked mask + signalfd: a blocked mask is inherited by every
// program the application starts (subprocess, exec), which would then ignore
// SIGTERM; handlers, unlike masks, are reset by exec(2). The handlers are
// process-wide, so at most one SignalPipe is installed at a time.
#include <signal.h>
#include <sys/types.h>

#include <vector>

#include "net/fd.h"

namespace squall::net {

struct ReceivedSignal {
  int signo;
  pid_t sender;  // si_pid: who sent it (0 for the kernel)
};

class SignalPipe {
 public:
  explicit SignalPipe(std::vector<int> signals);
  ~SignalPipe();  // restores the dispositions it replaced
  SignalPipe(const SignalPipe&) = delete;
  SignalPipe& operator=(const SignalPipe&) = delete;

  int fd() const { return fd_.get(); }
  // The signals received since the last call (each once, in signal order).
  std::vector<ReceivedSignal> drain();

 private:
  UniqueFd fd_;
  std::vector<int> signals_;
  std::vector<struct ::sigaction> previous_;
};

}  // namespace squall::net
