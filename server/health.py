"""Liveness (/healthz) and readiness (/readyz) endpoints.

/healthz does no I/O: it answers as long as the process serves requests, so a
container is restarted only when it is truly stuck. /readyz checks what a request
needs (the database, the channel layer, the LLM provider's configuration), each check
bounded by `HEALTH_CHECK_TIMEOUT`, and answers 503 when any fails so a load balancer
stops sending traffic. Error descriptions go through the log redaction, so a
connection URL's password never shows.

Anyone may probe, but only the status is public: the version, the process id (which
worker answered, when several share the port) and the checks' details (vendors,
backends, errors naming hosts) go to callers with `Authorization: Bearer
<METRICS_TOKEN>`, like /metrics. Staff sessions do not count: these paths are served
before the session middleware (server.middleware.ProbeMiddleware). A failing check is
logged with its error either way.
"""

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse

from server.logging import redact
from server.metrics import has_metrics_token

logger = logging.getLogger(__name__)

Check = Callable[[], Awaitable[dict]]


async def healthz(request: HttpRequest) -> JsonResponse:
    body = {"status": "ok"}
    if has_metrics_token(request):
        body.update(version=settings.VERSION, pid=os.getpid())
    return _no_store(JsonResponse(body))


async def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, Check] = {
        "database": check_database,
        "channel_layer": check_channel_layer,
        "llm": check_llm,
    }
    results = await asyncio.gather(*(_run(name, check) for name, check in checks.items()))
    body = dict(zip(checks, results, strict=True))
    ready = all(result["ok"] for result in results)
    status = {"status": "ok" if ready else "unavailable"}
    if has_metrics_token(request):
        status.update(version=settings.VERSION, checks=body)
    return _no_store(JsonResponse(status, status=200 if ready else 503))


async def check_database() -> dict:
    await sync_to_async(_select_one, thread_sensitive=True)()
    return {"vendor": connections["default"].vendor}


def _select_one() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def check_channel_layer() -> dict:
    """Round-trip a message through a fresh channel: proves the layer (Redis) works."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("CHANNEL_LAYERS has no default layer")
    # The default prefix: channels-redis serves each prefix with its own blocking pop
    # behind one lock, so another prefix could wait up to 5 s behind the consumers'.
    channel = await layer.new_channel()
    nonce = uuid.uuid4().hex
    await layer.send(channel, {"type": "readyz.ping", "nonce": nonce})
    # Shielded: a receive cancelled mid-pop (the probe hung up) could lose a message
    # popped for another channel of this process; this one ends as soon as it pops ours.
    message = await asyncio.shield(layer.receive(channel))
    if message.get("nonce") != nonce:
        raise RuntimeError("the channel layer returned another message")
    return {"backend": type(layer).__name__}


async def check_llm() -> dict:
    """Configuration only: no request to the provider (it may bill, or rate-limit us)."""
    provider = settings.LLM_PROVIDER
    if provider == "offline":
        return {"provider": provider}
    if provider == "openai":
        if not settings.OPENAI_API_KEY:
            raise RuntimeError("LLM_PROVIDER is openai but OPENAI_API_KEY is not set")
        return {"provider": provider}
    raise RuntimeError(f'LLM_PROVIDER must be "openai" or "offline", not {provider!r}')


async def _run(name: str, check: Check) -> dict:
    timeout = settings.HEALTH_CHECK_TIMEOUT
    started = time.perf_counter()
    try:
        details = await asyncio.wait_for(check(), timeout=timeout)
    except TimeoutError:
        error = f"timed out after {timeout:g} s"
    except Exception as exc:
        error = redact(f"{type(exc).__name__}: {exc}")[:300]
    else:
        return {"ok": True, "latency_ms": _elapsed_ms(started), **details}
    logger.warning("Readiness check %s failed: %s", name, error)
    return {"ok": False, "latency_ms": _elapsed_ms(started), "error": error}


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _no_store(response: JsonResponse) -> JsonResponse:
    response["Cache-Control"] = "no-store"
    return response
