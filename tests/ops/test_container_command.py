"""Run the image's command outside Docker: deploy/entrypoint.sh with the image's env.

No Docker engine is needed: the entry point is a shell script over the venv's python,
supervisord and daphne, so running it with the venv first on PATH exercises the same
migrations, settings (DEBUG off, JSON logs) and worker command line that the container
runs.
"""

import json
import shlex
import subprocess
import sys
import time

from tests.ops.container import (
    DOCKERFILE,
    HEALTHCHECK,
    ROOT,
    SUPERVISORD_CONF,
    container_env,
    final_stage,
    image_entrypoint,
    image_env,
    stop,
    supervisor_section,
    wait_for,
    worker_command,
)
from tests.support import free_port, start_entrypoint


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


def test_workers_run_daphne_behind_a_proxy_on_the_shared_socket():
    command = worker_command()
    program = supervisor_section("fcgi-program:daphne")

    assert command[0] == "daphne"
    assert command[-1] == "server.asgi:application"
    # Forwarded headers are the app's job, from TRUSTED_PROXIES only (server/proxies.py):
    # daphne's --proxy-headers would believe anyone who reaches the port.
    assert "--proxy-headers" not in command
    assert command[command.index("--fd") + 1] == "0"  # the socket supervisord owns
    assert program["socket"] == "tcp://%(ENV_BIND_HOST)s:%(ENV_PORT)s"
    assert program["numprocs"] == "%(ENV_WEB_CONCURRENCY)s"
    assert command[command.index("--websocket_timeout") + 1] == "86400"


def test_the_task_worker_runs_beside_daphne():
    program = supervisor_section("program:tasks")
    command = shlex.split(program["command"])

    assert command[:3] == ["python", "manage.py", "worker"]
    assert "--no-reload" in command  # code reloading is for development
    assert program["autorestart"] == "true"
    assert program["stopsignal"] == "TERM"
    assert int(program["stopwaitsecs"]) < 30


def test_workers_bound_http_requests():
    command = worker_command()
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()

    assert command[command.index("--http-timeout") + 1] == "60"
    assert "client_body_timeout 10s;" in nginx
    assert "client_header_timeout 10s;" in nginx


def test_workers_stop_before_compose_kills_them():
    compose_grace = 30
    program = supervisor_section("fcgi-program:daphne")

    assert program["stopsignal"] == "TERM"
    assert int(program["stopwaitsecs"]) < compose_grace
    assert f"stop_grace_period: {compose_grace}s" in (ROOT / "compose.yml").read_text()
    assert SUPERVISORD_CONF.name in (ROOT / "deploy" / "entrypoint.sh").read_text()


def test_container_command_serves_healthz_and_readyz(tmp_path):
    port = free_port()
    env = container_env(tmp_path, port, MIGRATE_ON_START="1")
    log_path = tmp_path / "server.log"
    process = start_entrypoint(env, log_path)
    try:
        deadline = time.monotonic() + 90
        _, health = wait_for(f"http://127.0.0.1:{port}/healthz", process, deadline)
        _, ready = wait_for(f"http://127.0.0.1:{port}/readyz", process, deadline)
        while "run_periodic state=SUCCESSFUL" not in log_path.read_text(errors="replace"):
            assert time.monotonic() < deadline, "the task worker ran no periodic job"
            assert process.poll() is None
            time.sleep(0.2)
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
    # Beside daphne, supervisord runs the task-queue worker, which scheduled and ran the
    # expiry sweep (core/periodic.py) on the same database.
    assert "Scheduled periodic job expire-idle-conversations." in output
