"""One delivery attempt, and the retry schedule.

An attempt first claims its delivery (one conditional UPDATE: pending, due, and not held
by another attempt), so two tasks for the same delivery (a retry and a sweep's requeue)
never send it twice at once, and a task that finds it done or not yet due does nothing.
The claim is a lease: a worker killed mid-attempt leaves it held until the lease ends,
then `stalled` finds it and a new task retries it. Delivery is at least once: a receiver
drops duplicates by the `webhook-id` header.

Outcomes: a 2xx ends it (succeeded). 410 Gone turns the endpoint off
(WEBHOOK_DISABLE_ON_GONE) and fails the delivery: the receiver said the URL is gone for
good, so retrying for a day would only load it. Anything else (another status, a
timeout, a refused or blocked address) is retried after an exponentially growing wait
until the attempts or the retry window run out (failed).
"""

import json
from datetime import datetime, timedelta

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from conversations.engine.http_call import PostResult, post_guarded
from integrations.models import DeliveryStatus, Webhook, WebhookDelivery
from integrations.signing import signed_headers

GONE = 410


def body_of(delivery: WebhookDelivery) -> str:
    """The JSON text POSTed: the same bytes on every attempt (keys sorted: Postgres'
    jsonb does not keep the order they were written in)."""
    return json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def retry_delay(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed attempt."""
    delay = settings.WEBHOOK_RETRY_BASE * 2 ** (attempts - 1)
    return min(delay, settings.WEBHOOK_RETRY_MAX_DELAY)


def _lease() -> timedelta:
    # An attempt ends within WEBHOOK_TIMEOUT (the whole exchange is bounded); twice that
    # leaves room for its database writes before another worker may take it over.
    return timedelta(seconds=2 * settings.WEBHOOK_TIMEOUT + 1)


def _claim(delivery_id: int, now: datetime) -> WebhookDelivery | None:
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lte=now))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(locked_until=now + _lease())
    )
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)


def attempt(delivery_id: int) -> datetime | None:
    """Make one attempt at the delivery if it is due; returns when the next attempt is
    due (the caller enqueues it), or None (done, failed, or not this task's turn)."""
    now = timezone.now()
    delivery = _claim(delivery_id, now)
    if delivery is None:
        return None
    webhook = delivery.webhook
    if not webhook.is_active:
        result = PostResult(None, "The endpoint is inactive: nothing was sent.", "inactive")
        return _record(delivery, result, now, give_up=True)
    body = body_of(delivery)
    headers = signed_headers(
        secret=webhook.secret, message_id=delivery.message_id, body=body, at=now
    )
    result = async_to_sync(post_guarded)(
        webhook.url,
        body.encode(),
        headers,
        allow_hosts=settings.API_CALL_ALLOW_HOSTS,
        seconds=settings.WEBHOOK_TIMEOUT,
    )
    if result.status == GONE and settings.WEBHOOK_DISABLE_ON_GONE:
        Webhook.objects.filter(pk=webhook.pk).update(
            is_active=False,
            disabled_reason=f"Turned off at {now:%Y-%m-%d %H:%M} UTC: the URL answered 410 Gone.",
        )
        return _record(delivery, result, now, give_up=True)
    return _record(delivery, result, now)


def _record(
    delivery: WebhookDelivery, result: PostResult, now: datetime, *, give_up: bool = False
) -> datetime | None:
    attempts = delivery.attempts + 1
    succeeded = result.status is not None and 200 <= result.status < 300
    next_at = None
    if succeeded:
        status = DeliveryStatus.SUCCEEDED
    else:
        due = now + timedelta(seconds=retry_delay(attempts))
        window_end = delivery.created_at + timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW)
        retry = not give_up and attempts < settings.WEBHOOK_MAX_ATTEMPTS and due <= window_end
        status = DeliveryStatus.PENDING if retry else DeliveryStatus.FAILED
        next_at = due if retry else None
    error = "" if succeeded else (result.error or f"The endpoint answered HTTP {result.status}.")
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=status,
            attempts=attempts,
            response_code=result.status,
            last_error=error[:2000],
            last_attempt_at=now,
            next_attempt_at=next_at,
            locked_until=None,
            updated_at=timezone.now(),
        )
    return next_at


def stalled(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Pending deliveries overdue by WEBHOOK_STALLED_AFTER that no attempt holds: their
    task was lost (the worker died mid-attempt). The caller enqueues them again."""
    now = now or timezone.now()
    overdue = now - timedelta(seconds=settings.WEBHOOK_STALLED_AFTER)
    rows = (
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=overdue)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lte=now))
        .order_by("next_attempt_at")
    )
    return list(rows.values_list("pk", flat=True)[:limit])


def prune_log(*, keep_days: int, now: datetime | None = None) -> int:
    """Delete finished deliveries older than `keep_days`; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=keep_days)
    finished = WebhookDelivery.objects.filter(
        status__in=(DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED), updated_at__lt=cutoff
    )
    # A redelivery keeps its row when its original goes (redelivery_of is SET_NULL).
    deleted, _ = finished.delete()
    return deleted
