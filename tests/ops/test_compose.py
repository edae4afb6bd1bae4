"""compose.yml, nginx.conf and .env.example: the single-host deployment, checked statically."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yml"
NGINX = ROOT / "deploy" / "nginx.conf"
ENV_EXAMPLE = ROOT / ".env.example"
SETTINGS = ROOT / "server" / "settings.py"
LONG_RUNNING = ("app", "db", "redis", "nginx")


@pytest.fixture(scope="module")
def services() -> dict:
    yaml = pytest.importorskip(
        "yaml", reason="PyYAML is not installed: add pyyaml to the dev extras"
    )
    return yaml.safe_load(COMPOSE.read_text())["services"]


def nginx_location(path: str) -> str:
    text = NGINX.read_text()
    match = re.search(rf"location {re.escape(path)} \{{(?P<body>[^}}]*)\}}", text)
    assert match, f"no `location {path}` block in nginx.conf"
    return match.group("body")


def docker_compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, timeout=30, check=False
    )
    return probe.returncode == 0


def test_compose_defines_app_migrate_db_redis_and_nginx(services):
    assert {"app", "migrate", "db", "redis", "nginx"} <= set(services)
    assert services["db"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")


def test_long_running_services_have_healthchecks_and_restart_policies(services):
    for name in LONG_RUNNING:
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["restart"] == "unless-stopped", name


def test_migrations_run_once_before_any_app_replica(services):
    migrate, app = services["migrate"], services["app"]

    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["depends_on"]["redis"]["condition"] == "service_healthy"
    assert app["environment"]["MIGRATE_ON_START"] == "0"


def test_app_can_scale(services):
    app = services["app"]

    assert "container_name" not in app
    assert "ports" not in app  # only nginx publishes a port
    assert app["environment"]["REDIS_URL"].startswith("redis://redis:")
    assert app["environment"]["DATABASE_URL"].startswith("postgres://")
    assert services["nginx"]["depends_on"]["app"]["condition"] == "service_healthy"


def test_app_believes_forwarded_headers_from_its_private_network_only(services):
    app = services["app"]

    assert "ports" not in app  # nginx (on the compose network) is the only way in
    trusted = app["environment"]["TRUSTED_PROXIES"]
    assert trusted == "${TRUSTED_PROXIES:-10.0.0.0/8,172.16.0.0/12,192.168.0.0/16}"


def test_nginx_uses_the_repository_config_and_postgres_keeps_its_data(services):
    assert "./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in services["nginx"]["volumes"]
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in services["db"]["volumes"])


def test_nginx_proxies_websockets_with_upgrade_headers():
    text = NGINX.read_text()

    assert "proxy_set_header Upgrade $http_upgrade;" in text
    assert "proxy_set_header Connection $connection_upgrade;" in text
    assert "proxy_http_version 1.1;" in text


def test_nginx_streams_graphql_without_buffering_for_an_hour():
    graphql = nginx_location("/graphql")

    assert re.search(r"proxy_buffering\s+off;", graphql)
    [timeout] = re.findall(r"proxy_read_timeout\s+(\d+)s;", graphql)
    assert int(timeout) >= 3600


def test_nginx_resolves_app_replicas_through_docker_dns():
    text = NGINX.read_text()

    assert "resolver 127.0.0.11" in text
    assert re.search(r"set \$(\w+) app:8000;", text)
    assert "location = /metrics" in text  # per-replica metrics are not balanced


def test_env_example_documents_every_setting():
    settings_names = set(re.findall(r"env\.\w+\(\s*\"([A-Z][A-Z0-9_]*)\"", SETTINGS.read_text()))
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.M))

    assert settings_names - documented == set()


def test_docker_compose_accepts_the_file():
    if not docker_compose_available():
        pytest.skip("the docker compose plugin is not installed")

    result = subprocess.run(
        ["docker", "compose", "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE), "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr


def test_a_worker_service_runs_the_task_queue_after_migrations(services):
    worker = services["worker"]

    assert worker["command"] == ["python", "manage.py", "worker", "--no-reload"]
    assert worker["restart"] == "unless-stopped"
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert worker["environment"]["DATABASE_URL"] == services["app"]["environment"]["DATABASE_URL"]
    assert "ports" not in worker and "expose" not in worker
