#pragma once
// Raising a Python exception from C++ called by Python: nanobind turns this
// C++ exception into `type(message)` at the binding's edge (never across the
// engine's loop: only Python-called code raises).
#include <nanobind/nanobind.h>

#include <string>

namespace squall::python {

[[noreturn]] inline void raise(nanobind::exception_type type, const std::string& message) {
  throw nanobind::builtin_exception(type, message.c_str());
}

}  // namespace squall::python
