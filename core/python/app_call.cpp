#include "python/app_call.h"

#include <nanobind/stl/string.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <string_view>

#include "http/response.h"
#include "http/syntax.h"
#include "log/log.h"
#include "python/environ.h"
#include "python/file_wrapper.h"
#include "python/input.h"
#include "python/raise.h"
#include "python/trace.h"
#include "server/access_log.h"

namespace nb = nanobind;
using squall::server::Exchange;

namespace squall::python {
namespace {

nb::handle g_file_wrapper_type;

std::string latin1_of(nb::handle value, const char* what) {
  if (!PyUnicode_Check(value.ptr()))
    raise(nb::exception_type::type_error, std::string(what) + " must be str, not " + Py_TYPE(value.ptr())->tp_name);
  Py_ssize_t size;
  const char* utf8 = nullptr;
  if (PyUnicode_IS_ASCII(value.ptr())) {
    utf8 = PyUnicode_AsUTF8AndSize(value.ptr(), &size);
    return std::string(utf8, static_cast<std::size_t>(size));
  }
  PyObject* encoded = PyUnicode_AsLatin1String(value.ptr());
  if (!encoded) {
    PyErr_Clear();
    raise(nb::exception_type::value_error, std::string(what) + " is not latin-1 encodable (PEP 3333)");
  }
  std::string out(PyBytes_AS_STRING(encoded), static_cast<std::size_t>(PyBytes_GET_SIZE(encoded)));
  Py_DECREF(encoded);
  return out;
}

// Logs the pending Python exception through squall.server.log_app_error.
void report_error(const AppContext& ctx, const Exchange& ex, const char* what) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb && value) PyException_SetTraceback(value, tb);
  nb::object exc = nb::steal(value ? value : Py_NewRef(Py_None));
  Py_XDECREF(type);
  Py_XDECREF(tb);
  std::string message = std::string(what) + " (" + ex.head.method + " " + ex.head.target + ")";
  try {
    ctx.log_error(message, exc);
  } catch (nb::python_error& e) {
    e.discard_as_unraisable("squall: logging an application error");
  } catch (std::exception& e) {
    // Logging must never take a Python thread down with it.
    log::log_event("error", "squall.error", message + " (and logging it failed: " + e.what() + ")");
  }
}

// Queues one body chunk; waits (without the GIL) while the client is slow.
bool write_chunk(Exchange& ex, std::string_view data, bool last) {
  if (!ex.write(data, last)) return false;
  if (ex.should_wait_drained()) {
    nb::gil_scoped_release release;
    ex.wait_drained();
  }
  return !ex.client_gone();
}

std::string_view bytes_view(PyObject* item) {
  return {PyBytes_AS_STRING(item), static_cast<std::size_t>(PyBytes_GET_SIZE(item))};
}

void require_bytes(PyObject* item) {
  if (!PyBytes_Check(item))
    raise(nb::exception_type::type_error,
          std::string("the response iterable must yield bytes, not ") + Py_TYPE(item)->tp_name);
}

void require_started(const StartResponse& sr) {
  if (!sr.called()) raise(nb::exception_type::runtime_error, "start_response was not called before the body");
}

// A file with a real descriptor goes out with sendfile(2). False: iterate instead.
bool try_sendfile(Exchange& ex, const StartResponse& sr, FileWrapper& fw) {
  nb::object fileno = nb::getattr(fw.filelike, "fileno", nb::none());
  if (fileno.is_none()) return false;
  int fd;
  try {
    fd = nb::cast<int>(fileno());
  } catch (nb::python_error&) {
    return false;  // io.UnsupportedOperation: not a real file
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return false;
  off_t offset;
  nb::object tell = nb::getattr(fw.filelike, "tell", nb::none());
  if (!tell.is_none()) {
    offset = nb::cast<off_t>(tell());
  } else {
    offset = lseek(fd, 0, SEEK_CUR);
    if (offset < 0) return false;
  }
  require_started(sr);
  std::size_t length = st.st_size > offset ? static_cast<std::size_t>(st.st_size - offset) : 0;
  net::UniqueFd copy(fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!copy.valid()) return false;
  ex.send_file(std::move(copy), offset, length, true);
  return true;
}

void send_iterable(Exchange& ex, const StartResponse& sr, nb::handle result) {
  PyObject* obj = result.ptr();
  if (Py_TYPE(obj) == reinterpret_cast<PyTypeObject*>(g_file_wrapper_type.ptr()) &&
      try_sendfile(ex, sr, nb::cast<FileWrapper&>(result)))
    return;
  if (PyList_CheckExact(obj) || PyTuple_CheckExact(obj)) {
    // The whole body is known: one write, so it goes out with Content-Length.
    Py_ssize_t n = PySequence_Fast_GET_SIZE(obj);
    PyObject** items = PySequence_Fast_ITEMS(obj);
    if (n == 1) {
      require_bytes(items[0]);
      if (PyBytes_GET_SIZE(items[0]) > 0) require_started(sr);
      write_chunk(ex, bytes_view(items[0]), true);
      return;
    }
    std::string all;
    for (Py_ssize_t i = 0; i < n; ++i) {
      require_bytes(items[i]);
      all.append(bytes_view(items[i]));
    }
    if (!all.empty()) require_started(sr);
    write_chunk(ex, all, true);
    return;
  }
  nb::object iterator = nb::steal(PyObject_GetIter(obj));
  if (!iterator.is_valid()) throw nb::python_error();
  for (;;) {
    nb::object item = nb::steal(PyIter_Next(iterator.ptr()));
    if (!item.is_valid()) {
      if (PyErr_Occurred()) throw nb::python_error();
      return;
    }
    require_bytes(item.ptr());
    if (PyBytes_GET_SIZE(item.ptr()) == 0) continue;
    require_started(sr);
    if (!write_chunk(ex, bytes_view(item.ptr()), false)) return;  // client gone
  }
}

void call_close(const AppContext& ctx, Exchange& ex, nb::handle result) {
  PyObject* close = PyObject_GetAttrString(result.ptr(), "close");
  if (!close) {
    PyErr_Clear();
    return;
  }
  PyObject* rc = PyObject_CallNoArgs(close);
  Py_DECREF(close);
  if (rc)
    Py_DECREF(rc);
  else
    report_error(ctx, ex, "Exception in the response's close()");
}

void respond_500(Exchange& ex) {
  if (ex.response_started()) {
    ex.abort();  // the head is out: the only honest end is to close
    return;
  }
  ex.set_response(500, "Internal Server Error", {{"Content-Type", "text/plain; charset=utf-8"}});
  ex.write("Internal Server Error\n", true);
  ex.finish();
}

}  // namespace

// ---- start_response ----------------------------------------------------------------------

nb::object StartResponse::call(nb::handle self, nb::handle status, nb::handle headers, nb::handle exc_info) {
  if (!ex_) raise(nb::exception_type::runtime_error, "start_response called after the request ended");
  if (!exc_info.is_none()) {
    if (ex_->response_started()) {
      // PEP 3333: headers already sent, so re-raise the app's exception.
      nb::tuple info = nb::borrow<nb::tuple>(exc_info);
      PyErr_Restore(Py_NewRef(info[0].ptr()), Py_NewRef(info[1].ptr()), Py_NewRef(info[2].ptr()));
      throw nb::python_error();
    }
  } else if (called_) {
    raise(nb::exception_type::runtime_error, "start_response called a second time without exc_info");
  }
  std::string line = latin1_of(status, "status");
  if (line.size() < 4 || line[3] != ' ' || !isdigit(line[0]) || !isdigit(line[1]) || !isdigit(line[2]) ||
      line[0] == '0' || !http::is_field_value(line))
    raise(nb::exception_type::value_error, "invalid status line '" + line + "' (expected e.g. '200 OK')");
  int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');

  if (!PyList_Check(headers.ptr()))
    raise(nb::exception_type::type_error,
          std::string("headers must be a list, not ") + Py_TYPE(headers.ptr())->tp_name);
  std::vector<std::pair<std::string, std::string>> out;
  Py_ssize_t n = PyList_GET_SIZE(headers.ptr());
  out.reserve(static_cast<std::size_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* item = PyList_GET_ITEM(headers.ptr(), i);
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2)
      raise(nb::exception_type::type_error, "each header must be a (name, value) tuple");
    std::string name = latin1_of(PyTuple_GET_ITEM(item, 0), "header name");
    std::string value = latin1_of(PyTuple_GET_ITEM(item, 1), "header value");
    if (!http::is_token(name)) raise(nb::exception_type::value_error, "invalid header name '" + name + "'");
    // CR/LF in a value would let the app (or its user input) inject headers.
    if (!http::is_field_value(value))
      raise(nb::exception_type::value_error, "header '" + name + "' has a control character (CR/LF injection)");
    if (http::is_hop_by_hop(name))
      raise(nb::exception_type::value_error, "hop-by-hop header '" + name + "' is the server's to send");
    out.emplace_back(std::move(name), std::move(value));
  }
  ex_->set_response(code, line.substr(4), std::move(out));
  called_ = true;
  return self.attr("write");
}

void StartResponse::write(nb::bytes data) {
  if (!ex_) raise(nb::exception_type::runtime_error, "write() called after the request ended");
  if (!called_) raise(nb::exception_type::runtime_error, "write() called before start_response");
  std::string_view view(data.c_str(), data.size());
  if (view.empty()) {
    ex_->write("", false);
    return;
  }
  write_chunk(*ex_, view, false);
}

void StartResponse::bind(nb::module_& m) {
  nb::class_<StartResponse>(m, "StartResponse")
      .def(
          "__call__",
          [](nb::handle self, nb::handle status, nb::handle headers, nb::handle exc_info) {
            return nb::cast<StartResponse&>(self).call(self, status, headers, exc_info);
          },
          nb::arg("status"), nb::arg("headers"), nb::arg("exc_info") = nb::none())
      .def("write", &StartResponse::write);
}

// ---- one exchange -------------------------------------------------------------------------

void handle_exchange(const AppContext& ctx, std::shared_ptr<Exchange> ex) {
  Exchange& exchange = *ex;
  CurrentTrace current(exchange.trace);  // the exemplar of the Django latency observed in this call
  nb::object input = nb::cast(Input(ex));
  nb::object sr_obj = nb::cast(StartResponse(&exchange));
  StartResponse& sr = nb::cast<StartResponse&>(sr_obj);
  bool ok = true;
  PyObject* env = build_environ(exchange, input.ptr(), g_file_wrapper_type.ptr(), ctx.server_software.ptr());
  nb::object result;
  if (!env) {
    ok = false;
    report_error(ctx, exchange, "Could not build the WSGI environ");
  } else {
    result = nb::steal(PyObject_CallFunctionObjArgs(ctx.app.ptr(), env, sr_obj.ptr(), nullptr));
    Py_DECREF(env);
    if (!result.is_valid()) {
      ok = false;
      report_error(ctx, exchange, "Exception in the application");
    }
  }
  if (ok) {
    try {
      send_iterable(exchange, sr, result);
      if (!sr.called()) raise(nb::exception_type::runtime_error, "the application did not call start_response");
    } catch (nb::python_error& e) {
      e.restore();
      ok = false;
      report_error(ctx, exchange, "Exception while sending the response");
    } catch (nb::builtin_exception& e) {
      ok = false;
      std::string message = std::string("Invalid response from the application: ") + e.what();
      log::log_event("error", "squall.error", message + " (" + exchange.head.method + " " + exchange.head.target + ")");
    }
    // The app and its iterable are done: a deadline no longer interrupts
    // anything (Django's close() runs request_finished, which must complete).
    if (ctx.runner) DeadlineRaiser::settle(*ctx.runner);
    // PEP 3333: close() is called whatever happened, once.
    call_close(ctx, exchange, result);
  }
  if (ok)
    exchange.finish();
  else
    respond_500(exchange);
  sr.detach();
  if (ctx.access_log) {
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - exchange.started).count();
    server::log_access(exchange, ms);
  }
}

void init_app_call(nb::module_& m) {
  init_environ_constants();
  Input::bind(m);
  FileWrapper::bind(m);
  StartResponse::bind(m);
  g_file_wrapper_type = m.attr("FileWrapper");
}

}  // namespace squall::python
