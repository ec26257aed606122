#include "python/deadline.h"

#include <unistd.h>

#include <string>

#include "log/log.h"

namespace squall::python {

DeadlineRaiser::~DeadlineRaiser() {
  // Normally joined by stop(); a thread still running here would touch a
  // destroyed object.
  if (thread_.joinable()) thread_.detach();
}

void DeadlineRaiser::add(Runner* r) { runners_.push_back(r); }

void DeadlineRaiser::remove(Runner* r) { std::erase(runners_, r); }

void DeadlineRaiser::post(std::shared_ptr<server::Exchange> ex) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    pending_.push_back(std::move(ex));
  }
  cv_.notify_one();
}

void DeadlineRaiser::start(double timeout) {
  timeout_ = timeout;
  if (thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { loop(); });
}

void DeadlineRaiser::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    pending_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DeadlineRaiser::loop() {
  for (;;) {
    std::shared_ptr<server::Exchange> ex;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (stopping_) return;
      ex = pending_.front().lock();
      pending_.pop_front();
    }
    if (!ex) continue;  // the thread finished it and the connection dropped it
    PyGILState_STATE gil = PyGILState_Ensure();
    raise_in(ex);
    PyGILState_Release(gil);
  }
}

namespace {

// squall.RequestTimeout (squall/deadlines.py), imported once with the GIL.
PyObject* request_timeout_type() {
  static PyObject* type = nullptr;
  if (!type) {
    PyObject* mod = PyImport_ImportModule("squall.deadlines");
    if (mod) {
      type = PyObject_GetAttrString(mod, "RequestTimeout");
      Py_DECREF(mod);
    }
    if (!type) {
      PyErr_Clear();
      type = Py_NewRef(PyExc_TimeoutError);  // never fails the deadline itself
    }
  }
  return type;
}

// squall.deadlines.log_interrupted(message, ident): the line and the thread's stack.
void log_interrupted(const std::string& message, unsigned long ident) {
  PyObject* mod = PyImport_ImportModule("squall.deadlines");
  PyObject* rc = nullptr;
  if (mod) {
    rc = PyObject_CallMethod(mod, "log_interrupted", "sk", message.c_str(), ident);
    Py_DECREF(mod);
  }
  if (rc) {
    Py_DECREF(rc);
  } else {
    PyErr_Clear();
    log::log_event("error", "squall.timeout", message);
  }
}

}  // namespace

void DeadlineRaiser::raise_in(const std::shared_ptr<server::Exchange>& ex) {
  for (Runner* r : runners_) {
    if (r->current != ex.get()) continue;
    if (!r->interruptible || r->raised) return;  // already past the app: nothing to interrupt
    r->raised = true;
    PyThreadState_SetAsyncExc(r->ident, request_timeout_type());
    log_interrupted("raised RequestTimeout in the thread running " + ex->head.method + " " + ex->head.target +
                        " (pid " + std::to_string(getpid()) + "); it was at:",
                    r->ident);
    return;
  }
}

void DeadlineRaiser::settle(Runner& r) {
  if (r.raised && r.interruptible) {
    // Withdraw a RequestTimeout not delivered yet (the thread ran no bytecode
    // since): it belongs to this request, not to whatever runs next.
    PyThreadState_SetAsyncExc(r.ident, nullptr);
  }
  r.interruptible = false;
}

}  // namespace squall::python
