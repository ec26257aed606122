"""Private instances of real PostgreSQL, Redis and RabbitMQ servers for tests.

Each `start_*(base_dir)` starts one server on free loopback ports with all of
its state under `base_dir`, waits until a real client connection succeeds
(polling, never a fixed sleep) and returns an object with the connection
details and `stop()` / `start()` (same ports, same data) / `is_running()`.
Every object is a context manager that stops the server (and removes what it
created outside base_dir) on exit. Nothing is shared between instances, so
several can run side by side, in one pytest session or in concurrent ones.

Also nginx as a reverse proxy in front of a Squall server (`start_nginx`),
with upstream keep-alive as production setups run it.

Debian packages used: postgresql (15), redis-server, rabbitmq-server, nginx.
Nothing needs systemd or a server already running.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from polling import free_port, port_accepts, wait_for

PG_BIN = Path("/usr/lib/postgresql/15/bin")
RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
RABBITMQ_START_TIMEOUT = 60.0


def _poll(ready: Callable[[], bool], what: str, timeout: float, log: Path | None = None) -> None:
    """Polls `ready` until it returns True; TimeoutError with the log's tail at the deadline."""

    def tail() -> str:
        if log is None or not log.exists():
            return ""
        return "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])

    wait_for(ready, f"{what} to be ready", timeout, interval=0.05, error=TimeoutError, detail=tail)


def _terminate(proc: subprocess.Popen[bytes] | None, timeout: float = 30.0) -> None:
    """SIGTERM (a graceful shutdown for all three servers), SIGKILL at the deadline."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class _Server:
    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --------------------------------------------------------------------------- PostgreSQL


class Postgres(_Server):
    """A private PostgreSQL 15 cluster, run by the `postgres` OS user.

    Authentication: trust on the unix socket, scram-sha-256 over TCP, so a
    wrong password really fails.
    """

    user = "squall"
    password = "squall-test"
    dbname = "squall_test"
    host = "127.0.0.1"

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.port = free_port()
        base_dir.mkdir(parents=True, exist_ok=True)
        # postgres refuses to run as root, and the postgres user cannot enter
        # pytest's tmp dirs (/tmp/pytest-of-root is 0700, and pytest resets it
        # to 0700 at every session start, so opening it up is no fix). So the
        # cluster lives in a postgres-owned dir in the system tmp dir, linked
        # from base_dir, and is removed by close().
        self.root = Path(tempfile.mkdtemp(prefix="squall-pg-"))
        link = base_dir / "postgres"
        if link.is_symlink() or link.exists():
            link = base_dir / f"postgres-{self.port}"
        link.symlink_to(self.root)
        self.link = link
        self.data_dir = self.root / "data"
        self.socket_dir = self.root / "run"
        self.log_path = self.root / "postgres.log"
        shutil.chown(self.root, "postgres", "postgres")
        self.root.chmod(0o700)
        self._as_postgres("mkdir", "-p", str(self.socket_dir))
        self._initdb()
        self.start()
        import psycopg

        with psycopg.connect(**self.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.dbname}"')

    def _as_postgres(self, *argv: str) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(
            ["runuser", "-u", "postgres", "--", *argv],
            cwd="/",
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {result.stdout.decode(errors='replace')}")
        return result

    def _initdb(self) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        shutil.chown(pwfile, "postgres", "postgres")
        self._as_postgres(
            str(PG_BIN / "initdb"),
            "-D", str(self.data_dir),
            "-U", self.user,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-sync",
        )  # fmt: skip
        pwfile.unlink()
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a") as f:
            # A throwaway test cluster: no durability, small memory, loopback only.
            f.write(
                f"port = {self.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "shared_buffers = 16MB\nmax_connections = 50\n"
            )

    def conninfo(self, dbname: str | None = None) -> dict[str, Any]:
        """Keyword arguments for psycopg.connect() over TCP (password auth)."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": dbname or self.dbname,
            "connect_timeout": 2,
        }

    def _answers(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(**self.conninfo("postgres")) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    def start(self) -> None:
        if self.is_running():
            return
        pg_ctl = str(PG_BIN / "pg_ctl")
        self._as_postgres(
            pg_ctl, "-D", str(self.data_dir), "-l", str(self.log_path), "-w", "-t", "60", "start"
        )
        _poll(self._answers, f"postgres on port {self.port}", 60.0, self.log_path)

    def stop(self) -> None:
        if not self.data_dir.exists() or not self.is_running():
            return
        pg_ctl = str(PG_BIN / "pg_ctl")
        self._as_postgres(pg_ctl, "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def is_running(self) -> bool:
        result = subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir),
             "status"],
            cwd="/",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        return result.returncode == 0

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        self.link.unlink(missing_ok=True)

    def django_database(self) -> dict[str, Any]:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": self.host,
            "PORT": str(self.port),
            "USER": self.user,
            "PASSWORD": self.password,
            "NAME": self.dbname,
        }


def start_postgres(base_dir: Path) -> Postgres:
    return Postgres(base_dir)


# --------------------------------------------------------------------------- Redis


class Redis(_Server):
    """A private redis-server without persistence."""

    host = "127.0.0.1"

    def __init__(self, base_dir: Path) -> None:
        self.dir = base_dir / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log_path = self.dir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def _answers(self) -> bool:
        import redis

        try:
            client = redis.Redis(host=self.host, port=self.port, socket_timeout=1)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except redis.RedisError:
            return False

    def start(self) -> None:
        if self.is_running():
            return
        argv = [
            "redis-server",
            "--bind", self.host,
            "--port", str(self.port),
            "--dir", str(self.dir),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--logfile", str(self.log_path),
        ]  # fmt: skip
        self.proc = subprocess.Popen(argv, cwd=self.dir, start_new_session=True)

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            return self._answers()

        _poll(ready, f"redis on port {self.port}", 30.0, self.log_path)

    def stop(self) -> None:
        _terminate(self.proc)

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def start_redis(base_dir: Path) -> Redis:
    return Redis(base_dir)


# --------------------------------------------------------------------------- RabbitMQ


class RabbitMQ(_Server):
    """A private RabbitMQ node: own node name, ports, epmd, Mnesia dir, logs, cookie.

    Run as root straight from /usr/lib/rabbitmq/bin (the /usr/sbin wrappers
    switch to the rabbitmq user, which could not write base_dir). epmd is per
    instance (ERL_EPMD_PORT), so stopping one node never disturbs another.
    """

    host = "127.0.0.1"
    user = "guest"
    password = "guest"
    vhost = "/"

    def __init__(self, base_dir: Path) -> None:
        self.dir = base_dir / "rabbitmq"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.node = f"squall{self.port}@localhost"
        home = self.dir / "home"
        home.mkdir(exist_ok=True)
        plugins = self.dir / "enabled_plugins"
        plugins.write_text("[].\n")
        conf = self.dir / "rabbitmq.conf"
        # guest may log in only from loopback (the default); keep that explicit.
        conf.write_text("loopback_users.guest = true\n")
        env_conf = self.dir / "rabbitmq-env.conf"
        env_conf.write_text("")  # instead of /etc/rabbitmq/rabbitmq-env.conf
        self.log_dir = self.dir / "log"
        self.env = {
            **os.environ,
            "HOME": str(home),  # the Erlang cookie ($HOME/.erlang.cookie) stays private
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": self.host,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.log_dir),
            "RABBITMQ_LOGS": str(self.log_dir / "rabbit.log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
            "RABBITMQ_CONFIG_FILE": str(conf),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.dir / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(env_conf),
            "RABBITMQ_PID_FILE": str(self.dir / "rabbit.pid"),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"amqp://{self.user}:{self.password}@{self.host}:{self.port}//"

    def _ctl(self, *argv: str, timeout: float = RABBITMQ_START_TIMEOUT) -> int:
        return subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.node, *argv],
            env=self.env,
            cwd=self.dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
        ).returncode

    def start(self) -> None:
        if self.is_running():
            return
        self.log_dir.mkdir(exist_ok=True)
        out = (self.log_dir / "stdout.log").open("ab")
        self.proc = subprocess.Popen(
            [str(RABBITMQ_BIN / "rabbitmq-server")],
            env=self.env,
            cwd=self.dir,  # erl_crash.dump lands here
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        deadline = time.monotonic() + RABBITMQ_START_TIMEOUT

        def accepts() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"rabbitmq-server exited with {self.proc.returncode}; see {self.log_dir}"
                )
            return port_accepts(self.port)

        _poll(accepts, f"rabbitmq on port {self.port}", RABBITMQ_START_TIMEOUT,
              self.log_dir / "stdout.log")  # fmt: skip
        # The AMQP listener opens late in boot; await_startup confirms the app is up.
        left = max(5.0, deadline - time.monotonic())
        if self._ctl("await_startup", timeout=left) != 0:
            raise RuntimeError(f"rabbitmqctl await_startup failed for {self.node}")

    def stop(self) -> None:
        _terminate(self.proc, timeout=RABBITMQ_START_TIMEOUT)
        self._kill_epmd()

    def _kill_epmd(self) -> None:
        # Our private epmd outlives the node; nothing else uses its port.
        subprocess.run(
            ["epmd", "-port", str(self.epmd_port), "-kill"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
        )

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def start_rabbitmq(base_dir: Path) -> RabbitMQ:
    return RabbitMQ(base_dir)


# --------------------------------------------------------------------------- nginx

NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
{pools}
    server {{
        listen 127.0.0.1:{port};
        location / {{ proxy_pass http://pool0; }}
{locations}
    }}
}}
"""
NGINX_POOL = """\
    upstream pool{i} {{
        server 127.0.0.1:{upstream_port};
        keepalive 64;
        keepalive_timeout {keepalive_timeout}ms;
    }}
"""


class Nginx(_Server):
    """A private nginx reverse proxy to 127.0.0.1:`upstream_port`, with upstream
    keep-alive (HTTP/1.1, idle upstream connections kept for
    `keepalive_timeout` seconds: by default 600, so the upstream server is the
    side that closes them).

    `pools` separate upstream connection pools to the same server: `/` goes
    through the first, `/pool<i>/rest` through pool i as `/rest` (a client
    that uses one pool alone knows how long its upstream connection idled)."""

    host = "127.0.0.1"

    def __init__(
        self, base_dir: Path, upstream_port: int, pools: int = 1, keepalive_timeout: float = 600
    ) -> None:
        self.dir = base_dir / "nginx"
        (self.dir / "tmp").mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = self.dir / "nginx.conf"
        self.conf.write_text(
            NGINX_CONF.format(
                dir=self.dir,
                port=self.port,
                pools="".join(
                    NGINX_POOL.format(
                        i=i,
                        upstream_port=upstream_port,
                        keepalive_timeout=round(keepalive_timeout * 1000),
                    )
                    for i in range(pools)
                ),
                locations="".join(
                    f"        location /pool{i}/ {{ proxy_pass http://pool{i}/; }}\n"
                    for i in range(pools)
                ),
            )
        )
        self.log_path = self.dir / "error.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def error_log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        if self.is_running():
            return
        argv = ["nginx", "-p", str(self.dir), "-e", str(self.log_path), "-c", str(self.conf)]
        self.proc = subprocess.Popen(argv, cwd=self.dir, start_new_session=True)

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.proc.returncode}")
            return port_accepts(self.port)

        _poll(ready, f"nginx on port {self.port}", 30.0, self.log_path)

    def stop(self) -> None:
        _terminate(self.proc)

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def start_nginx(
    base_dir: Path, upstream_port: int, pools: int = 1, keepalive_timeout: float = 600
) -> Nginx:
    return Nginx(base_dir, upstream_port, pools, keepalive_timeout)
