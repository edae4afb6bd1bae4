"""The production command runs WEB_CONCURRENCY daphne workers on one port (supervisord).

Real processes: deploy/entrypoint.sh as the image runs it (tests/ops/container.py) on a
free loopback port, with SQLite and, for more than one worker, Redis (E2E_REDIS_URL;
skipped without it, except under CI=true). Which worker answered a request is told by
/healthz's `pid`, given to METRICS_TOKEN holders only; /metrics must count them all.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from loky import cpu_count
from prometheus_client.parser import text_string_to_metric_families

from tests.ops.container import (
    ROOT,
    container_env,
    get,
    stop,
    wait_for,
)
from tests.support import E2E_REDIS_URL, free_port, require_redis, start_entrypoint

TOKEN = "workers-probe-token-not-secret"
# Seconds to wait for a worker to start (and for each to have answered: the kernel hands
# each connection to whichever worker accepts first, so a few requests may be needed).
STARTUP = 90.0


class Probes:
    """GET /healthz and /metrics with the token, each on a fresh connection."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.healthz_sent = 0

    def _get(self, path: str) -> bytes:
        status, body = get(f"{self.url}{path}", headers={"Authorization": f"Bearer {TOKEN}"})
        assert status == 200, body
        return body

    def pid(self) -> int:
        """The pid of the worker that answered one /healthz."""
        body = self._get("/healthz")
        self.healthz_sent += 1
        return json.loads(body)["pid"]

    def answering(self, expected: set[int]) -> set[int]:
        """The pids seen answering, asking until all of `expected` have answered (a worker
        just started answers once Django is loaded: bounded by STARTUP)."""
        seen: set[int] = set()
        deadline = time.monotonic() + STARTUP
        while not expected <= seen and time.monotonic() < deadline:
            seen.add(self.pid())
            time.sleep(0.02)
        return seen

    def get_200_count(self) -> float:
        """`botstream_http_requests_total{method="GET",status="200"}` in one scrape (the
        scrape itself is counted after its body is rendered: in the next one)."""
        text = self._get("/metrics").decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "botstream_http_requests_total" and sample.labels == {
                    "method": "GET",
                    "status": "200",
                }:
                    return sample.value
        return 0.0


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for its parent to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def daphne_workers(manager: int) -> set[int]:
    """Live children of `manager` running daphne."""
    workers = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        pid = int(entry.name)
        if ppid == manager and any(part.endswith(b"daphne") for part in command) and alive(pid):
            workers.add(pid)
    return workers


def wait_for_workers(manager: subprocess.Popen, count: int, without: set[int]) -> set[int]:
    """The manager's `count` daphne workers once they are up and none is in `without`."""
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        if manager.poll() is not None:
            pytest.fail(f"supervisord exited with status {manager.returncode}")
        workers = daphne_workers(manager.pid)
        if len(workers) == count and not workers & without:
            return workers
        time.sleep(0.2)
    pytest.fail(f"never saw {count} daphne workers (now {daphne_workers(manager.pid)})")


def run_workers_script(env: dict[str, str], **popen) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "deploy/workers.py"],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        **popen,
    )


def test_two_workers_share_one_port_and_metrics_are_replaced_when_killed_and_stop(tmp_path):
    require_redis(E2E_REDIS_URL)
    port = free_port()
    env = container_env(
        tmp_path,
        port,
        WEB_CONCURRENCY="2",
        REDIS_URL=E2E_REDIS_URL,
        METRICS_TOKEN=TOKEN,
        METRICS_ENABLED="1",
        MIGRATE_ON_START="1",
    )
    log_path = tmp_path / "server.log"
    probes = Probes(port)
    manager = start_entrypoint(env, log_path)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", manager, time.monotonic() + STARTUP)
        workers = wait_for_workers(manager, 2, without=set())
        # Both workers serve the one address. This also lets each worker serve what
        # wait_for's timed-out attempts left in the socket's backlog while the workers
        # started: a worker that came up late served (and counted) those after the first
        # scrape, and the count below was off by them (CI, under load).
        assert probes.answering(workers) == workers
        counted_before = probes.get_200_count()
        probes.healthz_sent = 0
        assert probes.answering(workers) == workers  # counted: the victim's requests too

        # kill -9 one: the other keeps answering while supervisord starts a replacement.
        victim, survivor = sorted(workers)
        os.kill(victim, signal.SIGKILL)
        while alive(victim):
            time.sleep(0.05)
        meanwhile = {probes.pid() for _ in range(10)}
        replaced = wait_for_workers(manager, 2, without={victim})
        assert survivor in replaced
        assert probes.answering(replaced) == replaced
        # One /metrics, whichever worker answers it, counts every worker's requests, the
        # killed worker's included (+1: the first scrape itself).
        counted = probes.get_200_count() - counted_before

        # SIGTERM to supervisord alone (as Docker sends it): every worker stops, then it exits.
        os.kill(manager.pid, signal.SIGTERM)
        manager.wait(timeout=60)
    finally:
        stop(manager)

    output = log_path.read_text(errors="replace")
    assert meanwhile <= {survivor} | replaced, meanwhile
    assert victim not in meanwhile
    assert counted == probes.healthz_sent + 1
    assert manager.returncode == 0, output[-3000:]
    assert not any(alive(pid) for pid in workers | replaced)
    assert "exited: daphne_" in output  # the kill, noticed (then the replacement spawned)
    for name in ("daphne_0", "daphne_1"):
        assert f"stopped: {name} (exit status 0)" in output, output[-3000:]
    assert "with SIGKILL" not in output  # no worker outlived stopwaitsecs


def test_more_than_one_worker_without_redis_is_refused_before_starting(tmp_path):
    port = free_port()
    env = container_env(tmp_path, port, WEB_CONCURRENCY="2", MIGRATE_ON_START="1")
    log_path = tmp_path / "server.log"
    manager = start_entrypoint(env, log_path)
    try:
        manager.wait(timeout=60)
    finally:
        stop(manager)

    output = log_path.read_text(errors="replace")
    assert manager.returncode == 1
    assert "WEB_CONCURRENCY=2 needs REDIS_URL" in output
    assert "Applying" not in output  # refused before migrating
    assert "spawned" not in output


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_worker_count_that_is_not_a_positive_whole_number_is_refused(value):
    result = run_workers_script({"WEB_CONCURRENCY": value, "REDIS_URL": E2E_REDIS_URL})

    assert result.returncode == 1
    assert "WEB_CONCURRENCY must be a whole number of at least 1" in result.stderr


def test_workers_default_to_the_cpus_the_process_may_use():
    cpus = cpu_count()  # affinity mask and cgroup quota
    redis = {"REDIS_URL": E2E_REDIS_URL}

    everything = run_workers_script(redis)
    one_cpu = run_workers_script(redis, preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    asked = run_workers_script({**redis, "WEB_CONCURRENCY": "3"})

    assert everything.stdout.strip() == str(cpus)
    assert one_cpu.stdout.strip() == "1"
    assert asked.stdout.strip() == "3"


def test_without_redis_the_default_is_one_worker():
    result = run_workers_script({})

    assert result.returncode == 0
    assert result.stdout.strip() == "1"
    if len(os.sched_getaffinity(0)) > 1:
        assert "REDIS_URL is not set" in result.stderr


def test_a_worker_that_cannot_start_stops_the_container(tmp_path):
    port = free_port()
    # DEBUG off without SECRET_KEY: settings refuse to load, so every start fails.
    env = container_env(tmp_path, port, WEB_CONCURRENCY="1")
    del env["SECRET_KEY"]
    log_path = tmp_path / "server.log"
    manager = start_entrypoint(env, log_path)
    try:
        manager.wait(timeout=STARTUP)
    finally:
        stop(manager)

    output = log_path.read_text(errors="replace")
    assert "SECRET_KEY" in output
    assert "entered FATAL state" in output
    assert "worker_events: a worker cannot start" in output
