"""HTTP and websocket metrics, and the /metrics view of this process's registry.

The registry and the chat runtime's metrics are in core.metrics, the GraphQL operations'
in schema.metrics; see core.metrics for how to scrape several processes.
"""

import hmac
import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from core.metrics import REGISTRY

HTTP_REQUESTS = Counter(
    "botstream_http_requests",
    "HTTP requests answered by Django, by method and status code.",
    ["method", "status"],
    registry=REGISTRY,
)
WEBSOCKET_CONNECTIONS = Gauge(
    "botstream_websocket_connections",
    "GraphQL websocket connections open on this process (several workers: on the live ones).",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
EVENT_LOOP_LAG = Histogram(
    "botstream_event_loop_lag_seconds",
    "How late this process's event loop ran a timer (server.loop_lag): everything the loop "
    "serves waited as long. p99 over 0.1 s: the process is CPU-bound.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def count_http_request(method: str, status: int) -> None:
    HTTP_REQUESTS.labels(method if method in _HTTP_METHODS else "OTHER", str(status)).inc()


def ws_connected() -> None:
    WEBSOCKET_CONNECTIONS.inc()


def ws_disconnected() -> None:
    WEBSOCKET_CONNECTIONS.dec()


def observe_loop_lag(seconds: float) -> None:
    EVENT_LOOP_LAG.observe(seconds)


def has_metrics_token(request: HttpRequest) -> bool:
    """The request sends `Authorization: Bearer <METRICS_TOKEN>` (and the token is set)."""
    token = settings.METRICS_TOKEN
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if not token:
        return False
    if scheme.lower() != "bearer" or not credentials:
        return False
    return hmac.compare_digest(credentials.strip().encode(), token.encode())


async def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition of this process's registry.

    404 unless `METRICS_ENABLED`; with `METRICS_TOKEN` set, 401 unless the request
    sends `Authorization: Bearer <METRICS_TOKEN>`.
    """
    if not settings.METRICS_ENABLED:
        return HttpResponse("Not found.\n", status=404, content_type="text/plain")
    if settings.METRICS_TOKEN and not has_metrics_token(request):
        response = HttpResponse("Unauthorized.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(exposed_registry()), content_type=content_type)


def exposed_registry() -> CollectorRegistry:
    """This process's registry; under several workers, all the workers' metrics summed.

    The production command sets PROMETHEUS_MULTIPROC_DIR when it runs more than one
    worker (deploy/entrypoint.sh): each worker then writes its metrics to files there
    (prometheus_client's multiprocess mode), and whichever worker answers a scrape reads
    them all, so one scrape of the container's port sees the whole container. Counters
    and histograms sum every worker that ever ran (a restarted worker's counts stay);
    gauges sum the live workers (deploy/worker_events.py drops a dead worker's). The
    `process_*` and `python_*` metrics are per process and not exposed in this mode.
    """
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry
