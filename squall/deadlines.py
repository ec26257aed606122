"""Request deadlines: what a view sees when it runs past ``--timeout``.

At ``--timeout`` the worker's I/O thread answers the client (504 Gateway
Timeout, or closes the connection when the response had started) and the
engine raises :class:`RequestTimeout` inside the Python thread running the
request, with CPython's asynchronous exception (``PyThreadState_SetAsyncExc``).
The view unwinds like on any exception: ``finally`` blocks run, Django's
handler turns it into a response (which is discarded: the client already has
its 504) and sends ``got_request_exception``, so error trackers see it with the
view's stack.

An asynchronous exception is delivered only when the thread runs Python
bytecode: a thread blocked in C (``time.sleep``, a socket without timeout, a
database driver waiting on the network) gets it when that call returns. One
still running ``--timeout-grace`` seconds later has its worker replaced by the
master (stacks dumped by faulthandler first).
"""

from __future__ import annotations

import logging
import sys
import traceback

__all__ = ["RequestTimeout", "log_interrupted"]

logger = logging.getLogger("squall.timeout")


class RequestTimeout(TimeoutError):
    """Raised inside a request's thread when the request runs past ``--timeout``."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(args or ("the request ran past --timeout",)))


def log_interrupted(message: str, ident: int) -> None:
    """Called by the engine (GIL held) when it raised RequestTimeout in thread `ident`:
    one log line, then where that thread was."""
    frame = sys._current_frames().get(ident)
    stack = "".join(traceback.format_stack(frame)) if frame is not None else "(no Python frame)\n"
    logger.error("%s\n%s", message, stack.rstrip("\n"))
