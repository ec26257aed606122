#include "python/input.h"

#include <nanobind/stl/string.h>

namespace nb = nanobind;

namespace squall::python {

namespace {
constexpr std::size_t kReadSize = 64 * 1024;
}

bool Input::fill(std::size_t want) {
  if (eof_) return false;
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  for (;;) {
    switch (ex_->take_body(buf_, std::max<std::size_t>(want, 1))) {
      case server::BodyRead::Data: return true;
      case server::BodyRead::End: eof_ = true; return false;
      case server::BodyRead::Failed:
        eof_ = true;
        throw nb::builtin_exception(nb::exception_type::runtime_error,
                                    "request body could not be read: the client disconnected, "
                                    "timed out or sent a malformed body");
      case server::BodyRead::Wait: {
        nb::gil_scoped_release release;
        ex_->wait_body();
        break;
      }
    }
  }
}

nb::bytes Input::take(std::size_t n) {
  n = std::min(n, buf_.size() - pos_);
  nb::bytes out(buf_.data() + pos_, n);
  pos_ += n;
  return out;
}

nb::bytes Input::read(Py_ssize_t size) {
  if (size < 0) {
    while (fill(kReadSize)) {
    }
    return take(buf_.size() - pos_);
  }
  auto want = static_cast<std::size_t>(size);
  while (buf_.size() - pos_ < want && fill(want - (buf_.size() - pos_))) {
  }
  return take(want);
}

nb::bytes Input::readline(Py_ssize_t size) {
  std::size_t limit = size < 0 ? SIZE_MAX : static_cast<std::size_t>(size);
  std::size_t scanned = 0;
  for (;;) {
    std::size_t avail = buf_.size() - pos_;
    auto nl = buf_.find('\n', pos_ + scanned);
    if (nl != std::string::npos && nl - pos_ + 1 <= limit) return take(nl - pos_ + 1);
    if (avail >= limit) return take(limit);
    scanned = avail;
    if (!fill(kReadSize)) return take(avail);
  }
}

nb::list Input::readlines(Py_ssize_t hint) {
  nb::list lines;
  std::size_t total = 0;
  for (;;) {
    nb::bytes line = readline();
    if (line.size() == 0) break;
    total += line.size();
    lines.append(line);
    if (hint > 0 && total >= static_cast<std::size_t>(hint)) break;
  }
  return lines;
}

nb::bytes Input::next() {
  nb::bytes line = readline();
  if (line.size() == 0) throw nb::stop_iteration();
  return line;
}

void Input::bind(nb::module_& m) {
  nb::class_<Input>(m, "Input", "wsgi.input: the request body, streamed")
      .def("read", &Input::read, nb::arg("size") = -1)
      .def("readline", &Input::readline, nb::arg("size") = -1)
      .def("readlines", &Input::readlines, nb::arg("hint") = -1)
      .def("__iter__", [](nb::handle self) { return self; })
      .def("__next__", &Input::next);
}

}  // namespace squall::python
