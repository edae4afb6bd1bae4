"""Run the image's command outside Docker: deploy/entrypoint.sh with the image's env.

No Docker engine is needed: the entry point is a shell script over the venv's python
and daphne, so running it with the venv first on PATH exercises the same migrations,
settings (DEBUG off, JSON logs) and daphne command line that the container runs.
"""

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

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
HEALTHCHECK = ROOT / "deploy" / "healthcheck.py"
# Paths inside the image; the test supplies the host's equivalents.
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


def daphne_command(script: str) -> list[str]:
    """The `exec daphne …` command of the entry point, as its words."""
    joined = re.sub(r"\\\n", " ", script)
    [line] = [
        line.strip() for line in joined.splitlines() if line.strip().startswith("exec daphne")
    ]
    return shlex.split(line)[1:]


def get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
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
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def test_image_runs_the_entrypoint_with_production_defaults():
    instructions = final_stage(DOCKERFILE.read_text())

    assert image_entrypoint(instructions) == ["/app/deploy/entrypoint.sh"]
    env = image_env(instructions)
    assert env["DEBUG"] == "0"
    assert env["PORT"] == "8000"
    assert env["PYTHONPATH"] == "/app"
    assert any(line.upper().startswith("USER ") for line in instructions)
    assert any("EXPOSE 8000" in line for line in instructions)
    assert any("HEALTHCHECK" in line and "healthcheck.py" in line for line in instructions)


def test_entrypoint_runs_daphne_behind_a_proxy():
    command = daphne_command(ENTRYPOINT.read_text())

    assert command[0] == "daphne"
    assert command[-1] == "server.asgi:application"
    # Forwarded headers are the app's job, from TRUSTED_PROXIES only (server/proxies.py):
    # daphne's --proxy-headers would believe anyone who reaches the port.
    assert "--proxy-headers" not in command
    assert command[command.index("--port") + 1] == "${PORT:-8000}"
    assert command[command.index("--websocket_timeout") + 1] == "86400"


def test_entrypoint_bounds_http_requests():
    command = daphne_command(ENTRYPOINT.read_text())
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()

    assert command[command.index("--http-timeout") + 1] == "60"
    assert "client_body_timeout 10s;" in nginx
    assert "client_header_timeout 10s;" in nginx


def test_container_command_serves_healthz_and_readyz(tmp_path):
    instructions = final_stage(DOCKERFILE.read_text())
    port = free_port()
    database = tmp_path / "x.sqlite3"
    env = {
        key: value for key, value in image_env(instructions).items() if key not in CONTAINER_ONLY
    }
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONPATH=str(ROOT),
        HOME=str(tmp_path),
        LANG="C.UTF-8",
        DEBUG="0",
        SECRET_KEY="test",
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=f"sqlite:///{database}",
        MIGRATE_ON_START="1",
        PORT=str(port),
        BIND_HOST="127.0.0.1",
    )
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(ENTRYPOINT)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 90
            _, health = wait_for(f"http://127.0.0.1:{port}/healthz", process, deadline)
            _, ready = wait_for(f"http://127.0.0.1:{port}/readyz", process, deadline)
            healthcheck = subprocess.run(
                [sys.executable, str(HEALTHCHECK)],
                env={**env, "PORT": str(port)},
                timeout=10,
                check=False,
            )
        finally:
            stop(process)

    output = log_path.read_text(errors="replace")
    assert json.loads(health)["status"] == "ok"
    assert json.loads(ready)["status"] == "ok", ready
    assert healthcheck.returncode == 0
    assert "Applying contenttypes.0001_initial... OK" in output  # MIGRATE_ON_START=1
    listening = [line for line in output.splitlines() if "Listening on TCP address" in line]
    assert json.loads(listening[0])["logger"] == "daphne.server"  # JSON logs with DEBUG off
    assert process.returncode is not None
