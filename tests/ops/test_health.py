import asyncio
import os

import pytest
from channels.layers import channel_layers
from django.test import Client

from server import health

pytestmark = pytest.mark.django_db

# Port 1 on loopback: nothing listens there, so every connection is refused.
UNREACHABLE_REDIS_LAYER = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": ["redis://:layer-password@127.0.0.1:1/0"]},
    }
}


PROBE_TOKEN = "ops-probe-token-not-secret"


@pytest.fixture
def client(settings) -> Client:
    """An operator's client: the probes' details need `Bearer <METRICS_TOKEN>`."""
    settings.METRICS_TOKEN = PROBE_TOKEN
    return Client(headers={"Authorization": f"Bearer {PROBE_TOKEN}"})


@pytest.fixture
def fresh_channel_layers():
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def test_healthz_answers_ok_with_the_version_and_pid(client, settings):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": settings.VERSION, "pid": os.getpid()}


@pytest.mark.parametrize("token", ["", "wrong-token"], ids=["no-token", "wrong-token"])
def test_probes_tell_anyone_else_only_the_status(settings, monkeypatch, token):
    async def failing_check():
        raise RuntimeError("could not connect to db.internal:5432")

    settings.METRICS_TOKEN = PROBE_TOKEN
    monkeypatch.setattr(health, "check_database", failing_check)
    anyone = Client(headers={"Authorization": f"Bearer {token}"} if token else {})

    healthz = anyone.get("/healthz")
    readyz = anyone.get("/readyz")

    assert healthz.json() == {"status": "ok"}
    assert readyz.status_code == 503
    assert readyz.json() == {"status": "unavailable"}


def test_probes_tell_nobody_the_details_when_no_token_is_configured(settings):
    settings.METRICS_TOKEN = ""

    response = Client(headers={"Authorization": "Bearer "}).get("/readyz")

    assert response.json() == {"status": "ok"}


def test_readyz_gives_token_holders_the_version_and_checks(client, settings):
    body = client.get("/readyz").json()

    assert body["version"] == settings.VERSION
    assert set(body["checks"]) == {"database", "channel_layer", "llm"}


def test_readyz_is_ok_when_database_channel_layer_and_llm_are(
    client, settings, fresh_channel_layers
):
    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "channel_layer", "llm"}
    for check in body["checks"].values():
        assert check["ok"] is True
        assert check["latency_ms"] >= 0
    backend = settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1]
    assert body["checks"]["channel_layer"]["backend"] == backend


def test_readyz_is_503_when_the_channel_layer_is_unreachable(
    client, settings, fresh_channel_layers
):
    settings.CHANNEL_LAYERS = UNREACHABLE_REDIS_LAYER
    channel_layers.backends.clear()

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["channel_layer"]["ok"] is False
    assert body["checks"]["channel_layer"]["error"]
    assert "layer-password" not in response.content.decode()
    assert body["checks"]["database"]["ok"] is True


def test_readyz_is_503_when_openai_is_selected_without_a_key(client, settings):
    settings.LLM_PROVIDER = "openai"
    settings.OPENAI_API_KEY = ""

    response = client.get("/readyz")

    assert response.status_code == 503
    llm = response.json()["checks"]["llm"]
    assert llm["ok"] is False
    assert "OPENAI_API_KEY" in llm["error"]


def test_readyz_reports_openai_with_a_key_as_ready_without_calling_it(client, settings):
    settings.LLM_PROVIDER = "openai"
    settings.OPENAI_API_KEY = "sk-test-key-that-must-not-leak-0000"
    settings.OPENAI_BASE_URL = "http://127.0.0.1:1/v1"  # would fail if it were called

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"]["llm"] == {
        "ok": True,
        "latency_ms": response.json()["checks"]["llm"]["latency_ms"],
        "provider": "openai",
    }
    assert "sk-test-key" not in response.content.decode()


def test_readyz_is_503_when_the_database_check_fails(client, monkeypatch):
    async def failing_check():
        raise RuntimeError("could not connect to postgres://botstream:db-password@db/botstream")

    monkeypatch.setattr(health, "check_database", failing_check)

    response = client.get("/readyz")

    assert response.status_code == 503
    database = response.json()["checks"]["database"]
    assert database["ok"] is False
    assert "RuntimeError" in database["error"]
    assert "db-password" not in database["error"]


def test_readyz_bounds_each_check_by_the_timeout(client, settings, monkeypatch):
    async def hanging_check():
        await asyncio.sleep(30)

    monkeypatch.setattr(health, "check_channel_layer", hanging_check)
    settings.HEALTH_CHECK_TIMEOUT = 0.2

    response = client.get("/readyz")

    assert response.status_code == 503
    channel_layer = response.json()["checks"]["channel_layer"]
    assert channel_layer["ok"] is False
    assert channel_layer["error"] == "timed out after 0.2 s"
    assert channel_layer["latency_ms"] < 5000


def test_probes_answer_any_host_header(client, settings):
    settings.ALLOWED_HOSTS = ["bots.example.com"]

    probe = client.get("/healthz", headers={"Host": "10.0.0.7:8000"})
    page = client.get("/", headers={"Host": "10.0.0.7:8000"})

    assert probe.status_code == 200
    assert page.status_code == 400
