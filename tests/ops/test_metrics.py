from collections.abc import AsyncGenerator

import pytest
import strawberry

from core import metrics
from core.metrics import REGISTRY
from schema import metrics as schema_metrics
from schema.metrics import MetricsExtension, operation_label
from server.metrics import ws_connected, ws_disconnected

METRIC_NAMES = (
    "botstream_http_requests_total",
    "botstream_graphql_operations_total",
    "botstream_websocket_connections",
    "botstream_active_generations",
    "botstream_first_token_seconds",
    "botstream_generation_seconds",
    "botstream_tokens_total",
    "botstream_errors_total",
)


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "hi"

    @strawberry.field
    def boom(self) -> str:
        raise RuntimeError("resolver failed")


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def ticks(self) -> AsyncGenerator[int, None]:
        for tick in range(2):
            yield tick


tiny_schema = strawberry.Schema(
    query=Query, subscription=Subscription, extensions=[MetricsExtension]
)


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_ENABLED = True
    settings.METRICS_TOKEN = ""
    return settings


def test_metrics_endpoint_exposes_every_botstream_metric(client, metrics_on):
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    for name in METRIC_NAMES:
        assert f"# TYPE {name} " in text, name


def test_metrics_endpoint_requires_the_token_when_one_is_set(client, metrics_on):
    metrics_on.METRICS_TOKEN = "scrape-secret"

    missing = client.get("/metrics")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-secret"})
    right = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})

    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert b"botstream_http_requests_total" in right.content


def test_metrics_endpoint_is_404_when_disabled(client, settings):
    settings.METRICS_ENABLED = False
    settings.METRICS_TOKEN = "scrape-secret"

    response = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})

    assert response.status_code == 404


def test_http_requests_are_counted_by_method_and_status(client):
    before = sample("botstream_http_requests_total", method="GET", status="200")

    client.get("/healthz")

    assert sample("botstream_http_requests_total", method="GET", status="200") == before + 1


def test_extension_counts_a_successful_query():
    labels = {"operation": "Hello", "type": "query", "outcome": "ok"}
    before = sample("botstream_graphql_operations_total", **labels)

    result = tiny_schema.execute_sync("query Hello { hello }")

    assert result.errors is None
    assert sample("botstream_graphql_operations_total", **labels) == before + 1


async def test_extension_counts_a_failing_query():
    labels = {"operation": "Boom", "type": "query", "outcome": "error"}
    before = sample("botstream_graphql_operations_total", **labels)

    result = await tiny_schema.execute("query Boom { boom }")

    assert result.errors
    assert sample("botstream_graphql_operations_total", **labels) == before + 1


async def test_extension_counts_a_subscription_once_when_it_ends():
    labels = {"operation": "Ticks", "type": "subscription", "outcome": "ok"}
    before = sample("botstream_graphql_operations_total", **labels)

    results = await tiny_schema.subscribe("subscription Ticks { ticks }")
    ticks = [result.data["ticks"] async for result in results]

    assert ticks == [0, 1]
    assert sample("botstream_graphql_operations_total", **labels) == before + 1


def test_extension_counts_an_unparsable_document_as_an_anonymous_error():
    labels = {"operation": "anonymous", "type": "unknown", "outcome": "error"}
    before = sample("botstream_graphql_operations_total", **labels)

    tiny_schema.execute_sync("query {")

    assert sample("botstream_graphql_operations_total", **labels) == before + 1


def test_operation_names_beyond_the_cap_share_one_label(monkeypatch):
    monkeypatch.setattr(schema_metrics, "_seen_operations", set())
    monkeypatch.setattr(schema_metrics, "MAX_OPERATION_NAMES", 2)

    labels = [operation_label(name) for name in ("A", "B", "C", "A")]

    assert labels == ["A", "B", "other", "A"]
    assert operation_label("bad name\n") == "invalid"


def test_generation_helpers_update_gauge_histograms_and_counters():
    active = sample("botstream_active_generations")
    first = sample("botstream_first_token_seconds_count")
    done = sample("botstream_generation_seconds_count", outcome="complete")
    tokens_in = sample("botstream_tokens_total", bot="42", direction="in")
    tokens_out = sample("botstream_tokens_total", bot="42", direction="out")
    errors = sample("botstream_errors_total", code="timeout")

    metrics.generation_started()
    assert sample("botstream_active_generations") == active + 1
    metrics.observe_first_token(0.3)
    metrics.count_tokens(42, prompt=12, completion=30)
    metrics.generation_finished(2.5, "complete")
    metrics.count_error("timeout")

    assert sample("botstream_active_generations") == active
    assert sample("botstream_first_token_seconds_count") == first + 1
    assert sample("botstream_generation_seconds_count", outcome="complete") == done + 1
    assert sample("botstream_tokens_total", bot="42", direction="in") == tokens_in + 12
    assert sample("botstream_tokens_total", bot="42", direction="out") == tokens_out + 30
    assert sample("botstream_errors_total", code="timeout") == errors + 1


def test_websocket_helpers_track_open_connections():
    before = sample("botstream_websocket_connections")

    ws_connected()
    ws_connected()
    ws_disconnected()

    assert sample("botstream_websocket_connections") == before + 1
    ws_disconnected()
