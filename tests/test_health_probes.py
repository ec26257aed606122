"""Health checks behind the probes (squall/checker.py, core/probe/): HEALTH_CHECK
subsets and tagged Django system checks, run by the checker process every
--check-interval, answered by the master from shared memory; webhooks on
every change. Real servers: the demo project, a real PostgreSQL
(tests/realservers.py) and a webhook receiver inside the test.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus import promtool_check
from realservers import start_postgres
from serverproc import APPS_DIR, DEMO_DIR, ServerProcess, free_port, probe, run_server, wait_for
from webhook_receiver import WebhookReceiver

DATABASE_CHECK = "squall.health.backends.database.DatabaseBackend"


def pod_env(tmp_path: Path, subsets: dict[str, list], **env: str) -> dict[str, str]:
    """tests/apps/probe_settings.py with these subsets; flag files under tmp_path."""
    pythonpath = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(APPS_DIR)) if p)
    return {
        "PYTHONPATH": pythonpath,
        "DJANGO_SETTINGS_MODULE": "probe_settings",
        "DEMO_TEST_DB": str(tmp_path / "db.sqlite3"),
        "SQUALL_TEST_SUBSETS": json.dumps(subsets),
        "SQUALL_TEST_FLAG_DIR": str(tmp_path),
        **env,
    }


@contextmanager
def demo_pod(
    tmp_path: Path, subsets: dict[str, list], *options: str, started: bool = True, **env: str
) -> Iterator[ServerProcess]:
    argv = ["manage.py", "serve", "--check-interval", "0.5", *options]
    with run_server(argv, cwd=DEMO_DIR, env=pod_env(tmp_path, subsets, **env)) as server:
        if started:
            wait_for(server, "/startup", 200, timeout=30)
        yield server


def until(server: ServerProcess, path: str, status: int, *, within: float) -> float:
    """Seconds until `path` answers `status` (fails the test after `within`)."""
    started = time.monotonic()
    wait_for(server, path, status, timeout=within)
    return time.monotonic() - started


def test_postgres_outage_fails_readiness_not_liveness_and_both_changes_send_webhooks(
    tmp_path: Path,
) -> None:
    with start_postgres(tmp_path / "pg") as pg, WebhookReceiver() as hooks, demo_pod(
        tmp_path,
        {"readiness": [DATABASE_CHECK]},
        "--workers", "2", "--webhook-url", hooks.url,
        SQUALL_TEST_DATABASE=json.dumps(pg.django_database()),
    ) as server:  # fmt: skip
        assert "[+]DatabaseBackend[default] ok" in probe(server, "/readyz?verbose")[1]
        assert probe(server, "/ready")[0] == 200
        hooks.wait_for(lambda e: e["type"] == "startup" and e["status"] == "succeeded")

        # Liveness is probed all along and must never fail: a database outage
        # must not restart the pod.
        liveness: list[int] = []
        stop = threading.Event()

        def probe_liveness() -> None:
            while not stop.is_set():
                liveness.append(probe(server, "/alive")[0])
                time.sleep(0.05)

        prober = threading.Thread(target=probe_liveness)
        prober.start()
        try:
            pg.stop()
            # One interval (0.5 s) plus the check's timeout (2 s) at most.
            assert until(server, "/ready", 500, within=4.0) < 4.0
            status, body, _ = probe(server, "/readyz?verbose")
            assert status == 500
            assert "[-]DatabaseBackend[default] failed: reason withheld" in body
            failed = hooks.wait_for(lambda e: e["type"] == "readiness" and e["status"] == "failed")
            assert "DatabaseBackend[default]" in failed["traceback"]

            pg.start()
            until(server, "/ready", 200, within=10.0)
            hooks.wait_for(lambda e: e["type"] == "readiness" and e["status"] == "succeeded")
        finally:
            stop.set()
            prober.join()
        assert liveness and set(liveness) == {200}
        assert probe(server, "/livez")[:2] == (200, "ok")
    assert server.log().count("booting worker") == 2  # no worker was restarted
    assert "readiness check DatabaseBackend[default] failed" in server.log()


def test_probes_on_the_app_port_judge_the_checks_age_as_the_master_does(tmp_path: Path) -> None:
    """--probe-port equal to --port: the workers' I/O threads answer the probes
    from the checker's results, with their age and the same staleness rule."""
    port = free_port()
    subsets = {"liveness": [["probe_checks.FlagBackend", {"flag": "live"}]]}
    argv = ["manage.py", "serve", "--check-interval", "0.5", "--workers", "1"]
    argv += ["--probe-port", str(port)]
    env = pod_env(tmp_path, subsets)
    with run_server(argv, cwd=DEMO_DIR, env=env, port=port, probe_port=port) as server:
        wait_for(server, "/startup", 200, timeout=30)
        status, body, headers = probe(server, "/livez?verbose")
        assert status == 200 and "[+]flag-live ok" in body
        assert 0 <= float(headers["x-health-checks-age"]) < 2.0  # every 0.5 s
        (tmp_path / "live").touch()
        until(server, "/alive", 500, within=3.0)


def test_liveness_subset_and_system_checks_tagged_liveness_or_hurricane(tmp_path: Path) -> None:
    subsets = {"liveness": [["probe_checks.FlagBackend", {"flag": "live"}]]}
    with demo_pod(tmp_path, subsets, "--workers", "1") as server:
        _, body, headers = probe(server, "/livez?verbose")
        assert "[+]flag-live ok\n[+]system-checks ok" in body
        assert 0 <= float(headers["x-health-checks-age"]) < 2.0  # every 0.5 s
        for flag, check in [("live", "flag-live"), ("syscheck-liveness", "system-checks"),
                            ("syscheck-hurricane", "system-checks")]:  # fmt: skip
            (tmp_path / flag).touch()
            until(server, "/alive", 500, within=3.0)
            body = probe(server, "/livez?verbose")[1]
            assert f"[-]{check} failed: reason withheld" in body
            assert probe(server, "/ready")[0] == 200  # liveness checks stay out of readiness
            (tmp_path / flag).unlink()
            until(server, "/alive", 200, within=3.0)
        # ?exclude and /livez/NAME name the checks the same way.
        (tmp_path / "live").touch()
        until(server, "/livez", 500, within=3.0)
        assert probe(server, "/livez?exclude=flag-live")[:2] == (200, "ok")
        assert probe(server, "/livez/flag-live")[0] == 500
        assert probe(server, "/livez/system-checks")[0] == 200
    assert "system check flag syscheck-hurricane is set" in server.log()


def test_health_check_results_and_probe_status_are_metrics(tmp_path: Path) -> None:
    subsets = {"readiness": [["probe_checks.FlagBackend", {"flag": "ready"}]]}
    with demo_pod(tmp_path, subsets, "--workers", "1") as server:
        metrics = probe(server, "/metrics")[1]
        assert 'squall_health_check_success{subset="readiness",check="flag-ready"} 1\n' in metrics
        duration = (
            r'squall_health_check_duration_seconds\{subset="readiness",check="flag-ready"\} '
            r"[0-9.e-]+\n"
        )
        assert re.search(duration, metrics)
        assert 'squall_probe_success{probe="readiness"} 1\n' in metrics
        (tmp_path / "ready").touch()
        until(server, "/ready", 500, within=3.0)
        metrics = probe(server, "/metrics")[1]
        assert 'squall_health_check_success{subset="readiness",check="flag-ready"} 0\n' in metrics
        assert 'squall_probe_success{probe="readiness"} 0\n' in metrics
        assert 'squall_probe_success{probe="liveness"} 1\n' in metrics


def test_a_backend_in_two_subsets_is_one_series_per_subset(tmp_path: Path) -> None:
    # Invalid exposition before: the same {check=...} series twice.
    flag = ["probe_checks.FlagBackend", {"flag": "shared"}]
    subsets = {"readiness": [flag], "liveness": [flag]}
    with demo_pod(tmp_path, subsets, "--workers", "1") as server:
        for accept in ("text/plain", "application/openmetrics-text; version=1.0.0"):
            conn = http.client.HTTPConnection("127.0.0.1", server.probe_port, timeout=5)
            conn.request("GET", "/metrics", headers={"Accept": accept})
            body = conn.getresponse().read().decode()
            conn.close()
            for subset in ("readiness", "liveness"):
                series = f'squall_health_check_success{{subset="{subset}",check="flag-shared"}} 1\n'
                assert body.count(series) == 1, (accept, body)
            # No series twice (promtool 2.42 does not look for that).
            names = [line.rsplit(" ", 1)[0] for line in body.splitlines() if line[:1] not in "#"]
            assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]
            if accept == "text/plain":  # promtool lints the Prometheus text format
                check = promtool_check(body)
                assert check.returncode == 0, check.stdout + check.stderr


def test_readiness_system_checks_and_startup_subset(tmp_path: Path) -> None:
    (tmp_path / "boot").touch()  # the startup subset fails until the flag goes
    subsets = {"startup": [["probe_checks.FlagBackend", {"flag": "boot"}]]}
    with demo_pod(tmp_path, subsets, "--workers", "1", started=False) as server:
        wait_for(server, "/alive", 400, timeout=10)  # Hurricane: 400 before startup
        time.sleep(1.5)  # several check runs, workers long booted: still not started
        assert probe(server, "/startup")[0] == 400
        assert "[-]flag-boot failed" in probe(server, "/startupz?verbose")[1]
        (tmp_path / "boot").unlink()
        until(server, "/startup", 200, within=3.0)
        (tmp_path / "syscheck-readiness").touch()
        until(server, "/ready", 500, within=3.0)
        assert probe(server, "/alive")[0] == 200
        (tmp_path / "syscheck-readiness").unlink()
        until(server, "/ready", 200, within=3.0)


def test_a_hung_check_fails_its_probe_without_slowing_any_probe(tmp_path: Path) -> None:
    subsets = {
        "readiness": [["probe_checks.HangWhileFlagBackend", {"flag": "hang", "timeout": 0.5}]]
    }
    with demo_pod(tmp_path, subsets, "--workers", "1") as server:
        (tmp_path / "hang").touch()
        until(server, "/ready", 500, within=3.0)
        slowest = 0.0
        for _ in range(50):
            started = time.monotonic()
            assert probe(server, "/ready")[0] == 500
            slowest = max(slowest, time.monotonic() - started)
        assert slowest < 0.1
        (tmp_path / "hang").unlink()
        until(server, "/ready", 200, within=5.0)
    assert "timed out after 0.5 s" in server.log()


def test_a_checker_that_dies_is_restarted(tmp_path: Path) -> None:
    subsets = {"readiness": [["probe_checks.FlagBackend", {"flag": "x"}]]}
    with demo_pod(tmp_path, subsets, "--workers", "1") as server:
        log = server.log()
        pid = int(log.split("health-check process ")[1].split()[0])
        os.kill(pid, 9)
        deadline = time.monotonic() + 10
        while server.log().count("health-check process") < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert f"health-check process {pid} killed by SIGKILL" in server.log()
        (tmp_path / "x").touch()  # the new checker reports again
        until(server, "/ready", 500, within=3.0)


def test_a_kubelet_like_client_sees_no_failure_under_full_load(tmp_path: Path) -> None:
    """kubelet: a new connection per probe, 1 s timeout, kube-probe User-Agent."""
    subsets = {"readiness": [DATABASE_CHECK], "liveness": ["probe_checks.FlagBackend"]}
    subsets["liveness"] = [["probe_checks.FlagBackend", {"flag": "never"}]]
    with demo_pod(
        tmp_path, subsets, "--workers", "2", "--threads", "2", "--req-queue-len", "100"
    ) as server:
        stop = threading.Event()

        def load() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            while not stop.is_set():
                conn.request("GET", "/json")
                conn.getresponse().read()
            conn.close()

        clients = [threading.Thread(target=load) for _ in range(16)]
        for c in clients:
            c.start()
        failures: list[str] = []
        probes = 0
        try:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                for path in ("/startup", "/ready", "/alive"):
                    conn = http.client.HTTPConnection("127.0.0.1", server.probe_port, timeout=1)
                    try:
                        conn.request("GET", path, headers={"User-Agent": "kube-probe/1.31",
                                                           "Accept": "*/*"})  # fmt: skip
                        status = conn.getresponse().status
                        if not 200 <= status < 400:
                            failures.append(f"{path}: {status}")
                    except OSError as exc:
                        failures.append(f"{path}: {exc!r}")
                    finally:
                        conn.close()
                    probes += 1
                time.sleep(0.02)
        finally:
            stop.set()
            for c in clients:
                c.join()
        assert probes > 100
        assert failures == []


def test_ctrl_c_to_the_process_group_stops_the_checker_quietly(tmp_path: Path) -> None:
    subsets = {"readiness": [["probe_checks.FlagBackend", {"flag": "x"}]]}
    with demo_pod(tmp_path, subsets, "--workers", "1") as server:
        # As a terminal's Ctrl-C: SIGINT to master, worker and checker at once.
        pids = [server.proc.pid, *child_pids(server.proc.pid)]
        for pid in pids:
            # The master may have stopped and reaped a child already (its own
            # SIGINT came first): that child is stopped, as wanted.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 2)
        assert server.proc.wait(timeout=15) == 0
    assert "Traceback" not in server.log()
    assert "KeyboardInterrupt" not in server.log()


def child_pids(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children]
