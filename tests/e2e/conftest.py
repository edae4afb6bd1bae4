"""End-to-end fixtures: real daphne processes, a real fake-OpenAI server, real clients.

Nothing here uses pytest-django's test database (the daphne subprocesses cannot see it):
each test module gets its own database, copied from a template that is migrated and
seeded once per session:
- a SQLite file in a temp dir (default), or
- a Postgres database when E2E_DATABASE_URL is set (CI): `<name>_template`, then
  `<name>_<module>` recreated from it for each module and dropped afterwards.

The seed is two owners, "owner" and "other", each with an API token (`Database`).
Bots are created through the GraphQL API by the tests.

Servers: `servers.start(name, **env)` runs daphne (tests/support.py, shared with bench/)
on a free loopback port against the module's database and the module's fake OpenAI
server, waits for GET /healthz (bounded), and always stops it at module end. Each
server's output goes to a log file whose tail is attached to the report of a failing test.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.wsclient import GraphQLHTTP
from tests.fake_openai import FakeOpenAI
from tests.support import (
    E2E_REDIS_URL,
    Daphne,
    PortTaken,
    pg_drop,
    pg_recreate,
    require_redis,
    run_manage,
    with_db_name,
)

# A bound on start-up, not a speed check: generous, as servers may start beside another
# test worker's (Makefile PYTEST_WORKERS).
HEALTH_TIMEOUT = 60.0
# Tokens like the fake server's: a word with its trailing whitespace.
TOKEN = re.compile(r"\S+\s*|\s+")

# One INFO line per request would drown the servers' logs in failure reports.
logging.getLogger("httpx").setLevel(logging.WARNING)

# Environment of every server unless a module or test overrides it.
SERVER_ENV = {
    "DEBUG": "1",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "REDIS_URL": "",
    "LLM_PROVIDER": "openai",
    "OPENAI_API_KEY": "sk-test",
    "OPENAI_MAX_RETRIES": "0",
    "OPENAI_TIMEOUT": "5",
    "STREAM_PERSIST_INTERVAL": "0.1",
    "GENERATION_HEARTBEAT": "0.2",
    # 15 heartbeats: a server starved of CPU for a second (two test workers on two cores)
    # must not have its live replies taken for orphans and marked interrupted.
    "GENERATION_STALE_AFTER": "3",
    "GENERATION_SWEEP_INTERVAL": "0.5",
    "STREAM_WATCHDOG_SECONDS": "1",
    "PYTHONUNBUFFERED": "1",
    # Tests open dozens of conversations a minute, and of sockets, from one address.
    "RATE_LIMITS_ENABLED": "0",
    "WS_MAX_SOCKETS_PER_IP": "0",
}
# Never inherited from the test process: every server gets them explicitly.
NOT_INHERITED = ("DATABASE_URL", "REDIS_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "SECRET_KEY")

SEED = """
from django.contrib.auth import get_user_model
from accounts.services import api_token_create
for name in ("owner", "other"):
    user = get_user_model().objects.create_user(name, password="e2e-password-not-secret")
    print("TOKEN", name, api_token_create(user=user, name="e2e")[1])
"""


def words(count: int, tag: str) -> str:
    """A reply of `count` distinct tokens, recognisable by `tag`."""
    return "".join(f"{tag}-{index} " for index in range(count)).rstrip() + "."


def tokens_of(text: str) -> list[str]:
    return TOKEN.findall(text)


# --- the fake OpenAI server ---


class Script:
    """The fake's reply to each request: chosen by the last user text, else `default`.

    Keyed replies let concurrent conversations get distinct answers; `sent` records the
    tokens returned for each user text, so tests compare with what the upstream sent.
    """

    def __init__(self) -> None:
        self.replies: dict[str, str] = {}
        self.default = words(24, "reply")
        self.sent: dict[str, list[list[str]]] = defaultdict(list)
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.replies.clear()
            self.sent.clear()
        self.default = words(24, "reply")

    def __call__(self, body: dict[str, Any]) -> list[str]:
        user = [m for m in body.get("messages", []) if m.get("role") == "user"]
        text = str(user[-1]["content"]) if user else ""
        tokens = tokens_of(self.replies.get(text, self.default))
        with self._lock:
            self.sent[text].append(tokens)
        return tokens

    def tokens(self, text: str) -> list[str]:
        """The tokens of the one upstream request made for user `text`."""
        with self._lock:
            sent = list(self.sent.get(text, []))
        assert len(sent) == 1, f"{len(sent)} upstream requests for {text!r}"
        return sent[0]


DEFAULT_TOKEN_INTERVAL = 0.005


@pytest.fixture(scope="module")
def fake():
    """A fake OpenAI-compatible server on loopback, shared by the module's servers."""
    server = FakeOpenAI(reply=Script(), token_interval=DEFAULT_TOKEN_INTERVAL, stall_seconds=60)
    with server:
        yield server


@pytest.fixture
def script(fake) -> Script:
    """The fake's reply script, reset (with the fake's speed and mode) for each test."""
    fake.reply.reset()
    fake.token_interval = DEFAULT_TOKEN_INTERVAL
    fake.mode = None
    fake.clear()
    return fake.reply


# --- Redis, for the modules that run several processes ---


@pytest.fixture(scope="module")
def redis_db() -> str:
    """Redis present (skipped without it, except under CI=true), its e2e db flushed. Use
    it first (`pytestmark = pytest.mark.usefixtures("redis_db")`): it is checked before
    any server or database is set up."""
    import redis

    require_redis(E2E_REDIS_URL)
    client = redis.Redis.from_url(E2E_REDIS_URL, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()
    return E2E_REDIS_URL


# --- databases ---


@dataclass
class Database:
    url: str
    owner_token: str
    other_token: str


@dataclass
class _Template:
    url: str
    tokens: dict[str, str]
    postgres: bool


def _manage(args: list[str], database_url: str, timeout: float = 120) -> str:
    return run_manage(args, _child_env({"DATABASE_URL": database_url, "DEBUG": "1"}), timeout)


def _base_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "botstream_e2e"


@pytest.fixture(scope="session")
def e2e_template(tmp_path_factory) -> _Template:
    """A migrated, seeded database that each module copies."""
    pg_url = os.environ.get("E2E_DATABASE_URL", "")
    if pg_url:
        name = f"{_base_name(pg_url)}_template"
        pg_recreate(pg_url, name)
        url = with_db_name(pg_url, name)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('e2e-db') / 'template.sqlite3'}"
    _manage(["migrate", "--noinput"], url)
    output = _manage(["shell", "-c", SEED], url)
    tokens = dict(re.findall(r"^TOKEN (\w+) (\S+)$", output, re.MULTILINE))
    assert set(tokens) == {"owner", "other"}, output
    template = _Template(url, tokens, bool(pg_url))
    yield template
    if pg_url:
        with contextlib.suppress(Exception):
            pg_drop(pg_url, name)


@pytest.fixture(scope="module")
def database(e2e_template, request, tmp_path_factory) -> Database:
    """This module's own database, a fresh copy of the template."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    if e2e_template.postgres:
        pg_url = os.environ["E2E_DATABASE_URL"]
        name = f"{_base_name(pg_url)}_{module}"[:63]
        pg_recreate(pg_url, name, template=urlsplit(e2e_template.url).path.lstrip("/"))
        url = with_db_name(pg_url, name)
    else:
        source = Path(urlsplit(e2e_template.url).path)
        target = tmp_path_factory.mktemp(f"e2e-{module}") / "e2e.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{source}{suffix}").exists():
                shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
        url = f"sqlite:///{target}"
    yield Database(url, e2e_template.tokens["owner"], e2e_template.tokens["other"])
    if e2e_template.postgres:
        with contextlib.suppress(Exception):
            pg_drop(pg_url, name)


# --- servers ---


def _child_env(overrides: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update(overrides)
    return env


class Server(Daphne):
    """One daphne process of a test module, with the module's environment."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path) -> None:
        super().__init__(name, _child_env(env), log_path, ready_timeout=HEALTH_TIMEOUT)

    @property
    def http(self) -> GraphQLHTTP:
        return GraphQLHTTP(self.graphql_url)


_POOLS: list[ServerPool] = []


class ServerPool:
    """The servers of one test module (several for restart and scale-out tests)."""

    def __init__(self, database: Database, fake: FakeOpenAI, log_dir: Path, env: dict) -> None:
        self.database = database
        self.fake = fake
        self.log_dir = log_dir
        self.env = env
        self.servers: list[Server] = []

    def _new(self, name: str, env: dict[str, str]) -> Server:
        full_env = {
            **SERVER_ENV,
            "DATABASE_URL": self.database.url,
            "OPENAI_BASE_URL": self.fake.base_url,
            **self.env,
            **env,
        }
        index = len(self.servers)
        server = Server(name, full_env, self.log_dir / f"daphne-{index}-{name}.log")
        self.servers.append(server)
        return server

    def start(self, name: str = "main", **env: str) -> Server:
        return self._new(name, env).start()

    def start_many(self, *names: str, **env: str) -> list[Server]:
        """Start several servers at once (in parallel: each takes seconds to boot)."""
        started = [self._new(name, env) for name in names]
        for server in started:
            server.launch()
        for server in started:
            try:
                server.wait_ready()
            except PortTaken:
                server.start()
        return started

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    """Extra environment for this module's servers (override in a module)."""
    return {}


@pytest.fixture(scope="module")
def servers(database, fake, server_env, tmp_path_factory):
    pool = ServerPool(database, fake, tmp_path_factory.mktemp("e2e-logs"), server_env)
    _POOLS.append(pool)
    try:
        yield pool
    finally:
        pool.stop_all()
        _POOLS.remove(pool)


@pytest.fixture(scope="module")
def server(servers) -> Server:
    """The module's main server."""
    return servers.start("main")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the servers' log tails to the report of a failing test."""
    report = yield
    if report.failed:
        for pool in _POOLS:
            for server in pool.servers:
                report.sections.append(
                    (
                        f"daphne {server.name} (port {server.port}) {server.log_path}",
                        server.log_tail(),
                    ),
                )
    return report
