#pragma once
// The PEP 3333 environ, built with the CPython C API (hot path). Call with the GIL.
#include <Python.h>

#include <memory>
#include <string>
#include <string_view>

namespace squall::server {
class Exchange;
}

namespace squall::python {

// %XX sequences decoded (an invalid one is kept as is).
std::string percent_decode(std::string_view s);

// Interned keys and constant values; call once at module import.
void init_environ_constants();

// A new reference to a fresh environ dict for this exchange; `input` is the
// wsgi.input object, `file_wrapper` the wsgi.file_wrapper type.
// `server_software`: SERVER_SOFTWARE (a str), or nullptr / None to leave it out.
PyObject* build_environ(const server::Exchange& ex, PyObject* input, PyObject* file_wrapper,
                        PyObject* server_software = nullptr);

}  // namespace squall::python
