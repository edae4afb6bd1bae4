"""overrides/django_asgi.py copies Django's ASGIHandler.handle with no per-request thread
and `request_started` sent inline: pin that code (Django 5.2.19), and check through the
real application that requests share the process's database thread and connection."""

import asyncio
import contextvars
import threading

import pytest
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator
from django.core.handlers.asgi import ASGIHandler
from django.db import connection
from django.dispatch import Signal

from server import health
from server.asgi import application
from tests.overrides.upstream import changed

PINNED = {
    "ASGIHandler.__call__": (ASGIHandler.__call__, "f756809e9c9308dc"),
    "ASGIHandler.handle": (ASGIHandler.handle, "98faeb5bef800331"),
    "Signal._live_receivers": (Signal._live_receivers, "0a7af5d851f7fd87"),
}


def test_upstream_handler_is_the_one_the_override_was_written_against():
    assert changed(PINNED) == []


@pytest.mark.django_db(transaction=True)
async def test_requests_and_background_tasks_share_one_database_thread_and_connection(
    monkeypatch, settings
):
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 300
    seen = []

    def select_one():
        connection.ensure_connection()
        seen.append((threading.get_ident(), id(connection.connection)))

    monkeypatch.setattr(health, "_select_one", select_one)
    for _ in range(3):
        communicator = HttpCommunicator(application, "GET", "/readyz", headers=[(b"host", b"x")])
        response = await communicator.get_response(timeout=10)
        assert response["status"] == 200, response
    # A background turn runs in a fresh context (conversations.turns.start_turn).
    loop = asyncio.get_running_loop()
    await loop.create_task(sync_to_async(select_one)(), context=contextvars.Context())

    assert len(seen) == 4
    assert len(set(seen)) == 1, seen
    assert seen[0][0] != threading.get_ident()
