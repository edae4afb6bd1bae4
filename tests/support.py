"""Helpers shared by the e2e and browser fixtures and by bench/: `manage.py` in a child
process, throwaway Postgres databases (created from a template, dropped after), and
daphne on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run_manage(args: list[str], env: dict[str, str], timeout: float = 180) -> str:
    """Run `manage.py args` with exactly `env`; its stdout, or RuntimeError with both outputs."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def with_db_name(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def _pg_admin(url: str):
    import psycopg

    return psycopg.connect(with_db_name(url, "postgres"), autocommit=True, connect_timeout=5)


def pg_recreate(url: str, name: str, template: str | None = None) -> None:
    """(Re)create database `name` on `url`'s server, as a copy of `template` if given."""
    with _pg_admin(url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        suffix = f' TEMPLATE "{template}"' if template else ""
        admin.execute(f'CREATE DATABASE "{name}"{suffix}')


def pg_drop(url: str, name: str) -> None:
    with _pg_admin(url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Redis for tests that run several processes: a database of its own (each test module
# flushes it or leaves it alone), so other Redis users are not disturbed.
E2E_REDIS_URL = os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379/14")


def require_redis(url: str) -> None:
    """Skip without Redis on a developer machine; under CI=true a missing Redis fails."""
    import pytest  # here, not at the top: bench/ imports this module without pytest

    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 6379), timeout=2):
            return
    except OSError as exc:
        reason = f"Redis at {parts.hostname}:{parts.port} is unreachable ({exc})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: the multi-process tests must run under CI.", pytrace=False)
    pytest.skip(reason)


ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"


def start_entrypoint(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """The production command (deploy/entrypoint.sh: supervisord and its daphne workers)
    in a session (process group) of its own, output appended to `log_path`. Append mode
    matters: supervisord reopens /dev/stdout for the workers' output, and without
    O_APPEND its own writes would overwrite theirs."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [str(ENTRYPOINT)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


# Under pytest-xdist each worker draws its ports from a range of its own, below the
# kernel's ephemeral ports (32768 and up): two workers never pick the same port between
# the choice and the server's bind (a server that lost that race would leave its
# readiness probe answered by the other worker's server), and no outgoing connection
# takes one meanwhile. Outside xdist (bench, a plain run) the kernel picks.
_PORTS_PER_WORKER = 2000
_FIRST_WORKER_PORT = 20000


def free_port() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]
    low = _FIRST_WORKER_PORT + int(worker[2:]) * _PORTS_PER_WORKER
    for _ in range(200):
        port = random.randrange(low, low + _PORTS_PER_WORKER)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {low}-{low + _PORTS_PER_WORKER} for {worker}")


class PortTaken(RuntimeError):
    """daphne exited because another process bound its port between choice and launch."""


class Daphne:
    """One daphne process on a free loopback port, its output appended to `log_path`.

    `env` is the child's whole environment and `args` go before the app (bench passes
    the production flags); what else a caller keeps track of (bench: stopping children
    at exit; e2e: log tails in failure reports) stays in its subclass or fixture.
    """

    def __init__(
        self,
        name: str,
        env: dict[str, str],
        log_path: Path,
        *,
        app: str = "server.asgi:application",
        args: Sequence[str] = (),
        ready_timeout: float = 20.0,
        poll_interval: float = 0.1,
    ) -> None:
        self.name = name
        self.env = env
        self.log_path = log_path
        self.app = app
        self.args = list(args)
        self.ready_timeout = ready_timeout
        self.poll_interval = poll_interval
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.launched_ns = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        # The listen backlog the production command's socket has (supervisord listens
        # with socket.SOMAXCONN); daphne's own -b/-p would give Twisted's default of 50,
        # which a burst of visitors overflows (connections then reset).
        return f"tcp:port={self.port}:interface=127.0.0.1:backlog={socket.SOMAXCONN}"

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def launch(self) -> None:
        """Start the process on a free port (without waiting for it)."""
        self.port = free_port()
        with open(self.log_path, "a") as log:  # the child holds its own copy of the file
            log.write(f"--- starting {self.name} on port {self.port} ---\n")
            log.flush()
            self.launched_ns = time.perf_counter_ns()
            self.process = subprocess.Popen(
                [BIN / "daphne", "-e", self.endpoint, *self.args, self.app],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, path: str = "/healthz") -> float:
        """Seconds from launch until `path` answers 200. Otherwise the process is stopped
        and PortTaken (launch again) or RuntimeError (with the log's tail) is raised."""
        deadline = time.monotonic() + self.ready_timeout
        with httpx.Client(timeout=2, trust_env=False) as client:
            while time.monotonic() < deadline and self.process.poll() is None:
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.url}{path}").status_code == 200:
                        return (time.perf_counter_ns() - self.launched_ns) / 1e9
                time.sleep(self.poll_interval)
        exited = self.process.poll() is not None
        self.stop()
        tail = self.log_tail()
        if exited and "Address already in use" in tail:
            raise PortTaken(f"daphne {self.name}: port {self.port} was taken")
        raise RuntimeError(f"daphne {self.name} did not become ready:\n{tail}")

    def start(self, path: str = "/healthz", attempts: int = 3) -> Daphne:
        """Launch and wait until ready; launches again when the port was taken meanwhile."""
        for _ in range(attempts - 1):
            self.launch()
            with contextlib.suppress(PortTaken):
                self.wait_ready(path)
                return self
        self.launch()
        self.wait_ready(path)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout`."""
        if self.alive:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._reap(timeout)

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to finish anything."""
        if self.alive:
            self.process.send_signal(signal.SIGKILL)
        self._reap(5)

    def _reap(self, timeout: float) -> None:
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
