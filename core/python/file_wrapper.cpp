#include "python/file_wrapper.h"

namespace nb = nanobind;

namespace squall::python {

nb::object FileWrapper::next() {
  nb::object data = filelike.attr("read")(blksize);
  if (!nb::bool_(data)) throw nb::stop_iteration();
  return data;
}

void FileWrapper::close() {
  if (nb::hasattr(filelike, "close")) filelike.attr("close")();
}

void FileWrapper::bind(nb::module_& m) {
  nb::class_<FileWrapper>(m, "FileWrapper", "wsgi.file_wrapper: files go out with sendfile(2)")
      .def(nb::init<nb::object, Py_ssize_t>(), nb::arg("filelike"), nb::arg("blksize") = 8192)
      .def_ro("filelike", &FileWrapper::filelike)
      .def_ro("blksize", &FileWrapper::blksize)
      .def("__iter__", [](nb::handle self) { return self; })
      .def("__next__", &FileWrapper::next)
      .def("close", &FileWrapper::close);
}

}  // namespace squall::python
