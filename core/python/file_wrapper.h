#pragma once
// wsgi.file_wrapper (PEP 3333 "Optional Platform-Specific File Handling"):
// a response made of a real file is sent with sendfile(2) by the I/O thread;
// anything else is iterated in blocks.
#include <nanobind/nanobind.h>

namespace squall::python {

class FileWrapper {
 public:
  FileWrapper(nanobind::object filelike, Py_ssize_t blksize) : filelike(std::move(filelike)), blksize(blksize) {}
  nanobind::object next();
  void close();

  nanobind::object filelike;
  Py_ssize_t blksize;

  static void bind(nanobind::module_& m);
};

}  // namespace squall::python
