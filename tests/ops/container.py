"""The image's command outside Docker: its env read from the Dockerfile, the supervisord
config, and the probes to wait on it (tests/ops; the command itself: tests.support)."""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
SUPERVISORD_CONF = ROOT / "deploy" / "supervisord.conf"
HEALTHCHECK = ROOT / "deploy" / "healthcheck.py"
# Paths inside the image; the tests supply the host's equivalents.
CONTAINER_ONLY = {"PATH", "PYTHONPATH", "DATABASE_URL"}


def final_stage(dockerfile: str) -> list[str]:
    """The instructions of the last stage, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    lines = [line.strip() for line in joined.splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    last_from = max(i for i, line in enumerate(instructions) if line.upper().startswith("FROM "))
    return instructions[last_from:]


def image_env(instructions: list[str]) -> dict[str, str]:
    env = {}
    for line in instructions:
        if line.upper().startswith("ENV "):
            for pair in shlex.split(line[4:]):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def image_entrypoint(instructions: list[str]) -> list[str]:
    [line] = [line for line in instructions if line.upper().startswith("ENTRYPOINT ")]
    return json.loads(line.split(None, 1)[1])


def supervisor_section(name: str) -> configparser.SectionProxy:
    """A section of deploy/supervisord.conf, values as written (no expansion)."""
    parser = configparser.RawConfigParser()
    parser.read_string(SUPERVISORD_CONF.read_text())
    return parser[name]


def worker_command() -> list[str]:
    """The command supervisord runs for each daphne worker, as its words."""
    return shlex.split(supervisor_section("fcgi-program:daphne")["command"])


def container_env(tmp_path: Path, port: int, **overrides: str) -> dict[str, str]:
    """The image's environment with the host's paths, a SQLite file under `tmp_path`."""
    env = {
        key: value
        for key, value in image_env(final_stage(DOCKERFILE.read_text())).items()
        if key not in CONTAINER_ONLY
    }
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONPATH=str(ROOT),
        HOME=str(tmp_path),
        LANG="C.UTF-8",
        DEBUG="0",
        SECRET_KEY="test",
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}",
        PORT=str(port),
        BIND_HOST="127.0.0.1",
    )
    env.update(overrides)
    return env


def get(url: str, timeout: float = 2.0, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for(url: str, process: subprocess.Popen, deadline: float) -> tuple[int, bytes]:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited early with status {process.returncode}")
        try:
            status, body = get(url)
        except OSError:
            time.sleep(0.2)
            continue
        if status == 200:
            return status, body
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer 200 in time")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the whole group, SIGKILL if it has not exited within 30 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
