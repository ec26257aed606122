#pragma once
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>

#include "server/app_notify.h"
#include "server/exchange.h"

namespace squall::server {

// Complete request heads waiting for a Python thread (FIFO).
class RequestQueue {
 public:
  // Queues without waking anyone: the I/O loop pushes a whole epoll batch,
  // then wakes sleepers once (wake_sleepers), so one wake-up serves many
  // requests instead of one futex call per request.
  void push(std::shared_ptr<Exchange> exchange) {
    std::lock_guard lock(mu_);
    items_.push_back(std::move(exchange));
    ++unannounced_;
  }
  // An event loop takes requests instead of threads (ASGI): it is woken
  // through `notify` when requests arrive and when the queue closes.
  void set_notify(std::shared_ptr<AppNotify> notify) { notify_ = std::move(notify); }
  void wake_sleepers() {
    std::size_t n, sleepers;
    {
      std::lock_guard lock(mu_);
      n = unannounced_;
      sleepers = sleepers_;
      unannounced_ = 0;
    }
    if (n > 0 && notify_) notify_->signal();
    if (n == 0 || sleepers == 0) return;
    if (n == 1)
      cv_.notify_one();
    else
      cv_.notify_all();
  }
  // Blocks; returns nullptr once closed and empty. Skips requests whose
  // client has already gone.
  std::shared_ptr<Exchange> pop() {
    std::unique_lock lock(mu_);
    for (;;) {
      ++sleepers_;
      cv_.wait(lock, [&] { return !items_.empty() || closed_; });
      --sleepers_;
      if (items_.empty()) return nullptr;
      auto ex = std::move(items_.front());
      items_.pop_front();
      if (!ex->client_gone()) {
        ex->mark_dispatched();
        return ex;
      }
    }
  }
  // Non-blocking: the next live request, or nullptr when none is waiting.
  std::shared_ptr<Exchange> try_pop() {
    std::lock_guard lock(mu_);
    while (!items_.empty()) {
      auto ex = std::move(items_.front());
      items_.pop_front();
      if (!ex->client_gone()) {
        ex->mark_dispatched();
        return ex;
      }
    }
    return nullptr;
  }
  void close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
    if (notify_) notify_->signal();
  }
  bool closed() const {
    std::lock_guard lock(mu_);
    return closed_;
  }
  std::size_t size() const {
    std::lock_guard lock(mu_);
    return items_.size();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Exchange>> items_;
  bool closed_ = false;
  std::size_t unannounced_ = 0;  // pushed since the last wake_sleepers()
  std::size_t sleepers_ = 0;     // threads blocked in pop()
  std::shared_ptr<AppNotify> notify_;
};

}  // namespace squall::server
