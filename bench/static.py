#!/usr/bin/env python3
"""Static files: Squall's --static against nginx and against WhiteNoise under gunicorn.

Two files in a temporary STATIC_ROOT, 4 KiB and 1 MiB, fetched with wrk
(keep-alive, no Accept-Encoding: every server sends the file as it is).
Each server runs the same number of worker processes:

- squall: ``python -m squall bench_static_wsgi --static --workers N``
  (bench/settings/bench_static_settings.py);
- nginx (Debian package): ``worker_processes N``, ``sendfile on``,
  ``location /static/ { alias STATIC_ROOT/; }``, no access log, the defaults
  otherwise (no open_file_cache: neither server caches file metadata);
- whitenoise: ``gunicorn -k gthread -w N --threads T`` on the same Django
  project, WhiteNoiseMiddleware in front of it.

    .venv/bin/python bench/static.py                  # 10 s per row
    .venv/bin/python bench/static.py --processes 2 --quick

Servers get the caller's PYTHONPATH after bench/settings, so
``PYTHONPATH=$PWD`` measures this tree's squall package and engine build.
See bench/README.md ("Static files").
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness import (
    BUSY_MACHINE_CORES,
    HOST,
    RESULTS_DIR,
    SETTINGS_DIR,
    Launch,
    Options,
    free_port,
    log_tail,
    measure,
    ratio,
    require_wrk,
    run_header,
    running_server,
    utc_stamp,
    wait_until_answering,
    write_json,
)

FILES = {"4k": ("bench/file-4k.txt", 4 * 1024), "1m": ("bench/file-1m.bin", 1024 * 1024)}
SERVER_NAMES = ("squall", "nginx", "whitenoise")

NGINX_CONF = """\
worker_processes {workers};
daemon off;
master_process on;
user root;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    server {{
        listen {host}:{port};
        location /static/ {{ alias {root}/; }}
    }}
}}
"""


def _env(static_root: Path) -> dict[str, str]:
    paths = [str(SETTINGS_DIR)]
    if outer := os.environ.get("PYTHONPATH"):
        paths += [os.path.abspath(p) for p in outer.split(os.pathsep) if p]
    return {
        "PYTHONPATH": os.pathsep.join(paths),
        "DJANGO_SETTINGS_MODULE": "bench_static_settings",
        "BENCH_STATIC_ROOT": str(static_root),
    }


def launch(name: str, port: int, opts: Options, static_root: Path, work: Path) -> Launch:
    env = _env(static_root)
    if name == "squall":
        argv = [
            sys.executable, "-m", "squall", "bench_static_wsgi", "--static",
            "--host", HOST, "--port", str(port), "--workers", str(opts.processes),
            "--threads", str(opts.threads), "--no-access-log",
        ]  # fmt: skip
        return Launch(argv, SETTINGS_DIR, env)
    if name == "nginx":
        conf = work / f"nginx-{port}.conf"
        conf.write_text(
            NGINX_CONF.format(
                workers=opts.processes, work=work, host=HOST, port=port, root=static_root
            )
        )
        return Launch(["nginx", "-p", str(work), "-c", str(conf)], work)
    argv = [
        str(Path(sys.executable).parent / "gunicorn"), "-k", "gthread",
        "-w", str(opts.processes), "--threads", str(opts.threads),
        "-b", f"{HOST}:{port}", "--log-level", "warning", "bench_static_wsgi:application",
    ]  # fmt: skip
    return Launch(argv, SETTINGS_DIR, env)


@dataclass
class Row:
    server: str
    file: str
    status: str
    requests_per_s: float | None = None
    mib_per_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int | None = None
    peak_rss_mib: float | None = None
    other_cpu_cores: float | None = None
    note: str = ""


def bench_row(name: str, file: str, opts: Options, root: Path, work: Path) -> Row:
    path, size = FILES[file]
    port = free_port(2)  # Squall's probe port is port + 1
    url = f"http://{HOST}:{port}/static/{path}"
    spec = launch(name, port, opts, root, work)
    log = work / f"{name}-{file}.log"
    row = Row(name, file, "failed to start")
    try:
        with running_server(spec, log) as proc:
            status = wait_until_answering(proc, port, f"/static/{path}", opts.startup_timeout_s)
            if status != 200:
                row.note = f"first GET: {status}; {log_tail(log)}"
                return row
            m = measure(proc, url, opts)
    except FileNotFoundError as exc:
        row.note = f"not installed: {exc.filename}"
        return row
    except (RuntimeError, ValueError) as exc:
        row.status, row.note = "failed", str(exc)
        return row
    row.status = "ok"
    row.requests_per_s = m.stats.requests_per_s
    row.mib_per_s = m.stats.requests_per_s * size / (1024 * 1024)
    row.p50_ms, row.p99_ms = m.stats.p50_ms, m.stats.p99_ms
    row.errors = sum(m.stats.errors.values())
    row.peak_rss_mib = m.peak_rss_mib
    row.other_cpu_cores = m.other_cpu_cores
    if m.other_cpu_cores > BUSY_MACHINE_CORES:
        row.note = f"other processes used {m.other_cpu_cores:.2f} cores: req/s understated"
    return row


def render(rows: list[Row]) -> str:
    out = []
    for file in FILES:
        these = [r for r in rows if r.file == file]
        squall = next((r for r in these if r.server == "squall" and r.requests_per_s), None)
        out += [
            f"### {file} ({FILES[file][0]})",
            "",
            "| server | req/s | MiB/s | p50 ms | p99 ms | errors | peak RSS MiB | squall ÷ peer |",
            "|---|--:|--:|--:|--:|--:|--:|--:|",
        ]
        notes = []
        for r in these:
            if r.status != "ok":
                out.append(f"| {r.server} | {r.status} |" + " — |" * 6)
                notes.append(f"- {r.server}: {r.note}")
                continue
            versus = ratio(squall.requests_per_s if squall else None, r.requests_per_s)
            out.append(
                f"| {r.server} | {r.requests_per_s:,.0f} | {r.mib_per_s:,.0f} | {r.p50_ms:.2f} "
                f"| {r.p99_ms:.2f} | {r.errors:,} | {r.peak_rss_mib:.1f} | {versus} |"
            )
            if r.note:
                notes.append(f"- {r.server}: {r.note}")
        out += ["", *notes, ""] if notes else [""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--processes", type=int, default=1, help="worker processes per server (1)")
    p.add_argument("--threads", type=int, default=1, help="Python threads per process (1)")
    p.add_argument("-c", "--connections", type=int, default=64, help="wrk connections (64)")
    p.add_argument("-d", "--duration", type=int, default=10, help="seconds per measurement (10)")
    p.add_argument("--quick", action="store_true", help="3 s per measurement")
    p.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per row (2)")
    p.add_argument(
        "--busy-retries", type=int, default=1, help="reruns of a row disturbed by others (1)"
    )
    p.add_argument("--servers", default=",".join(SERVER_NAMES), help="squall,nginx,whitenoise")
    p.add_argument("--files", default=",".join(FILES), help="4k,1m")
    p.add_argument("--output", type=Path, help="JSON (default bench/results/static-<utc>.json)")
    a = p.parse_args(argv)
    opts = Options(
        processes=a.processes, threads=a.threads, connections=a.connections,
        duration_s=3 if a.quick else a.duration, warmup_s=a.warmup, wrk_threads=2,
        startup_timeout_s=30,
    )  # fmt: skip
    servers = [s for s in a.servers.split(",") if s]
    files = [f for f in a.files.split(",") if f]
    if unknown := (set(servers) - set(SERVER_NAMES)) | (set(files) - set(FILES)):
        raise SystemExit(f"unknown: {', '.join(sorted(unknown))}")
    require_wrk()
    output = a.output or RESULTS_DIR / f"static-{utc_stamp()}.json"
    print(run_header(opts), flush=True)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="squall-bench-static-") as tmp:
        work = Path(tmp)
        root = work / "static"
        for path, size in FILES.values():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(os.urandom(size))
        for file in files:
            for name in servers:
                print(f"  {file:<3} {name:<11}", end=" ", flush=True)
                row = bench_row(name, file, opts, root, work)
                for _ in range(a.busy_retries):
                    if row.status != "ok" or (row.other_cpu_cores or 0) <= BUSY_MACHINE_CORES:
                        break
                    print(f"(busy: {row.other_cpu_cores:.2f} cores, again)", end=" ", flush=True)
                    again = bench_row(name, file, opts, root, work)
                    if again.status == "ok":
                        row = min(row, again, key=lambda r: r.other_cpu_cores or 0.0)
                shown = f"{row.requests_per_s:,.0f} req/s" if row.status == "ok" else row.status
                print(shown, flush=True)
                rows.append(row)
    argv = [".venv/bin/python", "bench/static.py", *(argv or sys.argv[1:])]
    write_json(output, opts, argv, rows)
    command = " ".join(argv)
    print()
    print(render(rows))
    print(f"command: {command}\nraw results: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
