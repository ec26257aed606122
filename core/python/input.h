#pragma once
// wsgi.input: a file-like reader over the request body as it streams in from
// the I/O thread. Blocking reads release the GIL.
#include <nanobind/nanobind.h>

#include <memory>
#include <string>

#include "server/exchange.h"

namespace squall::python {

class Input {
 public:
  explicit Input(std::shared_ptr<server::Exchange> ex) : ex_(std::move(ex)) {}
  nanobind::bytes read(Py_ssize_t size = -1);
  nanobind::bytes readline(Py_ssize_t size = -1);
  nanobind::list readlines(Py_ssize_t hint = -1);
  nanobind::bytes next();  // iterator protocol: a line, StopIteration at the end

  static void bind(nanobind::module_& m);

 private:
  // Appends at least one more byte to buf_; false at the end of the body.
  bool fill(std::size_t want);
  nanobind::bytes take(std::size_t n);

  std::shared_ptr<server::Exchange> ex_;
  std::string buf_;
  std::size_t pos_ = 0;
  bool eof_ = false;
};

}  // namespace squall::python
