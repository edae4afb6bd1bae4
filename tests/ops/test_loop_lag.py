"""The event-loop lag histogram, read through /metrics of the real ASGI application."""

import asyncio
import os
import subprocess
import sys
import time

from channels.testing import HttpCommunicator
from prometheus_client.parser import text_string_to_metric_families

from server.asgi import application

LAG = "botstream_event_loop_lag_seconds"
TOKEN = "lag-scrape-token-not-secret"
INTERVAL = 0.05


async def lag_buckets(token: str = TOKEN) -> dict[float, float]:
    """Cumulative counts of the lag histogram by upper bound (`+Inf` included)."""
    communicator = HttpCommunicator(
        application,
        "GET",
        "/metrics",
        headers=[(b"host", b"x"), (b"authorization", f"Bearer {token}".encode())],
    )
    response = await communicator.get_response(timeout=10)
    assert response["status"] == 200, response
    for family in text_string_to_metric_families(response["body"].decode()):
        if family.name == LAG:
            return {
                float(sample.labels["le"]): sample.value
                for sample in family.samples
                if sample.name == f"{LAG}_bucket"
            }
    raise AssertionError(f"{LAG} is not in /metrics")


def observed_in(before: dict, after: dict, low: float, high: float) -> float:
    """New observations in the bucket range (low, high] (both bucket bounds)."""
    return (after[high] - before[high]) - (after[low] - before[low])


async def test_a_blocked_event_loop_is_counted_in_the_lag_histogram(settings):
    settings.METRICS_ENABLED = True
    settings.METRICS_TOKEN = TOKEN
    settings.EVENT_LOOP_LAG_INTERVAL = INTERVAL
    await lag_buckets()  # the first request starts the monitor on this loop
    await asyncio.sleep(3 * INTERVAL)  # it has woken up and sleeps again
    before = await lag_buckets()

    started = time.perf_counter()
    time.sleep(0.7)  # noqa: ASYNC251 -- blocking the loop is the point
    blocked = time.perf_counter() - started
    await asyncio.sleep(2 * INTERVAL)
    after = await lag_buckets()

    # The monitor was asleep when the loop blocked, due to wake within INTERVAL: it woke
    # between `blocked - INTERVAL` and `blocked` late (plus its turn on the loop after).
    bounds = sorted(after)
    low = max(b for b in bounds if b <= blocked - INTERVAL)
    high = min(b for b in bounds if b >= blocked + INTERVAL)
    assert observed_in(before, after, low, high) == 1
    assert observed_in(before, after, high, float("inf")) == 0


async def test_the_lag_histogram_is_behind_the_metrics_token(settings):
    settings.METRICS_ENABLED = True
    settings.METRICS_TOKEN = TOKEN
    communicator = HttpCommunicator(application, "GET", "/metrics", headers=[(b"host", b"x")])
    response = await communicator.get_response(timeout=10)

    assert response["status"] == 401
    assert LAG.encode() not in response["body"]


def test_the_asgi_module_freezes_what_it_loaded_out_of_the_garbage_collector():
    # A fresh interpreter, as daphne imports it: the startup objects (a quarter of a
    # million) are frozen, so full collections do not walk them (server/asgi.py).
    code = "import gc, server.asgi; print(gc.get_freeze_count(), len(gc.get_objects()))"
    env = {**os.environ, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "server.settings"}
    env.pop("DATABASE_URL", None)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    frozen, tracked = map(int, out.stdout.split()[-2:])
    assert frozen > 100_000, out.stderr
    assert tracked < frozen / 10  # what a collection still walks: what came after
