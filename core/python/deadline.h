#pragma once
// Deadlines on the Python side: the I/O thread decides that an exchange passed
// --timeout (server/connection.cpp answers 504 or closes); this raises
// squall.RequestTimeout inside the Python thread running it, with the C API's
// asynchronous exception (PyThreadState_SetAsyncExc), so that the view
// unwinds through its finally blocks, Django's exception handling and the
// middleware.
//
// The I/O thread never takes the GIL: it hands the exchange to this class's
// own thread (post(), a mutex and a condition variable), which takes the GIL
// for the one call and logs where the thread was. A Python thread that holds
// the GIL in a long C call delays only this thread, never the loop.
#include <Python.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "server/exchange.h"

namespace squall::python {

// One Python thread of serve_requests(): what it runs now. Read and written
// with the GIL held only, so "is this thread still on that exchange?" and
// the async exception are decided atomically with respect to it.
struct Runner {
  unsigned long ident = 0;  // PyThread_get_thread_ident()
  const server::Exchange* current = nullptr;
  bool interruptible = false;  // the app (or its response iterable) runs
  bool raised = false;         // RequestTimeout was set for `current`
};

class DeadlineRaiser {
 public:
  DeadlineRaiser() = default;
  ~DeadlineRaiser();  // stop() must have been called without the GIL
  DeadlineRaiser(const DeadlineRaiser&) = delete;
  DeadlineRaiser& operator=(const DeadlineRaiser&) = delete;

  // GIL held. Runners live on their thread's stack between the two calls.
  void add(Runner* r);
  void remove(Runner* r);

  // Any thread, never blocks (the I/O thread calls it).
  void post(std::shared_ptr<server::Exchange> ex);

  // Starts the thread (no GIL needed); stop() joins it: call without the GIL.
  void start(double timeout);
  void stop();

  // GIL held, in the Python thread: the app and its iterable are done, no
  // RequestTimeout may arrive after this (a pending one is withdrawn).
  static void settle(Runner& r);

 private:
  void loop();
  void raise_in(const std::shared_ptr<server::Exchange>& ex);  // GIL held

  std::vector<Runner*> runners_;  // GIL
  double timeout_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::weak_ptr<server::Exchange>> pending_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace squall::python
