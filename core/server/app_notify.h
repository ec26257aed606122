#pragma once
// Wakes an application event loop (the ASGI asyncio loop) from any thread
// without the GIL: an eventfd the loop watches (loop.add_reader) and the ids
// of the exchanges that changed since it last looked. The reverse direction
// of Wakeup (exchange.h).
#include <cstdint>
#include <mutex>
#include <vector>

#include "net/fd.h"

namespace squall::server {

class AppNotify {
 public:
  AppNotify();
  int fd() const { return fd_.get(); }
  // Something happened to exchange `id` (body bytes, end of body, client
  // gone, output drained, deadline). Coalesced: one eventfd write per batch.
  void post(std::uint64_t id);
  // New requests queued, or the queue closed: wake without an id.
  void signal();
  // The loop's side: the ids posted since the last call.
  std::vector<std::uint64_t> drain();

 private:
  void wake_locked(std::unique_lock<std::mutex>& lock);
  net::UniqueFd fd_;
  std::mutex mu_;
  std::vector<std::uint64_t> ids_;
  bool signalled_ = false;
};

}  // namespace squall::server
