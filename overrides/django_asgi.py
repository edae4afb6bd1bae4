"""Django's ASGI handler with no thread of its own per request.

Why: Django serves each request inside a `ThreadSensitiveContext`, so the request's
first thread-sensitive `sync_to_async` (the `request_started` signal's receivers, then
every ORM call) starts a new thread, which is joined when the request ends. Each
request therefore paid a thread start and join, two thread hops for the signals (even
`/healthz`, which touches no database), and a new database connection: Django's
connections are per thread, so `CONN_MAX_AGE` kept nothing (Django ticket #33497),
and with Postgres every request forked a server backend.

Here:
- No per-request context: thread-sensitive work (the ORM's async methods, sync views,
  `sync_to_async` in our code) runs on asgiref's process-wide database thread, the one
  the background turns and websockets already use, with one persistent connection
  (`DB_CONN_MAX_AGE`, health-checked once per request by `CONN_HEALTH_CHECKS`).
- `request_started`'s synchronous receivers (Django's `reset_queries` and
  `close_old_connections`) run inline: on the event loop's thread, which holds no
  connection, they have nothing to do; the connection hygiene that matters runs at the
  end of every request (`request_finished`, sent by `response.close()`, in one hop to
  the database thread, after the response is sent), as before.

Everything else is Django's `ASGIHandler.handle` (the body read, the disconnect
listener, the response): `ProcessASGIHandler.handle` is a copy of it with those two
changes. Measured: in-process `/healthz` 2.9 -> 1.1 ms of CPU per request, daphne's CPU
per `startConversation` 16.0 -> 12.1 ms (docs/BENCHMARKS.md, section 9). Written against
Django 5.2.19; tests/overrides/test_django_asgi.py pins `ASGIHandler.__call__`, `handle`
and `Signal._live_receivers`, so an upgrade that changes one fails there.
"""

import asyncio
import contextlib

from asgiref.sync import sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.urls import set_script_prefix


def send_inline(signal, sender, **named) -> list:
    """`signal.send` from the event loop: the sync receivers are called here; the async
    ones' coroutines are returned, for the caller to await."""
    if not signal.receivers:
        return []
    sync_receivers, async_receivers = signal._live_receivers(sender)
    for receiver in sync_receivers:
        receiver(signal=signal, sender=sender, **named)
    return [receiver(signal=signal, sender=sender, **named) for receiver in async_receivers]


class ProcessASGIHandler(ASGIHandler):
    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    async def handle(self, scope, receive, send):
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        pending = send_inline(signals.request_started, sender=self.__class__, scope=scope)
        if pending:
            await asyncio.gather(*pending)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            await self.send_response(error_response, send)
            await sync_to_async(error_response.close)()
            return

        async def process_request(request, send):
            response = await self.run_get_response(request)
            with contextlib.suppress(asyncio.CancelledError):
                await self.send_response(response, send)
            return response

        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request(request, send)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            await signals.request_finished.asend(sender=self.__class__)
        else:
            await sync_to_async(response.close)()

        body_file.close()
