#include "net/signal_pipe.h"

#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

namespace squall::net {
namespace {

std::atomic<int> g_wake_fd{-1};
std::atomic<std::uint64_t> g_pending{0};
std::atomic<pid_t> g_sender[65];

// Async-signal-safe: atomics and write(2) only.
void on_signal(int signo, siginfo_t* info, void*) {
  int saved = errno;
  if (signo > 0 && signo < 65) {
    g_sender[signo].store(info ? info->si_pid : 0, std::memory_order_relaxed);
    g_pending.fetch_or(std::uint64_t{1} << (signo - 1), std::memory_order_release);  // signals are 1..64
  }
  int fd = g_wake_fd.load(std::memory_order_acquire);
  if (fd >= 0) {
    std::uint64_t one = 1;
    ssize_t rc = ::write(fd, &one, sizeof one);
    (void)rc;
  }
  errno = saved;
}

}  // namespace

SignalPipe::SignalPipe(std::vector<int> signals)
    : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)), signals_(std::move(signals)) {
  g_pending.store(0);
  g_wake_fd.store(fd_.get(), std::memory_order_release);
  struct ::sigaction action {};
  action.sa_sigaction = on_signal;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&action.sa_mask);
  previous_.resize(signals_.size());
  for (std::size_t i = 0; i < signals_.size(); ++i) ::sigaction(signals_[i], &action, &previous_[i]);
}

SignalPipe::~SignalPipe() {
  for (std::size_t i = 0; i < signals_.size(); ++i) ::sigaction(signals_[i], &previous_[i], nullptr);
  g_wake_fd.store(-1, std::memory_order_release);
}

std::vector<ReceivedSignal> SignalPipe::drain() {
  std::uint64_t value;
  ssize_t rc = ::read(fd_.get(), &value, sizeof value);
  (void)rc;
  std::uint64_t bits = g_pending.exchange(0, std::memory_order_acq_rel);
  std::vector<ReceivedSignal> out;
  for (int signo = 1; signo < 65; ++signo)
    if (bits & (std::uint64_t{1} << (signo - 1)))
      out.push_back({signo, g_sender[signo].load(std::memory_order_relaxed)});
  return out;
}

}  // namespace squall::net
