#include "server/app_notify.h"

#include <sys/eventfd.h>
#include <unistd.h>

namespace squall::server {

AppNotify::AppNotify() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

void AppNotify::wake_locked(std::unique_lock<std::mutex>& lock) {
  bool signal = !signalled_;
  signalled_ = true;
  lock.unlock();
  if (signal) {
    std::uint64_t one = 1;
    ssize_t rc = ::write(fd_.get(), &one, sizeof one);
    (void)rc;
  }
}

void AppNotify::post(std::uint64_t id) {
  std::unique_lock lock(mu_);
  ids_.push_back(id);
  wake_locked(lock);
}

void AppNotify::signal() {
  std::unique_lock lock(mu_);
  wake_locked(lock);
}

std::vector<std::uint64_t> AppNotify::drain() {
  std::uint64_t value;
  ssize_t rc = ::read(fd_.get(), &value, sizeof value);
  (void)rc;
  std::vector<std::uint64_t> out;
  std::lock_guard lock(mu_);
  out.swap(ids_);
  signalled_ = false;
  return out;
}

}  // namespace squall::server
