"""A stand-in for pydevd-pycharm with the current release's ``settrace`` signature
(263.7307.50, read from its pydevd.py), for tests/test_devtools.py: it connects
to the debug server as the real one does and sends one line saying how it was
called. Unknown keyword arguments are a TypeError, as with the real function."""

import json
import socket


def settrace(
    host=None,
    stdout_to_server=False,
    stderr_to_server=False,
    port=5678,
    suspend=True,
    trace_only_current_thread=False,
    overwrite_prev_trace=False,
    patch_multiprocessing=False,
    stop_at_frame=None,
):
    call = {"stdout_to_server": stdout_to_server, "stderr_to_server": stderr_to_server,
            "suspend": suspend}  # fmt: skip
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(json.dumps(call).encode() + b"\n")


def stoptrace():
    pass
