"""Delivery survives a worker's death: `manage.py worker` processes on the test
database; the first is killed (SIGKILL) in the middle of an attempt, and a new worker
still delivers the event, signed as before, with the same webhook-id."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from standardwebhooks import Webhook as Verifier

from core import events
from integrations.models import DeliveryStatus, WebhookDelivery
from integrations.services import deliveries_create, webhook_create
from tests.support import ROOT

pytestmark = pytest.mark.django_db(transaction=True)

NOT_INHERITED = ("DATABASE_URL", "REDIS_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL")


def _database_url() -> str:
    """The URL of the test database this test's rows are committed to."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def _worker(log: Path, receiver, **env: str) -> subprocess.Popen:
    child = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    child.update(
        {
            "DATABASE_URL": _database_url(),
            "API_CALL_ALLOW_HOSTS": receiver.host,
            "CONVERSATION_EXPIRY_SWEEP_INTERVAL": "0",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
    )
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "manage.py", "worker", "--no-reload", "--interval", "0.1"],
            cwd=ROOT,
            env=child,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _wait_for(check, what: str, log: Path, seconds: float = 60.0):
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what}; worker log:\n{log.read_text()[-3000:]}"
        time.sleep(0.1)
    return found


def test_a_new_worker_delivers_what_a_killed_worker_was_sending(bot, receiver, tmp_path):
    # given an event queued for an endpoint that hangs, and a worker sending it
    _, secret = webhook_create(
        user=bot.owner, bot_id=bot.pk, url=receiver.url, events=["feedback.given"]
    )
    receiver.hold.clear()
    [queued] = deliveries_create(
        event=events.Event(events.FEEDBACK_GIVEN, bot.pk, {"rating": "down"})
    )
    log = tmp_path / "workers.log"
    first = _worker(log, receiver, WEBHOOK_TIMEOUT="3", WEBHOOK_SWEEP_INTERVAL="0")
    try:
        _wait_for(receiver.received.is_set, "the first worker sent nothing", log)
        # when that worker dies mid-attempt (no chance to record anything)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        _stop(first)
    receiver.received.clear()
    receiver.hold.set()
    held = WebhookDelivery.objects.get(pk=queued.pk)
    assert (held.status, held.attempts) == (DeliveryStatus.PENDING, 0)
    assert held.locked_until is not None  # its claim outlives it, until the lease ends

    # and a new worker starts (its sweep finds the delivery once the lease has ended)
    second = _worker(
        log,
        receiver,
        WEBHOOK_TIMEOUT="3",
        WEBHOOK_SWEEP_INTERVAL="0.5",
        WEBHOOK_STALLED_AFTER="0",
    )
    try:
        done = _wait_for(
            lambda: WebhookDelivery.objects.filter(
                pk=queued.pk, status=DeliveryStatus.SUCCEEDED
            ).first(),
            "the new worker did not deliver",
            log,
        )
    finally:
        _stop(second)

    # then the event was delivered: the same message (id, body), signed, answered 200
    assert (done.attempts, done.response_code) == (1, 200)
    first_try, delivered = receiver.requests
    assert delivered.headers["webhook-id"] == first_try.headers["webhook-id"] == queued.message_id
    assert delivered.body == first_try.body
    assert Verifier(secret).verify(delivered.body, delivered.headers)["data"]["rating"] == "down"
