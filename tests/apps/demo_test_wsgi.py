"""The demo's WSGI application (demo.wsgi); each import appends this process's
id as a line to the file $DEMO_TEST_RECORD, so a test can count the loads."""

import os

with open(os.environ["DEMO_TEST_RECORD"], "a") as record:
    record.write(f"{os.getpid()}\n")

from demo.wsgi import application  # noqa: E402

__all__ = ["application"]
