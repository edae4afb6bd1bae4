"""Delivery: events become signed POSTs sent by the task queue's real worker loop to a
real loopback endpoint; failures are retried with backoff, recorded, and end."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from standardwebhooks import Webhook as Verifier
from strawberry.relay import to_base64

from core import events
from integrations import delivery
from integrations.models import DeliveryStatus, Webhook, WebhookDelivery
from integrations.services import deliveries_create, webhook_create
from integrations.tasks import prune_webhook_log, requeue_stalled_webhooks
from tests.tasks_worker import drain

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hook(bot, receiver):
    webhook, secret = webhook_create(
        user=bot.owner, bot_id=bot.pk, url=receiver.url, events=["feedback.given"]
    )
    return webhook, secret


def _feedback_event(bot, **payload) -> events.Event:
    data = {"conversation_id": "12", "message_id": "34", "rating": "up", **payload}
    return events.Event(events.FEEDBACK_GIVEN, bot.pk, data)


def test_an_event_is_posted_signed_the_standard_webhooks_way(bot, hook, receiver):
    _, secret = hook
    [queued] = deliveries_create(event=_feedback_event(bot, comment="Great"))

    drain()

    [request] = receiver.requests
    # the receiver's library verifies the signature, timestamp and id headers
    body = Verifier(secret).verify(request.body, request.headers)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == queued.message_id
    assert request.headers["webhook-signature"].startswith("v1,")
    assert body["type"] == "feedback.given"
    assert body["timestamp"].endswith("Z")
    assert body["data"] == {
        "bot_id": to_base64("Bot", bot.pk),
        "conversation_id": to_base64("Conversation", 12),
        "message_id": to_base64("Message", 34),
        "rating": "up",
        "comment": "Great",
    }
    # and a forged body does not verify
    with pytest.raises(Exception, match="signature"):
        Verifier(secret).verify(request.body.replace(b"Great", b"Awful"), request.headers)
    done = WebhookDelivery.objects.get()
    assert (done.status, done.attempts, done.response_code) == (DeliveryStatus.SUCCEEDED, 1, 200)
    assert done.last_error == "" and done.next_attempt_at is None


def test_only_active_endpoints_subscribed_to_the_event_get_a_delivery(bot, hook, receiver):
    webhook_create(user=bot.owner, bot_id=bot.pk, url=receiver.url, events=["message.completed"])
    webhook_create(
        user=bot.owner, bot_id=bot.pk, url=receiver.url, events=["feedback.given"], is_active=False
    )

    queued = deliveries_create(event=_feedback_event(bot))

    assert [item.webhook_id for item in queued] == [hook[0].pk]


def test_a_failed_attempt_is_retried_until_a_2xx(bot, hook, receiver, settings):
    settings.WEBHOOK_RETRY_BASE = 0  # every retry due at once: the worker runs them now
    receiver.answers.extend([500, 503])
    deliveries_create(event=_feedback_event(bot))

    drain()

    assert len(receiver.requests) == 3
    # the same message on every attempt: same id, same body
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert len({r.body for r in receiver.requests}) == 1
    done = WebhookDelivery.objects.get()
    assert (done.status, done.attempts, done.response_code) == (DeliveryStatus.SUCCEEDED, 3, 200)


def test_a_delivery_fails_once_its_attempts_run_out(bot, hook, receiver, settings):
    settings.WEBHOOK_RETRY_BASE = 0
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    receiver.default = 500
    deliveries_create(event=_feedback_event(bot))

    drain()

    assert len(receiver.requests) == 3
    failed = WebhookDelivery.objects.get()
    assert (failed.status, failed.attempts, failed.response_code) == (DeliveryStatus.FAILED, 3, 500)
    assert failed.last_error == "The endpoint answered HTTP 500."
    assert failed.next_attempt_at is None


def test_a_retry_waits_and_is_scheduled_on_the_queue(bot, hook, receiver):
    receiver.answers.append(502)
    deliveries_create(event=_feedback_event(bot))
    before = timezone.now()

    drain()  # the first attempt; the retry is not due yet

    pending = WebhookDelivery.objects.get()
    assert (pending.status, pending.attempts, pending.response_code) == ("pending", 1, 502)
    assert pending.next_attempt_at >= before + timedelta(seconds=60)
    assert len(receiver.requests) == 1


def test_the_backoff_doubles_up_to_a_cap_and_ends_within_a_day(settings):
    waits = [delivery.retry_delay(n) for n in range(1, settings.WEBHOOK_MAX_ATTEMPTS)]

    assert waits[:4] == [60, 120, 240, 480]
    assert max(waits) == settings.WEBHOOK_RETRY_MAX_DELAY
    assert 12 * 3600 < sum(waits) <= settings.WEBHOOK_RETRY_WINDOW


def test_410_gone_turns_the_endpoint_off(bot, hook, receiver, settings):
    settings.WEBHOOK_RETRY_BASE = 0
    receiver.answers.append(410)
    deliveries_create(event=_feedback_event(bot))

    drain()

    assert len(receiver.requests) == 1
    gone = WebhookDelivery.objects.get()
    assert (gone.status, gone.response_code) == (DeliveryStatus.FAILED, 410)
    webhook = Webhook.objects.get()
    assert webhook.is_active is False
    assert "410 Gone" in webhook.disabled_reason
    # and the next event queues nothing for it
    assert deliveries_create(event=_feedback_event(bot)) == []


def test_a_private_address_is_refused_at_delivery_time_too(bot, hook, receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    settings.API_CALL_ALLOW_HOSTS = []  # the operator withdrew the allowance
    deliveries_create(event=_feedback_event(bot))

    drain()

    assert receiver.requests == []
    refused = WebhookDelivery.objects.get()
    assert refused.status == DeliveryStatus.FAILED
    assert refused.response_code is None
    assert "private or reserved address" in refused.last_error


def test_an_endpoint_that_does_not_answer_in_time_is_a_failed_attempt(
    bot, hook, receiver, settings
):
    settings.WEBHOOK_TIMEOUT = 0.3
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    receiver.hold.clear()  # the endpoint hangs
    deliveries_create(event=_feedback_event(bot))

    drain()
    receiver.hold.set()

    timed_out = WebhookDelivery.objects.get()
    assert timed_out.status == DeliveryStatus.FAILED
    assert timed_out.response_code is None
    assert "no response within" in timed_out.last_error


def test_a_delivery_whose_task_was_lost_is_requeued_by_the_sweep(bot, hook, receiver, settings):
    settings.WEBHOOK_STALLED_AFTER = 0
    # given a delivery whose attempt was claimed by a worker that then died (its lease
    # has run out, its task is gone)
    [queued] = deliveries_create(event=_feedback_event(bot))
    DBTaskResult.objects.all().delete()
    long_ago = timezone.now() - timedelta(minutes=5)
    WebhookDelivery.objects.filter(pk=queued.pk).update(
        next_attempt_at=long_ago, locked_until=long_ago
    )

    assert requeue_stalled_webhooks() == 1
    drain()

    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get().status == DeliveryStatus.SUCCEEDED


def test_a_held_or_finished_delivery_is_not_attempted_again(bot, hook, receiver):
    [queued] = deliveries_create(event=_feedback_event(bot))
    soon = timezone.now() + timedelta(minutes=1)
    WebhookDelivery.objects.filter(pk=queued.pk).update(locked_until=soon)

    assert delivery.attempt(queued.pk) is None  # another attempt holds it
    WebhookDelivery.objects.filter(pk=queued.pk).update(locked_until=None, status="succeeded")
    assert delivery.attempt(queued.pk) is None  # done

    assert receiver.requests == []


def test_a_deleted_endpoint_leaves_nothing_to_deliver(bot, hook, receiver):
    deliveries_create(event=_feedback_event(bot))
    Webhook.objects.all().delete()

    drain()

    assert receiver.requests == []


def test_the_body_is_the_same_json_on_every_attempt(bot, hook):
    [queued] = deliveries_create(event=_feedback_event(bot, comment="ünïcode <b>"))

    body = delivery.body_of(queued)

    assert body == delivery.body_of(WebhookDelivery.objects.get())
    assert json.loads(body)["data"]["comment"] == "ünïcode <b>"


def test_the_daily_job_prunes_finished_deliveries_past_their_keep_days(bot, hook, settings):
    settings.WEBHOOK_LOG_KEEP_DAYS = 30
    old, recent, waiting = (deliveries_create(event=_feedback_event(bot))[0] for _ in range(3))
    long_ago = timezone.now() - timedelta(days=31)
    WebhookDelivery.objects.filter(pk=old.pk).update(status="succeeded", updated_at=long_ago)
    WebhookDelivery.objects.filter(pk=recent.pk).update(status="failed")
    WebhookDelivery.objects.filter(pk=waiting.pk).update(updated_at=long_ago)  # still pending

    assert prune_webhook_log() == 1

    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {recent.pk, waiting.pk}
