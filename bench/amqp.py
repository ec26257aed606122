#!/usr/bin/env python3
"""AMQP consumers side by side: Squall's ``manage.py consume`` (C++ loop on
librabbitmq, one Python handler thread) against django-hurricane's
``consume`` (pika on Tornado), both running the same handler work
(bench/amqp_handlers.py) against a private RabbitMQ started here.

Per (server, workload): a queue is filled with N messages while no consumer
runs, the consumer starts, and the rate is measured from the moment 10 % of
the queue is gone to the moment it is empty (startup excluded), by polling
the queue depth. Workloads: ``db`` (one idempotent row per message in a
SQLite file, in a transaction) and ``noop`` (ack only). Both consumers use
prefetch 1 (Hurricane's fixed value); ``squall-prefetch10`` shows
``--prefetch 10``.

    PYTHONPATH=$PWD .venv/bin/python bench/amqp.py [-n 5000] [--workloads db,noop]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pika
from harness import DEMO_DIR, REPO, Launch, free_port, running_server

sys.path.insert(0, str(REPO / "tests"))

from realservers import RabbitMQ, start_rabbitmq  # noqa: E402

SERVERS = {
    "squall": ("SquallDb", "SquallNoop", []),
    "squall-prefetch10": ("SquallDb", "SquallNoop", ["--prefetch", "10"]),
    "hurricane": ("HurricaneDb", "HurricaneNoop", []),
}


def env_for(db: Path, hurricane: bool) -> dict[str, str]:
    paths = [str(REPO / "bench"), str(REPO / "bench" / "settings"), str(REPO / "tests" / "apps")]
    if os.environ.get("PYTHONPATH"):
        paths.insert(0, os.environ["PYTHONPATH"])
    env = {
        "PYTHONPATH": os.pathsep.join(paths),
        "DJANGO_SETTINGS_MODULE": "bench_amqp_settings",
        "AMQP_TEST_DB": str(db),
    }
    if hurricane:
        env["BENCH_AMQP_HURRICANE"] = "1"
        # Hurricane calls on_message on its asyncio loop, where Django refuses
        # ORM calls (SynchronousOnlyOperation) unless told otherwise.
        env["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    return env


def fill(rabbit: RabbitMQ, queue: str, n: int) -> None:
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", rabbit.port))
    channel = conn.channel()
    # Hurricane declares both transient: declared the same here, so both accept them.
    channel.exchange_declare("ex-bench", "topic")
    channel.queue_declare(queue)
    channel.queue_bind(queue, "ex-bench", "bench.#")
    channel.confirm_delivery()
    for i in range(n):
        channel.basic_publish("ex-bench", "bench.item", json.dumps({"id": i}).encode())
    conn.close()


def measure(rabbit: RabbitMQ, server: str, workload: str, n: int, work: Path) -> dict[str, object]:
    db_handler, noop_handler, extra = SERVERS[server]
    hurricane = server == "hurricane"
    queue = f"q-{server}-{workload}"
    db = work / f"{queue}.sqlite3"
    env = env_for(db, hurricane)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=DEMO_DIR,
                   env={**os.environ, **env}, check=True)  # fmt: skip
    fill(rabbit, queue, n)
    handler = "amqp_handlers." + (db_handler if workload == "db" else noop_handler)
    log = work / f"{queue}.log"
    cmd = [
        sys.executable, "manage.py", "consume", handler, "--queue", queue, "--exchange", "ex-bench",
        "--amqp-host", "127.0.0.1", "--amqp-port", str(rabbit.port),
        "--probe-port", str(free_port()), *extra,
    ]  # fmt: skip
    with running_server(Launch(cmd, DEMO_DIR, env), log, grace_s=30.0) as proc:
        return drain(rabbit, proc, server, workload, queue, n, db, log)


def drain(
    rabbit: RabbitMQ, proc: subprocess.Popen[bytes], server: str, workload: str, queue: str,
    n: int, db: Path, log: Path,
) -> dict[str, object]:
    """The consumer's rate, from 10 % of the queue gone to all of it."""
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", rabbit.port))
    channel = conn.channel()
    t10 = t_end = None
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{server} exited with {proc.returncode}; see {log}")
            depth = channel.queue_declare(queue, passive=True).method.message_count
            now = time.monotonic()
            if t10 is None and depth <= n * 0.9:
                t10 = now
            if depth == 0:
                t_end = now
                break
            time.sleep(0.01)
        if t10 is None or t_end is None:
            raise RuntimeError(f"{server}: the queue did not drain; see {log}")
        rate = (n * 0.9) / max(t_end - t10, 1e-6)
        if workload == "db":
            # The last message may still be in its handler: wait for its row.
            want = n
            for _ in range(500):
                with sqlite3.connect(db, timeout=30) as c:
                    rows = c.execute("SELECT COUNT(*) FROM amqp_test_app_message").fetchone()[0]
                if rows >= want:
                    break
                time.sleep(0.01)
        else:
            rows = None
    finally:
        conn.close()
    return {"server": server, "workload": workload, "messages": n, "rate": rate, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--messages", type=int, default=5000)
    parser.add_argument("--workloads", default="db,noop")
    parser.add_argument("--servers", default=",".join(SERVERS))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="squall-bench-amqp-"))
    results = []
    with start_rabbitmq(work / "broker") as rabbit:
        for workload in args.workloads.split(","):
            for server in args.servers.split(","):
                r = measure(rabbit, server, workload, args.messages, work)
                results.append(r)
                rows = "" if r["rows"] is None else f", {r['rows']} rows"
                print(f"{server:18} {workload:5} {r['rate']:8.0f} msg/s{rows}", flush=True)
    print()
    print("| consumer | workload | messages/s |")
    print("|---|---|---:|")
    for r in results:
        print(f"| {r['server']} | {r['workload']} | {r['rate']:.0f} |")
    print(f"\nlogs and databases: {work}")


if __name__ == "__main__":
    main()
