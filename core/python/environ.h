#pragma once
// The PEP 3333 environ, built with the CPython C API (hot path). Call with the GIL.
#include <Python.h>

#include <memory>

namespace squall::server {
class Exchange;
}

namespace squall::python {

// Interned keys and constant values; call once at module import.
void init_environ_constants();

// A new reference to a fresh environ dict for this exchange; `input` is the
// wsgi.input object, `file_wrapper` the wsgi.file_wrapper type.
// `server_software`: SERVER_SOFTWARE (a str), or nullptr / None to leave it out.
PyObject* build_environ(const server::Exchange& ex, PyObject* input, PyObject* file_wrapper,
                        PyObject* server_software = nullptr);

}  // namespace squall::python
