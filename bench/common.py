"""What every benchmark shares: settings, databases, daphne processes, statistics, results.

Clocks: every timestamp that two processes compare is `time.perf_counter_ns()`, which on
Linux is `clock_gettime(CLOCK_MONOTONIC)`: one system-wide clock, so values taken in the
bench process, the fake upstream, the websocket clients and daphne compare directly.
`clock_check()` verifies that on the running machine and goes into every result.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests import support
from tests.support import pg_drop, pg_recreate, run_manage, with_db_name

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


# BENCH_QUICK=1: smaller sizes and shorter runs (a smoke run in about two minutes).
QUICK = _flag("BENCH_QUICK")
# BENCH_PROFILE=1: attach py-spy to the server during the measured phases (slower).
PROFILE = _flag("BENCH_PROFILE")
# BENCH_DATABASE_URL=postgres://…/name: Postgres instead of a temp SQLite file.
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "")
# REDIS for the scale-out benchmark (its database is flushed first).
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")


def pick(full: Any, quick: Any) -> Any:
    return quick if QUICK else full


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- statistics ---


def percentile(values: Iterable[float], p: float) -> float:
    """Linear-interpolated percentile (numpy's default), p in 0..100; NaN when empty."""
    data = sorted(values)
    if not data:
        return math.nan
    rank = (len(data) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (rank - low)


def summary(values: Iterable[float], digits: int = 3) -> dict[str, Any]:
    data = list(values)
    if not data:
        return {"n": 0}
    return {
        "n": len(data),
        "p50": round(percentile(data, 50), digits),
        "p90": round(percentile(data, 90), digits),
        "p99": round(percentile(data, 99), digits),
        "max": round(max(data), digits),
        "min": round(min(data), digits),
        "mean": round(sum(data) / len(data), digits),
    }


def median(values: Iterable[float]) -> float:
    return percentile(values, 50)


def clock_check() -> dict[str, Any]:
    """perf_counter must be CLOCK_MONOTONIC (system-wide) for cross-process timestamps."""
    info = time.get_clock_info("perf_counter")
    a = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    b = time.perf_counter_ns()
    c = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    same = a <= b <= c
    return {
        "perf_counter": info.implementation,
        "perf_counter_is_clock_monotonic": same,
        "resolution_ns": int(info.resolution * 1e9),
    }


def code_version() -> dict[str, Any]:
    """The commit measured, and the files changed in the work tree (they count too)."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    changed = [
        line[3:]
        for line in git("status", "--porcelain").splitlines()
        if line[3:] and not line[3:].startswith("bench/")
    ]
    return {"commit": git("rev-parse", "--short", "HEAD"), "changed_files": changed}


def machine() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text().split("\n", 1)[0]
    return {
        "cpus": os.cpu_count(),
        "memory": " ".join(meminfo.split()[1:]),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "quick": QUICK,
        "database": "postgres" if DATABASE_URL else "sqlite",
        "loadavg_at_end": loadavg(),
    }


# --- results ---


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "code": code_version(),
        "clock": clock_check(),
        **data,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


# --- processes ---

_CHILDREN: list[subprocess.Popen] = []


def track(process: subprocess.Popen) -> subprocess.Popen:
    """Remember a child so it is stopped whatever way the bench exits."""
    _CHILDREN.append(process)
    return process


def stop_process(process: subprocess.Popen, timeout: float = 5.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout)
    with contextlib.suppress(ValueError):
        _CHILDREN.remove(process)


@atexit.register
def _stop_children() -> None:
    for process in list(_CHILDREN):
        with contextlib.suppress(Exception):
            stop_process(process, 3)


def _on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def install_signal_handlers() -> None:
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)


def raise_fd_limit(wanted: int = 65536) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# Never inherited from the shell: every child gets them explicitly.
NOT_INHERITED = (
    "DATABASE_URL",
    "REDIS_URL",
    "REDIS_CHANNEL_LAYER",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "SECRET_KEY",
    "DEBUG",
    "LLM_PROVIDER",
    "DJANGO_SETTINGS_MODULE",
)

METRICS_TOKEN = "bench-metrics-token-not-secret"

# Production-like servers: DEBUG off (no query log, JSON logs, app access log on).
SERVER_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "bench-secret-key-not-for-production-" + "x" * 20,
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "REDIS_URL": "",
    "LLM_PROVIDER": "openai",
    "OPENAI_API_KEY": "sk-bench",
    "OPENAI_MAX_RETRIES": "0",
    "RATE_LIMITS_ENABLED": "0",
    # Benches open up to a thousand sockets from loopback.
    "WS_MAX_SOCKETS_PER_IP": "0",
    # /metrics on, behind a token as in production: LoopLag reads the event-loop lag there.
    "METRICS_ENABLED": "1",
    "METRICS_TOKEN": METRICS_TOKEN,
}


def child_env(overrides: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update(overrides or {})
    return env


class Workdir:
    """A temp directory for this run (databases, logs), removed at exit."""

    _path: Path | None = None

    @classmethod
    def path(cls) -> Path:
        if cls._path is None:
            cls._path = Path(tempfile.mkdtemp(prefix="botstream-bench-"))
            atexit.register(shutil.rmtree, cls._path, ignore_errors=True)
        return cls._path


def manage(args: list[str], database_url: str, *, env: dict | None = None, timeout=180) -> str:
    full_env = child_env({**SERVER_ENV, "DATABASE_URL": database_url, **(env or {})})
    return run_manage(args, full_env, timeout)


def seed(database_url: str, kind: str, timeout: float = 300, **params: Any) -> dict[str, Any]:
    """Run bench.seed.<kind>(**params) in `manage.py shell`; its JSON result."""
    code = "import bench.seed as s; s.main()"
    output = manage(
        ["shell", "-c", code],
        database_url,
        env={"BENCH_SEED": json.dumps({"kind": kind, "params": params})},
        timeout=timeout,
    )
    match = re.search(r"^BENCH_JSON (.*)$", output, re.MULTILINE)
    if not match:
        raise RuntimeError(f"seed {kind} printed no result:\n{output[-2000:]}")
    return json.loads(match[1])


class Databases:
    """A migrated template, copied for each benchmark (SQLite file or Postgres database)."""

    _template: str | None = None
    _created: list[str] = []

    @classmethod
    def template(cls) -> str:
        if cls._template is None:
            started = time.monotonic()
            if DATABASE_URL:
                name = f"{_pg_name(DATABASE_URL)}_template"
                pg_recreate(DATABASE_URL, name)
                cls._created.append(name)
                url = with_db_name(DATABASE_URL, name)
            else:
                url = f"sqlite:///{Workdir.path() / 'template.sqlite3'}"
            manage(["migrate", "--noinput"], url)
            cls._template = url
            log(f"migrated the template database in {time.monotonic() - started:.1f} s")
        return cls._template

    @classmethod
    def fresh(cls, name: str) -> str:
        """A new database for one benchmark, copied from the template."""
        template = cls.template()
        if DATABASE_URL:
            db_name = f"{_pg_name(DATABASE_URL)}_{name}"[:63]
            pg_recreate(DATABASE_URL, db_name, template=_pg_name(template))
            cls._created.append(db_name)
            return with_db_name(DATABASE_URL, db_name)
        source = Path(urlsplit(template).path)
        target = Workdir.path() / f"{name}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{target}{suffix}").unlink()
            if Path(f"{source}{suffix}").exists():
                shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
        return f"sqlite:///{target}"

    @classmethod
    def cleanup(cls) -> None:
        if DATABASE_URL:
            for name in reversed(cls._created):
                with contextlib.suppress(Exception):
                    pg_drop(DATABASE_URL, name)
        cls._created.clear()
        cls._template = None


atexit.register(Databases.cleanup)


def _pg_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "botstream_bench"


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


# --- daphne ---


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def proc_status_kb(pid: int, key: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def proc_runqueue_wait_ns(pid: int) -> int:
    """Time the process's threads spent runnable but not running (CPU contention)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int((task / "schedstat").read_text().split()[1])
    return total


def system_busy_seconds() -> float:
    """CPU seconds used by the whole machine (all processes, all cores)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU use over a phase, as a share of one core (1.0 = one core busy all the time).

    Per tracked process: its CPU share and `<name>_runq`, the share of time its threads
    waited for a CPU while runnable. `machine_busy` is the whole machine (2 cores = 2.0),
    `others` what processes not tracked here used meanwhile (other users of the machine).
    """

    def __init__(self, **pids: int) -> None:
        self.pids = pids
        self.start = {name: proc_cpu_seconds(pid) for name, pid in pids.items()}
        self.wait = {name: proc_runqueue_wait_ns(pid) for name, pid in pids.items()}
        self.system = system_busy_seconds()
        self.wall = time.monotonic()

    def read(self, untracked_ours: float = 0.0) -> dict[str, float]:
        elapsed = max(time.monotonic() - self.wall, 1e-9)
        out: dict[str, float] = {}
        ours = 0.0
        for name, pid in self.pids.items():
            with contextlib.suppress(OSError):
                used = proc_cpu_seconds(pid) - self.start[name]
                ours += used
                out[name] = round(used / elapsed, 3)
                out[f"{name}_runq"] = round(
                    (proc_runqueue_wait_ns(pid) - self.wait[name]) / 1e9 / elapsed, 3
                )
        busy = (system_busy_seconds() - self.system) / elapsed
        out["machine_busy"] = round(busy, 3)
        out["others"] = round(max(0.0, busy - ours / elapsed - untracked_ours), 3)
        return out


def wait_quiet(max_seconds: float, busy_below: float = 0.5) -> dict[str, float]:
    """Wait (at most `max_seconds`) until the machine is nearly idle: other users' load
    skews every figure. Returns the machine's busy cores measured just before starting."""
    deadline = time.monotonic() + max_seconds
    while True:
        before = system_busy_seconds()
        time.sleep(2.0)
        busy = (system_busy_seconds() - before) / 2.0
        if busy < busy_below or time.monotonic() >= deadline:
            return {"machine_busy_before": round(busy, 3), "waited_for_quiet": busy < busy_below}
        log(f"machine busy ({busy:.2f} cores used by others), waiting for quiet...")


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


# The production flags of the workers (deploy/supervisord.conf), each bench daphne on a
# port of its own instead of --fd 0.
DAPHNE_FLAGS = [
    "--websocket_timeout",
    "86400",
    "--websocket_connect_timeout",
    "10",
    "--ping-interval",
    "20",
    "--ping-timeout",
    "30",
    "--application-close-timeout",
    "10",
    "--access-log",
    "/dev/null",
]


class Daphne(support.Daphne):
    """One production-like daphne (tests/support.py), stopped whatever way the bench exits."""

    def __init__(
        self,
        name: str,
        env: dict[str, str],
        *,
        app: str = "server.asgi:application",
        extra_args: list[str] | None = None,
    ) -> None:
        super().__init__(
            name,
            child_env({**SERVER_ENV, **env}),
            Workdir.path() / f"daphne-{name}.log",
            app=app,
            args=[*DAPHNE_FLAGS, *(extra_args or [])],
            ready_timeout=40.0,
            poll_interval=0.02,
        )

    def launch(self) -> None:
        super().launch()
        track(self.process)

    def stop(self, timeout: float = 5.0) -> None:
        if self.process is not None:
            stop_process(self.process, timeout)

    def rss_kb(self) -> int:
        return proc_status_kb(self.pid, "VmRSS")

    def __enter__(self) -> Daphne:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def http_request(
    port: int,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 2.0,
) -> tuple[int, bytes]:
    """One HTTP/1.1 request on a fresh connection (no proxy, no pool); (status, body)."""
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    for name, value in (headers or {}).items():
        head.append(f"{name}: {value}")
    if body or method == "POST":
        head.append(f"Content-Length: {len(body)}")
    raw = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    response = b"".join(chunks)
    header, _, payload = response.partition(b"\r\n\r\n")
    status = int(header.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in header.lower():
        payload = _dechunk(payload)
    return status, payload


def _dechunk(data: bytes) -> bytes:
    out = []
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out.append(rest[:size])
        data = rest[size + 2 :]
    return b"".join(out)


def graphql(
    url: str, query: str, variables: dict | None = None, *, headers=None, timeout=30.0
) -> dict:
    """POST a GraphQL operation that must succeed; its data."""
    parts = urlsplit(url)
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    status, payload = http_request(
        parts.port,
        "POST",
        parts.path,
        body,
        {"Content-Type": "application/json", **(headers or {})},
        timeout=timeout,
    )
    result = json.loads(payload)
    if status != 200 or result.get("errors"):
        raise RuntimeError(f"GraphQL {status}: {payload[:500]!r}")
    return result["data"]


# --- event-loop lag (the server's /metrics) ---

LOOP_LAG_METRIC = "botstream_event_loop_lag_seconds"


def loop_lag_buckets(port: int) -> dict[float, float]:
    """Cumulative counts of a server's event-loop lag histogram, by bucket bound."""
    from prometheus_client.parser import text_string_to_metric_families

    status, body = http_request(
        port, "GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
    )
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}: {body[:200]!r}")
    for family in text_string_to_metric_families(body.decode()):
        if family.name == LOOP_LAG_METRIC:
            return {
                float(sample.labels["le"]): sample.value
                for sample in family.samples
                if sample.name.endswith("_bucket")
            }
    raise RuntimeError(f"{LOOP_LAG_METRIC} is not in /metrics (is the monitor off?)")


def bucket_quantile(q: float, buckets: dict[float, float]) -> float:
    """PromQL's histogram_quantile over cumulative `buckets`: linear within the bucket;
    the highest finite bound when the rank falls in +Inf; NaN with no observations."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return math.nan
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, count
    return lower


class LoopLag:
    """The event-loop lag a daphne observed over a phase, from its /metrics.

        lag = LoopLag(server.port)   # reads the histogram now
        ...                          # the phase
        result["event_loop_lag"] = lag.read()

    `read()` gives the observations since construction (one per EVENT_LOOP_LAG_INTERVAL,
    0.1 s by default): their count, p50 / p99 in ms (interpolated within the histogram's
    buckets, as PromQL's histogram_quantile), the share over 100 ms, and the upper bound
    of the highest bucket reached (ms; inf past 5 s). Bucket bounds: 1 ms to 5 s.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.start = loop_lag_buckets(port)

    def read(self) -> dict[str, Any]:
        now = loop_lag_buckets(self.port)
        delta = {bound: now[bound] - self.start.get(bound, 0.0) for bound in now}
        bounds = sorted(delta)
        count = delta[bounds[-1]]
        if count <= 0:
            return {"count": 0}
        over = count - max((delta[b] for b in bounds if b <= 0.1), default=0.0)
        highest = min(b for b in bounds if delta[b] >= count)
        return {
            "count": int(count),
            "p50_ms": round(bucket_quantile(0.5, delta) * 1000, 1),
            "p99_ms": round(bucket_quantile(0.99, delta) * 1000, 1),
            "over_100ms_share": round(over / count, 4),
            "max_bucket_ms": highest * 1000 if not math.isinf(highest) else "inf",
        }


# --- profiling (py-spy) ---


def py_spy() -> str | None:
    path = BIN / "py-spy"
    return str(path) if path.exists() else shutil.which("py-spy")


class Profiler:
    """`py-spy record` of one process for a phase; `report()` summarizes the samples."""

    def __init__(self, pid: int, name: str, seconds: float, rate: int = 200) -> None:
        self.name = name
        self.raw = RESULTS / f"profile-{name}.txt"
        self.process: subprocess.Popen | None = None
        tool = py_spy()
        if tool is None:
            log("py-spy not installed (pip install py-spy): no profile")
            return
        RESULTS.mkdir(parents=True, exist_ok=True)
        self.process = track(
            subprocess.Popen(
                [
                    tool,
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(max(1, int(seconds))),
                    "--rate",
                    str(rate),
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--gil",
                    "--output",
                    str(self.raw),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

    def finish(self, timeout: float = 60) -> dict[str, Any] | None:
        if self.process is None:
            return None
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
        stop_process(self.process)
        if not self.raw.exists():
            return None
        report = summarize_collapsed(self.raw.read_text())
        (RESULTS / f"profile-{self.name}.json").write_text(json.dumps(report, indent=2) + "\n")
        return report


_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def _frame_key(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = match["file"]
    for marker in ("site-packages/", "/lib/python3.11/", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['func']} ({path})"


def _package(frame_key: str) -> str:
    path = frame_key.rsplit("(", 1)[-1].rstrip(")")
    head = path.split("/", 1)[0]
    if head.endswith(".py"):
        return "stdlib:" + head.removesuffix(".py")
    return head


def summarize_collapsed(text: str, top: int = 30) -> dict[str, Any]:
    """Self and inclusive sample shares per function and per package (collapsed stacks)."""
    total = 0
    self_counts: dict[str, int] = {}
    incl_counts: dict[str, int] = {}
    pkg_self: dict[str, int] = {}
    idle = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [_frame_key(f) for f in stack.split(";") if not f.startswith("process ")]
        frames = [f for f in frames if not f.startswith("thread (")]
        if not frames:
            continue
        total += count
        leaf = frames[-1]
        if any(
            k in leaf
            for k in ("select (", "epoll", "poll (selectors", "_worker (concurrent", "wait (")
        ):
            idle += count
        self_counts[leaf] = self_counts.get(leaf, 0) + count
        pkg = _package(leaf)
        pkg_self[pkg] = pkg_self.get(pkg, 0) + count
        for frame in set(frames):
            incl_counts[frame] = incl_counts.get(frame, 0) + count

    def share(counts: dict[str, int], n: int) -> list[list]:
        ranked = sorted(counts.items(), key=lambda item: -item[1])[:n]
        return [[name, round(100 * c / total, 1)] for name, c in ranked]

    if not total:
        return {"samples": 0}
    return {
        "samples": total,
        "idle_percent": round(100 * idle / total, 1),
        "self_percent": share(self_counts, top),
        "inclusive_percent": share(incl_counts, top * 2),
        "package_self_percent": share(pkg_self, top),
    }
