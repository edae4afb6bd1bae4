"""Browser tests: a real daphne server, Debian's chromium driven by Playwright.

One server per session, on a free loopback port, against a temp SQLite database migrated
with `manage.py migrate` and seeded with `manage.py shell -c`: an owner (password and API
token), an active bot and an inactive one. The offline reply engine answers with a delay
between words, so a reply streams for a couple of seconds: long enough to watch it grow,
stop it, or drop its socket.

Every page records Content-Security-Policy violations (`PageRecord.csp`): the
`securitypolicyviolation` events of each document and chromium's console reports.

The widget tests load /widget.js into a page served from a second origin (another
loopback port: `host_site`), listed in the server's CORS_ALLOWED_ORIGINS; a third origin
(`blocked_site`, on 127.0.0.2) is not listed.

Chromium is /usr/bin/chromium (`.ci/install-browser.sh`); never Playwright's download.
Without it, or without the `playwright` package, the tests skip, except under CI=true,
where they fail. Every page blocks and records requests leaving 127.0.0.1, and leaves a
screenshot in test-artifacts/browser/ (with the server log).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.browser.host_site import HostSite
from tests.support import free_port, run_manage

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OWNER_PASSWORD = "browser-password-not-secret"
SERVER_ENV = {
    "DEBUG": "1",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "CORS_ALLOWED_ORIGINS": "",
    "REDIS_URL": "",
    "LLM_PROVIDER": "offline",
    "OPENAI_API_KEY": "",
    # ~40 words per offline reply: about two seconds of visible streaming.
    "OFFLINE_TOKEN_DELAY": "0.05",
    "STREAM_PERSIST_INTERVAL": "0.2",
    "PYTHONUNBUFFERED": "1",
}
SEED = f"""
from django.contrib.auth import get_user_model
from accounts.services import api_token_create
from bots.models import Bot
owner = get_user_model().objects.create_user("owner", password="{OWNER_PASSWORD}")
get_user_model().objects.create_superuser("admin", password="{OWNER_PASSWORD}")
active = Bot.objects.create(
    owner=owner, name="Support", description="Answers customers.", is_public=True
)
Bot.objects.create(owner=owner, name="Dormant", is_active=False)
print("SEED", active.pk, api_token_create(user=owner, name="browser")[1])
"""
# A bound on start-up, not a speed check: generous, as servers may start beside another
# test worker's (Makefile PYTEST_WORKERS).
HEALTH_TIMEOUT = 60.0


def require(condition: bool, reason: str) -> None:
    """Skip when a prerequisite is missing on a developer machine; fail under CI."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required under CI=true)", pytrace=False)
    pytest.skip(reason)


@dataclass
class LiveServer:
    url: str
    bot_pk: int
    owner_token: str
    log_path: Path
    env: dict[str, str]
    database_path: Path

    @property
    def bot_id(self) -> str:
        """The active bot's global ID."""
        return base64.b64encode(f"Bot:{self.bot_pk}".encode()).decode()

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    def graphql(self, query: str, variables: dict | None = None, chat_token: str = "") -> dict:
        """One GraphQL request over HTTP (no cookies); returns `data`, fails on errors."""
        headers = {"X-Chat-Token": chat_token} if chat_token else {}
        response = httpx.post(
            self.graphql_url,
            json={"query": query, "variables": variables or {}},
            headers=headers,
            timeout=10,
            trust_env=False,
        )
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def update_bot(self, **fields) -> None:
        """Change the active bot's fields in the database (settings an owner would make).

        One UPDATE on the server's SQLite file, as `Bot.objects.filter(pk=).update()` would
        write it (booleans as 0/1, JSON fields as JSON text; table and column names from the
        model), without starting a `manage.py` process (seconds each) per change."""
        from bots.models import Bot

        columns = [Bot._meta.get_field(name).column for name in fields]
        values = [_sqlite_value(value) for value in fields.values()]
        assignments = ", ".join(f'"{column}" = ?' for column in columns)
        with contextlib.closing(sqlite3.connect(self.database_path, timeout=10)) as db, db:
            updated = db.execute(
                f'UPDATE "{Bot._meta.db_table}" SET {assignments} WHERE id = ?',
                [*values, self.bot_pk],
            ).rowcount
        assert updated == 1, f"bot {self.bot_pk} not found"


def _sqlite_value(value):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


def _env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY")}
    return {**env, **SERVER_ENV, "DATABASE_URL": database_url}


def _wait_healthy(url: str, process: subprocess.Popen) -> bool:
    deadline = time.monotonic() + HEALTH_TIMEOUT
    with httpx.Client(timeout=2, trust_env=False) as client:
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"{url}/healthz").status_code == 200:
                    return True
            time.sleep(0.1)
    return False


@pytest.fixture(scope="package")
def host_ports() -> tuple[int, int]:
    """Ports of the two host-page origins: the first allowed by the API, the second not."""
    return free_port(), free_port()


@pytest.fixture(scope="package")
def app_server(tmp_path_factory, host_ports) -> LiveServer:
    workdir = tmp_path_factory.mktemp("browser")
    env = _env(f"sqlite:///{workdir / 'db.sqlite3'}")
    env["CORS_ALLOWED_ORIGINS"] = f"http://127.0.0.1:{host_ports[0]}"
    run_manage(["migrate", "--noinput"], env)
    seeded = re.search(r"^SEED (\d+) (\S+)$", run_manage(["shell", "-c", SEED], env), re.MULTILINE)
    assert seeded, "the seed script printed no SEED line"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / "daphne.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "server.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        if not _wait_healthy(url, process):
            raise RuntimeError(f"daphne did not become healthy:\n{log_path.read_text()[-4000:]}")
        asset = httpx.get(f"{url}/static/chat/chat.js", timeout=5, trust_env=False)
        assert asset.status_code == 200, (
            "server/static is not served: server/settings.py needs "
            "STATICFILES_DIRS = [BASE_DIR / 'server' / 'static']"
        )
        yield LiveServer(url, int(seeded[1]), seeded[2], log_path, env, workdir / "db.sqlite3")
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log_path, ARTIFACTS / "daphne.log")


@pytest.fixture(scope="package")
def host_site(app_server, host_ports):
    """Another site (another origin) embedding the widget, allowed by the API."""
    with HostSite(host_ports[0], app_server.url) as site:
        yield site


@pytest.fixture(scope="package")
def blocked_site(app_server, host_ports):
    """A site the API does not allow: not in CORS_ALLOWED_ORIGINS, and on another loopback
    address, since ALLOWED_HOSTS' 127.0.0.1 lets the websocket check pass any of its ports."""
    with HostSite(host_ports[1], app_server.url, host="127.0.0.2") as site:
        yield site


@pytest.fixture(scope="package")
def browser():
    require(CHROMIUM.exists(), f"{CHROMIUM} is missing: run .ci/install-browser.sh")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "the playwright package is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class PageRecord:
    """What a page did that tests assert on: requests off loopback, uncaught errors, CSP
    violations."""

    external: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)


# Runs in every document before its own scripts (Playwright injects it past the CSP).
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => window.__cspViolation(
  `${e.effectiveDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`));
"""


def _screenshot_name(node_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", node_name)[:120] + ".png"


@pytest.fixture
def page_record() -> PageRecord:
    return PageRecord()


def _open_page(browser, app_server, record: PageRecord, viewport: dict, sites=()):
    context = browser.new_context(base_url=app_server.url, viewport=viewport)
    context.set_default_timeout(10_000)
    local = (f"{app_server.url}/", *(f"{site.url}/" for site in sites), "data:", "blob:")

    def guard(route) -> None:
        url = route.request.url
        if url.startswith(local):
            route.continue_()
        else:
            record.external.append(url)
            route.abort()

    context.route("**/*", guard)
    context.expose_function("__cspViolation", lambda report: record.csp.append(report))
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    page.on("pageerror", lambda error: record.errors.append(str(error)))
    page.on("console", lambda message: _record_csp_console(message, record))
    return context, page


def _record_csp_console(message, record: PageRecord) -> None:
    if "Content Security Policy" in message.text:
        record.csp.append(message.text)


@pytest.fixture
def viewport() -> dict:
    """The browser window; a test overrides it (parametrize or fixture) for phone width."""
    return {"width": 1280, "height": 900}


@pytest.fixture
def page(browser, app_server, page_record, viewport, request):
    context, page = _open_page(browser, app_server, page_record, viewport)
    yield from _keep_screenshot(context, page, request)


@pytest.fixture
def host_page(browser, app_server, host_site, blocked_site, page_record, viewport, request):
    """A page allowed to load the API's origin and the host sites' (nothing else)."""
    sites = (host_site, blocked_site)
    context, page = _open_page(browser, app_server, page_record, viewport, sites)
    yield from _keep_screenshot(context, page, request)


def _keep_screenshot(context, page, request):
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(Exception):
        page.screenshot(path=ARTIFACTS / _screenshot_name(request.node.name), full_page=True)
    context.close()


def pretty(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
